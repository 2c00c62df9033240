import type { Rng } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import { type Packet, packetKey } from "../net/packet.js";
import { type Netns, flowHash } from "./netns.js";
import type { RxConfig } from "./rx.js";

/**
 * How packets arriving from the wire (the NIC, or the overlay device that
 * decapsulates them) reach a node's PREROUTING: the receive side of the
 * node's `rx` mode (kernel/rx.ts) for packets that no local sender hands over.
 * RSS steers a flow to one queue, so one CPU (the flow hash picks it, as
 * get_rps_cpu does); the modes then read:
 * - "inline", "gro": each packet processed to completion as it arrives;
 * - "rps": re-queued to its flow's CPU (the same one), one at a time;
 * - "gro-threaded": a packet that finds no poll pending on its CPU either is
 *   taken at once by a poll already running (1 - batchProbability), or waits
 *   pollWakeNs for the poll thread, and every packet of that CPU arriving in
 *   the meantime joins it: the poll hands them on as one list
 *   (netif_receive_skb_list), so PREROUTING runs for all before any confirm;
 * - "rps-gro-threaded": the same poll, but RPS re-queues its packets one by one.
 */
export class WireRx {
  /** Per CPU: the packets waiting for a pending poll (empty: no poll pending). */
  private readonly pending: Packet[][];
  private readonly pollFn = (cpu: number) => this.poll(cpu);
  private readonly one: Packet[] = [];

  constructor(
    private readonly sim: Simulator,
    private readonly hop: Netns,
    private readonly rx: RxConfig,
    private readonly cpus: number,
    private readonly rng: { timing: Rng; rx: Rng },
  ) {
    this.pending = Array.from({ length: cpus }, () => []);
  }

  /** A packet arrives on the node's receive queue now. */
  arrive(pkt: Packet): void {
    const now = this.sim.now;
    const cpu = flowHash(packetKey(pkt)) % this.cpus;
    switch (this.rx.mode) {
      case "inline":
      case "gro":
        this.alone(pkt, cpu, now);
        return;
      case "rps":
        this.alone(pkt, cpu, now + Math.round(this.rx.rpsNs.sample(this.rng.timing)));
        return;
      case "gro-threaded":
      case "rps-gro-threaded": {
        const waiting = this.pending[cpu]!;
        if (waiting.length > 0) {
          waiting.push(pkt); // the poll has not run yet: it takes this packet too
          return;
        }
        if (this.rng.rx() >= this.rx.batchProbability) {
          this.alone(pkt, cpu, now); // the poll thread is running already: it takes the packet alone
          return;
        }
        waiting.push(pkt);
        this.sim.at(now + Math.round(this.rx.pollWakeNs.sample(this.rng.timing)), this.pollFn, cpu);
        return;
      }
    }
  }

  private poll(cpu: number): void {
    const waiting = this.pending[cpu]!;
    const now = this.sim.now;
    if (this.rx.mode === "gro-threaded") {
      this.hop.receive(waiting, cpu, now);
    } else {
      // RPS re-queues each packet of the list to its flow's CPU, one by one.
      for (const p of waiting) this.alone(p, cpu, now + Math.round(this.rx.rpsNs.sample(this.rng.timing)));
    }
    waiting.length = 0;
  }

  private alone(pkt: Packet, cpu: number, t: number): void {
    this.one[0] = pkt;
    this.hop.receive(this.one, cpu, t);
    this.one.length = 0;
  }
}
