import type { Rng } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import { addrPort, tupleKey } from "../net/addr.js";
import { type Packet, packetKey } from "../net/packet.js";
import type { ConntrackTable, Counters, Entry } from "./conntrack.js";
import { CT_DROPPED, CT_ESTABLISHED, CT_NEW, CT_UNTRACKED, type HopStats, type NetnsConfig } from "./hop.js";
import type { HopTracer } from "./hoptrace.js";
import type { Ipvs } from "./ipvs.js";
import { type NatService, statisticThresholds, walkServiceChain } from "./kubeproxy.js";

/** A Service by VIP:port, with its KUBE-SVC chain's statistic thresholds. */
interface ServiceRef {
  svc: NatService;
  thresholds: number[];
}

/**
 * PREROUTING's share of the hop: nf_conntrack_in (+ nf_nat_ipv4_pre_routing) for
 * one packet. A confirmed entry's NAT binding is reused; a miss gets a new
 * unconfirmed entry attached to this packet only, DNATed if it is for a Service.
 */
export class ConntrackIn {
  private readonly byVip = new Map<number, ServiceRef>();
  /** Whether any raw-table NOTRACK rule exists (most nodes have none: skip the check). */
  private readonly hasNotrack: boolean;
  /** Whether nf_conntrack_max is set (by default it is not: skip the check). */
  private readonly limited: boolean;

  constructor(
    private readonly sim: Simulator,
    private readonly cfg: NetnsConfig,
    private readonly table: ConntrackTable,
    private readonly counters: Counters,
    private readonly stats: HopStats,
    private readonly ipvs: Ipvs | null,
    private readonly rng: { dnat: Rng; timing: Rng },
    private readonly tracer: HopTracer,
  ) {
    this.hasNotrack = cfg.notrack.size > 0;
    this.limited = cfg.tableLimits !== null;
    for (const svc of cfg.services) this.byVip.set(addrPort(svc.vip, svc.port), { svc, thresholds: statisticThresholds(svc.endpoints.length) });
  }

  /** nf_conntrack_in (+ nf_nat_ipv4_pre_routing) for one packet; returns its PREROUTING time and sets pkt.ctPost. */
  lookup(pkt: Packet, cpu: number): number {
    const now = this.sim.now;
    const hitNs = this.cfg.timing.hitNs;
    if (this.hasNotrack && this.cfg.notrack.has(addrPort(pkt.dst, pkt.dport))) {
      this.untracked(pkt, cpu);
      pkt.ctPost = hitNs / 2;
      return hitNs / 2;
    }
    const key = packetKey(pkt);
    const hit = this.table.findOrig(key, now);
    if (hit !== undefined) {
      this.established(hit, pkt, cpu, now);
      pkt.ctPost = hitNs / 2;
      return hitNs / 2;
    }
    // Miss: init_conntrack, an unconfirmed entry attached to this packet only.
    if (this.limited && !this.admit(pkt, cpu, key, now)) {
      pkt.ct = null;
      pkt.ctState = CT_DROPPED;
      pkt.ctPost = hitNs / 2;
      return hitNs / 2;
    }
    return this.initConntrack(pkt, key, cpu, now);
  }

  /** raw PREROUTING (-300) NOTRACK runs before conntrack (-200): IP_CT_UNTRACKED, no entry, no NAT. */
  private untracked(pkt: Packet, cpu: number): void {
    pkt.ct = null;
    pkt.ctState = CT_UNTRACKED;
    this.stats.untracked++;
    // nf_conntrack_in: an IP_CT_UNTRACKED skb is "ignored" (ignore++ before 5.10).
    if (this.cfg.features.ignoreCounter) this.counters.bump(cpu, "ignore");
    if (this.tracer.sink !== null) this.tracer.emit("notrack", pkt, cpu, null);
  }

