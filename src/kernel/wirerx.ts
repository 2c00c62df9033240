import { type Packet, packetKey } from "../net/packet.js";
import type { Netns } from "./netns.js";
import { flowHash } from "./flowhash.js";
import type { RxPath } from "./rxpath.js";

/**
 * A node's receive queues for packets arriving from the wire (the NIC, or the
 * overlay device that decapsulates them), for packets that no local sender
 * hands over. RSS steers a flow to one queue, so one CPU (the flow hash picks
 * it, as get_rps_cpu does); from there the node's receive path (kernel/rxpath.ts)
 * takes them as its `rx` mode says.
 */
export class WireRx {
  private readonly path: RxPath;
  private readonly cpus: number;

  constructor(hop: Netns) {
    this.path = hop.rxPath;
    this.cpus = hop.cfg.cpus;
  }

  /** A packet arrives on the node's receive queue now. */
  arrive(pkt: Packet): void {
    this.path.fromWire(pkt, flowHash(packetKey(pkt)) % this.cpus);
  }
}
