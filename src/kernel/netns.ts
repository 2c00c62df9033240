import type { Rng } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import { addrPort, tupleKey } from "../net/addr.js";
import { type Packet, packetKey } from "../net/packet.js";
import { ConntrackTable, Counters, type Entry } from "./conntrack.js";
import { CT_DROPPED, CT_ESTABLISHED, CT_NEW, CT_UNTRACKED, type HopEvent, type HopStats, type HopWiring, type NetnsConfig, newHopStats } from "./hop.js";
import { HopTracer } from "./hoptrace.js";
import { Ipvs } from "./ipvs.js";
import { type NatService, statisticThresholds, walkServiceChain } from "./kubeproxy.js";

export type { HopEvent, HopEventKind, HopStats, HopWiring, NetnsConfig } from "./hop.js";

interface Work {
  /** The packets, pkts[0..n) (the array is kept between uses: truncating it would free its storage). */
  pkts: Packet[];
  n: number;
  cpu: number;
  i: number;
}

interface Cpu {
  busy: boolean;
  queue: Work[];
}

/** Fills recycled work slots, so a finished packet is not kept alive by the pool. */
const NO_PACKET = null as unknown as Packet;

/**
 * One network namespace with conntrack on the path: its conntrack table, CPUs,
 * receive path and nat rules. Forward packets go through PREROUTING (lookup,
 * DNAT) and POSTROUTING (null binding, confirm) as events; replies are
 * reverse-NATed through the entry that owns their tuple.
 *
 * Kernel paths are plain callbacks. A CPU processes one work item (one packet,
 * or one GRO list) at a time, in arrival order: that is what makes a single
 * thread's pair safe on a path that processes datagrams one by one.
 */
export class Netns {
  readonly table: ConntrackTable;
  readonly counters: Counters;
  readonly stats: HopStats = newHopStats();
  readonly ipvs: Ipvs | null;

  private readonly tracer: HopTracer;
  private readonly cpus: Cpu[];
  private readonly byVip = new Map<number, { svc: NatService; thresholds: number[] }>();
  private readonly stepFn = (w: Work) => this.step(w);
  private readonly pool: Work[] = [];
  /** Whether any raw-table NOTRACK rule exists (most nodes have none: skip the check). */
  private readonly hasNotrack: boolean;
  /** Whether nf_conntrack_max is set (by default it is not: skip the check). */
  private readonly limited: boolean;
  private readonly times: number[] = [];
  private readonly arriveFn = (w: Work) => this.arrive(w);
  /** udp_port_rover and tcp_port_rover of nf_nat_proto_udp.c / _tcp.c (before 6ed5943f8735). */
  private readonly rovers = [0, 0];

