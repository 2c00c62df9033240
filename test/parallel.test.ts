import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Progress, clock } from "../src/cli/progress.js";
import { OutputError, OutputSet } from "../src/cli/output.js";
import { parseJobs, runTasks } from "../src/cli/parallel.js";
import { runTask, taskFailure } from "../src/cli/tasks.js";
import { LookupLog } from "../src/model/log.js";
import { lookupsCsv } from "../src/report/csv.js";
import { LookupsCsvStream } from "../src/report/lookups.js";
import { InputError, loadScenarioFile, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { summarize } from "../src/stats/summary.js";
import { ROOT, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });

const BASE = `  seed: 3
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
      duration_s: 4
      names: [redis, api.example.com]
      resolv_conf: |
        search shop.svc.cluster.local svc.cluster.local cluster.local
        nameserver 10.96.0.10
        options ndots:5
`;
const COMPARISON = `name: small
description: A small comparison.
seeds: 3
base:
  name: small-base
  description: busy node
${BASE}variants:
  - name: glibc
    changes: nothing
  - name: kernel-5.10
    changes: a 5.10 node
    set: { kernel: "5.10" }
  - name: reopen
    changes: single-request-reopen
    resolv_options: [single-request-reopen]
`;
const SWEEP = `name: small-sweep
description: A small sweep.
seeds: 2
x: kube_dns.endpoints
grid:
  kernel: ["5.4", "5.10"]
  kube_dns.endpoints: [1, 3]
base:
  name: small-base
  description: busy node
${BASE}`;

function dir(): string {
  return mkdtempSync(join(tmpdir(), "dnsrace-jobs-"));
}

/** Every file of a folder, by name, as bytes. */
function contents(d: string): Record<string, string> {
  return Object.fromEntries(readdirSync(d).sort().map((f) => [f, readFileSync(join(d, f), "latin1")]));
}

describe("parallel: --jobs gives the same bytes", () => {
  it("compare with --jobs 1 and --jobs 2 writes byte-identical files and prints the same table", () => {
    const d = dir();
    writeFileSync(join(d, "small.yaml"), COMPARISON);
    const one = cli(["compare", join(d, "small.yaml"), "--out", join(d, "one"), "--jobs", "1"]);
    const two = cli(["compare", join(d, "small.yaml"), "--out", join(d, "two"), "--jobs", "2"]);
    assert.equal(one.status, 0, one.stderr);
    assert.equal(two.status, 0, two.stderr);
    assert.deepEqual(contents(join(d, "two")), contents(join(d, "one")));
    assert.deepEqual(Object.keys(contents(join(d, "one"))), ["cdf.svg", "compare.csv", "compare.runs.csv", "report.md", "slow.svg", "tail.svg"]);
    assert.equal(two.stdout, one.stdout);
  });

  it("sweep with --jobs 1 and --jobs 3 writes byte-identical files", () => {
    const d = dir();
    writeFileSync(join(d, "sweep.yaml"), SWEEP);
    const one = cli(["sweep", join(d, "sweep.yaml"), "--out", join(d, "one"), "--jobs", "1", "--json"]);
    const three = cli(["sweep", join(d, "sweep.yaml"), "--out", join(d, "three"), "--jobs", "3", "--json"]);
    assert.equal(one.status, 0, one.stderr);
    assert.equal(three.status, 0, three.stderr);
    assert.deepEqual(contents(join(d, "three")), contents(join(d, "one")));
    assert.equal(three.stdout, one.stdout);
    assert.equal(readFileSync(join(d, "one", "sweep.csv"), "utf8").trim().split("\n").length, 1 + 4 * 2);
  });

  it("run over several files with --jobs 1 and --jobs 2: the same lookups CSVs and summary, in file order", () => {
    const d = dir();
    const files = ["repro-glibc-5s.yaml", "repro-musl-2500ms.yaml", "glibc.yaml"].map(scenarioPath);
    const one = cli(["run", ...files, "--out", join(d, "one"), "--jobs", "1", "--quiet"]);
    const two = cli(["run", ...files, "--out", join(d, "two"), "--jobs", "2", "--quiet"]);
    assert.equal(one.status, 0, one.stderr);
    assert.equal(two.status, 0, two.stderr);
    assert.deepEqual(contents(join(d, "two")), contents(join(d, "one")));
    assert.equal(readFileSync(join(d, "one", "glibc.lookups.csv"), "utf8"), readFileSync(join(ROOT, "results", "glibc.lookups.csv"), "utf8"));
  });

  it("--jobs that is not a whole number from 1 to 1024 is refused (exit 2, naming the flag)", () => {
    for (const bad of ["0", "1.5", "x", "", "2000"]) assert.throws(() => parseJobs(bad), (e: unknown) => e instanceof InputError && /^--jobs: expected a whole number/.test(e.message), bad);
    assert.equal(parseJobs("3"), 3);
    assert.ok(parseJobs(undefined) >= 1);
    const r = cli(["compare", scenarioPath("mitigations.yaml"), "--jobs", "0", "--out", join(dir(), "o")]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^dnsrace: --jobs: expected a whole number of worker threads from 1 to 1024, found "0"\.\n$/);
  });

  it("SIGINT while the workers simulate: exit 130, no --out, no temporaries", async () => {
    const d = dir();
    writeFileSync(join(d, "long.yaml"), readFileSync(scenarioPath("glibc.yaml"), "utf8").replace("lookups: 3000", "lookups: 2000000"));
    const child = spawn(process.execPath, [join(ROOT, "bin/dnsrace"), "run", join(d, "long.yaml"), "--out", join(d, "out"), "--quiet", "--jobs", "2"], { stdio: "ignore" });
    // Once the temporary folder exists, the workers are streaming into it.
    while (!readdirSync(d).some((f) => f.endsWith(".tmp"))) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGINT");
    const [status, signal] = await new Promise<[number | null, string | null]>((r) => child.on("exit", (c, s) => r([c, s])));
    assert.equal(status, 130, `${status} ${signal}`);
    assert.deepEqual(readdirSync(d), ["long.yaml"]);
    assert.equal(existsSync(join(d, "out")), false);
  });
});

