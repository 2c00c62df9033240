import type { Rng } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import { addrPort } from "../net/addr.js";
import { type Packet, packetKey } from "../net/packet.js";
import { Confirm } from "./confirm.js";
import { ConntrackTable, Counters, type Entry } from "./conntrack.js";
import { CT_DROPPED, CT_NEW, type HopEvent, type HopStats, type HopWiring, type NetnsConfig, newHopStats, settledConfig } from "./hop.js";
import { HopTracer } from "./hoptrace.js";
import { Ipvs } from "./ipvs.js";
import { ConntrackIn } from "./lookup.js";
import { type NetfilterHooks, RxPath } from "./rxpath.js";
import { OtherFlows } from "./otherflows.js";
import { SourceNat } from "./snat.js";

export type { HopEvent, HopEventKind, HopStats, HopWiring, NetnsConfig } from "./hop.js";

/** A burst of locally generated datagrams on its way through OUTPUT and POSTROUTING, one at a time. */
interface LocalBurst {
  pkts: Packet[];
  i: number;
  cpu: number;
  calls: "sendmmsg" | "send";
}

/**
 * One network namespace with conntrack on the path: its conntrack table, CPUs,
 * receive path and nat rules. Forward packets go through PREROUTING (lookup,
 * DNAT: kernel/lookup.ts) and POSTROUTING (SRC binding: kernel/snat.ts, then
 * the confirm: kernel/confirm.ts) as events on the receive path's CPUs
 * (kernel/rxpath.ts); replies are reverse-NATed through the entry that owns
 * their tuple.
 */
export class Netns implements NetfilterHooks {
  readonly table: ConntrackTable;
  readonly counters: Counters;
  readonly stats: HopStats = newHopStats();
  readonly ipvs: Ipvs | null;
  /** The configuration, every field present (hop.ts settledConfig). */
  readonly cfg: NetnsConfig;
  /** How packets reach PREROUTING, from local senders (ingress) or the wire (kernel/wirerx.ts). */
  readonly rxPath: RxPath;
  /** The node's other flows (cfg.otherFlows), or null. */
  readonly otherFlows: OtherFlows | null;

  private readonly tracer: HopTracer;
  private readonly conntrackIn: ConntrackIn;
  private readonly snat: SourceNat;
  private readonly confirmer: Confirm;
  /** Whether any raw-table NOTRACK rule exists (most nodes have none: skip the check). */
  private readonly hasNotrack: boolean;
  /** The send path's timings of locally generated datagrams (the stream the receive path draws them from). */
  private readonly sendRng: Rng;
  private readonly outputFn = (w: LocalBurst) => this.outputStep(w);
  private readonly outPostFn = (w: LocalBurst) => this.outputPost(w);

  constructor(
    private readonly sim: Simulator,
    given: NetnsConfig,
    /** `others`: the other flows' own stream (needed only with cfg.otherFlows). */
    rng: { dnat: Rng; timing: Rng; rx: Rng; snat: Rng; migrate: Rng; softirq: Rng; nic?: Rng; others?: Rng },
    private readonly wiring: HopWiring,
  ) {
    const cfg = settledConfig(given);
    this.cfg = cfg;
    this.table = new ConntrackTable(cfg.features, cfg.tableLimits);
    this.counters = new Counters(cfg.cpus);
    this.hasNotrack = cfg.notrack.size > 0;
    this.sendRng = rng.timing;
    this.ipvs = cfg.ipvs == null ? null : new Ipvs(cfg.ipvs);
    this.tracer = new HopTracer(sim, cfg, this.ipvs, wiring);
    this.conntrackIn = new ConntrackIn(sim, cfg, this.table, this.counters, this.stats, this.ipvs, rng, this.tracer);
    this.snat = new SourceNat(cfg, this.table, this.counters, this.stats, rng.snat, this.tracer);
    this.confirmer = new Confirm(cfg.features, cfg.natTable, this.table, this.counters, this.stats, this.tracer);
    this.rxPath = new RxPath(sim, cfg, rng, this.stats, this, this.tracer);
    const of = cfg.otherFlows ?? null;
    if (of !== null && of.ratePerS > 0 && rng.others === undefined) throw new Error(`${cfg.name}: other flows need a stream of their own`);
    this.otherFlows = of === null || of.ratePerS <= 0 ? null : new OtherFlows(of, cfg.cpus, cfg.features, this.table, this.counters, rng.others!);
  }

  /** Brings what is counted without events (the other flows) up to `now`: call before reading the counters. */
  settle(now: number): void {
    this.otherFlows?.advance(now);
  }

  /** Where the hop's events go (null: nowhere, and no words are made for them). */
  get trace(): ((e: HopEvent) => void) | null {
    return this.tracer.sink;
  }

  set trace(sink: ((e: HopEvent) => void) | null) {
    this.tracer.sink = sink;
  }

  /**
   * A burst of datagrams handed to the kernel by one thread without blocking in
   * between (one sendmmsg(), or back-to-back send() calls), from `senderCpu`.
   * The receive path decides where and when each reaches PREROUTING.
   */
  ingress(burst: Packet[], senderCpu: number, calls: "sendmmsg" | "send" = "sendmmsg"): void {
    this.rxPath.send(burst, senderCpu, calls);
  }

