import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runComparison } from "../src/compare/compare.js";
import { applyChange, deepMerge, loadComparison, loadSweep } from "../src/compare/spec.js";
import { bootstrapQuantile, pairedInterval, seedMultisets, t975, tInterval } from "../src/compare/stats.js";
import { compareReport } from "../src/report/compare.js";
import { runScenario } from "../src/scenario/run.js";
import { ROOT, assertRowsOfCsv, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });

/** A small comparison: a 5.4 node where about one pair in five clashes (the thread-migration split at 0.19, the share of one-thread pairs a softirq-saturated GRO list used to clash), Poisson arrivals, three variants. */
export const SMALL = `name: small
description: A small comparison for tests.
seeds: 3
base:
  name: small-base
  description: busy node
  seed: 3
  kernel: "5.4"
  node: { cpus: 4, rx: inline, migration_probability: 0.19 }
  kube_dns:
    endpoints: 2
    records: [redis.shop.svc.cluster.local]
    external_records: [api.example.com]
  pods:
    - name: app
      libc: glibc
      threads: 200
      lookups_per_process: 1
      rate_per_s: 50
      duration_s: 6
      names: [redis, api.example.com]
      resolv_conf: |
        search shop.svc.cluster.local svc.cluster.local cluster.local
        nameserver 10.96.0.10
        options ndots:5
variants:
  - name: glibc
    changes: nothing
  - name: kernel-5.10
    changes: a 5.10 node
    set: { kernel: "5.10" }
  - name: reopen
    changes: single-request-reopen
    resolv_options: [single-request-reopen]
`;

function tmpFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "dnsrace-cmp-"));
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

/** Well-formed XML as far as tags go: every element closed in order. */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    if (self) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name!);
  }
  return stack.length === 0 && svg.startsWith("<svg");
}

describe("compare: statistics", () => {
  it("t quantiles: the table, and the expansion beyond 30 degrees of freedom", () => {
    assert.equal(t975(1), 12.706);
    assert.equal(t975(4), 2.776);
    assert.ok(Math.abs(t975(60) - 2.0003) < 1e-3);
    assert.ok(Math.abs(t975(120) - 1.9799) < 1e-3);
  });

  it("a 95% interval across replications is Student's t on their mean", () => {
    const i = tInterval([1, 2, 3, 4, 5])!;
    assert.equal(i.mean, 3);
    const half = (2.776 * Math.sqrt(2.5)) / Math.sqrt(5);
    assert.ok(Math.abs(i.high - (3 + half)) < 1e-9);
    assert.ok(Math.abs(i.low - (3 - half)) < 1e-9);
    assert.equal(tInterval([4]), null);
    assert.equal(tInterval([0, 0.01, 0.02], 0, 1)!.low, 0, "clamped to the range of a share");
  });

  it("the paired interval of a difference cancels what the pairs share", () => {
    const a = [10, 20, 30, 40];
    const b = a.map((v) => v + 1);
    const d = pairedInterval(a, b)!;
    assert.equal(d.mean, -1);
    assert.equal(d.low, -1);
    assert.equal(d.high, -1);
  });
});

describe("compare: the bootstrap over seeds", () => {
  it("every resample of k seeds is enumerated once, with probabilities summing to 1", () => {
    const m = seedMultisets(5);
    assert.equal(m.length, 126);
    assert.ok(Math.abs(m.reduce((a, x) => a + x.p, 0) - 1) < 1e-12);
    assert.deepEqual(seedMultisets(2).map((x) => [x.m, x.p]), [[[2, 0], 0.25], [[1, 1], 0.5], [[0, 2], 0.25]]);
  });

  it("the p99 interval of a bimodal pool holds the pooled p99 and spans the seeds' steps, not a mean between them", () => {
    // Three seeds whose p99 is on the fast body, two on the 5 s step.
    const fast = Float64Array.from({ length: 100 }, (_, i) => 1 + i / 100);
    const slow = Float64Array.from({ length: 100 }, (_, i) => (i < 97 ? 1 + i / 100 : 5000));
    const reps = [fast, slow, fast, slow, fast];
    const pooled = Float64Array.from(reps.flatMap((r) => [...r])).sort();
    const ci = bootstrapQuantile(reps, pooled, 0.99, () => 0.5)!;
    assert.ok(ci.low < 2 && ci.high === 5000, `${ci.low} ${ci.high}`);
    assert.equal(bootstrapQuantile([fast], fast, 0.99, () => 0.5), null, "one seed: no interval");
  });
});

