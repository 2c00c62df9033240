import type { Rng } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import { type Packet, packetKey } from "../net/packet.js";
import type { HopStats, NetnsConfig } from "./hop.js";
import type { HopTracer } from "./hoptrace.js";
import { flowHash } from "./flowhash.js";
import { NicQueues } from "./nic.js";
import { SoftirqCpus, loaded } from "./softirq.js";

/** The netfilter hooks the receive path hands each packet to, on the CPU that processes it. */
export interface NetfilterHooks {
  /** PREROUTING (conntrack lookup, DNAT): returns its time on the CPU (ns) and sets pkt.ctPost, the time from there to the confirm. */
  prerouting(pkt: Packet, cpu: number): number;
  /** POSTROUTING, pkt.ctPost later: the SRC binding, the confirm, the transmit. */
  postrouting(pkt: Packet, cpu: number): void;
}

interface Work {
  /** The packets, pkts[0..n) (the array is kept between uses: truncating it would free its storage). */
  pkts: Packet[];
  n: number;
  cpu: number;
  i: number;
  /** A list the NIC's poll handed on (traced as nic-list, not gro-list). */
  nic: boolean;
}

interface Cpu {
  busy: boolean;
  queue: Work[];
}

/** Fills recycled slots, so a finished packet is not kept alive by the pool. */
const NO_PACKET = null as unknown as Packet;

/**
 * The receive path of one hop: how packets reach its PREROUTING hook, and the
 * per-CPU work that takes them through PREROUTING and POSTROUTING. Every hop
 * has one, whether its packets come from local senders (send: a pod's veth)
 * or from the wire (fromWire: the NIC, or the overlay device that decapsulates
 * them); the node's `rx` mode (kernel/rx.ts) is read here and nowhere else.
 * - "inline", "gro": each datagram processed to completion on the sender's
 *   CPU, or on the CPU whose queue RSS picked; one thread's burst can split
 *   over two CPUs when the thread migrates between its sends (migrationSplit);
 * - "rps": each datagram re-queued to its flow's CPU, one at a time;
 * - "gro-threaded": the poll thread hands on what it finds queued as one GRO
 *   list (netif_receive_skb_list): PREROUTING runs for all before any confirm;
 * - "rps-gro-threaded": the same poll, but RPS re-queues its datagrams one by one.
 *
 * A CPU processes one work item (one packet, or one GRO list) at a time, in
 * arrival order: that is what makes a single thread's pair safe on a path that
 * processes datagrams one by one. Work items are recycled: once warm, the path
 * allocates nothing per packet.
 */
export class RxPath {
  private readonly cpus: Cpu[];
  private readonly pool: Work[] = [];
  /** Enqueue times of a sender's burst, times[0..burst.length): overwritten, never truncated (that would free its storage). */
  private readonly times: number[] = [];
  /** Per CPU: the wire's packets waiting for a pending threaded poll (empty: no poll pending). */
  private readonly pending: Packet[][];
  /** The NIC's receive queues (kernel/nic.ts), for the inline and gro modes' packets from the wire. */
  private readonly nic: NicQueues;
  /** One packet handed on as a list of one. */
  private readonly one: Packet[] = [NO_PACKET];
  private readonly arriveFn = (w: Work) => this.arrive(w);
  private readonly stepFn = (w: Work) => this.step(w);
  private readonly wirePollFn = (cpu: number) => this.wirePoll(cpu);
  /** The node's softirq load on each CPU, or null when none is declared. */
  private readonly softirq: SoftirqCpus | null;

  constructor(
    private readonly sim: Simulator,
    private readonly cfg: Pick<NetnsConfig, "cpus" | "rx" | "send" | "features">,
    /** `nic`: the NIC polls' own stream (needed only for packets from the wire on kernels with GRO_NORMAL lists). */
    private readonly rng: { timing: Rng; rx: Rng; migrate: Rng; softirq: Rng; nic?: Rng },
    /** packetsIn counts the packets handed to a CPU's backlog. */
    private readonly stats: HopStats,
    private readonly hooks: NetfilterHooks,
    private readonly tracer: HopTracer,
  ) {
    this.cpus = Array.from({ length: cfg.cpus }, () => ({ busy: false, queue: [] }));
    this.pending = Array.from({ length: cfg.cpus }, () => []);
    this.nic = new NicQueues(sim, cfg.rx.nic, cfg.rx.softirq, cfg.cpus, rng.nic, (ring, from, to, cpu) => this.nicList(ring, from, to, cpu));
    const load = cfg.rx.softirq;
    this.softirq = load !== null && loaded(load) ? new SoftirqCpus(load, cfg.cpus, cfg.features.ksoftirqdDefers, rng.softirq) : null;
  }

