import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { lookupOptions, type LookupArgs } from "../src/cli/lookup.js";
import { raceOptions } from "../src/cli/race.js";
import { parseRule } from "../src/dns/rules.js";
import { checkReplications } from "../src/compare/run.js";
import { loadScenarioText, parseYaml } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { lookupsCsv } from "../src/report/csv.js";
import { summarize } from "../src/stats/summary.js";
import { ROOT, inputError, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });
const GLIBC = readFileSync(scenarioPath("glibc.yaml"), "utf8");
const TCP = readFileSync(scenarioPath("tcp.yaml"), "utf8");

/** glibc.yaml with one piece of text replaced (which must be there). */
function glibcWith(old: string, replacement: string): string {
  assert.ok(GLIBC.includes(old), old);
  return GLIBC.replace(old, replacement);
}

/** A quiet one-thread pod on an idle node: cheap lookups, for long runs in simulated time. */
const QUIET = `name: quiet
description: one thread on an idle node
kernel: "5.4"
kube_dns:
  endpoints: 1
  records: [redis.default.svc.cluster.local]
pods:
  - name: app
    libc: glibc
    family: inet
    WORKLOAD
    names: [redis.default.svc.cluster.local.]
    resolv_conf: |
      nameserver 10.96.0.10
`;

describe("honest runs: no silent cut in simulated time", () => {
  it("an open workload whose arrivals run past 24 simulated hours runs to its end: every arrival is a row", () => {
    // 0.05 lookups/s for 30 h: about 5,400 arrivals, the last ones after the old 24-hour cut.
    const loaded = loadScenarioText(QUIET.replace("WORKLOAD", "rate_per_s: 0.05\n    duration_s: 108000"), "long.yaml");
    const res = runScenario(loaded);
    const s = summarize(res);
    assert.equal(s.unfinished, 0);
    assert.ok(s.lookups > 5000 && s.lookups < 5800, String(s.lookups));
    let last = 0;
    for (let i = 0; i < res.log.length; i++) last = Math.max(last, res.log.startNs(i));
    assert.ok(last > 24 * 3600e9 && last < 108000e9, String(last));
    assert.ok(res.simulatedNs > 24 * 3600e9);
  });

  it("a lookup that can never finish (glibc over TCP to a server that drops TCP) is written UNFINISHED, the closed workload's rest NOT_STARTED, all counted", () => {
    const text = TCP.replace("  endpoints: 2\n", '  endpoints: 2\n  rules: ["drop transport=tcp"]\n').replace("lookups: 3000", "lookups: 20");
    const res = runScenario(loadScenarioText(text, "tcpdrop.yaml"));
    const csv = lookupsCsv(res).trim().split("\n").slice(1);
    assert.equal(csv.length, 20);
    const outcomes = csv.map((l) => l.split(",")[8]);
    assert.equal(outcomes.filter((o) => o === "UNFINISHED").length, 4, "one per thread");
    assert.equal(outcomes.filter((o) => o === "NOT_STARTED").length, 16);
    // A call no thread took has an empty thread cell.
    assert.ok(csv.filter((l) => l.endsWith("NOT_STARTED,0,0,0,0")).every((l) => l.split(",")[4] === ""));
    const s = summarize(res);
    assert.deepEqual([s.lookups, s.unfinished, s.failed], [20, 20, 20]);
    // Latency runs to the end of the run.
    for (let i = 0; i < res.log.length; i++) assert.equal(res.log.endNs(i), res.simulatedNs);
  });

  it("a workload that cannot end within the clock (2^53 ns) or memory is refused before it runs, naming the field with an estimate", () => {
    const cases: [string, RegExp][] = [
      ["rate_per_s: 40\n    duration_s: 1e9", /field "pods\[0\]\.duration_s": 1\.00e\+9 s of arrivals is about 11,574 days .*2\^53 ns/],
      ["rate_per_s: 1e308\n    duration_s: 10", /field "pods\[0\]\.rate_per_s": rate_per_s 1\.00e\+308 with duration_s 10 asks for about Infinity lookups, more than the 20,000,000/],
      ["rate_per_s: 9007199254740991\n    duration_s: 9007199254740991", /field "pods\[0\]\.duration_s"/],
      ["rate_per_s: 1\n    duration_s: 1e308", /field "pods\[0\]\.duration_s"/],
      ["lookups: 9007199254740991", /field "pods\[0\]\.lookups": 9\.01e\+15 lookups, more than the 20,000,000/],
      ["lookups: 3000000\n    think_ms: 1000000", /field "pods\[0\]\.lookups": 3,000,000 lookups on 1 thread with think_ms averaging 1,000,000 ms take about 34,722 days/],
    ];
    for (const [workload, re] of cases) assert.match(inputError(QUIET.replace("WORKLOAD", workload)), re, workload);
    // Pods and threads that would not fit: a located refusal.
    const pod = QUIET.slice(QUIET.indexOf("  - name: app")).replace("WORKLOAD", "lookups: 1\n    threads: 4000");
    const pods = (n: number) => QUIET.slice(0, QUIET.indexOf("  - name: app")) + Array.from({ length: n }, (_, i) => pod.replace("name: app", `name: app${i}`)).join("");
    assert.match(inputError(pods(246)), /field "pods": expected at most 245 pods/);
    assert.match(inputError(pods(5)), /line \d+: field "pods\[4\]\.threads": the pods up to this one have 20,000 threads, more than the 16,384/);
  });
});

