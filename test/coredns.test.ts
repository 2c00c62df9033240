import assert from "node:assert/strict";
import fc from "fast-check";
import { inputError } from "./helpers.js";
import { DnsCache, cacheOf, cacheShard, computeTtl } from "../src/dns/cache.js";
import { ReplicaQueue } from "../src/dns/capacity.js";
import { FORWARD_READ_TIMEOUT_NS, forwardQuery } from "../src/dns/forward.js";
import { stream } from "../src/engine/random.js";
import { TraceCollector } from "../src/model/trace.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";

const SEC = 1_000_000_000;

/** One pod on a quiet node, `lookups` lookups of `names` 3 s apart, through `endpoints` CoreDNS replicas. */
const scenario = (kubeDns: string, opts: { libc?: string; lookups?: number; names?: string; thinkMs?: number; endpoints?: number; resolv?: string } = {}) => `name: coredns
description: CoreDNS's plugins
kernel: "5.4"
kube_dns:
  endpoints: ${opts.endpoints ?? 1}
  upstream_ms: 20
  records: [redis.shop.svc.cluster.local]
  external_records: [api.example.com]
${kubeDns}pods:
  - name: app
    libc: ${opts.libc ?? "glibc"}
    lookups: ${opts.lookups ?? 2}
    think_ms: ${opts.thinkMs ?? 3000}
    names: [${opts.names ?? "api.example.com"}]
    resolv_conf: |
${(opts.resolv ?? "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5").split("\n").map((l) => `      ${l}`).join("\n")}
`;

function run(text: string, collector?: TraceCollector) {
  const r = runScenario(loadScenarioText(text, "t.yaml"), collector === undefined ? {} : { collector });
  const ms = Array.from({ length: r.log.count }, (_, i) => {
    const l = r.log.record(i);
    return (l.endNs - l.startNs) / 1e6;
  });
  return { r, ms, outcome: (i: number) => r.log.record(i).outcome };
}

/** The kube-dns lines of every lookup's story. */
function kubeDnsLines(text: string): string[][] {
  const c = new TraceCollector();
  run(text, c);
  return c.lookups.map((l) => l.lines.filter((x) => x.where.startsWith("kube-dns")).map((x) => x.text));
}

/** FNV-1 64 over bytes, as Go's hash/fnv New64 computes it (BigInt: the reference for the 8-bit shortcut). */
function fnv1(bytes: number[]): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h * 0x100000001b3n) & 0xffffffffffffffffn) ^ BigInt(b);
  return h;
}

