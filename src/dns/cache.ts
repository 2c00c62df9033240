import type { Rng } from "../engine/random.js";
import type { QType, Rcode } from "../net/packet.js";

/**
 * CoreDNS's `cache` plugin (coredns/coredns plugin/cache), one per CoreDNS
 * process: a success cache and a denial cache, each of `capacity` entries in
 * 256 shards (plugin/pkg/cache), TTLs clamped to [min, max] of their cache.
 * What it keeps and for how long follows cache.go (key, WriteMsg, set,
 * computeTTL) and handler.go (getIfNotStale, shouldPrefetch); serve_stale is
 * not modelled (the Kubernetes Corefiles set neither it nor prefetch).
 */

/** One of the two caches: `success CAPACITY TTL MINTTL`, `denial CAPACITY TTL MINTTL`. */
export interface CacheClass {
  capacity: number;
  /** The most an entry is kept (cache.go: pttl / nttl; `cache 30` sets both to 30 s). */
  maxTtlS: number;
  /** The least (minpttl / minnttl: dnsutil.MinimalDefaultTTL, 5 s). */
  minTtlS: number;
}

export interface CacheConfig {
  success: CacheClass;
  denial: CacheClass;
  /** `servfail DURATION`: how long a SERVFAIL answer is kept in the denial cache (failttl, default minNTTL = 5 s). */
  servfailS: number;
  /** `disable success ZONES` / `disable denial ZONES` (pexcept / nexcept): FQDNs with the trailing dot. */
  disableSuccess: string[];
  disableDenial: string[];
  /** `prefetch AMOUNT [DURATION] [PERCENTAGE%]`, or null (the default: prefetch 0). */
  prefetch: PrefetchConfig | null;
}

/** handler.go shouldPrefetch: an entry hit `amount` times, no hit more than `durationNs` after the one before, is refreshed once its TTL left is at most `percentage` % of its TTL. */
export interface PrefetchConfig {
  amount: number;
  /** Default 1 minute. */
  durationNs: number;
  /** 10 to 90, default 10. */
  percentage: number;
}

/** cache.go's constants: defaultCap 10000, maxTTL 3600 s, maxNTTL 1800 s, minTTL = minNTTL = 5 s. */
export const CACHE_DEFAULT_CAPACITY = 10_000;
export const CACHE_MIN_TTL_S = 5;

/**
 * The cache of the Kubernetes Corefiles, `cache 30` (kubeadm's manifests.go and the
 * cluster/addons coredns.yaml.base): cacheParse sets pttl and nttl to 30 s; capacities
 * and minimal TTLs keep their defaults; SERVFAIL is kept 5 s.
 */
export function cacheOf(ttlS: number): CacheConfig {
  return {
    success: { capacity: CACHE_DEFAULT_CAPACITY, maxTtlS: ttlS, minTtlS: CACHE_MIN_TTL_S },
    denial: { capacity: CACHE_DEFAULT_CAPACITY, maxTtlS: ttlS, minTtlS: CACHE_MIN_TTL_S },
    servfailS: CACHE_MIN_TTL_S,
    disableSuccess: [],
    disableDenial: [],
    prefetch: null,
  };
}

/** What a cache entry holds: the answer and when it was stored. */
export interface CacheItem {
  rcode: Rcode;
  ancount: number;
  /** item.origTTL, whole seconds. */
  origTtlS: number;
  storedNs: number;
  /** freq.Freq: the last hit counted, and the hits in a row no more than the prefetch duration apart. */
  freqLast: number;
  hits: number;
  /** A prefetch of this entry is out until then (item.refreshing). */
  refreshingUntil: number;
  /** The entry this one replaces, while this one is an answer still on its way back (stored later than now). */
  prev: CacheItem | null;
}

/** Which of the two caches a hit came from. */
export type CacheHit = "success" | "denial";

const SEC = 1_000_000_000;
/** plugin/pkg/cache: shardSize. */
const SHARDS = 256;

/**
 * One cache (success or denial): 256 shards of max(capacity / 256, 4) entries each,
 * the shard picked by the low byte of the key's 64-bit FNV-1 hash (pkg/cache Add/Get:
 * key & (shardSize - 1)). A shard that is full evicts one of its entries at random
 * (Go's map iteration order; here a draw from the cache's own stream) to make room
 * for a new key. Expired entries keep their slot until evicted or overwritten.
 */