  /**
   * A burst of datagrams handed to the kernel by one thread without blocking in
   * between (one sendmmsg(), or back-to-back send() calls), from `senderCpu`:
   * their times to the node side of the veth, then where and when each reaches PREROUTING.
   * `calls`: one sendmmsg() (glibc), or a send() per datagram (musl), whose gaps are longer.
   */
  send(burst: Packet[], senderCpu: number, calls: "sendmmsg" | "send" = "sendmmsg"): void {
    const { rx, send } = this.cfg;
    const r = this.rng.timing;
    const times = this.times;
    const gap = calls === "send" ? send.callGapNs : send.datagramGapNs;
    let t = this.sim.now;
    for (let i = 0; i < burst.length; i++) {
      if (i > 0) t += gap.sample(r);
      let at = t + send.txNs.sample(r);
      if (send.stallProbability > 0 && r() < send.stallProbability) at += send.stallNs.sample(r);
      times[i] = Math.round(at);
    }
    const cpu = senderCpu % this.cfg.cpus;
    switch (rx.mode) {
      case "inline":
      case "gro":
        // The thread-migration split (rx.ts): a measured overlap rate per burst, so it applies to every
        // burst whatever the load; drawn from a stream of its own so that the other streams' draws do not move.
        if (burst.length > 1 && this.cfg.cpus > 1 && rx.migrationProbability > 0 && this.rng.migrate() < rx.migrationProbability) {
          this.migrationSplit(burst, cpu, times[burst.length - 1]!);
          return;
        }
        // A loaded CPU may hold the burst for ksoftirqd (softirq.ts); its draws are from a stream of its own.
        if (this.softirq !== null && this.throughKsoftirqd(burst, cpu, times)) return;
        for (let i = 0; i < burst.length; i++) this.schedule(burst[i]!, cpu, times[i]!);
        return;
      case "rps":
        for (let i = 0; i < burst.length; i++) this.rps(burst[i]!, times[i]!);
        return;
      case "gro-threaded":
      case "rps-gro-threaded":
        // Batched: the poll thread runs only after the sender blocks, with the whole burst queued.
        if (burst.length > 1 && this.rng.rx() < rx.batchProbability) {
          this.poll(burst, cpu, times[burst.length - 1]! + Math.round(rx.pollWakeNs.sample(r)));
          return;
        }
        for (let i = 0; i < burst.length; i++) this.pollOne(burst[i]!, cpu, times[i]! + Math.round(rx.pollWakeNs.sample(r)));
        return;
    }
  }

  /**
   * A packet arrives from the wire now, on the receive queue of `cpu` (RSS: the flow hash picks it,
   * as get_rps_cpu does). With threaded NAPI, a packet that finds no poll pending on its CPU either
   * is taken at once by a poll already running (1 - batchProbability), or waits pollWakeNs for the
   * poll thread, and every packet of that CPU arriving in the meantime joins it.
   */
  fromWire(pkt: Packet, cpu: number): void {
    const rx = this.cfg.rx;
    const now = this.sim.now;
    switch (rx.mode) {
      case "inline":
      case "gro":
        // The NIC's NAPI poll: from 5.5 it hands its packets on as lists (kernel/nic.ts); before, one by one.
        if (this.cfg.features.groNormalList) {
          this.nic.arrive(pkt, cpu);
          return;
        }
        this.schedule(pkt, cpu, now);
        return;
      case "rps":
        this.rps(pkt, now, cpu); // RSS picked cpu by the same flow hash get_rps_cpu uses
        return;
      case "gro-threaded":
      case "rps-gro-threaded": {
        const waiting = this.pending[cpu]!;
        if (waiting.length > 0) {
          waiting.push(pkt); // the poll has not run yet: it takes this packet too
          return;
        }
        if (this.rng.rx() >= rx.batchProbability) {
          this.schedule(pkt, cpu, now); // the poll thread is running already: it takes the packet alone
          return;
        }
        waiting.push(pkt);
        this.sim.at(now + Math.round(rx.pollWakeNs.sample(this.rng.timing)), this.wirePollFn, cpu);
        return;
      }
    }
  }