  /** A confirmed entry: "Already setup manip", its NAT binding is reused (conntrack entry reuse). */
  private established(hit: Entry, pkt: Packet, cpu: number, now: number): void {
    this.table.udpPacket(hit, false, now);
    pkt.ct = hit;
    pkt.ctState = CT_ESTABLISHED;
    if (this.tracer.sink !== null) this.tracer.emit("lookup-hit", pkt, cpu, hit);
    pkt.dst = hit.natDst;
    pkt.dport = hit.natDport;
    pkt.src = hit.natSrc;
    pkt.sport = hit.natSport;
  }

  /**
   * __nf_conntrack_alloc with nf_conntrack_max set: room for one more entry, by early_drop() if
   * the table is full; if nothing can be evicted, nf_conntrack_in drops the packet ("Too stressed
   * to deal": drop++, NF_DROP).
   */
  private admit(pkt: Packet, cpu: number, key: number, now: number): boolean {
    const evicted = this.table.makeRoom(key, now);
    if (evicted > 0) {
      this.counters.add(cpu, "early_drop", evicted);
      if (this.tracer.sink !== null) this.tracer.emit("early-drop", pkt, cpu, null, evicted);
    }
    if (evicted >= 0) return true;
    this.counters.bump(cpu, "drop");
    this.stats.droppedTableFull++;
    if (pkt.tally !== null) pkt.tally.queriesLost++;
    if (this.tracer.sink !== null) this.tracer.emit("table-full", pkt, cpu, null);
    return false;
  }

  /**
   * init_conntrack, then the nat table's PREROUTING: DNAT to an endpoint when the packet is for a
   * Service, else (at POSTROUTING) a null binding. Returns the PREROUTING time: its share of the
   * window plus the walk of the rules before the matching one.
   */
  private initConntrack(pkt: Packet, key: number, cpu: number, now: number): number {
    const timing = this.cfg.timing;
    const e = this.table.create(key, pkt.src, pkt.sport, pkt.dst, pkt.dport, now);
    // init_conntrack: NF_CT_STAT_INC(net, new) for an entry no expectation created, up to 4.8 ("remove packet hotpath stats", 4.9).
    if (this.cfg.features.hotpathStats) this.counters.bump(cpu, "new");
    const svcRef = this.byVip.get(addrPort(pkt.dst, pkt.dport));
    const r = this.rng.timing;
    const window = timing.window.sample(r);
    if (svcRef !== undefined) this.dnat(e, svcRef, key, cpu, now, window * timing.preFraction);
    // nf_conntrack_alter_reply: REPLY = inverted tuple after DNAT.
    e.replyKey = tupleKey(pkt.proto === "tcp", e.natDst, e.natDport, pkt.src, pkt.sport);
    pkt.ct = e;
    pkt.ctState = CT_NEW;
    if (this.tracer.sink !== null) this.tracer.emit("lookup-miss", pkt, cpu, e);
    if (svcRef !== undefined) {
      if (this.tracer.sink !== null) this.tracer.emit("dnat", pkt, cpu, e);
      pkt.dst = e.natDst;
      pkt.dport = e.natDport;
    }
    const rules = svcRef === undefined ? this.cfg.totalRules : svcRef.svc.rulesBefore;
    const walk = rules > 0 ? rules * timing.ruleNs * timing.ruleSpread.sample(r) : 0;
    const pre = window * timing.preFraction + walk;
    pkt.ctPost = window * (1 - timing.preFraction);
    return pre;
  }

  /**
   * The endpoint of a new entry to a Service. iptables: the KUBE-SVC chain at nat PREROUTING;
   * IPVS: ip_vs_in_hook at LOCAL_IN, `preNs` (PREROUTING's share of the window) after now.
   */
  private dnat(e: Entry, ref: ServiceRef, key: number, cpu: number, now: number, preNs: number): void {
    const svc = ref.svc;
    const idx = this.ipvs === null ? walkServiceChain(ref.thresholds, this.rng.dnat) : this.ipvs.schedule(svc, key, cpu, now + Math.round(preNs));
    const ep = svc.endpoints[idx]!;
    e.natDst = ep.addr;
    e.natDport = ep.port;
    // proxier.go: with masqueradeAll, "-A KUBE-SVC-... -j KUBE-MARK-MASQ" before the endpoint rules.
    e.masq = this.cfg.masquerade !== null;
  }
}