class ShardedCache {
  private readonly shards: { keys: string[]; items: Map<string, CacheItem> }[];
  private readonly shardSize: number;
  evictions = 0;

  constructor(capacity: number, private readonly rng: Rng) {
    this.shardSize = Math.max(Math.floor(capacity / SHARDS), 4);
    this.shards = Array.from({ length: SHARDS }, () => ({ keys: [], items: new Map() }));
  }

  get(key: string, shard: number): CacheItem | undefined {
    return this.shards[shard]!.items.get(key);
  }

  add(key: string, shard: number, item: CacheItem): void {
    const s = this.shards[shard]!;
    if (!s.items.has(key)) {
      if (s.keys.length >= this.shardSize) {
        const i = Math.floor(this.rng() * s.keys.length);
        const victim = s.keys[i]!;
        s.keys[i] = s.keys[s.keys.length - 1]!;
        s.keys.pop();
        s.items.delete(victim);
        this.evictions++;
      }
      s.keys.push(key);
    }
    s.items.set(key, item);
  }

  get length(): number {
    let n = 0;
    for (const s of this.shards) n += s.keys.length;
    return n;
  }
}

/**
 * The shard of a query: the low byte of cache.go's hash(qname, qtype, qclass, do, cd), FNV-1 64
 * over "0" (DO), "0" (CD), qtype and qclass big-endian, then the lower-case name. The low byte of
 * an FNV-1 product depends only on the low bytes of its factors, so 8-bit arithmetic gives it exactly.
 */
export function cacheShard(qname: string, qtype: QType): number {
  // Offset basis 0xcbf29ce484222325 and prime 0x100000001b3: their low bytes.
  let h = 0x25;
  const step = (b: number) => {
    h = ((h * 0xb3) & 0xff) ^ b;
  };
  step(0x30);
  step(0x30);
  step(0);
  step(qtype === "A" ? 1 : 28);
  step(0);
  step(1); // ClassINET
  for (let i = 0; i < qname.length; i++) step(qname.charCodeAt(i) & 0xff);
  return h;
}

/** computeTTL: the answer's own TTL, clamped to [min, max]. */
export function computeTtl(msgTtlS: number, minTtlS: number, maxTtlS: number): number {
  return Math.min(Math.max(msgTtlS, minTtlS), maxTtlS);
}

/** The response type of an answer as response.Typify sees it (answers here carry an SOA when they deny). */
function typify(rcode: Rcode, ancount: number): "success" | "denial" | "servfail" | null {
  if (rcode === "NOERROR") return ancount > 0 ? "success" : "denial"; // NoError / NoData
  if (rcode === "NXDOMAIN") return "denial"; // NameError
  if (rcode === "SERVFAIL" || rcode === "NOTIMP") return "servfail"; // ServerError
  return null; // OtherError (REFUSED, FORMERR): key() does not store it
}

function inZones(qname: string, zones: string[]): boolean {
  for (const z of zones) if (z === "." || qname === z || qname.endsWith(`.${z}`)) return true;
  return false;
}

export class DnsCache {
  readonly stats = { hitsSuccess: 0, hitsDenial: 0, misses: 0 };
  private readonly pcache: ShardedCache;
  private readonly ncache: ShardedCache;

  constructor(readonly cfg: CacheConfig, rng: Rng) {
    this.pcache = new ShardedCache(cfg.success.capacity, rng);
    this.ncache = new ShardedCache(cfg.denial.capacity, rng);
  }