describe("CoreDNS cache plugin (src/dns/cache.ts)", () => {
  it("computeTTL: the answer's TTL clamped to [min, max] (cache 30: 5 s to 30 s)", () => {
    assert.equal(computeTtl(300, 5, 30), 30);
    assert.equal(computeTtl(2, 5, 30), 5);
    assert.equal(computeTtl(12, 5, 30), 12);
  });

  it("the shard of a key is the low byte of cache.go's FNV-1 64 hash", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,4}\.$/), fc.constantFrom("A" as const, "AAAA" as const), (name, qtype) => {
        const bytes = [0x30, 0x30, 0, qtype === "A" ? 1 : 28, 0, 1, ...Array.from(name, (c) => c.charCodeAt(0))];
        assert.equal(cacheShard(name, qtype), Number(fnv1(bytes) & 0xffn));
      }),
      { numRuns: 300, seed: 14 },
    );
  });

  it("a success is kept for its TTL capped at the cache's maximum, then misses", () => {
    const c = new DnsCache(cacheOf(30), stream(1, "t"));
    assert.equal(c.put("api.example.com.", "A", "NOERROR", 1, 300, 0), 30);
    assert.equal(c.get("api.example.com.", "A", 29.9 * SEC)?.from, "success");
    assert.equal(c.get("api.example.com.", "A", 30 * SEC), null);
    assert.equal(c.get("api.example.com.", "AAAA", 1), null, "a key is the name and the type");
  });

  it("a denial (NXDOMAIN, NODATA) is kept in the denial cache with the denial cache's own TTL", () => {
    const cfg = cacheOf(30);
    cfg.denial.maxTtlS = 5;
    const c = new DnsCache(cfg, stream(1, "t"));
    assert.equal(c.put("nope.shop.svc.cluster.local.", "A", "NXDOMAIN", 0, 30, 0), 5);
    assert.equal(c.put("redis.shop.svc.cluster.local.", "AAAA", "NOERROR", 0, 30, 0), 5, "NODATA is a denial");
    assert.equal(c.put("redis.shop.svc.cluster.local.", "A", "NOERROR", 1, 30, 0), 30);
    assert.equal(c.get("nope.shop.svc.cluster.local.", "A", 4.9 * SEC)?.from, "denial");
    assert.equal(c.get("nope.shop.svc.cluster.local.", "A", 5 * SEC), null);
    assert.equal(c.get("redis.shop.svc.cluster.local.", "A", 20 * SEC)?.from, "success");
    assert.deepEqual(c.entries, { success: 1, denial: 2 });
  });

  it("SERVFAIL is kept for servfail's duration and gives way to a fresh success; REFUSED is not kept", () => {
    const c = new DnsCache(cacheOf(30), stream(1, "t"));
    assert.equal(c.put("x.example.com.", "A", "SERVFAIL", 0, 0, 0), 5);
    assert.equal(c.get("x.example.com.", "A", 1)?.item.rcode, "SERVFAIL");
    c.put("x.example.com.", "A", "NOERROR", 1, 60, 2);
    assert.equal(c.get("x.example.com.", "A", 3)?.item.rcode, "NOERROR");
    assert.equal(c.put("y.example.com.", "A", "REFUSED", 0, 0, 0), 0);
    assert.equal(c.get("y.example.com.", "A", 1), null);
  });

  it("disable success|denial ZONE (kubeadm's Corefile since kubernetes#128359) keeps the cluster domain out of that cache", () => {
    const cfg = cacheOf(30);
    cfg.disableSuccess = ["cluster.local."];
    cfg.disableDenial = ["cluster.local."];
    const c = new DnsCache(cfg, stream(1, "t"));
    assert.equal(c.put("redis.shop.svc.cluster.local.", "A", "NOERROR", 1, 30, 0), 0);
    assert.equal(c.put("redis.shop.svc.cluster.local.", "AAAA", "NOERROR", 0, 30, 0), 0);
    assert.equal(c.put("api.example.com.", "A", "NOERROR", 1, 30, 0), 30);
  });

  it("an answer still on its way back from upstream is not a hit yet", () => {
    const c = new DnsCache(cacheOf(30), stream(1, "t"));
    c.put("api.example.com.", "A", "NOERROR", 1, 300, 20_000_000);
    assert.equal(c.get("api.example.com.", "A", 10_000_000), null);
    assert.equal(c.get("api.example.com.", "A", 20_000_000)?.from, "success");
  });

  it("a full shard (max(capacity / 256, 4) entries) evicts one entry at random for a new key", () => {
    const c = new DnsCache(cacheOf(30), stream(1, "t"));
    const small = new DnsCache({ ...cacheOf(30), success: { capacity: 1, maxTtlS: 30, minTtlS: 5 } }, stream(1, "t"));
    // Names of one shard.
    const names: string[] = [];
    for (let i = 0; names.length < 6; i++) if (cacheShard(`n${i}.example.com.`, "A") === 7) names.push(`n${i}.example.com.`);
    for (const n of names) {
      small.put(n, "A", "NOERROR", 1, 30, 0);
      c.put(n, "A", "NOERROR", 1, 30, 0);
    }
    assert.equal(small.entries.success, 4);
    assert.equal(small.evictions, 2);
    assert.equal(c.entries.success, 6, "the default 10,000 keeps 39 per shard");
    assert.equal(names.filter((n) => small.get(n, "A", 1) !== null).length, 4);
  });
});