  /**
   * Datagrams generated on the node itself (a host-network pod, a process of the node), handed to
   * the kernel by one thread from `senderCpu`. No veth and no backlog: udp_sendmsg -> udp_send_skb
   * -> ip_send_skb -> ip_local_out -> __ip_local_out (net/ipv4/ip_output.c) runs the LOCAL_OUT hook
   * in the sender's own send call: conntrack (ipv4_conntrack_local -> nf_conntrack_in, a new
   * unconfirmed entry on a miss) and the nat table's OUTPUT (nf_nat_ipv4_local_fn: kube-proxy's
   * `-A OUTPUT -j KUBE-SERVICES` DNATs a ClusterIP, and the packet is routed again); then
   * ip_output -> POSTROUTING (the SRC binding, nf_confirm -> __nf_conntrack_confirm with the
   * kernel's clash rules) and dev_queue_xmit, all before the call returns. So each datagram of one
   * sendmmsg() (or of back-to-back send() calls) is confirmed before the next one reaches OUTPUT,
   * whatever the node's rx mode and load (they act on received packets); two threads on two CPUs
   * run their paths at the same time and can clash.
   */
  localOut(burst: Packet[], senderCpu: number, calls: "sendmmsg" | "send" = "sendmmsg"): void {
    const w: LocalBurst = { pkts: burst.slice(), i: 0, cpu: senderCpu % this.cfg.cpus, calls };
    this.sim.at(this.sim.now + this.sendDelay(), this.outputFn, w);
  }

  /** From a send (or the return of the one before) to its datagram's LOCAL_OUT hook. */
  private sendDelay(): number {
    const send = this.cfg.send;
    const r = this.sendRng;
    let d = send.txNs.sample(r);
    if (send.stallProbability > 0 && r() < send.stallProbability) d += send.stallNs.sample(r);
    return Math.round(d);
  }

  /** OUTPUT for datagram w.i: conntrack lookup, and DNAT for a new entry (kernel/lookup.ts), on the sender's CPU. */
  private outputStep(w: LocalBurst): void {
    const pkt = w.pkts[w.i]!;
    this.stats.packetsIn++;
    this.stats.localOut++;
    if (this.tracer.sink !== null) this.tracer.localOut(pkt, w.cpu);
    const pre = this.conntrackIn.lookup(pkt, w.cpu);
    this.sim.at(this.sim.now + Math.round(pre) + Math.round(pkt.ctPost), this.outPostFn, w);
  }

  /** POSTROUTING for datagram w.i, then the next datagram's send once this one's call has returned. */
  private outputPost(w: LocalBurst): void {
    const pkt = w.pkts[w.i]!;
    this.postrouting(pkt, w.cpu);
    if (this.tracer.sink !== null) this.tracer.localDone(pkt);
    if (++w.i >= w.pkts.length) return;
    const send = this.cfg.send;
    const gap = (w.calls === "send" ? send.callGapNs : send.datagramGapNs).sample(this.sendRng);
    this.sim.at(this.sim.now + this.cfg.timing.xmitNs + Math.round(gap) + this.sendDelay(), this.outputFn, w);
  }

  /** PREROUTING: conntrack lookup, and DNAT for a new entry (kernel/lookup.ts). */
  prerouting(pkt: Packet, cpu: number): number {
    return this.conntrackIn.lookup(pkt, cpu);
  }

  /** nf_nat_ipv4_out (null binding / SNAT) then nf_confirm -> __nf_conntrack_confirm, then the transmit. */
  postrouting(pkt: Packet, cpu: number): void {
    const now = this.sim.now;
    const state = pkt.ctState;
    const e = pkt.ct as Entry;
    pkt.ct = null;
    pkt.ctState = 0;
    if (state === CT_NEW) {
      this.snat.bind(e, pkt, cpu, now);
      if (!this.confirmer.confirm(e, pkt, cpu, now)) return;
    } else if (state === CT_DROPPED) {
      return;
    }
    this.stats.forwarded++;
    this.wiring.forward(pkt, now + this.cfg.timing.xmitNs);
  }

  /** A reply arriving from the network at time now: reverse NAT through the entry that owns its tuple. */
  reply(pkt: Packet, deliverDelayNs: number): void {
    const now = this.sim.now;
    this.stats.repliesIn++;
    if (this.hasNotrack && this.cfg.notrack.has(addrPort(pkt.src, pkt.sport))) {
      // raw OUTPUT -s <localIP> --sport 53 -j NOTRACK: untouched, delivered as is (nf_conntrack_in: ignore++ before 5.10).
      if (this.cfg.features.ignoreCounter) this.counters.bump(0, "ignore");
      this.stats.untrackedReplies++;
      this.stats.repliesDelivered++;
      pkt.owned = true;
      this.wiring.toPod(pkt, now + deliverDelayNs);
      return;
    }
    const key = packetKey(pkt);
    const e = this.table.findReply(key, now);
    if (e === undefined) {
      // No entry owns the reply tuple: no reverse NAT, the reply still comes from the endpoint's pod IP.
      this.stats.repliesOrphaned++;
      if (this.tracer.sink !== null) this.tracer.emit("reply-orphan", pkt, 0, null);
      pkt.owned = false;
      this.wiring.toPod(pkt, now + deliverDelayNs);
      return;
    }
    this.table.udpPacket(e, true, now);
    // nf_nat_packet in the reply direction: the inverse of both bindings.
    pkt.src = e.origDst;
    pkt.sport = e.origDport;
    pkt.dst = e.origSrc;
    pkt.dport = e.origSport;
    this.stats.repliesDelivered++;
    if (this.tracer.sink !== null) this.tracer.emit("reply-denat", pkt, 0, e);
    if (e.natClash && this.cfg.features.natClashEntry === "delete-on-reply") {
      // 5.6-5.8 nf_conntrack_udp_refresh_unreplied: nf_ct_kill() on the first reply (removed by c46172147ebb).
      this.table.remove(e);
      if (this.tracer.sink !== null) this.tracer.emit("clash-entry-killed", pkt, 0, e);
    }
    pkt.owned = true;
    this.wiring.toPod(pkt, now + deliverDelayNs);
  }
}