  /**
   * handler.go getIfNotStale: the denial cache first, then the success cache; an entry is
   * fresh while item.ttl(now) > 0, i.e. for origTTL seconds after it was stored. A SERVFAIL in
   * the denial cache gives way to a fresh success entry for the same key.
   */
  get(qname: string, qtype: QType, now: number): { item: CacheItem; from: CacheHit } | null {
    const key = `${qname}|${qtype}`;
    const shard = cacheShard(qname, qtype);
    // An entry stored later than now is an answer still on its way back from upstream: the one it replaces is what is there.
    const visible = (i: CacheItem | undefined): CacheItem | undefined => {
      // Arrived: what it replaced is gone.
      if (i !== undefined && i.storedNs <= now) i.prev = null;
      while (i !== undefined && i.storedNs > now) i = i.prev ?? undefined;
      return i;
    };
    const fresh = (i: CacheItem | undefined): i is CacheItem => i !== undefined && now < i.storedNs + i.origTtlS * SEC;
    const n = visible(this.ncache.get(key, shard));
    if (fresh(n)) {
      const p = n.rcode === "SERVFAIL" ? visible(this.pcache.get(key, shard)) : undefined;
      if (fresh(p)) {
        this.stats.hitsSuccess++;
        return { item: p, from: "success" };
      }
      this.stats.hitsDenial++;
      return { item: n, from: "denial" };
    }
    const p = visible(this.pcache.get(key, shard));
    if (fresh(p)) {
      this.stats.hitsSuccess++;
      return { item: p, from: "success" };
    }
    this.stats.misses++;
    return null;
  }

  /**
   * ResponseWriter.WriteMsg and set(): an answer from the next plugin is stored with its TTL
   * clamped by its cache (a SERVFAIL for failttl), unless its zone is disabled for that cache or
   * its type is not cached. `now` is when the answer comes back, `callNs` (<= now) when this is
   * decided; a prefetch's answer inherits the hits of the entry it refreshes (doPrefetch: Reset).
   * Returns the TTL it was stored with, 0 when it was not.
   */
  put(qname: string, qtype: QType, rcode: Rcode, ancount: number, msgTtlS: number, now: number, callNs = now, inherit: { last: number; hits: number } | null = null): number {
    const t = typify(rcode, ancount);
    if (t === null) return 0;
    const c = this.cfg;
    let ttl: number;
    if (t === "success") {
      if (inZones(qname, c.disableSuccess)) return 0;
      ttl = computeTtl(msgTtlS, c.success.minTtlS, c.success.maxTtlS);
    } else {
      if (inZones(qname, c.disableDenial)) return 0;
      ttl = t === "servfail" ? c.servfailS : computeTtl(msgTtlS, c.denial.minTtlS, c.denial.maxTtlS);
    }
    // origTTL = uint32(duration.Seconds()); "if hasKey && duration > 0".
    ttl = Math.floor(ttl);
    if (ttl <= 0) return 0;
    const cache = t === "success" ? this.pcache : this.ncache;
    const key = `${qname}|${qtype}`;
    const shard = cacheShard(qname, qtype);
    // What is there until this answer arrives: the chain up to the entry visible at callNs, no further.
    const prev = cache.get(key, shard) ?? null;
    for (let i = prev; i !== null; i = i.prev) {
      if (i.storedNs <= callNs) {
        i.prev = null;
        break;
      }
    }
    const item: CacheItem = { rcode, ancount, origTtlS: ttl, storedNs: now, freqLast: inherit?.last ?? -Infinity, hits: inherit?.hits ?? 0, refreshingUntil: -Infinity, prev: now > callNs ? prev : null };
    cache.add(key, shard, item);
    return ttl;
  }

  /**
   * handler.go shouldPrefetch and beginRefresh, on a hit of `item` at `now`: freq.Update counts
   * the hit (a hit more than the duration after the last starts the count again at 1); true when
   * the entry has been hit `amount` times, its TTL left is at most ceil(percentage % of its TTL),
   * and no prefetch of it is out. The caller refreshes it and sets refreshingUntil.
   */
  shouldPrefetch(item: CacheItem, now: number): boolean {
    const p = this.cfg.prefetch;
    if (p === null || p.amount <= 0) return false;
    if (item.freqLast < now - p.durationNs) item.hits = 1;
    else item.hits++;
    item.freqLast = now;
    const threshold = Math.ceil((p.percentage / 100) * item.origTtlS);
    if (!(item.hits >= p.amount && remainingTtl(item, now) <= threshold)) return false;
    return item.refreshingUntil <= now;
  }

  /** Entries held, as coredns_cache_entries{type} reports them. */
  get entries(): { success: number; denial: number } {
    return { success: this.pcache.length, denial: this.ncache.length };
  }

  get evictions(): number {
    return this.pcache.evictions + this.ncache.evictions;
  }
}

/** item.ttl(now): the TTL an answer served from the cache carries, whole seconds. */
export function remainingTtl(item: CacheItem, now: number): number {
  return item.origTtlS - Math.floor((now - item.storedNs) / SEC);
}