describe("CoreDNS forward plugin (src/dns/forward.ts)", () => {
  const cfg = { upstreams: 1, readTimeoutNs: FORWARD_READ_TIMEOUT_NS, maxConnectAttempts: null, maxConcurrent: 0 };

  it("an upstream that answers within read_timeout: its delay, one attempt", () => {
    assert.deepEqual(forwardQuery(cfg, () => 5_000_000), { delayNs: 5_000_000, answered: true, attempts: 1 });
  });

  it("1.14.7 and later: two attempts per upstream, then SERVFAIL after 2 x read_timeout (one upstream)", () => {
    assert.deepEqual(forwardQuery(cfg, () => null), { delayNs: 4 * SEC, answered: false, attempts: 2 });
  });

  it("max_connect_attempts 0 (every earlier release): attempts until the 5 s deadline, the last one's read runs past it", () => {
    assert.deepEqual(forwardQuery({ ...cfg, maxConnectAttempts: 0 }, () => null), { delayNs: 6 * SEC, answered: false, attempts: 3 });
  });

  it("an answer later than read_timeout is lost with its connection: the next attempt's answer counts", () => {
    const delays = [2.5 * SEC, 3_000_000];
    assert.deepEqual(forwardQuery(cfg, () => delays.shift()!), { delayNs: 2 * SEC + 3_000_000, answered: true, attempts: 2 });
  });

  it("two upstreams: four attempts allowed, but the 5 s deadline stops them after three", () => {
    assert.deepEqual(forwardQuery({ ...cfg, upstreams: 2 }, () => null), { delayNs: 6 * SEC, answered: false, attempts: 3 });
  });
});

describe("CoreDNS replica capacity (src/dns/capacity.ts)", () => {
  it("over capacity the queue grows, and past its length queries are dropped", () => {
    const q = new ReplicaQueue({ qps: 1000, queue: 3 });
    // Six queries at once: the first starts now, three wait 1, 2, 3 ms, the last two are dropped.
    const starts = [0, 0, 0, 0, 0, 0].map((t) => q.admit(t));
    assert.deepEqual(starts, [0, 1_000_000, 2_000_000, 3_000_000, -1, -1]);
    assert.equal(q.waiting(0), 3);
    assert.equal(q.waiting(1_500_000), 2, "the queue drains at qps");
    assert.equal(q.admit(1_500_000), 4_000_000);
    assert.deepEqual(q.stats, { admitted: 5, dropped: 2, maxWaiting: 3 });
  });

  it("a query over TCP waits in its connection: never dropped, it takes its turn", () => {
    const q = new ReplicaQueue({ qps: 1000, queue: 1 });
    assert.deepEqual([q.admit(0), q.admit(0), q.admit(0, true), q.admit(0)], [0, 1_000_000, 2_000_000, -1]);
  });

  it("under capacity nothing waits", () => {
    const q = new ReplicaQueue({ qps: 1000, queue: 0 });
    assert.deepEqual([0, 1_000_000, 2_500_000].map((t) => q.admit(t)), [0, 1_000_000, 2_500_000]);
  });
});

