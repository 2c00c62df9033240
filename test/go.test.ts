import assert from "node:assert/strict";
import { type LookupArgs, lookupOptions } from "../src/cli/lookup.js";
import type { FaultRule } from "../src/dns/rules.js";
import { type DirectOptions, runDirectLookup } from "../src/experiment/direct.js";
import { TraceCollector } from "../src/model/trace.js";
import { goConf, goUnknownOption, nameList } from "../src/resolver/go.js";
import { parseResolvConf } from "../src/resolver/resolvconf.js";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";

const lookupArgs = (name: string, libc: string): LookupArgs => ({ name, libc, resolvConf: undefined, family: "unspec", rule: undefined, rttMs: 0.1, maxMs: 60000, json: false });
const ONE_NS = "nameserver 10.96.0.10\n";
const K8S = "search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

function go(conf: string, name: string, rules: FaultRule[] = [], extra: Partial<DirectOptions> = {}) {
  return runDirectLookup({ libc: "go", resolvConf: parseResolvConf(conf), name, family: "unspec", rules, rttMs: 0.1, maxMs: 60000, ...extra });
}

/** "transport port qtype qname fate" per query the server saw. */
const seq = (ps: { transport: string; port: string; qtype: string; qname: string; fate: string }[]) => ps.map((p) => `${p.transport} ${p.port} ${p.qtype} ${p.qname} ${p.fate}`);
const near = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} ms, expected ${expected} ms`);

describe("go: Go's pure resolver (dnsclient_unix.go, dnsconfig_unix.go)", () => {
  it("go: A and AAAA go out from two different sockets, so they never share a tuple", () => {
    const r = go(ONE_NS, "svc.example.");
    assert.equal(r.result, "OK v4+v6");
    near(r.latencyMs, 0.1); // in parallel: one round trip
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p2 AAAA svc.example. answer"]);
    assert.notEqual(r.packets[0]!.port, r.packets[1]!.port);
    // glibc, for contrast: both on one socket.
    const g = runDirectLookup({ libc: "glibc", resolvConf: parseResolvConf(ONE_NS), name: "svc.example.", family: "unspec", rules: [], rttMs: 0.1, maxMs: 60000 });
    assert.deepEqual(g.packets.map((p) => p.port), ["p1", "p1"]);
  });

  it("go: one query dropped once costs 5 s plus a round trip, the retry on a new socket", () => {
    const r = go(ONE_NS, "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.equal(r.result, "OK v4+v6");
    near(r.latencyMs, 5000.1);
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p2 AAAA svc.example. drop", "udp p3 AAAA svc.example. answer"]);
    near(r.packets[2]!.t_ms, 5000.05);
    assert.deepEqual(r.timeouts, [5000]);
    // A new request: a new ID, so not counted as a retransmission.
    assert.deepEqual([r.tally.queriesSent, r.tally.retransmits], [3, 0]);
  });

  it("go: the same query dropped twice costs 10 s and returns the other family's addresses", () => {
    const r = go(ONE_NS, "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1, 2] }]);
    assert.equal(r.result, "OK v4");
    near(r.latencyMs, 10000);
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p2 AAAA svc.example. drop", "udp p3 AAAA svc.example. drop"]);
    assert.deepEqual(r.timeouts, [5000, 10000]);
  });

  it("go: when both queries of a name time out, the next name of the list is tried after 10 s", () => {
    const r = go(K8S, "redis", [{ action: "drop", name: "redis.ns.svc.cluster.local", nth: [1, 2] }]);
    assert.equal(r.result, "OK v4+v6");
    near(r.latencyMs, 10000.1);
    assert.deepEqual(seq(r.packets), [
      "udp p1 A redis.ns.svc.cluster.local. drop",
      "udp p2 AAAA redis.ns.svc.cluster.local. drop",
      "udp p3 A redis.ns.svc.cluster.local. drop",
      "udp p4 AAAA redis.ns.svc.cluster.local. drop",
      "udp p5 A redis.svc.cluster.local. answer",
      "udp p6 AAAA redis.svc.cluster.local. answer",
    ]);
  });

  it("go: dots >= ndots tries the name as is first, then the search list", () => {
    const conf = (ndots: number) => goConf(parseResolvConf(`search a.example b.example\nnameserver 10.96.0.10\noptions ndots:${ndots}\n`));
    assert.deepEqual(nameList(conf(1), "db.shop"), ["db.shop.", "db.shop.a.example.", "db.shop.b.example."]);
    // dots < ndots: the search list first, the name as is last.
    assert.deepEqual(nameList(conf(2), "db.shop"), ["db.shop.a.example.", "db.shop.b.example.", "db.shop."]);
    // A rooted name alone; ndots:0 puts even a dotless name first.
    assert.deepEqual(nameList(conf(1), "db.shop."), ["db.shop."]);
    assert.deepEqual(nameList(conf(0), "db"), ["db.", "db.a.example.", "db.b.example."]);
    // On the wire: every name NXDOMAIN, both types asked for each, then EAI_NONAME.
    const r = go("search a.example\nnameserver 10.96.0.10\n", "db.shop", [{ action: "nxdomain" }]);
    assert.equal(r.result, "EAI_NONAME");
    assert.deepEqual(r.packets.map((p) => `${p.qtype} ${p.qname}`), ["A db.shop.", "AAAA db.shop.", "A db.shop.a.example.", "AAAA db.shop.a.example."]);
    near(r.latencyMs, 0.2);
  });

  it("go: single-request sends A then AAAA", () => {
    const r = go(`${ONE_NS}options single-request\n`, "svc.example.");
    assert.equal(r.result, "OK v4+v6");
    near(r.latencyMs, 0.2);
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. answer", "udp p2 AAAA svc.example. answer"]);
    near(r.packets[1]!.t_ms, 0.15); // sent when A's answer came
    // With one drop: 5 s plus two round trips; single-request-reopen is the same flag.
    const d = go(`${ONE_NS}options single-request-reopen\n`, "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    near(d.latencyMs, 5000.2);
    assert.deepEqual(d.packets.map((p) => p.port), ["p1", "p2", "p3"]);
  });

  it("go: NXDOMAIN ends the name at once, SERVFAIL moves on to the next try at once", () => {
    const nx = go(`${ONE_NS}nameserver 10.96.0.11\n`, "svc.example.", [{ action: "nxdomain", qtype: "A" }]);
    // A: NXDOMAIN from the first server, the second is not asked; AAAA's addresses are returned.
    assert.deepEqual(seq(nx.packets), ["udp p1 A svc.example. nxdomain", "udp p2 AAAA svc.example. answer"]);
    assert.equal(nx.result, "OK v6");
    const sf = go(ONE_NS, "svc.example.", [{ action: "servfail", qtype: "A", nth: [1] }]);
    assert.deepEqual(seq(sf.packets), ["udp p1 A svc.example. servfail", "udp p2 AAAA svc.example. answer", "udp p3 A svc.example. answer"]);
    near(sf.latencyMs, 0.2);
  });

  it("go: results: NODATA is EAI_NONAME (no such host), timeouts EAI_AGAIN, REFUSED EAI_FAIL", () => {
    assert.equal(go(ONE_NS, "svc.example.", [{ action: "nodata" }]).result, "EAI_NONAME");
    const t = go(ONE_NS, "svc.example.", [{ action: "drop" }]);
    assert.equal(t.result, "EAI_AGAIN");
    near(t.latencyMs, 10000);
    assert.equal(t.packets.length, 4);
    assert.equal(go(ONE_NS, "svc.example.", [{ action: "servfail" }]).result, "EAI_AGAIN");
    assert.equal(go(ONE_NS, "svc.example.", [{ action: "refused" }]).result, "EAI_FAIL");
  });

  it("go: the error of the name as given wins over the search list's", () => {
    // redis.ns... times out (EAI_AGAIN), the others and the name as is are NXDOMAIN.
    const a = go(K8S, "redis", [{ action: "drop", name: "redis.ns.svc.cluster.local" }, { action: "nxdomain" }]);
    assert.equal(a.result, "EAI_NONAME");
    near(a.latencyMs, 10000.3); // then three more names, NXDOMAIN at once
    // The name as is (tried last) times out: its error is the one returned.
    const b = go(K8S, "redis", [{ action: "drop", name: "redis" }, { action: "nxdomain" }]);
    assert.equal(b.result, "EAI_AGAIN");
  });

  it("go: a truncated UDP answer is asked again over TCP; use-vc uses a TCP connection per query", () => {
    const tc = go(ONE_NS, "svc.example.", [{ action: "truncate", qtype: "A" }]);
    assert.equal(tc.result, "OK v4+v6");
    assert.deepEqual(seq(tc.packets), ["udp p1 A svc.example. truncate", "udp p2 AAAA svc.example. answer", "tcp t1 A svc.example. answer"]);
    const vc = go(`${ONE_NS}options use-vc\n`, "svc.example.");
    assert.deepEqual(seq(vc.packets), ["tcp t1 A svc.example. answer", "tcp t2 AAAA svc.example. answer"]);
    // A query lost over TCP is bounded by the same deadline (glibc would hang).
    const lost = go(`${ONE_NS}options use-vc\n`, "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.equal(lost.result, "OK v4+v6");
    near(lost.latencyMs, 5000.2);
  });

  it("go: options are read as dnsReadConfig reads them (clamps, at most 3 nameservers)", () => {
    const c = goConf(parseResolvConf("nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\noptions ndots:20 timeout:0 attempts:0 rotate trust-ad edns0\n"));
    assert.deepEqual([c.servers.length, c.ndots, c.timeout, c.attempts, c.rotate, c.trustAD], [3, 15, 1, 1, true, true]);
    const d = goConf(parseResolvConf(ONE_NS));
    assert.deepEqual([d.ndots, d.timeout, d.attempts, d.singleRequest, d.useTCP], [1, 5, 2, false, false]);
    // timeout:1 attempts:1: one try of 1 s.
    const r = go(`${ONE_NS}options timeout:1 attempts:1\n`, "svc.example.", [{ action: "drop" }]);
    assert.equal(r.result, "EAI_AGAIN");
    near(r.latencyMs, 1000);
    // No maximum on timeout (glibc clamps it to 30 s).
    near(go(`${ONE_NS}options timeout:60 attempts:1\n`, "svc.example.", [{ action: "drop", qtype: "AAAA" }]).latencyMs, 60000);
  });

  it("go: an unknown option is refused: Go would fall back to the libc", () => {
    assert.deepEqual(goUnknownOption(parseResolvConf(`${ONE_NS}options ndots:5 no-aaaa\n`)), { line: 2, word: "no-aaaa", kind: "option" });
    assert.equal(goUnknownOption(parseResolvConf(`${ONE_NS}options single-request-reopen rotate trust-ad edns0 use-vc no-reload timeout:2\n`)), null);
    // Go reads only whole-line comments: an inline comment is read as options.
    assert.equal(goUnknownOption(parseResolvConf(`${ONE_NS}options ndots:5 # cluster default\n`))?.word, "#");
    assert.equal(goUnknownOption(parseResolvConf(`${ONE_NS}sortlist 10.0.0.0/8\n`))?.kind, "keyword");
    assert.throws(
      () => lookupOptions(lookupArgs("svc.example.", "go"), `${ONE_NS}options no-aaaa\n`, "test"),
      (e: unknown) => e instanceof InputError && /^test: line 2: Go falls back to the libc \(cgo\) on unknown option "no-aaaa"; use --libc glibc or musl to model that/.test(e.message),
    );
    // glibc takes the same file.
    assert.doesNotThrow(() => lookupOptions(lookupArgs("svc.example.", "glibc"), `${ONE_NS}options no-aaaa\n`, "test"));
    const yaml = scenario("go").replace("options ndots:5", "options ndots:5 no-aaaa");
    assert.throws(
      () => loadScenarioText(yaml, "bad.yaml"),
      (e: unknown) => e instanceof InputError && /^bad\.yaml: field "pods\[0\]\.resolv_conf", resolv\.conf line 3 \(file line \d+\): Go falls back to the libc \(cgo\) on unknown option "no-aaaa"; use libc: glibc or musl to model that/.test(e.message),
    );
  });

  it("go: on a node where glibc and musl pairs clash, a Go pod has no conntrack clash at all", () => {
    const run = (libc: string) => {
      const res = runScenario(loadScenarioText(scenario(libc), `${libc}.yaml`));
      const recs = res.log.records();
      return { lookups: recs.length, clashes: recs.reduce((n, l) => n + l.tally.clashes, 0), slow: recs.filter((l) => l.endNs - l.startNs > 1e9).length, ok: recs.filter((l) => l.outcome === "OK v4").length, insertFailed: res.client.counters.insert_failed };
    };
    const glibc = run("glibc");
    const musl = run("musl");
    assert.ok(glibc.clashes > 50 && glibc.insertFailed > 50, `glibc clashes: ${glibc.clashes}`);
    assert.ok(musl.clashes > 50, `musl clashes: ${musl.clashes}`);
    const g = run("go");
    assert.deepEqual(g, { lookups: 300, clashes: 0, slow: 0, ok: 300, insertFailed: 0 });
  });

  it("go: a traced Go lookup tells its two goroutines and returns", () => {
    const collector = new TraceCollector();
    runScenario(loadScenarioText(scenario("go").replace("lookups: 300", "lookups: 1"), "go.yaml"), { collector });
    const tr = collector.lookups[0]!;
    assert.equal(tr.outcome, "OK v4");
    const text = tr.lines.map((l) => `${l.where}: ${l.text}`).join("\n");
    assert.match(text, /go: go goLookupIPCNAME: A and AAAA redis\.shop\.svc\.cluster\.local\. in two goroutines/);
    const ports = [...text.matchAll(/sends (?:A|AAAA) redis\.shop\.svc\.cluster\.local\. from port (\d+)/g)].map((m) => m[1]);
    assert.equal(ports.length, 2);
    assert.notEqual(ports[0], ports[1]);
  });
});

/**
 * A kernel-5.4 node where same-socket pairs clash: the sending thread migrates to the other CPU between
 * its sends of 95 bursts in 100 (the share an idle node's GRO + threaded NAPI poll took as one list,
 * a path 5.4 does not have), so both datagrams of a pair reach conntrack at once on two CPUs.
 */
function scenario(libc: string): string {
  return `name: split-${libc}
description: a ${libc} pod on a node that splits its pairs over two CPUs
seed: 3
kernel: "5.4"
node:
  cpus: 2
  rx: inline
  migration_probability: 0.95
kube_dns:
  endpoints: 2
  records: [redis.shop.svc.cluster.local]
pods:
  - name: app
    libc: ${libc}
    lookups: 300
    lookups_per_process: 1
    names: [redis]
    resolv_conf: |
      search shop.svc.cluster.local svc.cluster.local cluster.local
      nameserver 10.96.0.10
      options ndots:5
`;
}