describe("compare: variants", () => {
  it("a change merges objects, replaces arrays and scalars, and removes a field given null", () => {
    assert.deepEqual(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: null, e: 2 }), { a: { b: 1, c: [3] }, e: 2 });
  });

  it("resolv_options: an options line after the pod's own, or merged by name into dns_config.options", () => {
    const base = { pods: [{ resolv_conf: "nameserver 10.96.0.10\noptions ndots:5" }, { dns_policy: "ClusterFirst", dns_config: { options: [{ name: "ndots", value: "5" }] } }] };
    const out = applyChange(base, { resolv_options: ["ndots:2", "single-request-reopen"] }) as { pods: Record<string, unknown>[] };
    assert.equal(out.pods[0]!.resolv_conf, "nameserver 10.96.0.10\noptions ndots:5\noptions ndots:2 single-request-reopen\n");
    assert.deepEqual((out.pods[1]!.dns_config as { options: unknown }).options, [{ name: "ndots", value: "2" }, { name: "single-request-reopen" }]);
  });

  it("resolv_options on a pod that spells it dnsConfig (as a pod spec does): merged into dnsConfig.options, no dns_config added", () => {
    const base = { pods: [{ dnsPolicy: "ClusterFirst", dnsConfig: { searches: ["extra.local"], options: [{ name: "ndots", value: "5" }] } }] };
    const out = applyChange(base, { resolv_options: ["ndots:2", "single-request-reopen"] }) as { pods: Record<string, unknown>[] };
    assert.deepEqual(out.pods[0], { dnsPolicy: "ClusterFirst", dnsConfig: { searches: ["extra.local"], options: [{ name: "ndots", value: "2" }, { name: "single-request-reopen" }] } });
  });

  it("common random numbers: every variant sees the same lookups arrive at the same times", () => {
    const c = loadComparison(tmpFile("small.yaml", SMALL));
    const arrivals = c.variants.map((v) => {
      const log = runScenario(v.loaded).log;
      const rows: string[] = [];
      for (let i = 0; i < log.length; i++) if (log.has(i)) rows.push(`${log.startNs(i)} ${log.name(i)}`);
      return rows.sort().join("\n");
    });
    assert.ok(arrivals[0]!.length > 0);
    assert.equal(arrivals[1], arrivals[0]);
    assert.equal(arrivals[2], arrivals[0]);
  });

  it("a variant's figures come from its change: 5.10 resolves the clashes 5.4 drops; the paired difference excludes 0", () => {
    const c = loadComparison(tmpFile("small.yaml", SMALL));
    const r = runComparison(c, 3);
    const [base, k510, reopen] = r.results;
    assert.ok(base!.pooled.drop > 0 && base!.pooled.share_over_1s > 0.02, `base drops ${base!.pooled.drop}`);
    assert.equal(k510!.pooled.drop, 0);
    assert.ok(k510!.pooled.clash_resolve > 0);
    assert.equal(k510!.pooled.share_over_1s, 0);
    assert.equal(reopen!.pooled.clashes, 0);
    assert.ok(k510!.diff!.high < 0, "the paired interval lies below 0");
    assert.equal(base!.diff, null, "the first variant is its own reference");
    assert.ok(base!.pooled.share_over_1s_ci!.low <= base!.pooled.share_over_1s && base!.pooled.share_over_1s <= base!.pooled.share_over_1s_ci!.high);
  });

  it("a variant that finishes no lookup is ranked last and judged as such, with empty figures", () => {
    const text = SMALL.replace("    resolv_options: [single-request-reopen]", "    pods: { rate_per_s: 0.0001, duration_s: 1 }");
    const c = loadComparison(tmpFile("none.yaml", text));
    const r = runComparison(c, 2);
    assert.equal(r.results[2]!.pooled.lookups, 0);
    const report = compareReport(r, { cdf: "c.svg", tail: "t.svg", slow: "s.svg" });
    assert.match(report, /\| 3 \| reopen \|/);
    assert.match(report, /### reopen[\s\S]*No lookups finished/);
  });

  it("a variant cannot change the seed (common random numbers), nor a sweep sweep it", () => {
    const f = tmpFile("seed.yaml", SMALL.replace('    set: { kernel: "5.10" }', "    set: { seed: 9 }"));
    assert.throws(() => loadComparison(f), (e: Error) => /field "variants\[1\]\.set\.seed": every variant runs on the same seeds/.test(e.message));
    const g = tmpFile("sweep.yaml", SMALL.replace(/^variants:[\s\S]*$/m, "grid:\n  seed: [1, 2]\n"));
    assert.throws(() => loadSweep(g), (e: Error) => /grid parameter "seed": every grid point runs on the same seeds/.test(e.message));
  });

  it("a misspelt field is named as unknown, before the fields it leaves missing", () => {
    const f = tmpFile("typo.yaml", SMALL.replace("variants:", "variantz:"));
    assert.throws(() => loadComparison(f), (e: Error) => /unknown field "variantz" in the top level of the comparison file/.test(e.message));
  });

  it("options added by a variant that the resolver refuses: the error points at the variant's resolv_options", () => {
    const text = SMALL.replace("    resolv_options: [single-request-reopen]", "    resolv_options: [ndots:x]");
    const line = text.split("\n").findIndex((l) => l.includes("ndots:x")) + 1;
    assert.throws(() => loadComparison(tmpFile("opt.yaml", text)), (e: Error) => e.message.includes(`variant "reopen": line ${line}: field "pods[0].resolv_conf", resolv.conf line 4`));
  });

  it("a bad variant: the error names the file, the variant, the line and the field", () => {
    const lineOf = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1;
    const badText = SMALL.replace("    set: { kernel: \"5.10\" }", "    pods: { libc: glibcc }");
    const f = tmpFile("bad.yaml", badText);
    assert.throws(() => loadComparison(f), (e: Error) => new RegExp(`bad\\.yaml: variant "kernel-5\\.10": line ${lineOf(badText, "glibcc")}: field`).test(e.message) && /field "pods\[0\]\.libc": expected one of glibc, musl, go/.test(e.message));
    const bad2 = SMALL.replace("changes: a 5.10 node", "changes: a 5.10 node\n    colour: red");
    const g = tmpFile("bad2.yaml", bad2);
    assert.throws(() => loadComparison(g), (e: Error) => e.message.includes(`bad2.yaml: line ${lineOf(bad2, "colour")}: unknown field "colour"`));
    const h = tmpFile("bad3.yaml", SMALL.replace("    changes: nothing", "    changes: nothing\n    against: nobody"));
    assert.throws(() => loadComparison(h), (e: Error) => /"nobody" is not a variant of this file/.test(e.message));
  });
});

