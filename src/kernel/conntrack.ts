import { TupleMap, hash } from "./tuplemap.js";
import type { KernelFeatures } from "./version.js";

/**
 * One conntrack entry (struct nf_conn), reduced to what the race needs: the
 * ORIGINAL and REPLY tuples, the NAT binding, status bits and the timeout.
 */
export interface Entry {
  /** Tuple keys (net/addr.ts tupleKey). */
  origKey: number;
  replyKey: number;
  /** Original source and destination (the Service VIP and port), restored on replies by reverse NAT. */
  origSrc: number;
  origSport: number;
  origDst: number;
  origDport: number;
  /** Destination after DNAT (equal to origDst/origDport for a null binding). */
  natDst: number;
  natDport: number;
  /** Source after the POSTROUTING binding (MASQUERADE, or a port rewritten in race 2). */
  natSrc: number;
  natSport: number;
  /** KUBE-MARK-MASQ set on its first packet: KUBE-POSTROUTING will MASQUERADE it. */
  masq: boolean;
  confirmed: boolean;
  confirmedAt: number;
  /** IPS_SEEN_REPLY */
  seenReply: boolean;
  /** IPS_ASSURED */
  assured: boolean;
  /** IPS_NAT_CLASH (with IPS_FIXED_TIMEOUT): inserted reply-only by nf_ct_resolve_clash_harder. */
  natClash: boolean;
  /** Absolute expiry, ns. */
  timeoutAt: number;
  /** nf_conntrack_udp_packet's stream_ts (5.0+): creation + 2 s. */
  streamTs: number;
  /** Unconfirmed entries carry the relative timeout until confirm adds "now" (ct->timeout += nfct_time_stamp). */
  relTimeout: number;
}