describe("CoreDNS in a run: kube_dns.cache, forward and capacity", () => {
  it("a cached name is answered without the upstream's delay (cache 30, one replica)", () => {
    const { ms } = run(scenario(""));
    assert.ok(ms[0]! > 20, `first lookup pays the upstream's 20 ms: ${ms[0]}`);
    assert.ok(ms[1]! < 5, `second lookup, 3 s later, from the cache: ${ms[1]}`);
    const off = run(scenario("  cache: false\n")).ms;
    assert.ok(off[1]! > 20, `without the cache plugin every lookup pays it: ${off[1]}`);
  });

  it("the trace says which cache answered, and the cluster zone's denials are cached too (cache 30 without disable)", () => {
    const lines = kubeDnsLines(scenario(""));
    assert.ok(lines[0]!.some((l) => /api\.example\.com\. arrives; forwarded upstream; answer: NOERROR, 1 address/.test(l)));
    assert.ok(lines[1]!.some((l) => /A api\.example\.com\. arrives; answer from the success cache: NOERROR, 1 address \(TTL 27 s left\)/.test(l)), lines[1]!.join("\n"));
    assert.ok(lines[1]!.some((l) => /api\.example\.com\.shop\.svc\.cluster\.local\. arrives; answer from the denial cache: NXDOMAIN/.test(l)));
  });

  it("a denial is cached with its own TTL: denial 5 s, lookups 3 s apart", () => {
    const lines = kubeDnsLines(scenario("  cache:\n    denial: { ttl_s: 5 }\n", { lookups: 3, names: "nope" }));
    const fromDenial = lines.map((l) => l.filter((x) => /denial cache/.test(x)).length);
    // Four steps of two queries each (three search domains, then the name as typed).
    assert.deepEqual(fromDenial, [0, 8, 0], "cached at 0 s, hit at 3 s, expired by 6 s");
  });

  it("each replica has its own cache: with two, a lookup DNATed to the other one misses", () => {
    const lines = kubeDnsLines(scenario("", { endpoints: 2, lookups: 6 }));
    const misses = lines.map((l) => l.filter((x) => /A api\.example\.com\. arrives; forwarded/.test(x)).length);
    assert.ok(misses.slice(1).some((m) => m > 0), `some later lookups miss: ${misses}`);
    assert.ok(misses.slice(1).some((m) => m === 0), `some hit: ${misses}`);
  });

  it("forward answers SERVFAIL after its timeout; glibc then tries its second attempt and fails (EAI_AGAIN) after 2 x 4 s", () => {
    const text = scenario("  upstream_loss: 1\n", { lookups: 1, resolv: "nameserver 10.96.0.10" });
    const { ms, outcome } = run(text);
    // send_dg: SERVFAIL for both queries ends the attempt; res_send's attempts:2 sends the pair again.
    assert.ok(Math.abs(ms[0]! - 8000) < 5, `${ms[0]}`);
    assert.equal(outcome(0), "EAI_AGAIN");
    const lines = kubeDnsLines(text)[0]!;
    assert.equal(lines.filter((l) => /after 2 attempts without an answer \(read_timeout 2000\.0 ms each\) forward gives up: SERVFAIL/.test(l)).length, 4);
  });

  it("forward's SERVFAIL is not cached: the pair sent again is forwarded again", () => {
    const lines = kubeDnsLines(scenario("  upstream_loss: 1\n", { lookups: 1, resolv: "nameserver 10.96.0.10" }))[0]!;
    assert.equal(lines.filter((l) => /cache/.test(l)).length, 0);
  });

  it("musl: forward's SERVFAIL at 4 s is resent at once, and musl's 5 s timeout ends the lookup with EAI_AGAIN", () => {
    const { ms, outcome } = run(scenario("  upstream_loss: 1\n", { libc: "musl", lookups: 1, resolv: "nameserver 10.96.0.10" }));
    assert.equal(ms[0], 5000);
    assert.equal(outcome(0), "EAI_AGAIN");
  });

  it("over capacity: a burst of lookups fills the replica's queue and the rest are dropped", () => {
    const text = scenario("  capacity: { qps: 100, queue: 2 }\n  cache: false\n", { lookups: 1, names: "redis" }).replace("lookups: 1\n", "lookups: 8\n    threads: 8\n");
    const { r } = run(text);
    assert.ok(r.net.droppedByCapacity > 0, `dropped: ${r.net.droppedByCapacity}`);
  });

  it("kube_dns.cache, forward and capacity refuse bad values at the field", () => {
    assert.match(inputError(scenario("  cache: true\n")), /kube_dns\.cache/);
    assert.match(inputError(scenario("  cache: { servfail_s: 400 }\n")), /kube_dns\.cache\.servfail_s.*5 minutes/);
    assert.match(inputError(scenario("  capacity: { queue: 3 }\n")), /kube_dns\.capacity\.qps/);
    assert.match(inputError(scenario("  forward: { read_timeout_ms: 0 }\n")), /kube_dns\.forward\.read_timeout_ms/);
  });
});

