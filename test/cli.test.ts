import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, assertRowsOfCsv, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });

describe("cli: dnsrace run", () => {
  it("writes <scenario>.lookups.csv and summary.csv with the documented columns", () => {
    const out = mkdtempSync(join(tmpdir(), "dnsrace-"));
    const r = cli(["run", scenarioPath("repro-musl-2500ms.yaml"), scenarioPath("repro-glibc-5s.yaml"), "--out", out]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ["repro-glibc-5s.lookups.csv", "repro-musl-2500ms.lookups.csv", "summary.csv"]);
    const summary = readFileSync(join(out, "summary.csv"), "utf8").split("\n");
    const header = summary[0]!;
    assert.match(summary[1]!, /^repro-musl-2500ms,\d+,"5\.4\.0",\d+,/, "the kernel quoted, in its release form (text to pandas and R), the numbers bare");
    for (const col of ["scenario", "seed", "lookups", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms", "share_over_1s", "share_ge_5s", "clashes", "insert_failed", "drop", "clash_resolve"]) {
      assert.ok(header.split(",").includes(col), col);
    }
    const lookups = readFileSync(join(out, "repro-glibc-5s.lookups.csv"), "utf8").split("\n");
    assert.equal(lookups[0], "scenario,seed,lookup,pod,thread,name,start_ms,latency_ms,outcome,queries_sent,queries_lost,retransmits,clashes");
    assert.match(r.stdout, /repro-glibc-5s/);
  });

  it("status lines go to stderr, the table alone to stdout", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-"));
    writeFileSync(join(dir, "repro.yaml"), readFileSync(scenarioPath("repro-glibc-5s.yaml"), "utf8"));
    writeFileSync(join(dir, "other.yaml"), readFileSync(scenarioPath("mitigations.yaml"), "utf8"));
    const out = join(dir, "out");
    const r = cli(["run", dir, "--out", out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, `wrote 2 files to ${out}/\nskipped ${join(dir, "other.yaml")} (a comparison file: dnsrace compare ${join(dir, "other.yaml")})\n`);
    assert.match(r.stdout, /^scenario +lookups +p50 ms/);
    assert.doesNotMatch(r.stdout, /wrote|skipped/);
  });

  it("a bad scenario: exit 2, one message naming the file and field, no stack trace, no output file", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-"));
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, readFileSync(scenarioPath("glibc.yaml"), "utf8").replace("libc: glibc", "libc: glibcc"));
    const out = join(dir, "out");
    const r = cli(["run", scenarioPath("repro-glibc-5s.yaml"), bad, "--out", out]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.yaml: line \d+: field "pods\[0\]\.libc": expected one of glibc, musl/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.deepEqual(readdirSync(dir), ["bad.yaml"]);
  });

  it("a bad flag or value: exit 2 with a usage hint", () => {
    const r1 = cli(["run", scenarioPath("repro-glibc-5s.yaml"), "--sed", "3"]);
    assert.equal(r1.status, 2);
    assert.match(r1.stderr, /unknown option --sed; "dnsrace run --help" lists its options/);
    const r2 = cli(["run", scenarioPath("repro-glibc-5s.yaml"), "--seed", "-1"]);
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /--seed: expected a whole number/);
    const r3 = cli(["run", "no/such/file.yaml"]);
    assert.equal(r3.status, 2);
    assert.match(r3.stderr, /no such file or folder/);
  });

  it("--conntrack-stats prints the node's counters per CPU as conntrack -S does, in the kernel's vocabulary", () => {
    const out = mkdtempSync(join(tmpdir(), "dnsrace-"));
    const r = cli(["run", scenarioPath("repro-glibc-5s.yaml"), "--out", out, "--conntrack-stats"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /repro-glibc-5s \(kernel 5\.4\), client node: conntrack -S\ncpu=0 found=0 invalid=0 ignore=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0\ncpu=1 found=0 invalid=0 ignore=0 insert=0 insert_failed=1 drop=1 early_drop=0 error=0 search_restart=0\n/);
    assert.doesNotMatch(r.stdout, /clash_resolve=/); // the counter exists only from 5.10
  });

  it("--seed overrides the scenario's seed and is written in the output", () => {
    const out = mkdtempSync(join(tmpdir(), "dnsrace-"));
    const r = cli(["run", scenarioPath("repro-glibc-5s.yaml"), "--out", out, "--seed", "11", "--quiet"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(readFileSync(join(out, "summary.csv"), "utf8"), /\nrepro-glibc-5s,11,/);
  });

  it("--json prints one object, {summary: the rows of summary.csv, typed}, and nothing else on stdout; the files are still written", () => {
    const out = mkdtempSync(join(tmpdir(), "dnsrace-"));
    const r = cli(["run", scenarioPath("repro-glibc-5s.yaml"), scenarioPath("tutorial/05-kernel-5.10.yaml"), "--out", out, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split("\n").length, 2, "one line, the object");
    const j = JSON.parse(r.stdout) as { summary: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(j), ["summary"]);
    assertRowsOfCsv(j.summary, readFileSync(join(out, "summary.csv"), "utf8"), ["scenario", "kernel"]);
    assert.deepEqual(j.summary.map((s) => s.kernel), ["5.4.0", "5.10.0"], "the kernel as text, in its release form");
    assert.equal(j.summary[1]!.lookups, 1000);
    assert.equal(j.summary[1]!.overlap_low, null);
    assert.equal(r.stderr, `wrote 3 files to ${out}/\n`);
  });

  it("--json with --conntrack-stats or --proc-stat: exit 2 before anything runs", () => {
    const out = join(mkdtempSync(join(tmpdir(), "dnsrace-")), "out");
    const r = cli(["run", scenarioPath("repro-glibc-5s.yaml"), "--out", out, "--json", "--conntrack-stats"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--json: prints the summary rows only; --conntrack-stats prints text/);
    assert.throws(() => readdirSync(out));
  });
});

describe("cli: where output goes", () => {
  it("run without --out writes into dnsrace-results/ of the working folder, never the committed results/", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-cwd-"));
    const r = spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), "run", join(ROOT, "scenarios/repro-glibc-5s.yaml")], { encoding: "utf8", cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(dir, "dnsrace-results", "summary.csv")));
    assert.ok(!existsSync(join(dir, "results")));
    assert.match(r.stderr, /wrote 2 files to dnsrace-results\//);
  });
});
