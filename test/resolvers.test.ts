import assert from "node:assert/strict";
import { type FaultRule, nameMatcher } from "../src/dns/rules.js";
import { type DirectOptions, runDirectLookup, runDirectLookups } from "../src/experiment/direct.js";
import { glibcConf } from "../src/resolver/glibc.js";
import { muslConf } from "../src/resolver/musl.js";
import { parseResolvConf } from "../src/resolver/resolvconf.js";
import { calCases, faultRules } from "./calcases.js";

const K8S = "search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

function lookup(libc: "glibc" | "musl", conf: string, name: string, rules: FaultRule[] = [], extra: Partial<DirectOptions> = {}) {
  return runDirectLookup({ libc, resolvConf: parseResolvConf(conf), name, family: "unspec", rules, rttMs: 0.1, maxMs: 60000, ...extra });
}

const seq = (ps: { transport: string; port: string; qtype: string; qname: string; fate: string }[]) => ps.map((p) => `${p.transport} ${p.port} ${p.qtype} ${p.qname} ${p.fate}`);

describe("resolvers: the measured glibc 2.36 and musl 1.2.3 cases (calibration/libc-loss-cases.json)", () => {
  for (const c of calCases()) {
    it(`${c.libc} ${c.case}: ${c.title} -> ${c.result}, ${c.elapsed_ms.toFixed(0)} ms, ${c.packets.length} queries`, () => {
      const rules = faultRules(c);
      const r = runDirectLookup({ libc: c.libc, resolvConf: parseResolvConf(c.resolv_conf), name: c.name, family: c.family, rules, rttMs: 0.1, maxMs: 60000 });
      assert.equal(r.result, c.result.replace(/ \(-?\d+\)$/, ""));
      assert.ok(Math.abs(r.latencyMs - c.elapsed_ms) <= Math.max(5, 0.01 * c.elapsed_ms), `latency ${r.latencyMs} vs measured ${c.elapsed_ms}`);
      assert.deepEqual(seq(r.packets), seq(c.packets));
      // Each query reached the server when the real one did (within 5 ms).
      r.packets.forEach((p, i) => assert.ok(Math.abs(p.t_ms - c.packets[i]!.t_ms) <= 5, `packet ${i} at ${p.t_ms} vs ${c.packets[i]!.t_ms}`));
    });
  }
});

