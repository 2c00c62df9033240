import type { Rng } from "../engine/random.js";
import { type CacheConfig, type CacheItem, DnsCache, remainingTtl } from "../dns/cache.js";
import { type CapacityConfig, ReplicaQueue } from "../dns/capacity.js";
import { type ForwardConfig, forwardQuery } from "../dns/forward.js";
import { type FaultRule, ruleText } from "../dns/rules.js";
import type { Endpoint } from "../dns/server.js";
import { type Answer, type Zone, newAnswer } from "../dns/zone.js";
import type { QType, Rcode } from "../net/packet.js";

/** The plugins of a kube-dns replica's Corefile that the model plays (kube_dns.cache, .forward, .capacity). */
export interface CoreDnsConfig {
  /** The `cache` plugin, or null for a Corefile without it. */
  cache: CacheConfig | null;
  forward: ForwardConfig;
  /** A replica's capacity, or null: unlimited. */
  capacity: CapacityConfig | null;
  /** The share of forwarded attempts the upstream never answers (kube_dns.upstream_loss). */
  upstreamLoss: number;
}

/** What a replica does with a query, written into a reused object. */
export interface Served {
  /** Dropped before CoreDNS read it (the socket's queue was full): nothing is answered. */
  dropped: boolean;
  rcode: Rcode;
  ancount: number;
  /** From the query's arrival to its answer leaving the replica, service time included. */
  delayNs: number;
  /** The TTL the answer carries (for a cache downstream). */
  ttlS: number;
  /** What happened, for traces. */
  how: "cache-success" | "cache-denial" | "kubernetes" | "forward" | "servfail" | "refused" | "dropped";
  /** Forward attempts that timed out (0 when the first answered or nothing was forwarded). */
  timeouts: number;
  /** Time spent queued behind other queries. */
  queuedNs: number;
}

export function newServed(): Served {
  return { dropped: false, rcode: "NOERROR", ancount: 0, delayNs: 0, ttlS: 0, how: "kubernetes", timeouts: 0, queuedNs: 0 };
}

/**
 * One CoreDNS replica behind the kube-dns Service, with the plugin chain of the
 * Kubernetes Corefile in its order (plugin.cfg: cache before kubernetes and
 * forward): the cache answers what it holds; a miss goes to the kubernetes
 * plugin (the cluster domain) or to forward (every other name), and what comes
 * back is stored. Each replica has its own cache: a query DNATed to another
 * replica misses there.
 */
export class CoreDnsReplica {
  readonly cache: DnsCache | null;
  readonly queue: ReplicaQueue | null;
  readonly stats = { queries: 0, forwarded: 0, forwardAttempts: 0, servfails: 0, refused: 0, prefetches: 0 };
  /** When each query being forwarded is answered (max_concurrent counts the ones still out). */
  private inFlight: number[] = [];
  private readonly zoneAnswer: Answer = newAnswer();

  constructor(
    readonly ep: Endpoint,
    private readonly cfg: CoreDnsConfig,
    private readonly zone: Zone,
    /** Service times and upstream delays (the stream the endpoints always drew from). */
    private readonly serverRng: Rng,
    /** The cache's evictions and the upstream's losses: a stream of their own, so they shift nothing else. */
    private readonly ownRng: Rng,
  ) {
    this.cache = cfg.cache === null ? null : new DnsCache(cfg.cache, ownRng);
    this.queue = cfg.capacity === null ? null : new ReplicaQueue(cfg.capacity);
  }

  /** A query reaches the replica now; `out` receives what it answers and when. */
  serve(qname: string, qtype: QType, now: number, out: Served, tcp = false): Served {
    out.dropped = false;
    out.timeouts = 0;
    out.queuedNs = 0;
    let start = now;
    if (this.queue !== null) {
      start = this.queue.admit(now, tcp);
      if (start < 0) {
        out.dropped = true;
        out.how = "dropped";
        return out;
      }
      out.queuedNs = start - now;
    }
    this.stats.queries++;
    const hit = this.cache?.get(qname, qtype, start) ?? null;
    if (hit !== null) {
      if (this.cache!.shouldPrefetch(hit.item, start)) this.prefetch(qname, qtype, start, hit.item);
      out.rcode = hit.item.rcode;
      out.ancount = hit.item.ancount;
      out.ttlS = remainingTtl(hit.item, start);
      out.how = hit.from === "success" ? "cache-success" : "cache-denial";
      out.delayNs = out.queuedNs + Math.round(this.ep.serviceNs.sample(this.serverRng));
      return out;
    }
    const a = this.zone.resolve(qname, qtype, this.zoneAnswer);
    let upstreamNs = 0;
    out.how = "kubernetes";
    if (a.forwarded) {
      out.how = "forward";
      if (this.refuse(start)) {
        // forward.go: count > maxConcurrent -> dns.RcodeRefused (the server writes it; not cached).
        this.stats.refused++;
        out.rcode = "REFUSED";
        out.ancount = 0;
        out.ttlS = 0;
        out.how = "refused";
        out.delayNs = out.queuedNs + Math.round(this.ep.serviceNs.sample(this.serverRng));
        return out;
      }
      this.stats.forwarded++;
      const f = forwardQuery(this.cfg.forward, this.attemptFn);
      this.stats.forwardAttempts += f.attempts;
      out.timeouts = f.answered ? f.attempts - 1 : f.attempts;
      upstreamNs = f.delayNs;
      if (this.cfg.forward.maxConcurrent > 0) this.inFlight.push(start + f.delayNs);
      if (!f.answered) {
        // The SERVFAIL the server writes itself goes round the cache's ResponseWriter: not stored.
        this.stats.servfails++;
        out.rcode = "SERVFAIL";
        out.ancount = 0;
        out.ttlS = 0;
        out.how = "servfail";
        out.delayNs = out.queuedNs + upstreamNs + Math.round(this.ep.serviceNs.sample(this.serverRng));
        return out;
      }
    }
    out.rcode = a.rcode;
    out.ancount = a.ancount;
    out.ttlS = a.ttlS;
    // The answer passes the cache's ResponseWriter on its way out: stored when it comes back.
    const serviceNs = Math.round(this.ep.serviceNs.sample(this.serverRng));
    if (this.cache !== null) {
      const stored = this.cache.put(qname, qtype, a.rcode, a.ancount, a.ttlS, start + upstreamNs);
      // WriteMsg caps the answer's TTL at the one it was stored with (filterRRSlice with duration).
      if (stored > 0) out.ttlS = stored;
    }
    out.delayNs = out.queuedNs + upstreamNs + serviceNs;
    return out;
  }

