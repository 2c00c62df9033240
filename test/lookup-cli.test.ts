import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LookupArgs, formatTimeline, lookupOptions, lookupOutput, parseRule, readResolvConf } from "../src/cli/lookup.js";
import { runDirectLookup } from "../src/experiment/direct.js";
import { InputError } from "../src/scenario/load.js";
import { type CalCase, calCases, faultRules, ruleStrings } from "./calcases.js";
import { ROOT } from "./helpers.js";

const cli = (args: string[], input?: string) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), "lookup", ...args], { encoding: "utf8", ...(input === undefined ? {} : { input }) });

interface JsonPacket {
  t_ms: number;
  transport: string;
  port: string;
  qtype: string;
  qname: string;
  fate: string;
}
interface LookupJson {
  libc: string;
  name: string;
  latency_ms: number;
  result: string;
  packets: JsonPacket[];
}

/** The --json object: the last line of stdout, with nothing after it. */
function lastJson(stdout: string): LookupJson {
  assert.ok(stdout.endsWith("}\n"), `stdout does not end with the JSON line: ${JSON.stringify(stdout.slice(-80))}`);
  return JSON.parse(stdout.trimEnd().split("\n").at(-1)!) as LookupJson;
}

const seq = (ps: JsonPacket[]) => ps.map((p) => `${p.transport} ${p.port} ${p.qtype} ${p.qname} ${p.fate}`);

/** The command in-process, minus reading the resolv.conf: its arguments as yargs would hand them over. */
function lookupArgs(name: string, libc: string, more: Partial<LookupArgs> = {}): LookupArgs {
  return { name, libc, resolvConf: undefined, family: "unspec", rule: undefined, rttMs: 0.1, maxMs: 60000, json: true, ...more };
}
const inProcess = (args: LookupArgs, resolvConf = "nameserver 10.96.0.10\n") => lastJson(lookupOutput(args, { text: resolvConf, source: "--resolv-conf test" }));

const K8S = "search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

describe("lookup: rules (parseRule)", () => {
  it("parseRule: an action and every key map onto a FaultRule", () => {
    assert.deepEqual(parseRule("drop qtype=aaaa name=*.cluster.local nth=1,2 transport=udp delay_ms=1.5"), {
      action: "drop",
      qtype: "AAAA",
      name: "*.cluster.local",
      nth: [1, 2],
      transport: "udp",
      delayMs: 1.5,
    });
    assert.deepEqual(parseRule("  servfail  "), { action: "servfail" });
    assert.deepEqual(parseRule("nxdomain name=svc.example."), { action: "nxdomain", name: "svc.example." });
  });

  it("parseRule: a bad rule names the rule, the word and what is allowed", () => {
    const refused = (text: string, ...patterns: RegExp[]) => {
      assert.throws(
        () => parseRule(text),
        (e: unknown) => {
          assert.ok(e instanceof InputError);
          assert.ok(e.message.startsWith(`--rule "${text}": `), e.message);
          for (const p of patterns) assert.match(e.message, p);
          return true;
        },
      );
    };
    refused("dorp qtype=A", /unknown action "dorp"/, /answer, drop, nxdomain, nodata, servfail, refused, truncate/);
    refused("drop qtpe=A", /unknown key "qtpe"/, /qtype, name, nth, transport, delay_ms/);
    refused("drop qtype", /"qtype" is not key=value/);
    refused("drop qtype=MX", /"qtype=MX"/, /A or AAAA/);
    refused("drop nth=0", /"nth=0"/, /nth=1,2/);
    refused("drop nth=1,", /"nth=1,"/);
    refused("drop transport=sctp", /"transport=sctp"/, /udp or tcp/);
    refused("answer delay_ms=soon", /"delay_ms=soon"/, /milliseconds/);
    refused("drop name=a..b", /"name=a\.\.b"/, /where "\*" stands for one or more labels/);
    refused("drop qtype=A qtype=AAAA", /"qtype" is given twice/);
    refused("", /starts with an action/);
  });
});