describe("honest runs: comparisons and sweeps", () => {
  it("seeds past 2^53 - 1, or more lookups over all replications than are kept in memory, are refused before anything runs", () => {
    const at = (seed: number, lookups: number) => loadScenarioText(QUIET.replace("WORKLOAD", `lookups: ${lookups}`).replace("kernel:", `seed: ${seed}\nkernel:`), "c.yaml");
    assert.match(inputError(() => checkReplications("c.yaml", [at(2 ** 53 - 3, 10)], 5, "variants", "--seeds")), /^c\.yaml: base\.seed 9007199254740989 with 5 seeds \(--seeds\) runs on seeds up to base\.seed \+ 4, past 2\^53 - 1/);
    assert.doesNotThrow(() => checkReplications("c.yaml", [at(2 ** 53 - 5, 10)], 5, "variants", "--seeds"));
    const big = at(1, 4_000_000);
    assert.match(inputError(() => checkReplications("c.yaml", [big, big], 3, "variants", "the file's seeds")), /^c\.yaml: 3 seeds \(the file's seeds\) of 2 variants asking for 8,000,000 lookups per seed in all make 24,000,000 lookups, more than the 20,000,000/);
  });
});

describe("honest runs: bad input is refused where it is read (exit 2, located)", () => {
  it("numbers too large for the clock or memory, and weights, threads, seeds and kernels out of range: each names its field and line", () => {
    const cases: [string, string, RegExp][] = [
      ["  nat_backend: iptables-legacy", "  nat_backend: iptables-legacy\n  timing: { hit_us: 1e308 }", /line 23: field "node\.timing\.hit_us": expected a number from 0 to 1000000 \(us\)/],
      ["  nat_backend: iptables-legacy", "  nat_backend: iptables-legacy\n  timing: { xmit_us: 1e308 }", /field "node\.timing\.xmit_us": expected a number from 0 to 1000000/],
      ["  nat_backend: iptables-legacy", "  nat_backend: iptables-legacy\n  timing: { pod_veth_us: 1e308 }", /field "node\.timing\.pod_veth_us"/],
      ["  nat_backend: iptables-legacy", "  nat_backend: iptables-legacy\n  timing: { rule_ns: 1e308 }\n  rules_before_dns: 10", /field "node\.timing\.rule_ns": expected a number from 0 to 1000000 \(ns per rule\)/],
      ["  nat_backend: iptables-legacy", "  nat_backend: iptables-legacy\n  rules_before_dns: 9007199254740991", /field "node\.rules_before_dns": expected a whole number from 0 to 1000000/],
      ["      - { name: redis, weight: 4 }\n      - { name: postgres, weight: 3 }", "      - { name: redis, weight: 1e308 }\n      - { name: postgres, weight: 1e308 }", /field "pods\[0\]\.names\[0\]\.weight": expected a weight above 0, at most 1e9/],
      ["    threads: 4", "    threads: 9007199254740991", /field "pods\[0\]\.threads": expected a whole number from 1 to 4096/],
      ["seed: 7", "seed: 9007199254740993", /field "seed": expected a whole number from 0 to 9007199254740991/],
      ['kernel: "5.4"', 'kernel: "0.0"', /line 16: field "kernel": expected a kernel version the model knows, from 3\.10 to 6\.x/],
      ['kernel: "5.4"', 'kernel: "999.999"', /field "kernel": expected a kernel version the model knows/],
      ['kernel: "5.4"', 'kernel: "4.14.999999999999999999"', /field "kernel": expected a kernel version the model knows/],
      ['kernel: "5.4"', 'kernel: "3.9"', /field "kernel": expected a kernel version the model knows/],
    ];
    for (const [old, replacement, re] of cases) assert.match(inputError(glibcWith(old, replacement)), re, replacement);
    // The ends of the kernel range are accepted.
    for (const k of ["3.10", "6.18", "6.99.999"]) assert.doesNotThrow(() => loadScenarioText(glibcWith('kernel: "5.4"', `kernel: "${k}"`), "ok.yaml"), k);
  });

  it("a YAML alias bomb is an input error naming the line of the first alias", () => {
    const text = `name: x\na: &a [x, x]\nb: [${Array(101).fill("*a").join(", ")}]\n`;
    assert.match(inputError(() => parseYaml(text, "bomb.yaml")), /^bomb\.yaml: line 3: the YAML aliases \(\*name\) expand too far/);
  });

  it("race --kernel outside the known kernels, lookup --rtt-ms and --max-ms too long, a rule's delay_ms over a day: refused at the flag", () => {
    for (const k of ["0.0", "999.999", "4.14.999999999999999999", "2.6.32"]) {
      assert.match(inputError(() => raceOptions({ kernel: k } as Parameters<typeof raceOptions>[0])), /^--kernel: ".*" is outside the kernels the model knows, from 3\.10 to 6\.x/, k);
    }
    const args = (more: Partial<LookupArgs>) => ({ name: "redis", libc: "glibc", family: "unspec", rule: undefined, rttMs: 0.1, maxMs: 60000, json: false, ...more }) as LookupArgs;
    assert.match(inputError(() => lookupOptions(args({ rttMs: 1e12 }), "nameserver 10.0.0.1\n", "x")), /^--rtt-ms: expected a number of milliseconds from 0 to 1,000,000, found 1000000000000/);
    assert.match(inputError(() => lookupOptions(args({ maxMs: 1e300 }), "nameserver 10.0.0.1\n", "x")), /^--max-ms: expected a number of milliseconds above 0, at most 86,400,000/);
    assert.throws(() => parseRule("answer delay_ms=1000000000000000"), /delay_ms is at most 86,400,000/);
    assert.doesNotThrow(() => parseRule("answer delay_ms=86400000"));
  });

  it("the CLI: --seed beyond 2^53 - 1, and a NAME that looks like a flag, exit 2 with a message naming them", () => {
    const seed = cli(["run", scenarioPath("repro-glibc-5s.yaml"), "--seed", "9007199254740993", "--out", "/nonexistent/never"]);
    assert.equal(seed.status, 2);
    assert.match(seed.stderr, /--seed: expected a whole number from 0 to 9007199254740991 \(2\^53 - 1; larger ones are not exact\), found "9007199254740993"/);
    const name = cli(["lookup", "-a", "--libc", "glibc"]);
    assert.equal(name.status, 2);
    assert.match(name.stderr, /dnsrace lookup: missing the NAME to look up \(<name>\)\. "-a" was read as a flag/);
    assert.doesNotMatch(name.stderr, /Not enough non-option arguments/);
  });
});



