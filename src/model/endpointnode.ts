import type { Dist } from "../engine/dist.js";
import type { Streams } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import { Netns, type NetnsConfig } from "../kernel/netns.js";
import { WireRx } from "../kernel/wirerx.js";
import type { Packet } from "../net/packet.js";

/** endpoint_nodes.link_us by default: one way between two nodes, assumed (a same-zone link without queueing). */
export const DEFAULT_LINK_US = 50;

export interface EndpointNodeConfig {
  /** The node's conntrack hop: no Service matches a packet to a pod IP, so its entries get null bindings. */
  hop: Omit<NetnsConfig, "services" | "notrack" | "ipvs">;
  /** One way between the client node and this node, drawn per packet (packets keep their order). */
  linkNs: Dist;
}

/**
 * A node that runs kube-dns endpoints, other than the client node: the second
 * conntrack hop on the path. A query DNATed on the client node to a pod IP
 * here crosses this node's host namespace, where conntrack tracks it too:
 * nf_nat_inet_fn finds no nat rule for a pod IP and gives the new entry a
 * null binding (nf_nat_alloc_null_binding, nf_nat_core.c), and the entry is
 * confirmed at POSTROUTING on its way into the endpoint's veth. Two packets
 * of one tuple that reach PREROUTING together clash here as on any hop: race 1
 * (identical tuples) and, before 5.0, race 2 (the null binding reallocates
 * the loser's port); never race 3, since nothing here chooses an endpoint.
 * Answers cross the hop back (matching the entry's reply tuple, nothing to
 * rewrite) and the link to the client node.
 */
export class EndpointNode {
  readonly hop: Netns;
  private readonly rx: WireRx;
  /** The link is a queue: a packet never overtakes the one before it. */
  private lastIn = 0;
  private lastOut = 0;
  private readonly linkRng: () => number;
  private readonly arriveFn = (p: Packet) => this.rx.arrive(p);

  constructor(
    private readonly sim: Simulator,
    readonly name: string,
    private readonly cfg: EndpointNodeConfig,
    streams: Streams,
    wiring: {
      /** A query leaves this node's hop toward the endpoint's veth at time t. */
      toEndpoint(pkt: Packet, t: number): void;
      /** An answer reaches the client node at time now (before its reverse NAT). */
      toClient(pkt: Packet): void;
      addrName(id: number): string;
    },
  ) {
    const s = (what: string) => streams.get(`nodes/${name}/${what}`);
    this.linkRng = s("link");
    const toClientFn = (p: Packet) => wiring.toClient(p);
    this.hop = new Netns(
      sim,
      { ...cfg.hop, services: [], notrack: new Set() },
      { dnat: s("dnat"), timing: s("timing"), rx: s("rx"), snat: s("snat"), migrate: s("migrate"), softirq: s("softirq"), nic: s("nic") },
      {
        forward: (pkt, t) => wiring.toEndpoint(pkt, t),
        toPod: (pkt, t) => this.sim.at(this.linkOut(t), toClientFn, pkt),
        addrName: wiring.addrName,
      },
    );
    this.rx = new WireRx(this.hop);
  }

  /** A query leaves the client node toward an endpoint on this node at time t. */
  fromClient(pkt: Packet, t: number): void {
    this.sim.at(this.linkIn(t), this.arriveFn, pkt);
  }

  /** An answer leaves the endpoint's veth into this node's host namespace now. */
  answer(pkt: Packet): void {
    this.hop.reply(pkt, 0);
  }

  /** When a packet sent at t toward this node arrives (TCP data skips the hops, as on the client node: model/tcp.ts). */
  linkIn(t: number): number {
    const at = Math.max(t + Math.round(this.cfg.linkNs.sample(this.linkRng)), this.lastIn);
    this.lastIn = at;
    return at;
  }

  /** When a packet sent at t from this node reaches the client node. */
  linkOut(t: number): number {
    const at = Math.max(t + Math.round(this.cfg.linkNs.sample(this.linkRng)), this.lastOut);
    this.lastOut = at;
    return at;
  }
}
