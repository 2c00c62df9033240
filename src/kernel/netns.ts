import type { Rng } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import { addrPort } from "../net/addr.js";
import { type Packet, packetKey } from "../net/packet.js";
import { Confirm } from "./confirm.js";
import { ConntrackTable, Counters, type Entry } from "./conntrack.js";
import { CT_DROPPED, CT_NEW, type HopEvent, type HopStats, type HopWiring, type NetnsConfig, newHopStats } from "./hop.js";
import { HopTracer } from "./hoptrace.js";
import { Ipvs } from "./ipvs.js";
import { ConntrackIn } from "./lookup.js";
import { SourceNat } from "./snat.js";

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
  private readonly conntrackIn: ConntrackIn;
  private readonly snat: SourceNat;
  private readonly confirmer: Confirm;
  private readonly cpus: Cpu[];
  private readonly stepFn = (w: Work) => this.step(w);
  private readonly pool: Work[] = [];
  /** Whether any raw-table NOTRACK rule exists (most nodes have none: skip the check). */
  private readonly hasNotrack: boolean;
  private readonly times: number[] = [];
  private readonly arriveFn = (w: Work) => this.arrive(w);

  constructor(
    private readonly sim: Simulator,
    readonly cfg: NetnsConfig,
    private readonly rng: { dnat: Rng; timing: Rng; rx: Rng; snat: Rng; migrate: Rng },
    private readonly wiring: HopWiring,
  ) {
    this.table = new ConntrackTable(cfg.features, cfg.tableLimits);
    this.counters = new Counters(cfg.cpus);
    this.cpus = Array.from({ length: cfg.cpus }, () => ({ busy: false, queue: [] }));
    this.hasNotrack = cfg.notrack.size > 0;
    this.ipvs = cfg.ipvs === undefined ? null : new Ipvs(cfg.ipvs);
    this.tracer = new HopTracer(sim, cfg, this.ipvs, wiring);
    this.conntrackIn = new ConntrackIn(sim, cfg, this.table, this.counters, this.stats, this.ipvs, rng, this.tracer);
    this.snat = new SourceNat(cfg, this.table, this.counters, this.stats, rng.snat, this.tracer);
    this.confirmer = new Confirm(cfg.features, cfg.natTable, this.table, this.counters, this.stats, this.tracer);
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
    const preNs = this.conntrackIn.lookup(pkt, w.cpu);
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

  /** nf_nat_ipv4_out (null binding / SNAT) then nf_confirm -> __nf_conntrack_confirm, then the transmit. */
  private post(pkt: Packet, cpu: number): void {
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
}

/** A stable stand-in for the kernel's flow hash (skb_get_hash): a 32-bit mix of the tuple key. */
export function flowHash(key: number): number {
  let h = (key | 0) ^ Math.floor(key / 4294967296); // ToInt32 keeps the low 32 bits, no float modulo
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}