  constructor(
    private readonly sim: Simulator,
    readonly cfg: NetnsConfig,
    private readonly rng: { dnat: Rng; timing: Rng; rx: Rng; snat: Rng; migrate: Rng },
    private readonly wiring: HopWiring,
  ) {
    this.table = new ConntrackTable(cfg.features, cfg.tableLimits);
    this.limited = cfg.tableLimits !== null;
    this.counters = new Counters(cfg.cpus);
    this.cpus = Array.from({ length: cfg.cpus }, () => ({ busy: false, queue: [] }));
    this.hasNotrack = cfg.notrack.size > 0;
    this.ipvs = cfg.ipvs === undefined ? null : new Ipvs(cfg.ipvs);
    this.tracer = new HopTracer(sim, cfg, this.ipvs, wiring);
    for (const svc of cfg.services) this.byVip.set(addrPort(svc.vip, svc.port), { svc, thresholds: statisticThresholds(svc.endpoints.length) });
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
  ingress(burst: Packet[], senderCpu: number): void {
    const { rx, send } = this.cfg;
    const r = this.rng.timing;
    const now = this.sim.now;
    // Enqueue times of the datagrams at the node side of the veth: times[0..burst.length). The array
    // is overwritten, never truncated: setting its length to 0 would free its storage on every burst.
    const times = this.times;
    let t = now;
    for (let i = 0; i < burst.length; i++) {
      if (i > 0) t += send.datagramGapNs.sample(r);
      let at = t + send.txNs.sample(r);
      if (send.stallProbability > 0 && r() < send.stallProbability) at += send.stallNs.sample(r);
      times[i] = Math.round(at);
    }
    this.stats.packetsIn += burst.length;
    switch (rx.mode) {
      case "inline":
      case "gro": {
        const cpu = senderCpu % this.cfg.cpus;
        // The rare thread-migration split (rx.ts), drawn from a stream of its own so that the other
        // streams' draws do not move.
        if (burst.length > 1 && this.cfg.cpus > 1 && rx.migrationProbability > 0 && this.rng.migrate() < rx.migrationProbability) {
          this.migrationSplit(burst, cpu, times[burst.length - 1]!);
          break;
        }
        for (let i = 0; i < burst.length; i++) this.schedule(burst[i]!, cpu, times[i]!);
        break;
      }
      case "rps":
        for (let i = 0; i < burst.length; i++) this.schedule(burst[i]!, this.rpsCpu(burst[i]!), times[i]! + Math.round(rx.rpsNs.sample(r)));
        break;
      case "gro-threaded":
      case "rps-gro-threaded": {
        const napiCpu = senderCpu % this.cfg.cpus;
        // Batched: the poll thread runs only after the sender blocks, with the whole burst queued.
        const batched = burst.length > 1 && this.rng.rx() < rx.batchProbability;
        const batchPoll = batched ? times[burst.length - 1]! + Math.round(rx.pollWakeNs.sample(r)) : 0;
        if (batched && rx.mode === "gro-threaded") {
          this.scheduleList(burst, napiCpu, batchPoll);
          break;
        }
        for (let i = 0; i < burst.length; i++) {
          const poll = batched ? batchPoll : times[i]! + Math.round(rx.pollWakeNs.sample(r));
          if (rx.mode === "rps-gro-threaded") {
            // RPS re-queues each datagram of the list to its flow's CPU, one by one.
            this.schedule(burst[i]!, this.rpsCpu(burst[i]!), poll + Math.round(rx.rpsNs.sample(r)));
          } else {
            this.schedule(burst[i]!, napiCpu, poll);
          }
        }
        break;
      }
    }
  }

  /**
   * Packets reaching PREROUTING on `cpu` at time t through a receive path
   * modelled outside this hop (kernel/wirerx.ts): one packet processed alone,
   * or several as one GRO list.
   */
  receive(pkts: Packet[], cpu: number, t: number): void {
    this.stats.packetsIn += pkts.length;
    this.scheduleList(pkts, cpu, t);
  }

  /**
   * The thread-migration split: the first datagram waits on `cpu` while the thread, moved to another
   * CPU, sends the rest. "inline": the old CPU's backlog and the new CPU's softirq process them at the
   * same time; "gro": they join the NAPI poll still pending on the old CPU and go on as one list.
   * Either way they reach PREROUTING together, at the last send's time `t`.
   */
  private migrationSplit(burst: Packet[], cpu: number, t: number): void {
    const other = (cpu + 1 + Math.floor(this.rng.migrate() * (this.cfg.cpus - 1))) % this.cfg.cpus;
    if (this.tracer.sink !== null) this.tracer.emit("migration-split", burst[1]!, other, null, cpu);
    if (this.cfg.rx.mode === "gro") {
      this.scheduleList(burst, cpu, t);
      return;
    }
    this.schedule(burst[0]!, cpu, t);
    for (let i = 1; i < burst.length; i++) this.schedule(burst[i]!, other, t);
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

  private rpsCpu(p: Packet): number {
    // get_rps_cpu: the flow hash picks the CPU; one flow always lands on the same CPU.
    return flowHash(packetKey(p)) % this.cfg.cpus;
  }

  /** One datagram reaches PREROUTING on `cpu` at time t (processed alone). */
  private schedule(pkt: Packet, cpu: number, t: number): void {
    const w = this.work(cpu);
    w.pkts[w.n++] = pkt;
    this.sim.at(Math.max(t, this.sim.now), this.arriveFn, w);
  }

  /** A GRO list: PREROUTING runs for all of them, then POSTROUTING for each. */
  private scheduleList(pkts: Packet[], cpu: number, t: number): void {
    const w = this.work(cpu);
    for (const p of pkts) w.pkts[w.n++] = p;
    this.sim.at(Math.max(t, this.sim.now), this.arriveFn, w);
  }

  /** Work items are recycled: the hop allocates none per packet once warm. */
  private work(cpu: number): Work {
    const w = this.pool.pop();
    if (w === undefined) return { pkts: [], n: 0, cpu, i: 0 };
    w.cpu = cpu;
    w.i = 0;
    return w;
  }

  private arrive(w: Work): void {
    const cpu = this.cpus[w.cpu]!;
    if (cpu.busy) {
      cpu.queue.push(w); // FIFO per CPU
      return;
    }
    this.start(w);
  }

  private start(w: Work): void {
    this.cpus[w.cpu]!.busy = true;
    w.i = 0;
    if (w.n > 1 && this.tracer.sink !== null) this.tracer.emit("gro-list", w.pkts[0]!, w.cpu, null);
    this.pre(w);
  }

  /**
   * Phase 1, PREROUTING for packet w.i: conntrack lookup, and DNAT for a new
   * entry. In a list, PREROUTING runs for every packet before any is confirmed
   * (ip_list_rcv -> ip_sublist_rcv: NF_HOOK_LIST, then routing per packet).
   */
  private pre(w: Work): void {
    const n = w.n;
    const pkt = w.pkts[w.i]!;
    const preNs = this.lookup(pkt, w);
    w.i++;
    const next = this.sim.now + Math.round(preNs);
    if (w.i < n) {
      this.sim.at(next, this.stepFn, w);
    } else {
      w.i = n; // marks phase 2; step() dispatches on i >= n
      this.sim.at(next + Math.round(w.pkts[0]!.ctPost), this.stepFn, w);
    }
  }

  private step(w: Work): void {
    const n = w.n;
    if (w.i < n) {
      this.pre(w);
      return;
    }
    // Phase 2, POSTROUTING for packet k = i - n: null binding, confirm, transmit.
    const k = w.i - n;
    this.post(w.pkts[k]!, w.cpu);
    w.i++;
    if (k + 1 < n) {
      this.sim.at(this.sim.now + Math.round(w.pkts[k + 1]!.ctPost), this.stepFn, w);
      return;
    }
    const cpu = this.cpus[w.cpu]!;
    cpu.busy = false;
    // No event refers to w any more: back to the pool.
    for (let j = 0; j < w.n; j++) w.pkts[j] = NO_PACKET;
    w.n = 0;
    this.pool.push(w);
    const nextWork = cpu.queue.shift();
    if (nextWork !== undefined) this.start(nextWork);
  }

  /** nf_conntrack_in (+ nf_nat_ipv4_pre_routing) for one packet; returns its PREROUTING time. */
  private lookup(pkt: Packet, w: Work): number {
    const now = this.sim.now;
    const timing = this.cfg.timing;
    if (this.hasNotrack && this.cfg.notrack.has(addrPort(pkt.dst, pkt.dport))) {
      // raw PREROUTING (-300) NOTRACK runs before conntrack (-200): IP_CT_UNTRACKED, no entry, no NAT.
      pkt.ct = null;
      pkt.ctState = CT_UNTRACKED;
      this.stats.untracked++;
      // nf_conntrack_in: an IP_CT_UNTRACKED skb is "ignored" (ignore++ before 5.10).
      if (this.cfg.features.ignoreCounter) this.counters.bump(w.cpu, "ignore");
      if (this.tracer.sink !== null) this.tracer.emit("notrack", pkt, w.cpu, null);
      pkt.ctPost = timing.hitNs / 2;
      return timing.hitNs / 2;
    }
    const key = packetKey(pkt);
    const hit = this.table.findOrig(key, now);
    if (hit !== undefined) {
      // A confirmed entry: "Already setup manip", its NAT binding is reused (conntrack entry reuse).
      this.table.udpPacket(hit, false, now);
      pkt.ct = hit;
      pkt.ctState = CT_ESTABLISHED;
      if (this.tracer.sink !== null) this.tracer.emit("lookup-hit", pkt, w.cpu, hit);
      pkt.dst = hit.natDst;
      pkt.dport = hit.natDport;
      pkt.src = hit.natSrc;
      pkt.sport = hit.natSport;
      pkt.ctPost = timing.hitNs / 2;
      return timing.hitNs / 2;
    }
    // Miss: init_conntrack, an unconfirmed entry attached to this packet only.
    if (this.limited && !this.admit(pkt, w.cpu, key, now)) {
      pkt.ct = null;
      pkt.ctState = CT_DROPPED;
      pkt.ctPost = timing.hitNs / 2;
      return timing.hitNs / 2;
    }
    const e = this.table.create(key, pkt.src, pkt.sport, pkt.dst, pkt.dport, now);
    const svcRef = this.byVip.get(addrPort(pkt.dst, pkt.dport));
    let rules = this.cfg.totalRules;
    let svc: NatService | null = null;
    const r = this.rng.timing;
    const window = timing.window.sample(r);
    if (svcRef !== undefined) {
      svc = svcRef.svc;
      rules = svc.rulesBefore;
      // iptables: the KUBE-SVC chain at nat PREROUTING; IPVS: ip_vs_in_hook at LOCAL_IN, after PREROUTING's share of the window.
      const idx = this.ipvs === null ? walkServiceChain(svcRef.thresholds, this.rng.dnat) : this.ipvs.schedule(svc, key, w.cpu, now + Math.round(window * timing.preFraction));
      const ep = svc.endpoints[idx]!;
      e.natDst = ep.addr;
      e.natDport = ep.port;
      // proxier.go: with masqueradeAll, "-A KUBE-SVC-... -j KUBE-MARK-MASQ" before the endpoint rules.
      e.masq = this.cfg.masquerade !== null;
    }
    // nf_conntrack_alter_reply: REPLY = inverted tuple after DNAT.
    e.replyKey = tupleKey(pkt.proto === "tcp", e.natDst, e.natDport, pkt.src, pkt.sport);
    pkt.ct = e;
    pkt.ctState = CT_NEW;
    if (this.tracer.sink !== null) this.tracer.emit("lookup-miss", pkt, w.cpu, e);
    if (svc !== null) {
      if (this.tracer.sink !== null) this.tracer.emit("dnat", pkt, w.cpu, e);
      pkt.dst = e.natDst;
      pkt.dport = e.natDport;
    }
    const walk = rules > 0 ? rules * timing.ruleNs * timing.ruleSpread.sample(r) : 0;
    const pre = window * timing.preFraction + walk;
    pkt.ctPost = window * (1 - timing.preFraction);
    return pre;
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

  /** nf_nat_ipv4_out (null binding / SNAT) then nf_confirm -> __nf_conntrack_confirm. */
  private post(pkt: Packet, cpu: number): void {
    const now = this.sim.now;
    const state = pkt.ctState;
    const e = pkt.ct as Entry;
    pkt.ct = null;
    pkt.ctState = 0;
    const out = now + this.cfg.timing.xmitNs;
    if (state !== CT_NEW) {
      if (state === CT_DROPPED) return;
      this.stats.forwarded++;
      this.wiring.forward(pkt, out);
      return;
    }
    const f = this.cfg.features;
    const table = this.table;
    if (e.masq) {
      this.masquerade(e, pkt, cpu, now);
    } else if (this.cfg.natTable && !f.sameOriginSkip && this.taken(e, e.replyKey, now) !== null) {
      // get_unique_tuple for the SRC null binding, snatLeadNs before the confirm: before 4e35c1cb9460
      // nf_nat_used_tuple sees a confirmed entry owning our REPLY tuple (race 2). It is asked twice, for
      // "the original tuple first" and for "already in range and unique" (found++ each time); then
      // nf_nat_l4proto_unique_tuple picks another source port.
      this.counters.bump(cpu, "found");
      this.counters.bump(cpu, "found");
      this.rewriteSource(e, pkt, pkt.src, this.uniquePort(e, pkt.proto === "tcp", pkt.src, false, cpu, now), cpu, "port-realloc");
    }
    const winner = table.findOrig(e.origKey, now) ?? table.findReply(e.replyKey, now);
    if (winner === undefined) {
      table.insert(e, now);
      if (this.tracer.sink !== null) this.tracer.emit("confirm", pkt, cpu, e);
      this.stats.forwarded++;
      this.wiring.forward(pkt, out);
      return;
    }
    // The clash: another entry with our ORIGINAL or REPLY tuple was confirmed first.
    this.stats.clashes++;
    if (pkt.tally !== null) pkt.tally.clashes++;
    if (winner.natDst !== e.natDst || winner.natDport !== e.natDport) this.stats.clashesDifferentEndpoint++;
    else if (winner.natSrc !== e.natSrc || winner.natSport !== e.natSport) this.stats.clashesDifferentSource++;
    const identical = winner.origKey === e.origKey && winner.replyKey === e.replyKey;
    const natDone = this.cfg.natTable;
    let resolved: "merge" | "nat-clash" | "drop";
    if (f.clashResolution === "none" || pkt.proto === "tcp") {
      // nf_ct_resolve_clash: only l4protos with allow_clash (UDP, UDPLITE) are resolved; a TCP clash drops.
      resolved = "drop";
    } else if (!natDone || (f.clashResolution === "identical" && identical)) {
      resolved = "merge";
    } else if (f.clashResolution === "identical" && f.natClashEntry !== "none" && table.findReply(e.replyKey, now) === undefined) {
      // nf_ct_resolve_clash_harder: our REPLY tuple is unique, insert reply-only.
      resolved = "nat-clash";
    } else {
      resolved = "drop";
    }
    if (resolved === "merge") {
      // nf_ct_resolve_clash: the skb is attached to the winner (nf_ct_set); its NAT is identical. The loser is freed.
      table.free(e);
      this.table.udpPacket(winner, false, now);
      this.counters.bump(cpu, f.clashResolveCounter ? "clash_resolve" : "insert_failed");
      if (this.tracer.sink !== null) this.tracer.emit("clash-merge", pkt, cpu, e);
      this.stats.forwarded++;
      this.wiring.forward(pkt, out);
      return;
    }
    if (resolved === "nat-clash") {
      table.insertNatClash(e, now);
      this.stats.natClashEntries++;
      if (this.tracer.sink !== null) this.tracer.emit("clash-nat-entry", pkt, cpu, e);
      if (f.clashResolveCounter) this.counters.bump(cpu, "clash_resolve");
      this.stats.forwarded++;
      this.wiring.forward(pkt, out);
      return;
    }
    // NF_DROP. Before 4.7 only insert_failed moves; from 4.7 the drop counter too (71d8c47fc653).
    table.free(e);
    this.counters.bump(cpu, "insert_failed");
    if (f.clashResolution !== "none") this.counters.bump(cpu, "drop");
    if (this.tracer.sink !== null) this.tracer.emit("clash-drop", pkt, cpu, e);
    this.stats.droppedClash++;
    if (pkt.tally !== null) pkt.tally.queriesLost++;
  }

  /**
   * nf_nat_used_tuple -> nf_conntrack_tuple_taken, as the SRC binding sees it snatLeadNs before the
   * confirm: a confirmed entry owns the reply tuple `replyKey`. From 4e35c1cb9460 (5.0) an entry with
   * our own ORIGINAL tuple does not count ("Let nf_ct_resolve_clash() deal with this later").
   */
  private taken(e: Entry, replyKey: number, now: number): Entry | null {
    const owner = this.table.findReply(replyKey, now);
    if (owner === undefined || owner.confirmedAt > now - this.cfg.timing.snatLeadNs) return null;
    return this.cfg.features.sameOriginSkip && owner.origKey === e.origKey ? null : owner;
  }

  /**
   * KUBE-POSTROUTING's MASQUERADE (nf_nat_masquerade_ipv4): the source becomes the node's address,
   * with the flags of the rule, and get_unique_tuple (nf_nat_core.c) picks the source port.
   */
  private masquerade(e: Entry, pkt: Packet, cpu: number, now: number): void {
    const m = this.cfg.masquerade!;
    const tcp = pkt.proto === "tcp";
    let port = pkt.sport;
    if (m.randomFully) {
      // NF_NAT_RANGE_PROTO_RANDOM_FULLY is in NF_NAT_RANGE_PROTO_RANDOM_ALL: get_unique_tuple skips "try
      // the original tuple first" (find_appropriate_src) and "only bother mapping if it's not already in
      // range and unique", and nf_nat_l4proto_unique_tuple starts from prandom_u32() in every version.
      // Each new entry gets a port of its own: the two entries of a same-tuple pair get different REPLY
      // tuples even when DNAT picked the same endpoint.
      port = this.uniquePort(e, tcp, m.addr, true, cpu, now);
    } else {
      // The original port if (node address, port) is free. Step 1 offers it through find_appropriate_src
      // (the mapping of an entry with our original source: the pair's winner), step 3 asks again: each
      // asks nf_nat_used_tuple, found++ when taken. A winner whose own port was rewritten would offer
      // that port instead; the model offers the original port.
      const owner = this.taken(e, tupleKey(tcp, e.natDst, e.natDport, m.addr, port), now);
      if (owner !== null) {
        this.counters.bump(cpu, "found");
        if (owner.origKey === e.origKey) this.counters.bump(cpu, "found");
        port = this.uniquePort(e, tcp, m.addr, false, cpu, now);
      }
    }
    this.rewriteSource(e, pkt, m.addr, port, cpu, "masquerade");
  }

  /**
   * nf_nat_l4proto_unique_tuple for a source port of 1024 or more and no --to-ports: the first port
   * of 1024-65535 whose reply tuple is not taken (found++ for each taken one), searching from a random
   * offset (prandom_u32), or before 6ed5943f8735 from the protocol's rover, which then keeps the
   * offset chosen (udp_port_rover starts at 0: the port 1024 of the brb/conntrack-race logs).
   * The later cap of 128 attempts ("netfilter: nat: limit port clash resolution attempts") is not
   * modelled: the search here goes on to a free port.
   */
  private uniquePort(e: Entry, tcp: boolean, addr: number, random: boolean, cpu: number, now: number): number {
    const size = 65536 - 1024;
    const rover = !random && this.cfg.features.natPortRover;
    let off = rover ? this.rovers[tcp ? 1 : 0]! : Math.floor(this.rng.snat() * size);
    for (let i = 0; i < size; i++, off++) {
      const port = 1024 + (off % size);
      if (!this.taken(e, tupleKey(tcp, e.natDst, e.natDport, addr, port), now)) break;
      this.counters.bump(cpu, "found");
    }
    off %= size;
    if (rover) this.rovers[tcp ? 1 : 0] = off;
    return 1024 + off;
  }

  /** nf_nat_setup_info -> nf_conntrack_alter_reply: the new source in the REPLY tuple and (nf_nat_packet) in the packet. */
  private rewriteSource(e: Entry, pkt: Packet, addr: number, port: number, cpu: number, kind: "port-realloc" | "masquerade"): void {
    if (port !== pkt.sport) this.stats.portRewrites++;
    e.natSrc = addr;
    e.natSport = port;
    e.replyKey = tupleKey(pkt.proto === "tcp", e.natDst, e.natDport, addr, port);
    pkt.src = addr;
    pkt.sport = port;
    if (this.tracer.sink !== null) this.tracer.emit(kind, pkt, cpu, e);
  }
}

/** A stable stand-in for the kernel's flow hash (skb_get_hash): a 32-bit mix of the tuple key. */
export function flowHash(key: number): number {
  let h = (key | 0) ^ Math.floor(key / 4294967296); // ToInt32 keeps the low 32 bits, no float modulo
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}