describe("resolvers: glibc (res_send.c send_dg, res_query.c)", () => {
  it("glibc: A and AAAA leave in one sendmmsg() on one socket", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\n", "svc.example.");
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p1 AAAA svc.example. answer"]);
    assert.ok(r.packets[1]!.t_ms - r.packets[0]!.t_ms < 0.01);
  });

  it("glibc: the first AAAA lost costs one 5 s window, then single-request on the same socket", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\n", "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.equal(r.result, "OK v4+v6");
    assert.ok(r.latencyMs >= 5000 && r.latencyMs < 5001);
    // A is resent first, AAAA only after A's answer: two round trips after the window.
    assert.ok(r.packets[3]!.t_ms - r.packets[2]!.t_ms >= 0.099);
    assert.deepEqual(new Set(r.packets.map((p) => p.port)), new Set(["p1"]));
  });

  it("glibc: the single-request fallback is sticky for the thread (later lookups pay two round trips)", () => {
    const opts: DirectOptions = { libc: "glibc", resolvConf: parseResolvConf("nameserver 10.96.0.10\n"), name: "", family: "unspec", rules: [{ action: "drop", qtype: "AAAA", name: "first.example", nth: [1] }], rttMs: 10, maxMs: 60000 };
    const [first, second] = runDirectLookups(opts, ["first.example.", "second.example."]);
    assert.ok(first!.latencyMs > 5000);
    assert.ok(Math.abs(second!.latencyMs - 20) < 1, `second lookup ${second!.latencyMs} ms, expected 2 round trips`);
    assert.ok(second!.packets[1]!.t_ms - second!.packets[0]!.t_ms >= 10);
  });

  it("glibc: a fresh thread (or process) starts in parallel mode again", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\n", "second.example.", [], { rttMs: 10 });
    assert.ok(Math.abs(r.latencyMs - 10) < 1);
  });

  it("glibc: the same query lost twice costs 10 s and ends in single-request-reopen (3 ports)", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\n", "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1, 2] }]);
    assert.ok(r.latencyMs >= 10000 && r.latencyMs < 10001);
    assert.deepEqual([...new Set(r.packets.map((p) => p.port))], ["p1", "p2", "p3"]);
  });

  it("glibc: single-request-reopen with the AAAA lost returns the IPv4 answer alone after 5 s", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\noptions single-request-reopen\n", "svc.example.", [{ action: "drop", qtype: "AAAA" }]);
    assert.equal(r.result, "OK v4");
    assert.ok(r.latencyMs >= 5000 && r.latencyMs < 5001);
  });

  it("glibc: timeout:1 makes a lost AAAA cost 1 s", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\noptions timeout:1\n", "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.ok(r.latencyMs >= 1000 && r.latencyMs < 1001);
  });

  it("glibc: timeout:0 still waits 1 s (send_dg: seconds <= 0 becomes 1)", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\noptions timeout:0\n", "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.ok(r.latencyMs >= 1000 && r.latencyMs < 1001);
  });

  it("glibc: attempts:0 sends nothing and fails at once with EAI_AGAIN", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\noptions attempts:0\n", "svc.example.");
    assert.equal(r.result, "EAI_AGAIN");
    assert.equal(r.packets.length, 0);
  });

  it("glibc: a search step whose queries all time out skips the rest of the search list and tries the name as is", () => {
    const r = lookup("glibc", K8S, "redis", [{ action: "drop", name: "redis.ns.svc.cluster.local" }, { action: "nxdomain", name: "*.cluster.local" }]);
    assert.ok(r.latencyMs >= 10000 && r.latencyMs < 10002, `${r.latencyMs}`);
    assert.deepEqual([...new Set(r.packets.map((p) => p.qname))], ["redis.ns.svc.cluster.local.", "redis."]);
    assert.equal(r.result, "OK v4+v6");
  });

  it("glibc: NODATA and SERVFAIL on a search step move on to the next domain", () => {
    const nodata = lookup("glibc", K8S, "redis", [{ action: "nodata", name: "redis.ns.svc.cluster.local" }, { action: "nxdomain", name: "*.cluster.local" }]);
    assert.equal(nodata.result, "OK v4+v6");
    assert.equal(nodata.packets.at(-1)!.qname, "redis.");
    const servfail = lookup("glibc", K8S, "redis", [{ action: "servfail", name: "redis.ns.svc.cluster.local" }, { action: "nxdomain", name: "*.cluster.local" }]);
    assert.equal(servfail.result, "OK v4+v6");
    // The SERVFAIL pair is sent attempts (2) times at once, without waiting.
    assert.equal(servfail.packets.filter((p) => p.qname === "redis.ns.svc.cluster.local.").length, 4);
    assert.ok(servfail.latencyMs < 5);
  });

  it("glibc: no-aaaa sends only the A query", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\noptions no-aaaa\n", "svc.example.");
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer"]);
    assert.equal(r.result, "OK v4");
  });

  it("glibc: use-vc sends both queries on one TCP connection per search step", () => {
    const r = lookup("glibc", K8S + "options use-vc\n", "redis", [{ action: "nxdomain", name: "*.cluster.local" }]);
    assert.equal(r.packets.length, 8);
    assert.ok(r.packets.every((p) => p.transport === "tcp"));
    assert.deepEqual([...new Set(r.packets.map((p) => p.port))], ["t1", "t2", "t3", "t4"]);
  });

  it("glibc: a truncated UDP answer is retried over TCP to the same server", () => {
    const r = lookup("glibc", "nameserver 10.96.0.10\n", "big.example.", [{ action: "truncate", transport: "udp", qtype: "A" }]);
    assert.equal(r.result, "OK v4+v6");
    assert.ok(r.packets.some((p) => p.transport === "tcp"));
  });

  it("glibc: rotate starts consecutive lookups at consecutive nameservers (res_send.c nameserver_offset: round robin)", () => {
    const conf = "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions rotate\n";
    const opts: DirectOptions = { libc: "glibc", resolvConf: parseResolvConf(conf), name: "", family: "unspec", rules: [], rttMs: 0.1, maxMs: 60000 };
    const firsts = runDirectLookups(opts, ["a.example.", "b.example.", "c.example.", "d.example.", "e.example.", "f.example."]).map((r) => Number(r.packets[0]!.server.split(".")[3]) - 1);
    // The counter was seeded once, from random_bits(); then +1 per call, modulo nscount.
    const start = firsts[0]!;
    assert.deepEqual(firsts, [0, 1, 2, 3, 4, 5].map((k) => (start + k) % 3));
  });

  it("glibc: rotate moves on at every search step (one __res_context_send each), not once per lookup", () => {
    const conf = "search a.example b.example\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions rotate\n";
    const r = lookup("glibc", conf, "redis", [{ action: "nxdomain", name: "*.example" }]);
    const steps = [...new Map(r.packets.map((p) => [p.qname, Number(p.server.split(".")[3]) - 1])).entries()];
    assert.deepEqual(steps.map(([q]) => q), ["redis.a.example.", "redis.b.example.", "redis."]);
    const start = steps[0]![1];
    assert.deepEqual(steps.map(([, ns]) => ns), [start, 1 - start, start]);
  });

  it("glibc: without rotate every lookup starts at the first nameserver", () => {
    const conf = "nameserver 10.0.0.1\nnameserver 10.0.0.2\n";
    const opts: DirectOptions = { libc: "glibc", resolvConf: parseResolvConf(conf), name: "", family: "unspec", rules: [], rttMs: 0.1, maxMs: 60000 };
    assert.deepEqual(runDirectLookups(opts, ["a.example.", "b.example.", "c.example."]).map((r) => r.packets[0]!.server), ["10.0.0.1", "10.0.0.1", "10.0.0.1"]);
  });

  it("glibc: an NXDOMAIN name walks the whole search list and fails with EAI_NONAME", () => {
    const r = lookup("glibc", K8S, "nosuch", [{ action: "nxdomain" }]);
    assert.equal(r.result, "EAI_NONAME");
    assert.equal(r.packets.length, 8);
  });
});