describe("cli: dnsrace compare", () => {
  it("writes compare.csv with interval columns, compare.runs.csv, report.md and three SVG plots with drawn lines", () => {
    const out = mkdtempSync(join(tmpdir(), "dnsrace-cmp-out-"));
    const r = cli(["compare", tmpFile("small.yaml", SMALL), "--out", out, "--seeds", "2"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, `wrote 6 files to ${out}/\n`, "status on stderr");
    assert.doesNotMatch(r.stdout, /wrote/, "stdout: the table alone");
    assert.match(r.stdout, /^#  variant/);
    assert.deepEqual(readdirSync(out).sort(), ["cdf.svg", "compare.csv", "compare.runs.csv", "report.md", "slow.svg", "tail.svg"]);
    const csv = readFileSync(join(out, "compare.csv"), "utf8").trim().split("\n");
    assert.equal(csv.length, 4);
    assert.ok(csv.slice(1).every((row) => /,"\d+\.\d+\.\d+",2,\d+,/.test(row)), "the kernel quoted in its release form (text: 5.10.0 is not 5.1), replications and lookups bare");
    for (const col of ["variant", "p50_ms", "p99_ms", "p99_ci_low_ms", "p99_ci_high_ms", "p999_ms", "max_ms", "share_over_1s", "share_over_1s_ci_low", "share_over_1s_ci_high", "share_ge_5s", "clashes", "insert_failed", "drop", "clash_resolve"]) {
      assert.ok(csv[0]!.split(",").includes(col), col);
    }
    assert.equal(readFileSync(join(out, "compare.runs.csv"), "utf8").trim().split("\n").length, 1 + 3 * 2);
    const report = readFileSync(join(out, "report.md"), "utf8");
    assert.match(report, /## Decision\n\n- \*\*glibc pods\*\*: deploy \*\*/);
    assert.match(report, /### reopen[\s\S]*Fixes the slow lookups/);
    for (const f of ["cdf.svg", "tail.svg", "slow.svg"]) {
      const svg = readFileSync(join(out, f), "utf8");
      assert.ok(wellFormed(svg), `${f} is well-formed`);
      assert.match(svg, /<text [^>]*>[^<]+<\/text>/, `${f} has a title`);
    }
    for (const f of ["cdf.svg", "tail.svg"]) {
      const paths = [...readFileSync(join(out, f), "utf8").matchAll(/class="series" d="M([^"]+)"/g)];
      assert.equal(paths.length, 3, `${f}: one line per variant`);
      for (const p of paths) assert.ok(p[1]!.split("L").length > 10, `${f}: a drawn line`);
    }
    assert.equal([...readFileSync(join(out, "slow.svg"), "utf8").matchAll(/class="interval"/g)].length, 3);
  });

  it("--json prints one object, {compare, compare_runs}: the rows of compare.csv and compare.runs.csv, typed", () => {
    const out = mkdtempSync(join(tmpdir(), "dnsrace-cmp-json-"));
    const r = cli(["compare", tmpFile("small.yaml", SMALL), "--out", out, "--seeds", "2", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split("\n").length, 2, "one line, the object");
    const j = JSON.parse(r.stdout) as { compare: Record<string, unknown>[]; compare_runs: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(j), ["compare", "compare_runs"]);
    assertRowsOfCsv(j.compare, readFileSync(join(out, "compare.csv"), "utf8"), ["variant", "changes", "against", "kernel"]);
    assertRowsOfCsv(j.compare_runs, readFileSync(join(out, "compare.runs.csv"), "utf8"), ["variant"]);
    assert.ok(j.compare.every((v) => typeof v.kernel === "string" && v.replications === 2));
    assert.equal(r.stderr, `wrote 6 files to ${out}/\n`, "the status on stderr");
  });

  it("is deterministic: the same file and seeds give the same bytes", () => {
    const f = tmpFile("small.yaml", SMALL);
    const [a, b] = [mkdtempSync(join(tmpdir(), "dnsrace-a-")), mkdtempSync(join(tmpdir(), "dnsrace-b-"))];
    assert.equal(cli(["compare", f, "--out", a, "--seeds", "2", "--quiet"]).status, 0);
    assert.equal(cli(["compare", f, "--out", b, "--seeds", "2", "--quiet"]).status, 0);
    for (const name of readdirSync(a)) assert.equal(readFileSync(join(a, name), "utf8"), readFileSync(join(b, name), "utf8"), name);
  });

  it("bad flags and files: exit 2, one message, no output", () => {
    const out = join(mkdtempSync(join(tmpdir(), "dnsrace-cmp-bad-")), "out");
    const r = cli(["compare", tmpFile("small.yaml", SMALL), "--seeds", "0", "--out", out]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--seeds: expected a whole number of replications from 1 to 1000, found "0"/);
    const s = cli(["compare", scenarioPath("glibc.yaml"), "--out", out]);
    assert.equal(s.status, 2);
    assert.match(s.stderr, /glibc\.yaml: this is a scenario file, not a comparison file; run it with dnsrace run/);
    const t = cli(["compare", tmpFile("small.yaml", SMALL), "--seeds", "abc", "--out", out]);
    assert.match(t.stderr, /--seeds: expected a whole number of replications from 1 to 1000, found "abc"/);
    assert.throws(() => readdirSync(out));
  });

  it("run skips comparison files in a folder and refuses one named on its own", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-mixed-"));
    writeFileSync(join(dir, "a-small.yaml"), SMALL);
    writeFileSync(join(dir, "repro.yaml"), readFileSync(scenarioPath("repro-glibc-5s.yaml"), "utf8"));
    const ok = cli(["run", dir, "--out", join(dir, "out")]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /skipped .*a-small\.yaml \(a comparison file: dnsrace compare/);
    assert.deepEqual(readdirSync(join(dir, "out")).sort(), ["repro.lookups.csv", "summary.csv"]);
    const r = cli(["run", join(ROOT, "scenarios/mitigations.yaml")]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /mitigations\.yaml: this is a comparison file .* run it with dnsrace compare/);
  });
});

describe("sweep: grid", () => {
  it("every grid point is the base with the point's values; pods.X sets X in every pod", () => {
    const f = tmpFile(
      "sweep.yaml",
      SMALL.replace(/^name: small$/m, "name: sweep")
        .replace(/^variants:[\s\S]*$/m, "grid:\n  kube_dns.endpoints: [1, 3]\n  pods.libc: [glibc, musl]\n"),
    );
    const s = loadSweep(f);
    assert.deepEqual(s.params, ["kube_dns.endpoints", "pods.libc"]);
    assert.deepEqual(
      s.points.map((p) => p.values),
      [
        [1, "glibc"],
        [1, "musl"],
        [3, "glibc"],
        [3, "musl"],
      ],
    );
    assert.equal(s.points[3]!.loaded.scenario.kube_dns.endpoints, 3);
    assert.equal(s.points[3]!.loaded.scenario.pods[0]!.libc, "musl");
  });
});

describe("cli: dnsrace sweep", () => {
  it("writes a tidy sweep.csv (a row per grid point and seed, a column per parameter) and a plot with a line per other value", () => {
    const f = tmpFile("sweep.yaml", SMALL.replace(/^name: small$/m, "name: sweep").replace(/^variants:[\s\S]*$/m, "grid:\n  kernel: [\"5.4\", \"5.10\"]\n  kube_dns.endpoints: [1, 2]\nx: kube_dns.endpoints\n"));
    const out = mkdtempSync(join(tmpdir(), "dnsrace-sweep-"));
    const r = cli(["sweep", f, "--out", out, "--seeds", "2"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, `4 grid points x 2 seeds: 8 runs\nwrote 2 files to ${out}/\n`, "status on stderr");
    assert.equal(r.stdout, "", "sweep prints no table");
    const rows = readFileSync(join(out, "sweep.csv"), "utf8").trim().split("\n");
    assert.ok(rows[0]!.startsWith("kernel,kube_dns_endpoints,seed,lookups,"), "headers are identifiers: kube_dns.endpoints is kube_dns_endpoints");
    assert.equal(rows.length, 1 + 2 * 2 * 2);
    const cols = rows[0]!.split(",");
    const get = (row: string, c: string) => row.split(",")[cols.indexOf(c)]!;
    const drops = (k: string, n: string) => rows.slice(1).filter((x) => get(x, "kernel") === `"${k}.0"` && get(x, "kube_dns_endpoints") === n).map((x) => Number(get(x, "drop")));
    assert.ok(rows.slice(1).every((x) => /^"5\.(4|10)\.0",\d,/.test(x)), "the kernel, text in the grid, is quoted in its release form; the endpoints, numbers, are not");
    assert.deepEqual(drops("5.4", "1"), [0, 0], "one endpoint: no race 3, and 5.4 merges the rest");
    assert.ok(drops("5.4", "2").every((d) => d > 0), "two endpoints: race 3 drops on 5.4");
    assert.deepEqual(drops("5.10", "2"), [0, 0], "5.10 keeps race 3's loser");
    const svg = readFileSync(join(out, "sweep.svg"), "utf8");
    assert.ok(wellFormed(svg));
    assert.equal([...svg.matchAll(/class="series"/g)].length, 2, "a line per kernel");
  });

  it("--json prints one object, {sweep: the rows of sweep.csv, typed}: the kernel given as text a string, the endpoints numbers", () => {
    const f = tmpFile("sweep.yaml", SMALL.replace(/^name: small$/m, "name: sweep").replace(/^variants:[\s\S]*$/m, "grid:\n  kernel: [\"5.4\", \"5.10\"]\n  kube_dns.endpoints: [1, 2]\nx: kube_dns.endpoints\n"));
    const out = mkdtempSync(join(tmpdir(), "dnsrace-sweep-json-"));
    const r = cli(["sweep", f, "--out", out, "--seeds", "1", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { sweep: Record<string, unknown>[] };
    assertRowsOfCsv(j.sweep, readFileSync(join(out, "sweep.csv"), "utf8"), ["kernel"]);
    assert.deepEqual(j.sweep.map((x) => [x.kernel, x.kube_dns_endpoints]), [["5.4.0", 1], ["5.4.0", 2], ["5.10.0", 1], ["5.10.0", 2]]);
  });

  it("a bad grid parameter: exit 2 naming the grid point and the line", () => {
    const text = SMALL.replace(/^variants:[\s\S]*$/m, "grid:\n  node.rx: [inline, gro-sideways]\n");
    const r = cli(["sweep", tmpFile("bad.yaml", text), "--out", join(tmpdir(), "never")]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.yaml: grid point node\.rx=gro-sideways: line \d+: field "node\.rx": expected one of/);
  });
});
