import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { FaultRule } from "../src/dns/rules.js";
import { type DirectOptions, runDirectLookup, runDirectLookups } from "../src/experiment/direct.js";
import { busyboxConf, busyboxQueries } from "../src/resolver/busybox.js";
import { CaresChannel, caresConf, caresNames, caresWithEnv, serverTimeoutMs } from "../src/resolver/cares.js";
import { findResolver } from "../src/resolver/registry.js";
import { parseResolvConf } from "../src/resolver/resolvconf.js";
import { type CalCase, faultRules } from "./calcases.js";
import { ROOT, calibration } from "./helpers.js";

const K8S = "search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";
const ONE = "nameserver 10.96.0.10\n";

function lookup(libc: "c-ares" | "busybox", conf: string, name: string, rules: FaultRule[] = [], extra: Partial<DirectOptions> = {}) {
  return runDirectLookup({ libc, resolvConf: parseResolvConf(conf), name, family: "unspec", rules, rttMs: 0.1, maxMs: 60000, ...extra });
}

const seq = (ps: { transport: string; port: string; qtype: string; qname: string; fate: string }[]) => ps.map((p) => `${p.transport} ${p.port} ${p.qtype} ${p.qname} ${p.fate}`);
const near = (x: number, want: number, tol = 0.5) => assert.ok(Math.abs(x - want) <= tol, `${x} ms, expected ${want} ms`);