describe("CoreDNS cache plugin: prefetch", () => {
  it("shouldPrefetch: after AMOUNT hits no more than DURATION apart, once the TTL left is at most PERCENTAGE % of the TTL, one refresh at a time", () => {
    const c = new DnsCache({ ...cacheOf(30), prefetch: { amount: 2, durationNs: 60 * SEC, percentage: 10 } }, stream(1, "t"));
    c.put("api.example.com.", "A", "NOERROR", 1, 300, 0);
    const item = c.get("api.example.com.", "A", 1)!.item;
    assert.equal(c.shouldPrefetch(item, 10 * SEC), false, "1 hit, 20 s left");
    assert.equal(c.shouldPrefetch(item, 20 * SEC), false, "2 hits, 10 s left: above ceil(10% of 30 s) = 3 s");
    assert.equal(c.shouldPrefetch(item, 27 * SEC), true, "3 hits, 3 s left");
    item.refreshingUntil = 27.02 * SEC;
    assert.equal(c.shouldPrefetch(item, 27.01 * SEC), false, "a refresh is out");
    const lone = new DnsCache({ ...cacheOf(30), prefetch: { amount: 2, durationNs: 1 * SEC, percentage: 10 } }, stream(1, "t"));
    lone.put("api.example.com.", "A", "NOERROR", 1, 300, 0);
    const i2 = lone.get("api.example.com.", "A", 1)!.item;
    lone.shouldPrefetch(i2, 26 * SEC);
    assert.equal(lone.shouldPrefetch(i2, 28 * SEC), false, "hits 2 s apart with a 1 s duration count as 1 each");
  });

  it("a refresh on its way back leaves the old entry in place until it arrives", () => {
    const c = new DnsCache(cacheOf(30), stream(1, "t"));
    c.put("api.example.com.", "A", "NOERROR", 1, 300, 0);
    c.put("api.example.com.", "A", "NOERROR", 1, 300, 27.02 * SEC, 27 * SEC, { last: 27 * SEC, hits: 3 });
    assert.equal(c.get("api.example.com.", "A", 27.01 * SEC)?.item.storedNs, 0);
    const fresh = c.get("api.example.com.", "A", 29.99 * SEC)!.item;
    assert.deepEqual([fresh.storedNs, fresh.hits, fresh.prev], [27.02 * SEC, 3, null]);
    assert.equal(c.get("api.example.com.", "A", 56 * SEC)?.item.storedNs, 27.02 * SEC);
  });

  it("with prefetch, a name looked up every second never misses after the first lookup; without it, it misses each 30 s", () => {
    const text = (prefetch: string) => scenario(`  cache:\n    ttl_s: 30\n${prefetch}`, { lookups: 70, thinkMs: 1000, resolv: "nameserver 10.96.0.10" });
    const slow = (t: string) => run(t).ms.filter((m) => m > 20).length;
    assert.equal(slow(text("    prefetch: { amount: 2 }\n")), 1);
    assert.equal(slow(text("")), 3, "at 0 s, then about 30 s and 60 s");
  });
});

describe("NodeLocal DNSCache's CoreDNS: its caches and forward (src/model/nodelocal.ts)", () => {
  const nodelocal = (rules: string, lookups = 1, names = "redis.shop.svc.cluster.local.") =>
    scenario(rules, { lookups, names, resolv: "nameserver 169.254.20.10" }).replace("pods:\n", "nodelocal:\n  enabled: true\npods:\n");

  it("a cluster-zone query kube-dns never answers: forward closes the connection after read_timeout, tries once more, then the pod gets SERVFAIL (glibc: EAI_AGAIN after 2 x 4 s)", () => {
    const c = new TraceCollector();
    const { ms, outcome } = run(nodelocal('  rules: ["drop"]\n'), c);
    assert.ok(Math.abs(ms[0]! - 8000) < 5, `${ms[0]}`);
    assert.equal(outcome(0), "EAI_AGAIN");
    const lines = c.lookups[0]!.lines.filter((l) => l.where === "node-local cache").map((l) => l.text);
    assert.equal(lines.filter((l) => /forward tries again on a new one/.test(l)).length, 4, "one retry per query and attempt");
    assert.equal(lines.filter((l) => /after 2 attempts without an answer forward gives up: SERVFAIL/.test(l)).length, 4);
  });

  it("its cluster block keeps a denial 5 s (denial 9984 5) and a success 30 s (success 9984 30)", () => {
    const c = new TraceCollector();
    run(nodelocal("", 3), c);
    const hits = c.lookups.map((l) => l.lines.filter((x) => /cache hit \((success|denial)\)/.test(x.text)).map((x) => /\((\w+)\)/.exec(x.text)![1]));
    // Lookups 3 s apart: at 3 s the A (success) and the AAAA (NODATA, denial) are hits; at 6 s only the A.
    assert.deepEqual(hits, [[], ["success", "denial"], ["success"]]);
  });

  it("its connections to kube-dns-upstream are the node's own: their SYNs go through OUTPUT", () => {
    const r = run(nodelocal(""));
    assert.ok(r.r.client.hop.localOut >= 1, `local packets: ${r.r.client.hop.localOut}`);
  });
});