/** The counters of `conntrack -S` / /proc/net/stat/nf_conntrack, per CPU. */
export const COUNTER_NAMES = [
  "found",
  "invalid",
  "ignore",
  "insert",
  "insert_failed",
  "drop",
  "early_drop",
  "error",
  "search_restart",
  "clash_resolve",
  "chaintoolong",
  "new",
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export class Counters {
  readonly perCpu: Record<CounterName, number>[];
  constructor(cpus: number) {
    this.perCpu = Array.from({ length: cpus }, () => zeroCounters());
  }
  bump(cpu: number, name: CounterName): void {
    this.perCpu[cpu]![name]++;
  }
  add(cpu: number, name: CounterName, n: number): void {
    this.perCpu[cpu]![name] += n;
  }
  sum(): Record<CounterName, number> {
    const s = zeroCounters();
    for (const c of this.perCpu) for (const k of COUNTER_NAMES) s[k] += c[k];
    return s;
  }
}

function zeroCounters(): Record<CounterName, number> {
  return { found: 0, invalid: 0, ignore: 0, insert: 0, insert_failed: 0, drop: 0, early_drop: 0, error: 0, search_restart: 0, clash_resolve: 0, chaintoolong: 0, new: 0 };
}

const SEC = 1_000_000_000;
/** UDP_CT_UNREPLIED: net.netfilter.nf_conntrack_udp_timeout default. */
export const UDP_UNREPLIED_NS = 30 * SEC;
/** nf_ct_resolve_clash_harder: loser_ct->timeout = nfct_time_stamp + HZ. */
export const NAT_CLASH_TIMEOUT_NS = 1 * SEC;
/** nf_conntrack_udp_packet: stream_ts = now + 2 s (5.0+). */
export const UDP_STREAM_DELAY_NS = 2 * SEC;

/** nf_conntrack_max and the number of hash buckets (nf_conntrack_buckets, the module's hashsize). */
export interface TableLimits {
  max: number;
  buckets: number;
}

/**
 * Entries of the namespace that the model counts without simulating them (kernel/otherflows.ts):
 * they hold slots of nf_conntrack_max, are never evicted, and are brought up to date before the
 * table decides whether it is full.
 */
export interface TableOccupant {
  /** Play what happened up to `now` (arrivals may ask the table for room at their own times). */
  advance(now: number): void;
  /** Entries alive at `now`. */
  live(now: number): number;
}

/** early_drop() looks at this many buckets from the new tuple's (NF_CT_EVICTION_RANGE). */
export const NF_CT_EVICTION_RANGE = 8;

/**
 * The hash table of one network namespace: confirmed entries by ORIGINAL and by
 * REPLY tuple. Unconfirmed entries are never here (they hang off their packet),
 * which is the whole race: nf_ct_key_equal() only matches confirmed entries.
 *
 * `count` is net->ct.count: every nf_conn alive, unconfirmed ones included.
 * With limits, the entries are also kept in their hash buckets (one per
 * direction, as the kernel's tuplehash nodes), for early_drop().
 */
export class ConntrackTable {
  private readonly byOrig = new TupleMap<Entry>();
  private readonly byReply = new TupleMap<Entry>();
  private insertsSinceSweep = 0;
  /** net->ct.count */
  count = 0;
  /** Hash chains by bucket (only the non-empty ones), when limited. */
  private readonly buckets: Map<number, Entry[]> | null;
  /** No entry in the table expires before this (a lower bound, kept when the table is limited). */
  private earliestExpiry = Infinity;
  /** The node's other flows, counted in net->ct.count (null: none). */
  occupant: TableOccupant | null = null;

  constructor(
    readonly features: KernelFeatures,
    readonly limits: TableLimits | null = null,
  ) {
    this.buckets = limits === null ? null : new Map();
  }

  get size(): number {
    return this.byReply.size;
  }

  /** A new, unconfirmed entry (init_conntrack), with nf_conntrack_udp_packet's first timeout. */
  create(origKey: number, src: number, sport: number, dst: number, dport: number, now: number): Entry {
    this.count++;
    return {
      origKey,
      replyKey: -1,
      origSrc: src,
      origSport: sport,
      origDst: dst,
      origDport: dport,
      natDst: dst,
      natDport: dport,
      natSrc: src,
      natSport: sport,
      masq: false,
      confirmed: false,
      confirmedAt: -1,
      seenReply: false,
      assured: false,
      natClash: false,
      timeoutAt: Infinity,
      streamTs: now + UDP_STREAM_DELAY_NS,
      relTimeout: UDP_UNREPLIED_NS,
    };
  }

  /** __nf_conntrack_find_get on the ORIGINAL direction: confirmed, unexpired (expired ones are reaped, as nf_ct_gc_expired). */
  findOrig(key: number, now: number): Entry | undefined {
    const e = this.byOrig.get(key);
    if (e === undefined) return undefined;
    if (now >= e.timeoutAt) {
      this.remove(e);
      return undefined;
    }
    return e;
  }

  /** The same on the REPLY direction. */
  findReply(key: number, now: number): Entry | undefined {
    const e = this.byReply.get(key);
    if (e === undefined) return undefined;
    if (now >= e.timeoutAt) {
      this.remove(e);
      return undefined;
    }
    return e;
  }

  /** __nf_conntrack_hash_insert of both directions, timeout made absolute. */
  insert(e: Entry, now: number): void {
    e.confirmed = true;
    e.confirmedAt = now;
    e.timeoutAt = now + e.relTimeout;
    this.byOrig.set(e.origKey, e);
    this.byReply.set(e.replyKey, e);
    if (this.buckets !== null) {
      this.link(this.bucketOf(e.origKey), e);
      this.link(this.bucketOf(e.replyKey), e);
      if (e.timeoutAt < this.earliestExpiry) this.earliestExpiry = e.timeoutAt;
    }
    this.maybeSweep(now);
  }

  /** An unconfirmed entry that will never be inserted (a clash loser merged or dropped): nf_conntrack_free. */
  free(_e: Entry): void {
    this.count--;
  }

  /**
   * nf_ct_resolve_clash_harder: insert the REPLY direction only (ORIGINAL gets
   * hlist_nulls_add_fake), with IPS_NAT_CLASH, a fixed 1 s timeout, never ASSURED.
   */
  insertNatClash(e: Entry, now: number): void {
    e.confirmed = true;
    e.confirmedAt = now;
    e.natClash = true;
    e.timeoutAt = now + NAT_CLASH_TIMEOUT_NS;
    this.byReply.set(e.replyKey, e);
    if (this.buckets !== null) {
      this.link(this.bucketOf(e.replyKey), e);
      if (e.timeoutAt < this.earliestExpiry) this.earliestExpiry = e.timeoutAt;
    }
    this.maybeSweep(now);
  }

  /** A confirmed entry leaves the table (expired, killed, evicted): its slot is free again. */
  remove(e: Entry): void {
    let removed = false;
    if (this.byOrig.get(e.origKey) === e) removed = this.byOrig.delete(e.origKey);
    if (this.byReply.get(e.replyKey) === e) removed = this.byReply.delete(e.replyKey) || removed;
    if (!removed) return;
    this.count--;
    if (this.buckets !== null) {
      if (!e.natClash) this.unlink(this.bucketOf(e.origKey), e);
      this.unlink(this.bucketOf(e.replyKey), e);
    }
  }

  /**
   * The table-size check of __nf_conntrack_alloc, before a new entry for `origKey`: if
   * nf_conntrack_max is reached, early_drop() (nf_conntrack_core.c) evicts from the bucket
   * of the new tuple and the next ones, up to NF_CT_EVICTION_RANGE buckets, every entry of
   * the first bucket that has any that is not ASSURED (early_drop_list: not IPS_ASSURED, not
   * dying). Returns the number evicted (0: there was room), or -1: nothing could go, the
   * packet is dropped ("nf_conntrack: table full, dropping packet").
   * Expired entries hold no slot here: the kernel's gc_worker reaps them within its scan
   * interval, and lookups and early_drop_list reap those they meet (nf_ct_gc_expired).
   */
  makeRoom(origKey: number, now: number): number {
    this.occupant?.advance(now);
    return this.makeRoomAt(origKey, now);
  }

  /** makeRoom without bringing the other flows up to date (they call it for their own arrivals). */
  makeRoomAt(origKey: number, now: number): number {
    const limits = this.limits!;
    const others = this.occupant === null ? 0 : this.occupant.live(now);
    if (this.count + others < limits.max) return 0;
    if (now >= this.earliestExpiry) this.reapExpired(now);
    if (this.count + others < limits.max) return 0;
    const size = limits.buckets;
    let b = this.bucketOf(origKey);
    for (let i = 0; i < NF_CT_EVICTION_RANGE; i++, b = (b + 1) % size) {
      const victims = (this.buckets!.get(b) ?? []).filter((e) => !e.assured);
      if (victims.length === 0) continue;
      let drops = 0;
      for (const e of victims) {
        if (this.byReply.get(e.replyKey) !== e) continue; // both its nodes were in this bucket: already gone
        this.remove(e);
        drops++;
      }
      return drops;
    }
    return -1;
  }

  /** hlist_nulls_add_head_rcu: one direction of an entry joins a bucket's chain. */
  private link(b: number, e: Entry): void {
    const chain = this.buckets!.get(b);
    if (chain === undefined) this.buckets!.set(b, [e]);
    else chain.push(e);
  }

  /** hlist_nulls_del_rcu */
  private unlink(b: number, e: Entry): void {
    const chain = this.buckets!.get(b);
    if (chain === undefined) return;
    const i = chain.indexOf(e);
    if (i >= 0) chain.splice(i, 1);
    if (chain.length === 0) this.buckets!.delete(b);
  }

  /** reciprocal_scale(hash, hsize): the bucket of a tuple. */
  private bucketOf(key: number): number {
    return Math.floor((hash(key) * this.limits!.buckets) / 4294967296);
  }

  /** Entries alive at `now` (what /proc's `entries` shows: the gc worker has reaped the expired ones), the other flows' included. */
  liveCount(now: number): number {
    this.reapExpired(now);
    if (this.occupant === null) return this.count;
    this.occupant.advance(now);
    return this.count + this.occupant.live(now);
  }

  /** Removes every expired entry and notes when the next one expires. */
  private reapExpired(now: number): void {
    let next = Infinity;
    for (const e of this.byReply.values()) {
      if (now >= e.timeoutAt) this.remove(e);
      else if (e.timeoutAt < next) next = e.timeoutAt;
    }
    this.earliestExpiry = next;
  }

  /**
   * nf_conntrack_udp_packet: the timeout refresh on every packet of a confirmed
   * entry. `isReply` is the direction of this packet.
   */
  udpPacket(e: Entry, isReply: boolean, now: number): void {
    if (e.natClash) return; // IPS_FIXED_TIMEOUT: refresh is a no-op, never ASSURED
    const f = this.features;
    if (e.seenReply) {
      const stream = !f.udpStreamAfter2s || now > e.streamTs;
      if (stream) {
        e.timeoutAt = Math.max(e.timeoutAt, now + f.udpStreamTimeoutS * SEC);
        e.assured = true;
      } else {
        e.timeoutAt = now + UDP_UNREPLIED_NS;
        if (!f.assuredOnlyInStream) e.assured = true;
      }
    } else {
      e.timeoutAt = now + UDP_UNREPLIED_NS;
    }
    // nf_conntrack_in sets IPS_SEEN_REPLY after the l4 handler, on the first reply.
    if (isReply) e.seenReply = true;
  }

  /** The lazy part of gc_worker: every so often, reap what has expired. */
  private maybeSweep(now: number): void {
    if (++this.insertsSinceSweep < 4096 + (this.byReply.size >> 1)) return;
    this.insertsSinceSweep = 0;
    for (const e of this.byReply.values()) if (now >= e.timeoutAt) this.remove(e);
    for (const e of this.byOrig.values()) if (now >= e.timeoutAt) this.remove(e);
  }
}