describe("resolvers: c-ares 1.34.6 ares_getaddrinfo (ares_getaddrinfo.c, ares_process.c, ares_metrics.c)", () => {
  it("c-ares: A and AAAA leave back to back on one UDP socket (next_dns_lookup), so they share a 5-tuple", () => {
    const r = lookup("c-ares", ONE, "svc.example.");
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p1 AAAA svc.example. answer"]);
    assert.equal(r.result, "OK v4+v6");
    assert.ok(r.latencyMs < 1);
  });

  it("c-ares: a lost AAAA waits the 2000 ms DEFAULT_TIMEOUT and is not retried (the A had an address: terminate_retries): the IPv4 address alone", () => {
    const r = lookup("c-ares", ONE, "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.equal(r.result, "OK v4");
    near(r.latencyMs, 2000, 0.01);
    assert.equal(r.packets.length, 2);
    assert.match(r.resolver.timerHint({ latencyMs: r.latencyMs, result: r.result, timeouts: r.timeouts, gaveUp: r.gaveUp, overTcp: false, maxMs: 60000 })!, /terminate_retries.*IPv4 address came back alone/);
  });

  it("c-ares: options timeout:5 makes the lost AAAA wait 5000 ms; timeout:10 is capped at MAX_TIMEOUT_MS 5000 ms; timeout:1 1000 ms", () => {
    const drop: FaultRule[] = [{ action: "drop", qtype: "AAAA", nth: [1] }];
    near(lookup("c-ares", `${ONE}options timeout:5\n`, "svc.example.", drop).latencyMs, 5000, 0.01);
    near(lookup("c-ares", `${ONE}options timeout:10\n`, "svc.example.", drop).latencyMs, 5000, 0.01);
    near(lookup("c-ares", `${ONE}options timeout:1\n`, "svc.example.", drop).latencyMs, 1000, 0.01);
    // process_option refuses timeout:0 (ARES_EFORMERR): the default stays.
    near(lookup("c-ares", `${ONE}options timeout:0\n`, "svc.example.", drop).latencyMs, 2000, 0.01);
  });

  it("c-ares: a lost A is tried again after its timeout from a new UDP socket (the server has a failure: ares_fetch_connection) and answered", () => {
    const r = lookup("c-ares", ONE, "svc.example.", [{ action: "drop", qtype: "A", nth: [1] }]);
    assert.equal(r.result, "OK v4+v6");
    near(r.latencyMs, 2000.1, 0.01);
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. drop", "udp p1 AAAA svc.example. answer", "udp p2 A svc.example. answer"]);
  });

  it("c-ares: a query lost on every try: 3 tries (DEFAULT_TRIES), the timeout doubled each round less up to a half (2000, then 2000-4000, then 4000-8000 ms), then EAI_AGAIN", () => {
    const r = lookup("c-ares", ONE, "svc.example.", [{ action: "drop" }]);
    assert.equal(r.result, "EAI_AGAIN");
    for (const qtype of ["A", "AAAA"]) {
      const t = r.packets.filter((p) => p.qtype === qtype).map((p) => p.t_ms);
      assert.equal(t.length, 3, qtype);
      near(t[1]! - t[0]!, 2000, 0.01);
      assert.ok(t[2]! - t[1]! >= 2000 && t[2]! - t[1]! <= 4000, `${qtype} second try waited ${t[2]! - t[1]!}`);
    }
    // Every try after a failure goes out from a socket of its own: A and AAAA no longer share a port.
    assert.equal(new Set(r.packets.map((p) => p.port)).size, 5);
    assert.ok(r.latencyMs >= 2000 + 2000 + 4000 && r.latencyMs <= 2000 + 4000 + 8000, `${r.latencyMs}`);
  });

  it("c-ares: options attempts:2 gives two tries", () => {
    const r = lookup("c-ares", `${ONE}options attempts:2\n`, "svc.example.", [{ action: "drop" }]);
    assert.equal(r.packets.filter((p) => p.qtype === "A").length, 2);
  });

  it("c-ares: a warm channel (3 answers or more in the period) times a lost AAAA out after 5 x the average latency, at least 250 ms (ares_metrics_server_timeout)", () => {
    const opts = (rttMs: number): DirectOptions => ({ libc: "c-ares", resolvConf: parseResolvConf(ONE), name: "", family: "unspec", rules: [{ action: "drop", qtype: "AAAA", name: "lost.example" }], rttMs, maxMs: 60000 });
    const names = ["a.example.", "b.example.", "lost.example."];
    // 0.1 ms answers count 1 ms each: 5 ms, raised to MIN_TIMEOUT_MS 250.
    near(runDirectLookups(opts(0.1), names)[2]!.latencyMs, 250, 0.01);
    // 100 ms answers: 500 ms. The first lookup of a fresh process still waits channel->timeout.
    near(runDirectLookups(opts(100), names)[2]!.latencyMs, 500, 0.01);
    near(runDirectLookups(opts(100), ["lost.example."])[0]!.latencyMs, 2000, 0.01);
  });

  it("c-ares: after a timeout no answer has cleared, the next lookup's A and AAAA go out on two sockets (the server has failures); its answers make the server good again", () => {
    const opts: DirectOptions = { libc: "c-ares", resolvConf: parseResolvConf(ONE), name: "", family: "unspec", rules: [{ action: "drop", qtype: "AAAA", name: "first.example" }], rttMs: 0.1, maxMs: 60000 };
    const [first, second, third] = runDirectLookups(opts, ["first.example.", "second.example.", "third.example."]);
    assert.equal(first!.result, "OK v4");
    assert.deepEqual(second!.packets.map((p) => `${p.port} ${p.qtype}`), ["p2 A", "p3 AAAA"]);
    assert.deepEqual(third!.packets.map((p) => `${p.port} ${p.qtype}`), ["p4 A", "p4 AAAA"]);
  });

  it("c-ares: serverTimeoutMs reads the current 1-minute bucket, then the previous one, and falls back to channel->timeout", () => {
    const ch = new CaresChannel(caresConf(parseResolvConf(ONE)));
    const s = ch.servers[0]!;
    assert.equal(serverTimeoutMs(s, 2000, 0), 2000);
    assert.equal(serverTimeoutMs(s, 9000, 0), 5000);
    assert.equal(serverTimeoutMs(s, 100, 0), 250);
  });

  it("c-ares: ares_search_name_list: as is first when the name has ndots dots, last when fewer; a trailing dot asks it alone", () => {
    const c = caresConf(parseResolvConf(K8S));
    assert.deepEqual(caresNames(c, "redis"), ["redis.ns.svc.cluster.local", "redis.svc.cluster.local", "redis.cluster.local", "redis"]);
    assert.deepEqual(caresNames({ ...c, ndots: 1 }, "a.b"), ["a.b", "a.b.ns.svc.cluster.local", "a.b.svc.cluster.local", "a.b.cluster.local"]);
    assert.deepEqual(caresNames(c, "a.b."), ["a.b."]);
  });

  it("c-ares: NXDOMAIN for both queries moves to the next name of the search list; an address ends it", () => {
    const r = lookup("c-ares", K8S, "redis", [{ action: "nxdomain", name: "redis.ns.svc.cluster.local" }]);
    assert.equal(r.result, "OK v4+v6");
    // The next name's queries are sent from the last answer's callback, before the cleanup: the same socket.
    assert.deepEqual(seq(r.packets), [
      "udp p1 A redis.ns.svc.cluster.local. nxdomain",
      "udp p1 AAAA redis.ns.svc.cluster.local. nxdomain",
      "udp p1 A redis.svc.cluster.local. answer",
      "udp p1 AAAA redis.svc.cluster.local. answer",
    ]);
  });

  it("c-ares: SERVFAIL counts as a failure of the server: the query is tried again at once, from a new socket", () => {
    const r = lookup("c-ares", ONE, "svc.example.", [{ action: "servfail", qtype: "A", nth: [1] }]);
    assert.equal(r.result, "OK v4+v6");
    assert.ok(r.latencyMs < 1, `${r.latencyMs}`);
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. servfail", "udp p1 AAAA svc.example. answer", "udp p2 A svc.example. answer"]);
  });

  it("c-ares: a truncated answer is asked again over TCP (process_answer)", () => {
    const r = lookup("c-ares", ONE, "svc.example.", [{ action: "truncate", qtype: "A", transport: "udp" }]);
    assert.equal(r.result, "OK v4+v6");
    assert.deepEqual(
      r.packets.map((p) => `${p.transport} ${p.qtype}`),
      ["udp A", "udp AAAA", "tcp A"],
    );
  });

  it("c-ares: LOCALDOMAIN keeps its first domain only; RES_OPTIONS is read after the file", () => {
    const rc = caresWithEnv(parseResolvConf(K8S), { LOCALDOMAIN: "one.example two.example", RES_OPTIONS: "timeout:3 attempts:4" });
    const c = caresConf(rc);
    assert.deepEqual(c.search, ["one.example"]);
    assert.equal(c.timeoutMs, 3000);
    assert.equal(c.tries, 4);
  });
});

interface CaresCase {
  case: string;
  title: string;
  names: string[];
  resolv_conf: string;
  faults: CalCase["faults"];
  lookups: { name: string; start_ms: number; elapsed_ms: number; result: string }[];
  packets: CalCase["packets"];
}

/** Cases whose later tries wait a jittered timeout (ares_calc_query_timeout): the latency bounds the source allows. */
const JITTERED: Record<string, [number, number]> = {
  c4: [2000 + 2000 + 4000, 2000 + 4000 + 8000],
  c7: [2000 + 2000, 2000 + 4000],
};

describe("resolvers: c-ares against the measured cases (calibration/cares-getaddrinfo-cases.json)", () => {
  const cases = calibration<{ cases: CaresCase[] }>("cares-getaddrinfo-cases.json").cases;
  for (const c of cases) {
    it(`c-ares ${c.case}: ${c.title} -> ${c.lookups.map((l) => `${l.result}, ${l.elapsed_ms.toFixed(0)} ms`).join("; ")}`, () => {
      const opts: DirectOptions = { libc: "c-ares", resolvConf: parseResolvConf(c.resolv_conf), name: "", family: "unspec", rules: faultRules(c as unknown as CalCase), rttMs: 0.1, maxMs: 60000 };
      const rs = runDirectLookups(opts, c.names);
      rs.forEach((r, k) => {
        const l = c.lookups[k]!;
        assert.equal(r.result, l.result, `lookup ${k + 1}`);
        const bounds = JITTERED[c.case];
        if (bounds === undefined) assert.ok(Math.abs(r.latencyMs - l.elapsed_ms) <= 10, `lookup ${k + 1}: ${r.latencyMs} vs measured ${l.elapsed_ms}`);
        else for (const x of [r.latencyMs, l.elapsed_ms]) assert.ok(x >= bounds[0] && x <= bounds[1], `${x} outside ${bounds.join("-")}`);
        const end = c.lookups[k + 1]?.start_ms ?? Infinity;
        const measured = c.packets.filter((p) => p.t_ms >= l.start_ms && p.t_ms < end);
        if (bounds === undefined) {
          assert.deepEqual(seq(r.packets), seq(measured));
          r.packets.forEach((p, i) => assert.ok(Math.abs(p.t_ms - (measured[i]!.t_ms - l.start_ms)) <= 10, `packet ${i} at ${p.t_ms} vs ${measured[i]!.t_ms - l.start_ms}`));
        } else {
          // Which try goes out first depends on the draws: the queries, their fates and the sockets they used.
          const bag = (ps: { qtype: string; fate: string }[]) => ps.map((p) => `${p.qtype} ${p.fate}`).sort();
          assert.deepEqual(bag(r.packets), bag(measured));
          assert.equal(new Set(r.packets.map((p) => p.port)).size, new Set(measured.map((p) => p.port)).size);
        }
      });
    });
  }
});

describe("resolvers: busybox 1.37.0 nslookup (networking/nslookup.c send_queries)", () => {
  it("busybox nslookup: a name with a dot: A then AAAA written back to back on one connected socket", () => {
    const r = lookup("busybox", ONE, "svc.example");
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p1 AAAA svc.example. answer"]);
    assert.equal(r.result, "OK v4+v6");
  });

  it("busybox nslookup: a lost AAAA is written again after retry_interval = timeout/retry = 5000/2 = 2500 ms on the same socket", () => {
    const r = lookup("busybox", ONE, "svc.example", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.equal(r.result, "OK v4+v6");
    // poll() counts its 2500 ms from the last reply read (the A's, at 0.1 ms): resent at 2500.1 ms, answered 0.1 ms later.
    near(r.latencyMs, 2500.2, 0.01);
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p1 AAAA svc.example. drop", "udp p1 AAAA svc.example. answer"]);
  });

  it("busybox nslookup: the AAAA lost twice: it stops 5 s after its start with the A alone (\"Can't find ...: No answer\")", () => {
    const r = lookup("busybox", ONE, "svc.example", [{ action: "drop", qtype: "AAAA" }]);
    assert.equal(r.result, "OK v4");
    near(r.latencyMs, 5000.1, 0.01);
    assert.equal(r.packets.length, 3);
    assert.equal(r.gaveUp.length, 1);
  });

  it("busybox nslookup: reads no options line: timeout:1 attempts:5 ndots:1 leave 2500 ms, and a dotless name is still searched", () => {
    const r = lookup("busybox", "search ns.svc.cluster.local\nnameserver 10.96.0.10\noptions timeout:1 attempts:5 ndots:1\n", "redis", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    near(r.latencyMs, 2500.2, 0.01);
    assert.equal(r.packets[0]!.qname, "redis.ns.svc.cluster.local.");
    assert.match(r.resolver.lossExplanation(), /does not read options timeout:1 attempts:5 ndots:1/);
  });

  it("busybox nslookup: a dotless name with a search list: one query per search domain and type, never as is, all six on one socket at once", () => {
    const r = lookup("busybox", K8S, "redis", [
      { action: "nxdomain", name: "redis.svc.cluster.local" },
      { action: "nxdomain", name: "redis.cluster.local" },
    ]);
    assert.equal(r.result, "OK v4+v6");
    assert.deepEqual(
      r.packets.map((p) => `${p.port} ${p.qtype} ${p.qname}`),
      ["p1 A redis.ns.svc.cluster.local.", "p1 A redis.svc.cluster.local.", "p1 A redis.cluster.local.", "p1 AAAA redis.ns.svc.cluster.local.", "p1 AAAA redis.svc.cluster.local.", "p1 AAAA redis.cluster.local."],
    );
    assert.ok(r.packets[5]!.t_ms - r.packets[0]!.t_ms < 0.01);
  });

  it("busybox nslookup: parse_resolvconf: a domain line after a search line is ignored; the last search line wins", () => {
    assert.deepEqual(busyboxConf(parseResolvConf("search a.example\ndomain b.example\nnameserver 10.0.0.1\n")).search, ["a.example"]);
    assert.deepEqual(busyboxConf(parseResolvConf("domain b.example\nsearch a.example c.example\nnameserver 10.0.0.1\n")).search, ["a.example", "c.example"]);
    assert.deepEqual(busyboxQueries(busyboxConf(parseResolvConf(ONE)), "redis", "inet").map((q) => q.qname), ["redis."]);
  });

  it("busybox nslookup: a SERVFAIL is written again at once (at most 2 x the queries per pass)", () => {
    const r = lookup("busybox", ONE, "svc.example", [{ action: "servfail", qtype: "A", nth: [1] }]);
    assert.equal(r.result, "OK v4+v6");
    assert.ok(r.latencyMs < 1);
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. servfail", "udp p1 AAAA svc.example. answer", "udp p1 A svc.example. answer"]);
  });

  it("busybox nslookup: no reply at all from the first nameserver: after its 5 s the second is asked, from a new socket", () => {
    const r = lookup("busybox", "nameserver 10.0.0.1\nnameserver 10.0.0.2\n", "svc.example", [{ action: "drop", nth: [1, 2] }]);
    assert.equal(r.result, "OK v4+v6");
    const second = r.packets.filter((p) => p.server === "10.0.0.2");
    assert.equal(second.length, 2);
    assert.ok(second[0]!.port !== r.packets[0]!.port);
    near(second[0]!.t_ms, 5000.05, 0.01);
  });
});

describe("resolvers: busybox nslookup against the measured cases (calibration/busybox-nslookup-cases.json)", () => {
  const cases = calibration<{ cases: (Omit<CalCase, "libc"> & { libc: "busybox" })[] }>("busybox-nslookup-cases.json").cases;
  it("the measurement holds 10 cases", () => assert.equal(cases.length, 10));
  for (const c of cases) {
    it(`busybox ${c.case}: ${c.title} -> ${c.result}, ${c.elapsed_ms.toFixed(0)} ms, ${c.packets.length} queries`, () => {
      const r = runDirectLookup({ libc: "busybox", resolvConf: parseResolvConf(c.resolv_conf), name: c.name, family: c.family, rules: faultRules(c as unknown as CalCase), rttMs: 0.1, maxMs: 60000 });
      assert.equal(r.result, c.result);
      assert.deepEqual(seq(r.packets), seq(c.packets));
      // Measured from the server's receipt of the first query to nslookup's exit: a few ms of process and event-loop latency.
      const first = r.packets[0]!.t_ms;
      assert.ok(Math.abs(r.latencyMs - first - c.elapsed_ms) <= 10, `latency ${r.latencyMs - first} vs measured ${c.elapsed_ms}`);
      r.packets.forEach((p, i) => assert.ok(Math.abs(p.t_ms - first - c.packets[i]!.t_ms) <= 10, `packet ${i} at ${p.t_ms - first} vs ${c.packets[i]!.t_ms}`));
    });
  }
});

describe("dnsrace lookup --libc c-ares|busybox", () => {
  it("the registry knows both; dnsrace lookup --json names their versions", () => {
    assert.ok(findResolver("c-ares") !== undefined && findResolver("busybox") !== undefined);
    const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });
    const c = cli(["lookup", "svc.example.", "--libc", "c-ares", "--rule", "drop qtype=AAAA nth=1", "--json"]);
    assert.equal(c.status, 0, c.stderr);
    const cj = JSON.parse(c.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    assert.equal(cj.cares_version, "1.34.6");
    assert.equal(cj.latency_ms, 2000);
    assert.equal(cj.result, "OK v4");
    const b = cli(["lookup", "svc.example", "--libc", "busybox", "--rule", "drop qtype=AAAA nth=1"]);
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, /^busybox 1\.37\.0 nslookup svc\.example against one scripted server/);
    assert.match(b.stdout, /retry_interval = timeout\/retry = 2500 ms/);
  });
});