describe("lookup: the command (dnsrace lookup)", () => {
  it("lookup --json: glibc with the first AAAA dropped takes 5000 ms and resends A then AAAA on p1", () => {
    const r = cli(["svc.example.", "--libc", "glibc", "--rule", "drop qtype=AAAA nth=1", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.deepEqual(Object.keys(j), ["libc", "name", "latency_ms", "result", "packets"]);
    assert.deepEqual([j.libc, j.name, j.result], ["glibc", "svc.example.", "OK v4+v6"]);
    assert.ok(j.latency_ms >= 5000 && j.latency_ms < 5001, `${j.latency_ms}`);
    assert.deepEqual(seq(j.packets), ["udp p1 A svc.example. answer", "udp p1 AAAA svc.example. drop", "udp p1 A svc.example. answer", "udp p1 AAAA svc.example. answer"]);
    for (const p of j.packets) assert.deepEqual(Object.keys(p), ["t_ms", "transport", "port", "qtype", "qname", "fate"]);
    // single-request after the window: the AAAA leaves only once the A is answered.
    assert.ok(j.packets[2]!.t_ms >= 5000 && j.packets[3]!.t_ms - j.packets[2]!.t_ms >= 0.099);
  });

  it("lookup --json: musl with the first AAAA dropped resends only the AAAA at 2500 ms", () => {
    const r = cli(["svc.example.", "--libc", "musl", "--rule", "drop qtype=AAAA nth=1", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.equal(j.result, "OK v4+v6");
    assert.ok(j.latency_ms >= 2500 && j.latency_ms < 2501, `${j.latency_ms}`);
    assert.deepEqual(seq(j.packets), ["udp p1 A svc.example. answer", "udp p1 AAAA svc.example. drop", "udp p1 AAAA svc.example. answer"]);
    assert.equal(Math.floor(j.packets[2]!.t_ms), 2500);
  });

  it("lookup --json: times are rounded to microseconds and the JSON line is the last thing printed", () => {
    const j = inProcess(lookupArgs("svc.example.", "glibc", { rule: "answer qtype=A delay_ms=0.0004" }));
    for (const t of [j.latency_ms, ...j.packets.map((p) => p.t_ms)]) assert.equal(Math.round(t * 1000) / 1000, t);
    const out = lookupOutput(lookupArgs("svc.example.", "glibc"), { text: "nameserver 10.96.0.10\n", source: "test" });
    assert.equal(out.split("\n").length, 2);
  });

  it("lookup: without --json, one line per query, the result and a hint on the 5 s window", () => {
    const r = cli(["svc.example.", "--libc", "glibc", "--rule", "drop qtype=AAAA nth=1"]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[1]!, /^ +0\.050 ms {2}udp p1 {2}A {4}svc\.example\. {2}answered$/);
    assert.match(lines[2]!, /^ +0\.051 ms {2}udp p1 {2}AAAA svc\.example\. {2}dropped$/);
    assert.match(lines[3]!, /^ {2}5000\.050 ms {2}udp p1 {2}A {4}svc\.example\. {2}answered$/);
    assert.match(lines.at(-2)!, /^result: OK v4\+v6 after 5000\.\d{3} ms$/);
    assert.match(lines.at(-1)!, /^hint: glibc waited its 5 s window \(options timeout:5; res_send\.c send_dg\)/);
  });

  it("lookup: the hint takes its numbers from the resolv.conf (glibc timeout:2, musl timeout:3 attempts:3)", () => {
    const text = (libc: "glibc" | "musl", conf: string) => {
      const opts = lookupOptions(lookupArgs("svc.example.", libc, { rule: "drop qtype=AAAA nth=1" }), conf, "test");
      return formatTimeline(opts, runDirectLookup(opts));
    };
    const glibc = text("glibc", "nameserver 10.96.0.10\noptions timeout:2\n");
    assert.match(glibc, /result: OK v4\+v6 after 2000\.\d{3} ms\nhint: glibc waited its 2 s window \(options timeout:2;.*expired at 2000\.000 ms\.\n$/);
    const musl = text("musl", "nameserver 10.96.0.10\noptions timeout:3 attempts:3\n");
    assert.match(musl, /hint: musl resent the unanswered query after timeout\/attempts = 1 s \(options timeout:3 attempts:3; res_msend\.c\), at 1000\.000 ms\.\n$/);
    const opts = lookupOptions(lookupArgs("svc.example.", "glibc"), "nameserver 10.96.0.10\n", "test");
    assert.doesNotMatch(formatTimeline(opts, runDirectLookup(opts)), /hint:/, "no timer expired, no hint");
  });

  it("lookup: musl losing the AAAA twice gives up after its two 2.5 s passes (5 s), and the hint says so", () => {
    const opts = lookupOptions(lookupArgs("svc.example.", "musl", { rule: "drop qtype=AAAA" }), "nameserver 10.96.0.10\n", "test");
    const out = formatTimeline(opts, runDirectLookup(opts));
    assert.match(out, /result: EAI_AGAIN after 5000\.000 ms\n/);
    assert.match(out, /hint: musl resent the unanswered query after timeout\/attempts = 2\.5 s, at 2500\.000 ms, and gave up after 2 passes 2\.5 s apart/);
  });

  it("lookup: the musl hint tells a search step that gave up from a resend: resent at 2.5 s, gave up at 5 s, the search went on", () => {
    const conf = "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";
    const rule = ["nxdomain qtype=A name=redis.ns.svc.cluster.local", "drop qtype=AAAA name=redis.ns.svc.cluster.local"];
    for (const muslVersion of ["1.2.0", "1.2.3"]) {
      const opts = lookupOptions(lookupArgs("redis", "musl", { rule, muslVersion }), conf, "test");
      const r = runDirectLookup(opts);
      assert.deepEqual(r.timeouts, [2500, 5000]);
      assert.deepEqual(r.gaveUp, [{ t_ms: 5000, sent: true }]);
      const out = formatTimeline(opts, r);
      assert.match(out, /result: OK v4\+v6 after 5000\.101 ms\n/);
      assert.match(out, /hint: musl resent the unanswered query after timeout\/attempts = 2\.5 s, at 2500\.000 ms, and gave up after 2 passes 2\.5 s apart .*, at 5000\.000 ms \(options timeout:5 attempts:2; res_msend\.c\); the first query's answer was NXDOMAIN, so after that give-up the search went on to the next name/);
      assert.doesNotMatch(out, /2500\.000 ms, 5000\.000 ms/, muslVersion);
    }
  });

  it("lookup: the musl hint from 1.2.1 says the answers are judged in order when a give-up ends the walk without EAI_AGAIN", () => {
    const opts = lookupOptions(lookupArgs("svc.example.", "musl", { rule: ["nxdomain qtype=A", "drop qtype=AAAA"], muslVersion: "1.2.1" }), "nameserver 10.96.0.10\n", "test");
    const out = formatTimeline(opts, runDirectLookup(opts));
    assert.match(out, /result: EAI_NONAME after 5000\.000 ms\nhint: .*gave up after 2 passes.*, at 5000\.000 ms .*; the answers it had decide, judged in order, A then AAAA, the first verdict winning \(lookup_name\.c, 5cf1ac24\)\.\n$/);
    assert.doesNotMatch(out, /search went on/);
  });

  it("lookup: musl before 1.1.15 sends nothing for a name res_mkquery refuses, and the hint says the exchange gave up", () => {
    const conf = `search ${"x".repeat(64)}.local\nnameserver 10.96.0.10\n`;
    const opts = lookupOptions(lookupArgs("redis", "musl", { muslVersion: "1.1.14" }), conf, "test");
    const r = runDirectLookup(opts);
    assert.deepEqual(r.gaveUp, [{ t_ms: 5000, sent: false }]);
    assert.match(formatTimeline(opts, r), /\(no query reached the server\)\nresult: EAI_AGAIN after 5000\.000 ms\nhint: musl sent nothing for a name res_mkquery refuses \(before 1\.1\.15 its -1 goes to sendto\(\), 04bced40\) and gave up after 2 passes/);
  });

  it("lookup: with more than one nameserver, each query names the nameserver it went to, in the timeline and as server in --json", () => {
    const two = "nameserver 10.96.0.10\nnameserver 10.96.0.11\n";
    const args = lookupArgs("svc.example.", "musl", { rule: "drop qtype=AAAA nth=1,2" });
    const text = lookupOutput({ ...args, json: false }, { text: two, source: "test" });
    assert.match(text, /\n {5}0\.050 ms {2}udp p1 {2}to 10\.96\.0\.10 {2}A {4}svc\.example\. {2}answered\n {5}0\.051 ms {2}udp p1 {2}to 10\.96\.0\.11 {2}A {4}svc\.example\. {2}answered\n/);
    const j = inProcess(args, two);
    assert.deepEqual(Object.keys(j.packets[0]!), ["t_ms", "transport", "port", "server", "qtype", "qname", "fate"]);
    assert.deepEqual(
      j.packets.map((p) => `${(p as JsonPacket & { server: string }).server} ${p.qtype} ${p.fate}`),
      ["10.96.0.10 A answer", "10.96.0.11 A answer", "10.96.0.10 AAAA drop", "10.96.0.11 AAAA drop", "10.96.0.10 AAAA answer", "10.96.0.11 AAAA answer"],
    );
    // One nameserver: nothing to tell apart.
    assert.doesNotMatch(lookupOutput({ ...args, json: false }, { text: "nameserver 10.96.0.10\n", source: "test" }), / to 10\.96/);
    assert.ok(!("server" in inProcess(args).packets[0]!));
  });

  it("lookup: --resolv-conf - reads the pod's resolv.conf from standard input", () => {
    const r = cli(["redis", "--libc", "musl", "--resolv-conf", "-", "--rule", "nxdomain name=*.cluster.local", "--json"], K8S);
    assert.equal(r.status, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.equal(j.result, "OK v4+v6");
    assert.deepEqual([...new Set(j.packets.map((p) => p.qname))], ["redis.ns.svc.cluster.local.", "redis.svc.cluster.local.", "redis.cluster.local.", "redis."]);
    assert.deepEqual([...new Set(j.packets.map((p) => p.port))], ["p1", "p2", "p3", "p4"]);
  });

  it("lookup: --resolv-conf FILE reads a file; without it, a single nameserver", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-lookup-"));
    const file = join(dir, "resolv.conf");
    writeFileSync(file, "nameserver 10.96.0.10\noptions no-aaaa\n");
    const r = cli(["svc.example.", "--libc", "glibc", "--resolv-conf", file, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(seq(lastJson(r.stdout).packets), ["udp p1 A svc.example. answer"]);
    assert.equal(readResolvConf(undefined).text, "nameserver 10.96.0.10\n");
  });

  it("lookup: a malformed resolv.conf exits 2 naming the file (or standard input) and the line", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-lookup-"));
    const file = join(dir, "resolv.conf");
    writeFileSync(file, "nameserver 10.96.0.10\nnameservr 10.96.0.11\n");
    const r = cli(["svc.example.", "--libc", "glibc", "--resolv-conf", file]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: line 2: unknown keyword "nameservr"`));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout, "");
    const s = cli(["svc.example.", "--libc", "glibc", "--resolv-conf", "-"], "nameserver 10.96.0.10\noptions ndots:five\n");
    assert.equal(s.status, 2);
    assert.match(s.stderr, /standard input\): line 2: option "ndots" needs a whole number, found "five"/);
    assert.throws(() => lookupOptions(lookupArgs("x", "glibc"), "search cluster.local\n", "--resolv-conf f"), /--resolv-conf f: the resolv.conf has no "nameserver" line/);
  });

  it("lookup: nth=1,2 counts arrivals of that qtype and name", () => {
    // The AAAA of svc.example. is dropped on its 1st and 2nd arrival and answered on its 3rd; the A is never counted.
    const j = inProcess(lookupArgs("svc.example.", "glibc", { rule: "drop qtype=AAAA name=svc.example nth=1,2" }));
    assert.deepEqual(
      j.packets.filter((p) => p.qtype === "AAAA").map((p) => p.fate),
      ["drop", "drop", "answer"],
    );
    assert.ok(j.packets.filter((p) => p.qtype === "A").every((p) => p.fate === "answer"));
    assert.ok(j.latency_ms >= 10000 && j.latency_ms < 10001);
    // Arrivals are counted per name: each search step's AAAA is a first arrival.
    const k = inProcess(lookupArgs("redis", "musl", { rule: ["drop qtype=AAAA nth=2", "nxdomain name=*.cluster.local"] }), K8S);
    assert.ok(k.packets.every((p) => p.fate !== "drop"));
  });

  it("lookup: name=*.cluster.local matches one or more labels before cluster.local, not cluster.local itself", () => {
    const j = inProcess(lookupArgs("redis", "glibc", { rule: "nxdomain name=*.cluster.local" }), K8S);
    assert.deepEqual(seq(j.packets), [
      "udp p1 A redis.ns.svc.cluster.local. nxdomain",
      "udp p1 AAAA redis.ns.svc.cluster.local. nxdomain",
      "udp p2 A redis.svc.cluster.local. nxdomain",
      "udp p2 AAAA redis.svc.cluster.local. nxdomain",
      "udp p3 A redis.cluster.local. nxdomain",
      "udp p3 AAAA redis.cluster.local. nxdomain",
      "udp p4 A redis. answer",
      "udp p4 AAAA redis. answer",
    ]);
    // Case-insensitive, trailing dot optional, and "*" is at least one label.
    const k = inProcess(lookupArgs("Redis.Cluster.Local.", "musl", { rule: ["nodata name=cluster.local.", "nxdomain name=*.CLUSTER.local."] }), K8S);
    assert.deepEqual(seq(k.packets), ["udp p1 A redis.cluster.local. nxdomain", "udp p1 AAAA redis.cluster.local. nxdomain"]);
    assert.equal(k.result, "EAI_NONAME");
  });

  it("lookup: the first matching rule decides; no match answers; delay_ms delays the answer", () => {
    const j = inProcess(lookupArgs("svc.example.", "musl", { rule: ["answer qtype=A delay_ms=30", "servfail qtype=A", "nodata"] }));
    assert.deepEqual(seq(j.packets), ["udp p1 A svc.example. answer", "udp p1 AAAA svc.example. nodata"]);
    assert.equal(j.result, "OK v4");
    assert.ok(Math.abs(j.latency_ms - 30.1) < 0.01, `${j.latency_ms}`);
    const plain = inProcess(lookupArgs("svc.example.", "glibc", { family: "inet6" }));
    assert.deepEqual([plain.result, ...seq(plain.packets)], ["OK v6", "udp p1 AAAA svc.example. answer"]);
  });

  it("lookup: a query that never gets an answer over TCP reports HANG at --max-ms", () => {
    const r = cli(["svc.example.", "--libc", "glibc", "--resolv-conf", "-", "--rule", "drop transport=tcp", "--max-ms", "30000", "--json"], "nameserver 10.96.0.10\noptions use-vc\n");
    assert.equal(r.status, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.deepEqual([j.result, j.latency_ms], ["HANG", 30000]);
    assert.deepEqual(seq(j.packets), ["tcp t1 A svc.example. drop", "tcp t1 AAAA svc.example. drop"]);
    const opts = lookupOptions(lookupArgs("svc.example.", "glibc", { rule: "drop transport=tcp", maxMs: 30000 }), "nameserver 10.96.0.10\noptions use-vc\n", "test");
    assert.match(formatTimeline(opts, runDirectLookup(opts)), /result: HANG, still waiting after 30000\.000 ms \(--max-ms\)\nhint: glibc sets no timeout on a TCP query/);
  });

  it("lookup: a bad rule exits 2 naming the word and the allowed actions", () => {
    const r = cli(["svc.example.", "--libc", "glibc", "--rule", "drop qtype=AAAA", "--rule", "dorp qtype=A"]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^dnsrace: --rule "dorp qtype=A": unknown action "dorp" .*answer, drop, nxdomain, nodata, servfail, refused, truncate/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("lookup: --libc go runs Go's resolver: the lost AAAA is retried after 5 s from a new socket", () => {
    const r = cli(["svc.example.", "--libc", "go", "--rule", "drop qtype=AAAA nth=1"]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /udp p2 {2}AAAA svc\.example\. {2}dropped\n {2}5000\.050 ms {2}udp p3 {2}AAAA svc\.example\. {2}answered\nresult: OK v4\+v6 after 5000\.100 ms\nhint: Go gives each try of a query its own deadline of timeout = 5 s on a new socket/);
  });

  it("lookup: other bad flags are InputErrors with one sentence each", () => {
    const bad = (more: Partial<LookupArgs>, re: RegExp, name = "svc.example.") => assert.throws(() => lookupOptions(lookupArgs(name, "glibc", more), "nameserver 10.96.0.10\n", "test"), (e: unknown) => e instanceof InputError && re.test(e.message));
    bad({ libc: "glibcc" }, /--libc: expected glibc, musl, go, c-ares or busybox, found "glibcc"/);
    bad({ family: "inet4" }, /--family: expected one of unspec, inet, inet6/);
    bad({ rttMs: Number.NaN }, /--rtt-ms/);
    bad({ maxMs: 0 }, /--max-ms/);
    bad({}, /not a host name/, "a..b");
    assert.throws(() => lookupOptions(lookupArgs("x", "musl"), "nameserver 10.96.0.10\noptions attempts:0\n", "test"), /attempts:0" makes musl divide by zero/);
  });

  it("a bad --rtt-ms or --max-ms is quoted as typed, not echoed as NaN", () => {
    const r = cli(["svc.example.", "--libc", "glibc", "--rtt-ms", "abc"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--rtt-ms: expected a number of milliseconds from 0 to 1,000,000, found "abc"\./);
    const m = cli(["svc.example.", "--libc", "glibc", "--max-ms", "5s"]);
    assert.equal(m.status, 2);
    assert.match(m.stderr, /--max-ms: expected a number of milliseconds above 0, .* found "5s"\./);
    assert.doesNotMatch(r.stderr + m.stderr, /NaN/);
    assert.equal(lastJson(cli(["svc.example.", "--libc", "glibc", "--rtt-ms", "2", "--json"]).stdout).latency_ms, 2.001, "a number typed is read as before");
  });
});

function checkCase(c: CalCase, j: LookupJson): void {
  assert.equal(j.result, c.result.replace(/ \(-?\d+\)$/, ""));
  assert.ok(Math.abs(j.latency_ms - c.elapsed_ms) <= Math.max(5, 0.01 * c.elapsed_ms), `latency ${j.latency_ms} vs measured ${c.elapsed_ms}`);
  assert.deepEqual(seq(j.packets), seq(c.packets));
}

describe("lookup: the measured glibc 2.36 and musl 1.2.3 cases through the command (calibration/libc-loss-cases.json)", () => {
  const cases = calCases();
  // Each case runs once, in resolvers.test.ts; here the command's --rule strings are checked to be those rules.
  it("lookup --rule: every measured case's faults, as --rule strings, parse to the rules the model runs them with", () => {
    for (const c of cases) assert.deepEqual(ruleStrings(c).map(parseRule), faultRules(c), `${c.libc} ${c.case}`);
  });

  // A few through the binary: argument parsing, stdin and the JSON line end to end.
  for (const [id, libc] of [["c2", "glibc"], ["c3", "glibc"], ["a5", "musl"], ["d4", "musl"]] as const) {
    const c = cases.find((k) => k.case === id && k.libc === libc)!;
    it(`lookup --json ${libc} ${id} spawned with --resolv-conf - -> ${c.result}`, () => {
      const r = cli([c.name, "--libc", c.libc, "--family", c.family, "--resolv-conf", "-", ...ruleStrings(c).flatMap((s) => ["--rule", s]), "--json"], c.resolv_conf);
      assert.equal(r.status, 0, r.stderr);
      checkCase(c, lastJson(r.stdout));
    });
  }
});
