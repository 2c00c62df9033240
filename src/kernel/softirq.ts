import { type Dist, LogNormal } from "../engine/dist.js";
import type { Rng } from "../engine/random.js";

/**
 * The node's own load, as it bears on where and when a pod's datagram is
 * processed: the softirq work of the node's other traffic and the CPU-bound
 * tasks that compete with ksoftirqd for the CPU. Zero load: every datagram is
 * processed in its sender's softirq at once (the measured 6.18 default path).
 */
export interface SoftirqLoad {
  /** Share of each CPU's time in softirq for the node's other traffic: /proc/stat's softirq column, top's `si`, mpstat's `%soft`. */
  share: number;
  /**
   * Mean CPU time of one softirq round (a NAPI poll of the NIC: up to NAPI_POLL_WEIGHT = 64 packets),
   * exponential. Assumed: 50 us (64 packets at under 1 us each); no measurement of it here.
   */
  roundNs: number;
  /** Mean CPU-bound tasks runnable on each CPU besides ksoftirqd and the resolver's thread: the load average per CPU. */
  runnablePerCpu: number;
  /**
   * MAX_SOFTIRQ_TIME (kernel/softirq.c, msecs_to_jiffies(2)): __do_softirq stops after 2 ms (or 10
   * restarts, or need_resched()) and wakes ksoftirqd for the rest; net_rx_action's netdev_budget_usecs is 2 ms too.
   */
  budgetNs: number;
  /**
   * CFS's sched_latency for this CPU count (kernel/sched/fair.c: 6 ms x (1 + ilog2(min(cpus, 8))),
   * SCHED_TUNABLESCALING_LOG): a CPU with n runnable tasks sets need_resched about n times per period.
   */
  schedLatencyNs: number;
  /**
   * From a preempted thread becoming runnable to its running on an idle CPU that pulls it (newidle
   * balance, or the nohz idle balancer's kick): assumed, lognormal median 20 us, p99 200 us.
   */
  migrateNs: Dist;
}

/** sched_latency (6 ms) scaled by 1 + ilog2(min(cpus, 8)) (update_sysctl, SCHED_TUNABLESCALING_LOG). */
export function schedLatencyNs(cpus: number): number {
  return 6_000_000 * (1 + Math.floor(Math.log2(Math.min(Math.max(cpus, 1), 8))));
}

export function defaultSoftirqLoad(cpus: number, share = 0, runnablePerCpu = 0): SoftirqLoad {
  return { share, roundNs: 50_000, runnablePerCpu, budgetNs: 2_000_000, schedLatencyNs: schedLatencyNs(cpus), migrateNs: new LogNormal(20_000, 200_000) };
}

/** Whether the load can make ksoftirqd runnable at all. */
export function loaded(l: SoftirqLoad): boolean {
  return l.share > 0;
}

/**
 * The state of a CPU's softirq work that ksoftirqd holds, at the moment a
 * datagram is sent from it.
 */
interface CpuState {
  /** Time up to which the state is known. */
  t: number;
  /** CPU time of the softirq work queued for ksoftirqd (0: ksoftirqd is asleep). */
  backlog: number;
  /** The next softirq round of the other traffic. */
  next: number;
}

/**
 * The softirq side of each CPU, as a process of its own, generated lazily at
 * the moments a datagram asks about it. The other traffic raises a softirq
 * round now and then (Poisson, `share` of the CPU on average). A round run at
 * irq exit while ksoftirqd sleeps either finishes, or is cut short after
 * MAX_SOFTIRQ_TIME or by need_resched() (a task waiting for the CPU: the
 * runnable tasks set it, sched_latency apart) and wakes ksoftirqd with the rest
 * (__do_softirq: wakeup_softirqd). While ksoftirqd is runnable, new rounds go to
 * it on kernels that defer (ksoftirqdDefers, 4.9-6.4); elsewhere the irq exit
 * runs them, up to the budget. ksoftirqd is a nice-0 task like the runnable
 * ones: CFS gives it 1/(1 + runnable) of the CPU, so it empties its backlog
 * that much slower than the CPU could; it sleeps again when nothing is pending.
 *
 * Only the last HORIZON of a CPU's history is generated before a query (a
 * state started empty then): a round's effect on ksoftirqd lasts a busy
 * period, far shorter than that unless the CPU is overloaded.
 */