  /** A GRO list (or one packet) reaches PREROUTING on `cpu` at time t: PREROUTING runs for all of them, then POSTROUTING for each. */
  scheduleList(pkts: Packet[], cpu: number, t: number): void {
    const w = this.work(cpu);
    for (let i = 0; i < pkts.length; i++) w.pkts[w.n++] = pkts[i]!;
    this.stats.packetsIn += pkts.length;
    this.sim.at(Math.max(t, this.sim.now), this.arriveFn, w);
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

  /**
   * The burst sent from a CPU whose ksoftirqd is runnable (kernel/softirq.ts). Returns false when
   * the burst goes on as on an unloaded CPU (ksoftirqd asleep, or, on kernels that do not defer,
   * a backlog the send's local_bh_enable runs to its end first: the burst's times are moved by it).
   * Otherwise the first datagram waits in this CPU's backlog for ksoftirqd (4.9-6.4: do_softirq
   * returns while ksoftirqd_running(); other kernels: past the 2 ms the sender's __do_softirq runs).
   * The thread goes on; between its sends (sendmmsg's cond_resched(), musl's return to user space)
   * need_resched() may hand the CPU to ksoftirqd, and an idle CPU may pull the waiting thread
   * (newidle balance): its next datagrams are then processed there, at once, while ksoftirqd works
   * towards the first on the old CPU. Only then can the two meet in conntrack; RPS (which sends one
   * flow to one CPU's backlog) never gets here.
   */
  private throughKsoftirqd(burst: Packet[], cpu: number, times: number[]): boolean {
    const s = this.softirq!;
    const load = s.load;
    const n = burst.length;
    const t0 = times[0]!;
    let w = s.backlogAt(cpu, t0);
    if (w <= 0) return false;
    let inline = 0;
    if (!this.cfg.features.ksoftirqdDefers) {
      if (w <= load.budgetNs) {
        // local_bh_enable -> do_softirq runs the backlog, then the datagram: the sender waits for it.
        if (this.tracer.sink !== null) this.tracer.emit("backlog-run", burst[0]!, cpu, null, w);
        const shift = Math.round(w);
        for (let i = 0; i < n; i++) times[i]! += shift;
        s.emptied(cpu, t0 + w);
        return false;
      }
      inline = load.budgetNs; // __do_softirq stops after MAX_SOFTIRQ_TIME and wakes ksoftirqd for the rest
      s.ran(cpu, t0 + inline, inline);
      w -= inline;
      for (let i = 1; i < n; i++) times[i]! += inline;
    }
    if (this.tracer.sink !== null) this.tracer.emit("ksoftirqd-deferred", burst[0]!, cpu, null, w);
    const share = 1 + load.runnablePerCpu;
    const spread = times[n - 1]! - t0 - inline;
    // need_resched() during the sends: ksoftirqd and the runnable tasks each get the CPU once per sched_latency.
    const preempted = n > 1 && this.cfg.cpus > 1 && s.draw() < 1 - Math.exp((-spread * share) / load.schedLatencyNs);
    if (preempted) {
      const tPre = t0 + inline + s.draw() * spread;
      // From here ksoftirqd has the CPU to itself until it is done.
      const tFirst = tPre + Math.max(0, w - (tPre - t0 - inline) / share);
      if (s.idleElsewhere(this.cfg.cpus)) {
        const other = (cpu + 1 + Math.floor(s.draw() * (this.cfg.cpus - 1))) % this.cfg.cpus;
        const tMoved = tPre + Math.round(load.migrateNs.sample(this.rng.softirq));
        if (this.tracer.sink !== null) this.tracer.emit("ksoftirqd-migrated", burst[1]!, other, null, cpu);
        this.schedule(burst[0]!, cpu, Math.round(tFirst));
        for (let i = 1; i < n; i++) {
          const at = tMoved + (times[i]! - times[1]!);
          this.schedule(burst[i]!, other, Math.round(this.processedAt(other, at)));
        }
        return true;
      }
      // No CPU to move to: the thread waits its turn behind ksoftirqd, its datagrams behind the first.
      this.queueBehind(burst, cpu, Math.round(tFirst));
      return true;
    }
    this.queueBehind(burst, cpu, Math.round(t0 + inline + w * share)); // = t0 + s.waitNs(the backlog at t0)
    return true;
  }

  /**
   * The burst waits in one CPU's backlog until ksoftirqd reaches it at `t`. With GRO on the veth
   * (its NAPI polled by ksoftirqd) and list delivery (5.5), the poll finds them all queued and hands
   * them on as one list; otherwise process_backlog takes them one at a time.
   */
  private queueBehind(burst: Packet[], cpu: number, t: number): void {
    if (this.cfg.rx.mode === "gro" && this.cfg.features.groNormalList) {
      this.scheduleList(burst, cpu, t);
      return;
    }
    for (let i = 0; i < burst.length; i++) this.schedule(burst[i]!, cpu, t);
  }

  /** When a datagram sent on `cpu` at t is processed there: at once, or when that CPU's ksoftirqd reaches it. */
  private processedAt(cpu: number, t: number): number {
    const s = this.softirq!;
    return t + s.waitNs(s.backlogAt(cpu, t));
  }

  /**
   * RPS re-queues a datagram to its flow's CPU backlog; it reaches PREROUTING after the enqueue and
   * the IPI. get_rps_cpu: the flow hash picks the CPU, so one flow always lands on the same CPU;
   * `cpu` when it is known already (a wire packet's RSS queue was picked by that hash).
   */
  private rps(pkt: Packet, t: number, cpu = flowHash(packetKey(pkt)) % this.cfg.cpus): void {
    this.schedule(pkt, cpu, t + Math.round(this.cfg.rx.rpsNs.sample(this.rng.timing)));
  }

  /**
   * The threaded NAPI poll on `cpu` at time t hands on the datagrams it found queued: as one GRO
   * list (netif_receive_skb_list -> ip_list_rcv), or, with RPS, each re-queued to its flow's CPU.
   */
  private poll(pkts: Packet[], cpu: number, t: number, fromWire = false): void {
    if (this.cfg.rx.mode === "gro-threaded") {
      this.scheduleList(pkts, cpu, t);
      return;
    }
    // A wire CPU's pending packets all hashed to it (RSS); a sender's may be of any flow.
    for (let i = 0; i < pkts.length; i++) this.rps(pkts[i]!, t, fromWire ? cpu : undefined);
  }

  /** A poll that finds one datagram queued. */
  private pollOne(pkt: Packet, cpu: number, t: number): void {
    this.one[0] = pkt;
    this.poll(this.one, cpu, t);
    this.one[0] = NO_PACKET;
  }

  private wirePoll(cpu: number): void {
    const waiting = this.pending[cpu]!;
    this.poll(waiting, cpu, this.sim.now, true);
    waiting.length = 0;
  }

  /** A list the NIC's poll hands on now: ring[from..to) reach PREROUTING together on `cpu`. */
  private nicList(ring: readonly Packet[], from: number, to: number, cpu: number): void {
    const w = this.work(cpu);
    w.nic = true;
    for (let j = from; j < to; j++) w.pkts[w.n++] = ring[j]!;
    this.stats.packetsIn += to - from;
    this.sim.at(this.sim.now, this.arriveFn, w);
  }

  /** One datagram reaches PREROUTING on `cpu` at time t (processed alone). */
  private schedule(pkt: Packet, cpu: number, t: number): void {
    const w = this.work(cpu);
    w.pkts[w.n++] = pkt;
    this.stats.packetsIn++;
    this.sim.at(Math.max(t, this.sim.now), this.arriveFn, w);
  }

  private work(cpu: number): Work {
    const w = this.pool.pop();
    if (w === undefined) return { pkts: [], n: 0, cpu, i: 0, nic: false };
    w.cpu = cpu;
    w.i = 0;
    w.nic = false;
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
    if (w.n > 1 && this.tracer.sink !== null) this.tracer.emit(w.nic ? "nic-list" : "gro-list", w.pkts[0]!, w.cpu, null, w.n);
    this.pre(w);
  }

  /**
   * Phase 1, PREROUTING for packet w.i. In a list, PREROUTING runs for every packet before any is
   * confirmed (ip_list_rcv -> ip_sublist_rcv: NF_HOOK_LIST, then routing per packet).
   */
  private pre(w: Work): void {
    const n = w.n;
    const preNs = this.hooks.prerouting(w.pkts[w.i]!, w.cpu);
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
    // Phase 2, POSTROUTING for packet k = i - n.
    const k = w.i - n;
    this.hooks.postrouting(w.pkts[k]!, w.cpu);
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
}
