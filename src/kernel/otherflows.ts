import type { Rng } from "../engine/random.js";
import type { ConntrackTable, Counters, TableOccupant } from "./conntrack.js";
import type { KernelFeatures } from "./version.js";

const SEC = 1_000_000_000;

/**
 * tcp_timeouts[TCP_CONNTRACK_TIME_WAIT] = 2 MINS (nf_conntrack_proto_tcp.c, 4.4 to 6.x): a short TCP
 * connection's entry outlives its close by this much, so its own duration is left out.
 */
export const DEFAULT_OTHER_CONNECTION_LIFETIME_S = 120;

/** The node's flows other than DNS (HTTP, database connections...), as conntrack sees them. */
export interface OtherFlowsConfig {
  /** New conntrack entries per second, a Poisson process. */
  ratePerS: number;
  /** How long each entry holds its slot of nf_conntrack_max, ns. */
  lifetimeNs: number;
}

/**
 * The conntrack entries of the node's other flows, counted without simulating their packets:
 * Poisson arrivals from a stream of their own, each on a CPU drawn uniformly, each an entry that
 * is confirmed at once (insert++ and new++ where the packet path counts them, kernel/version.ts
 * hotpathStats), becomes ASSURED (a TCP connection that completed its handshake:
 * nf_conntrack_tcp_packet sets IPS_ASSURED), and lives `lifetimeNs`. ASSURED entries are never
 * early_drop()'s victims (early_drop_list skips IPS_ASSURED), so they need no place in the hash
 * chains, only a count in net->ct.count.
 *
 * The table starts in steady state (arrivals from one lifetime before 0); only arrivals from 0 on
 * move the counters. Arrivals are played in time order whenever the table must know whether it is
 * full (table.makeRoom) and at the end of the run; with nf_conntrack_max set, each asks the table
 * for room at its own time, as __nf_conntrack_alloc does: early_drop() may evict DNS entries that
 * are not ASSURED from the buckets of its (random) tuple, and when nothing can go its packet is
 * dropped (drop++) and it makes no entry (its SYN's retransmission is not modelled).
 */
export class OtherFlows implements TableOccupant {
  /** Arrivals played so far that made an entry (from time 0). */
  inserted = 0;
  /** Arrivals (from time 0) dropped because the table was full. */
  dropped = 0;
  private nextAt: number;
  /** Expiry times of live entries, ascending (every entry lives the same time): a queue from `head`. */
  private expiries: number[] = [];
  private head = 0;
  private readonly meanGapNs: number;

  constructor(
    private readonly cfg: OtherFlowsConfig,
    private readonly cpus: number,
    private readonly features: KernelFeatures,
    private readonly table: ConntrackTable,
    private readonly counters: Counters,
    private readonly rng: Rng,
  ) {
    this.meanGapNs = SEC / cfg.ratePerS;
    this.nextAt = -cfg.lifetimeNs + this.gap();
    table.occupant = this;
  }

  private gap(): number {
    return -Math.log(1 - this.rng()) * this.meanGapNs;
  }

  advance(now: number): void {
    while (this.nextAt <= now) {
      const at = this.nextAt;
      // Three draws per arrival, always: the stream's sequence does not depend on the table.
      const cpu = Math.min(this.cpus - 1, Math.floor(this.rng() * this.cpus));
      const key = Math.floor(this.rng() * 4294967296);
      this.nextAt = at + this.gap();
      this.arrive(at, cpu, key);
    }
  }

  private arrive(at: number, cpu: number, key: number): void {
    const counted = at >= 0;
    if (this.table.limits !== null) {
      const evicted = this.table.makeRoomAt(key, at);
      if (evicted < 0) {
        // nf_conntrack_in: init_conntrack failed ("table full, dropping packet"), NF_DROP with drop++.
        if (counted) {
          this.counters.bump(cpu, "drop");
          this.dropped++;
        }
        return;
      }
      if (evicted > 0 && counted) this.counters.add(cpu, "early_drop", evicted);
    }
    this.expiries.push(at + this.cfg.lifetimeNs);
    if (!counted) return;
    this.inserted++;
    // init_conntrack's new++ and __nf_conntrack_confirm's insert++, up to 4.8.
    if (this.features.hotpathStats) {
      this.counters.bump(cpu, "new");
      this.counters.bump(cpu, "insert");
    }
  }

  live(now: number): number {
    const q = this.expiries;
    while (this.head < q.length && q[this.head]! <= now) this.head++;
    if (this.head > 65536 && this.head * 2 > q.length) {
      this.expiries = q.slice(this.head);
      this.head = 0;
    }
    return this.expiries.length - this.head;
  }
}