  /**
   * tryPrefetch / doPrefetch: the entry is refreshed in the background while the client gets the
   * cached answer; the new answer, stored when it comes back, keeps the old entry's hits
   * (i1.Reset(now, i.Hits())). A refresh forward gives up on stores nothing.
   */
  private prefetch(qname: string, qtype: QType, now: number, item: CacheItem): void {
    this.stats.prefetches++;
    const a = this.zone.resolve(qname, qtype, this.zoneAnswer);
    let delayNs = 0;
    if (a.forwarded) {
      this.stats.forwarded++;
      const f = forwardQuery(this.cfg.forward, this.attemptFn);
      this.stats.forwardAttempts += f.attempts;
      delayNs = f.delayNs;
      if (!f.answered) {
        item.refreshingUntil = now + delayNs;
        return;
      }
    }
    item.refreshingUntil = now + delayNs;
    this.cache!.put(qname, qtype, a.rcode, a.ancount, a.ttlS, now + delayNs, now, { last: now, hits: item.hits });
  }

  /** One forward attempt: the upstream's delay, or null when it never answers. */
  private readonly attemptFn = (): number | null => {
    // Drawn before the delay, and only with a loss set: without one, the draws are those of a model without forward.
    if (this.cfg.upstreamLoss > 0 && this.ownRng() < this.cfg.upstreamLoss) return null;
    return this.zone.upstreamDelay(this.serverRng);
  };

  /** forward.go's max_concurrent: would this query be one too many? */
  private refuse(now: number): boolean {
    const max = this.cfg.forward.maxConcurrent;
    if (max <= 0) return false;
    if (this.inFlight.length >= max) this.inFlight = this.inFlight.filter((t) => t > now);
    return this.inFlight.length >= max;
  }
}

/** A replica's answer in words, for traces. */
export function servedText(qname: string, qtype: QType, r: Served, cfg: CoreDnsConfig): string {
  const what = r.rcode !== "NOERROR" ? r.rcode : r.ancount > 0 ? "NOERROR, 1 address" : "NOERROR, no address (NODATA)";
  const queued = r.queuedNs > 0 ? `; ${(r.queuedNs / 1e6).toFixed(3)} ms queued behind other queries` : "";
  const ms = (ns: number) => `${(ns / 1e6).toFixed(1)} ms`;
  const timeouts = r.timeouts > 0 ? `, after ${r.timeouts} attempt${r.timeouts === 1 ? "" : "s"} the upstream never answered (read_timeout ${ms(cfg.forward.readTimeoutNs)} each)` : "";
  switch (r.how) {
    case "cache-success":
    case "cache-denial":
      return `${qtype} ${qname} arrives; answer from the ${r.how === "cache-success" ? "success" : "denial"} cache: ${what} (TTL ${r.ttlS} s left)${queued}`;
    case "kubernetes":
      return `${qtype} ${qname} arrives; answer: ${what}${queued}`;
    case "forward":
      return `${qtype} ${qname} arrives; forwarded upstream${timeouts}; answer: ${what}${queued}`;
    case "servfail":
      return `${qtype} ${qname} arrives; forwarded upstream, and after ${r.timeouts} attempt${r.timeouts === 1 ? "" : "s"} without an answer (read_timeout ${ms(cfg.forward.readTimeoutNs)} each) forward gives up: SERVFAIL${queued}`;
    case "refused":
      return `${qtype} ${qname} arrives; forward already has max_concurrent ${cfg.forward.maxConcurrent} queries out: REFUSED${queued}`;
    case "dropped":
      return `${qtype} ${qname} arrives with ${cfg.capacity?.queue ?? 0} queries waiting: the socket's queue is full, dropped`;
  }
}

/** A kube_dns rule's decision in words, for traces: the zone's answer kept (`kept`, perhaps late), or the rule's own. */
export function ruleWords(qname: string, qtype: QType, rule: FaultRule, nth: number, kept: boolean): string {
  const arrival = nth > 0 ? ` (arrival ${nth})` : "";
  const late = (rule.delayMs ?? 0) > 0 ? `, ${rule.delayMs} ms late` : "";
  if (kept) return `${qtype} ${qname}: rule "${ruleText(rule)}"${arrival}: the zone's answer${late}`;
  const a = rule.action;
  const what = a === "drop" ? "dropped, no answer" : a === "nodata" ? "NOERROR, no address (NODATA)" : a === "truncate" ? "truncated (TC bit, no records)" : a.toUpperCase();
  return `${qtype} ${qname} arrives; rule "${ruleText(rule)}"${arrival}: ${what}${a === "drop" ? "" : late}`;
}