describe("parallel: a worker's failure", () => {
  it("a full disk while a worker streams its lookups CSV is an OutputError naming the file and ENOSPC", function () {
    // Linux's /dev/full refuses every write with ENOSPC.
    if (!existsSync("/dev/full")) this.skip();
    const task = { kind: "scenario" as const, loaded: loadScenarioFile(scenarioPath("repro-glibc-5s.yaml")), lookupsFile: "/dev/full" };
    let failure;
    try {
      runTask(task);
    } catch (e) {
      failure = taskFailure(e);
    }
    assert.deepEqual(failure && { name: failure.name, code: failure.code, file: failure.file }, { name: "OutputError", code: "ENOSPC", file: "/dev/full" });
  });

  it("the pool passes it on: the set is removed and the OutputError names the file (exit 1)", async function () {
    if (!existsSync("/dev/full")) this.skip();
    const d = dir();
    const set = OutputSet.open(join(d, "out"));
    const task = { kind: "scenario" as const, loaded: loadScenarioFile(scenarioPath("repro-glibc-5s.yaml")), lookupsFile: "/dev/full" };
    await assert.rejects(
      runTasks([task], 1, new Progress(process.stderr, true), set),
      (e: unknown) => e instanceof OutputError && /^--out .*out: cannot write .*out\/full \(ENOSPC: no space left on the device\); nothing was written/.test(e.message),
    );
    assert.deepEqual(readdirSync(d), []);
  });
});

describe("memory: lookups leave as they finish", () => {
  it("a log with a sink hands every lookup over in lookup order, the same rows as a log that keeps them all", () => {
    const loaded = loadScenarioFile(scenarioPath("repro-glibc-5s.yaml"));
    const kept = runScenario(loaded);
    let text = "";
    const csv = new LookupsCsvStream(kept.name, kept.seed, (t) => (text += t));
    const order: number[] = [];
    const streamed = runScenario(loaded, {
      sink: (log, i) => {
        order.push(i);
        csv.row(log, i);
      },
    });
    csv.end();
    assert.equal(text, lookupsCsv(kept));
    assert.deepEqual(order, Array.from({ length: kept.log.count }, (_, i) => i));
    assert.deepEqual(summarize(streamed), summarize(kept));
  });

  it("a log with a sink holds only the lookups in flight: a lookup begun long ago that has not finished holds back the ones after it, no more", () => {
    const seen: number[] = [];
    const log = new LookupLog({ sink: (_l, i) => seen.push(i) });
    const tally = { queriesSent: 2, queriesLost: 0, retransmits: 0, clashes: 0, pairs: 1, pairsClashed: 0 };
    const ok = { status: "OK" as const, v4: true, v6: false };
    // Lookup 1 runs while 2..200 finish: they wait for it, then leave with it, in order.
    for (let n = 2; n <= 200; n++) log.put(n, "app", 1, "redis", n, n + 10, ok, tally);
    assert.deepEqual(seen, []);
    assert.equal(log.has(150), true);
    log.put(1, "app", 0, "redis", 0, 5_000_000_000, ok, tally);
    assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => i));
    assert.equal(log.has(150), false, "released rows are not kept");
    log.finish();
    const f = log.figures();
    assert.equal(f.n, 200);
    assert.equal(f.okV4, 200);
    assert.equal(log.sortedLatencies()[199], 5000);
    assert.throws(() => log.put(3, "app", 1, "redis", 0, 1, ok, tally), /released/);
  });

  it("the latencies of a run with a sink are exact: the same quantiles as from every row (R-7)", () => {
    const text = readFileSync(scenarioPath("musl.yaml"), "utf8");
    const loaded = loadScenarioText(text, "musl.yaml");
    const a = summarize(runScenario(loaded, { sink: () => {} }));
    const b = summarize(runScenario(loaded));
    assert.deepEqual(a, b);
  });
});

describe("progress: elapsed and left", () => {
  it("times read m:ss, and h:mm:ss past an hour", () => {
    assert.equal(clock(0), "0:00");
    assert.equal(clock(61.4), "1:01");
    assert.equal(clock(3725), "1:02:05");
  });

  it("one bar on a terminal, with elapsed time and the time left; nothing when stderr is not a terminal, under CI or when quiet", () => {
    let t = 0;
    const written: string[] = [];
    const tty = { isTTY: true, columns: 120, write: (s: string) => written.push(s) > 0 };
    const p = new Progress(tty, false, () => t, {});
    p.begin("mitigations: 16 variants x 5 seeds");
    t = 500;
    p.update(0.1);
    assert.deepEqual(written, [], "nothing in the first second");
    t = 10_000;
    p.update(0.25);
    assert.equal(written.length, 1);
    assert.match(written[0]!, /^\rmitigations: 16 variants x 5 seeds \[#{8} {22}\]  25%  0:10 elapsed, 0:30 left$/);
    p.end();
    assert.match(written[1]!, /^\r +\r$/);
    for (const [out, quiet, env] of [[{ ...tty, isTTY: false }, false, {}], [tty, false, { CI: "true" }], [tty, true, {}]] as const) {
      const seen: string[] = [];
      const q = new Progress({ ...out, write: (s: string) => seen.push(s) > 0 }, quiet, () => t, env);
      q.begin("x");
      t += 5000;
      q.update(0.5);
      q.end();
      assert.deepEqual(seen, []);
    }
  });
});
