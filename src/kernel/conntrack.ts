import { TupleMap } from "./tuplemap.js";
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
  "insert",
  "insert_failed",
  "drop",
  "early_drop",
  "error",
  "search_restart",
  "clash_resolve",
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
  sum(): Record<CounterName, number> {
    const s = zeroCounters();
    for (const c of this.perCpu) for (const k of COUNTER_NAMES) s[k] += c[k];
    return s;
  }
}

function zeroCounters(): Record<CounterName, number> {
  return { found: 0, invalid: 0, insert: 0, insert_failed: 0, drop: 0, early_drop: 0, error: 0, search_restart: 0, clash_resolve: 0 };
}

const SEC = 1_000_000_000;
/** UDP_CT_UNREPLIED: net.netfilter.nf_conntrack_udp_timeout default. */
export const UDP_UNREPLIED_NS = 30 * SEC;
/** nf_ct_resolve_clash_harder: loser_ct->timeout = nfct_time_stamp + HZ. */
export const NAT_CLASH_TIMEOUT_NS = 1 * SEC;
/** nf_conntrack_udp_packet: stream_ts = now + 2 s (5.0+). */
export const UDP_STREAM_DELAY_NS = 2 * SEC;

/**
 * The hash table of one network namespace: confirmed entries by ORIGINAL and by
 * REPLY tuple. Unconfirmed entries are never here (they hang off their packet),
 * which is the whole race: nf_ct_key_equal() only matches confirmed entries.
 */
export class ConntrackTable {
  private readonly byOrig = new TupleMap<Entry>();
  private readonly byReply = new TupleMap<Entry>();
  private insertsSinceSweep = 0;

  constructor(readonly features: KernelFeatures) {}

  get size(): number {
    return this.byReply.size;
  }

  /** A new, unconfirmed entry (init_conntrack), with nf_conntrack_udp_packet's first timeout. */
  create(origKey: number, src: number, sport: number, dst: number, dport: number, now: number): Entry {
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
    this.maybeSweep(now);
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
    this.maybeSweep(now);
  }

  remove(e: Entry): void {
    if (this.byOrig.get(e.origKey) === e) this.byOrig.delete(e.origKey);
    if (this.byReply.get(e.replyKey) === e) this.byReply.delete(e.replyKey);
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
    this.byReply.forEach((e) => {
      if (now >= e.timeoutAt) this.remove(e);
    });
    this.byOrig.forEach((e) => {
      if (now >= e.timeoutAt) this.remove(e);
    });
  }
}