describe("resolvers: musl (res_msend.c, lookup_name.c)", () => {
  it("musl: an unanswered query is resent alone every timeout/attempts, on the same socket", () => {
    const r = lookup("musl", "nameserver 10.96.0.10\noptions timeout:4 attempts:4\n", "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1, 2] }]);
    const aaaa = r.packets.filter((p) => p.qtype === "AAAA").map((p) => Math.round(p.t_ms));
    assert.deepEqual(aaaa, [0, 1000, 2000]);
    assert.ok(r.latencyMs >= 2000 && r.latencyMs < 2001);
    assert.deepEqual([...new Set(r.packets.map((p) => p.port))], ["p1"]);
  });

  it("musl: losing the AAAA twice fails the whole lookup with EAI_AGAIN after 5 s, not 10 s", () => {
    const r = lookup("musl", "nameserver 10.96.0.10\n", "svc.example.", [{ action: "drop", qtype: "AAAA" }]);
    assert.equal(r.result, "EAI_AGAIN");
    assert.ok(r.latencyMs >= 5000 && r.latencyMs < 5001);
  });

  it("musl: the last pass waits its whole retry interval, past the timeout when the interval does not divide it", () => {
    const r = lookup("musl", "nameserver 10.96.0.10\noptions attempts:3\n", "svc.example.", [{ action: "drop", qtype: "AAAA" }]);
    assert.deepEqual(r.packets.filter((p) => p.qtype === "AAAA").map((p) => Math.round(p.t_ms)), [0, 1666, 3332, 4998]);
    assert.equal(r.result, "EAI_AGAIN");
    assert.ok(r.latencyMs >= 6664 && r.latencyMs < 6665, `${r.latencyMs}`);
  });

  it("musl: attempts:1 means no resend (a loss fails at 5 s)", () => {
    const r = lookup("musl", "nameserver 10.96.0.10\noptions attempts:1\n", "svc.example.", [{ action: "drop", qtype: "A", nth: [1] }]);
    assert.equal(r.result, "EAI_AGAIN");
    assert.equal(r.packets.filter((p) => p.qtype === "A").length, 1);
  });

  it("musl: the search walk goes on only on NXDOMAIN; NODATA stops it (EAI_NONAME in 1.2.3)", () => {
    const r = lookup("musl", K8S, "redis.example.com", [{ action: "nodata", name: "redis.example.com.ns.svc.cluster.local" }, { action: "nxdomain", name: "*.cluster.local" }]);
    assert.equal(r.result, "EAI_NONAME");
    assert.equal(r.packets.length, 2);
  });

  it("musl: SERVFAIL is resent at once, then the lookup fails with EAI_AGAIN at 5 s", () => {
    const r = lookup("musl", K8S, "redis", [{ action: "servfail", name: "redis.ns.svc.cluster.local" }]);
    assert.equal(r.result, "EAI_AGAIN");
    assert.ok(r.latencyMs >= 5000 && r.latencyMs < 5001);
    assert.ok(r.packets.filter((p) => p.t_ms < 1).length > 2);
  });

  it("musl: REFUSED is ignored, so the query runs until the timeout", () => {
    const r = lookup("musl", "nameserver 10.96.0.10\n", "svc.example.", [{ action: "refused", qtype: "A" }]);
    assert.equal(r.result, "EAI_AGAIN");
    assert.ok(r.latencyMs >= 5000);
  });

  it("musl: a name with dots >= ndots is never tried with the search list", () => {
    const r = lookup("musl", K8S.replace("ndots:5", "ndots:2"), "nosuch.example.com", [{ action: "nxdomain" }]);
    assert.deepEqual([...new Set(r.packets.map((p) => p.qname))], ["nosuch.example.com."]);
    assert.equal(r.result, "EAI_NONAME");
  });

  it("musl ignores single-request, single-request-reopen, use-vc, no-aaaa and rotate: its conf has exactly the keys of struct resolvconf and the release, the same with or without them", () => {
    const c = muslConf(parseResolvConf("nameserver 10.96.0.10\noptions single-request single-request-reopen use-vc no-aaaa rotate\n"));
    // struct resolvconf holds nameservers, search, ndots, timeout and attempts; the rest is the release's behaviour.
    const keys = ["nameservers", "search", "ndots", "timeout", "attempts", "version", "judgeEachAnswer", "eaiNodata", "tcpFallback", "checksMkquery", "skipRejectedNames", "sameIdProbability"];
    assert.deepEqual(Object.keys(c).sort(), [...keys].sort());
    assert.deepEqual(c, muslConf(parseResolvConf("nameserver 10.96.0.10\n")));
    const r = lookup("musl", "nameserver 10.96.0.10\noptions use-vc no-aaaa\n", "svc.example.");
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p1 AAAA svc.example. answer"]);
  });
});

describe("resolvers: resolv.conf per libc (res_init.c, resolvconf.c)", () => {
  it("glibc clamps ndots to 15, timeout to 30, attempts to 5 and keeps 3 nameservers", () => {
    const c = glibcConf(parseResolvConf("nameserver 1.1.1.1\nnameserver 1.1.1.2\nnameserver 1.1.1.3\nnameserver 1.1.1.4\noptions ndots:20 timeout:99 attempts:9\n"));
    assert.deepEqual([c.ndots, c.retrans, c.retry, c.nameservers.length], [15, 30, 5, 3]);
  });

  it("musl clamps ndots to 15, attempts to 10, timeout to 60", () => {
    const c = muslConf(parseResolvConf("nameserver 1.1.1.1\noptions ndots:20 timeout:99 attempts:19\n"));
    assert.deepEqual([c.ndots, c.timeout, c.attempts], [15, 60, 10]);
  });

  it("musl ignores a search line of 255 characters or more (fgets into char line[256]); glibc reads it", () => {
    const long = `search ${Array.from({ length: 30 }, (_, i) => `ns${i}.svc.cluster.local`).join(" ")}`;
    const rc = parseResolvConf(`${long}\nnameserver 10.96.0.10\n`);
    assert.ok(long.length >= 255);
    assert.equal(muslConf(rc).search.length, 0);
    assert.equal(glibcConf(rc).search.length, 30);
    const at = (n: number) => `search ${"a".repeat(n - 7)}`;
    assert.deepEqual(muslConf(parseResolvConf(`${at(254)}\nnameserver 10.96.0.10\n`)).search.length, 1);
    assert.deepEqual(muslConf(parseResolvConf(`${at(255)}\nnameserver 10.96.0.10\n`)).search.length, 0);
  });

  it("musl keeps an earlier search line when a later one is too long to read", () => {
    const long = `search ${"b".repeat(300)}.local`;
    const c = muslConf(parseResolvConf(`search ns.svc.cluster.local\n${long}\nnameserver 10.96.0.10\n`));
    assert.deepEqual(c.search, ["ns.svc.cluster.local"]);
  });

  it("name patterns: case-insensitive, trailing dot optional, * for one or more labels", () => {
    const m = nameMatcher("*.cluster.local");
    assert.equal(m("a.b.cluster.local."), true);
    assert.equal(m("A.Cluster.Local."), true);
    assert.equal(m("cluster.local."), false);
    assert.equal(nameMatcher("svc.example.")("svc.example."), true);
  });
});