export class SoftirqCpus {
  private readonly cpus: CpuState[];
  /** Rounds per ns. */
  private readonly rate: number;
  /** CPU share ksoftirqd gets while runnable. */
  private readonly drain: number;
  /** need_resched events per ns while a round runs inline. */
  private readonly reschedRate: number;

  static readonly HORIZON_NS = 50_000_000;

  constructor(
    readonly load: SoftirqLoad,
    cpus: number,
    private readonly defers: boolean,
    private readonly rng: Rng,
  ) {
    this.cpus = Array.from({ length: cpus }, () => ({ t: -Infinity, backlog: 0, next: 0 }));
    this.rate = load.share / load.roundNs;
    this.drain = 1 / (1 + load.runnablePerCpu);
    this.reschedRate = load.runnablePerCpu / load.schedLatencyNs;
  }

  /** ksoftirqd's backlog on `cpu` at time t (CPU time of the work it holds), 0 if it sleeps. */
  backlogAt(cpu: number, t: number): number {
    const s = this.cpus[cpu]!;
    if (t < s.t) return s.backlog;
    if (t - s.t > SoftirqCpus.HORIZON_NS) {
      s.t = t - SoftirqCpus.HORIZON_NS;
      s.backlog = 0;
      s.next = s.t + this.gap();
    }
    while (s.next <= t) {
      this.drainTo(s, s.next);
      this.round(s, this.work());
      s.next += this.gap();
    }
    this.drainTo(s, t);
    return s.backlog;
  }

  /**
   * How long a datagram sent behind `w` ns of ksoftirqd's backlog waits to be processed: on kernels
   * that defer, ksoftirqd works through all of it at its CPU share; elsewhere the send's own
   * local_bh_enable runs up to the budget first, and ksoftirqd the rest.
   */
  waitNs(w: number): number {
    const share = 1 + this.load.runnablePerCpu;
    if (this.defers) return w * share;
    return w <= this.load.budgetNs ? w : this.load.budgetNs + (w - this.load.budgetNs) * share;
  }

  /** The backlog was run to its end at time t (by the sender's own local_bh_enable, on kernels that do not defer). */
  emptied(cpu: number, t: number): void {
    const s = this.cpus[cpu]!;
    s.backlog = 0;
    s.t = Math.max(s.t, t);
  }

  /** Part of the backlog was run at time t by the sender's local_bh_enable. */
  ran(cpu: number, t: number, ns: number): void {
    const s = this.cpus[cpu]!;
    s.backlog = Math.max(0, s.backlog - ns);
    s.t = Math.max(s.t, t);
  }

  /** Whether one of the node's other cpus - 1 CPUs is idle: no runnable task (Poisson with the declared mean) and not in softirq. */
  idleElsewhere(cpus: number): boolean {
    const idle = (1 - Math.min(1, this.load.share)) * Math.exp(-this.load.runnablePerCpu);
    const anyIdle = 1 - (1 - idle) ** (cpus - 1);
    return this.rng() < anyIdle;
  }

  /** A uniform draw of the load's own stream (for the choices made around a deferred send). */
  draw(): number {
    return this.rng();
  }

  private drainTo(s: CpuState, t: number): void {
    if (s.backlog > 0) s.backlog = Math.max(0, s.backlog - (t - s.t) * this.drain);
    s.t = t;
  }

  /** One softirq round of `work` ns raised on the CPU at s.t (__do_softirq at irq exit, or ksoftirqd's queue). */
  private round(s: CpuState, work: number): void {
    if (s.backlog > 0) {
      if (this.defers) {
        s.backlog += work; // ksoftirqd_running(): invoke_softirq() leaves it to ksoftirqd
        return;
      }
      // irq exit runs everything pending, up to the budget; the rest stays with ksoftirqd.
      s.backlog = Math.max(0, s.backlog + work - this.load.budgetNs);
      return;
    }
    // ksoftirqd asleep: the round runs at irq exit until done, the 2 ms budget, or need_resched().
    const cut = this.reschedRate > 0 ? -Math.log(1 - this.rng()) / this.reschedRate : Infinity;
    const ranFor = Math.min(work, this.load.budgetNs, cut);
    if (ranFor < work) s.backlog = work - ranFor; // wakeup_softirqd()
  }

  private gap(): number {
    return -Math.log(1 - this.rng()) / this.rate;
  }

  private work(): number {
    return -Math.log(1 - this.rng()) * this.load.roundNs;
  }
}
