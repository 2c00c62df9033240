import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseShard, shardRange } from "../src/cli/shard.js";
import { InputError } from "../src/scenario/load.js";
import { ROOT } from "./helpers.js";

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8", env: { ...process.env, ...env } });

const SWEEP = `name: shard-sweep
description: A small sweep for shards.
seeds: 2
x: kube_dns.endpoints
grid:
  kernel: ["5.4", "5.10"]
  kube_dns.endpoints: [1, 2, 3]
base:
  name: shard-base
  description: busy node
  seed: 5
  kernel: "5.4"
  node: { cpus: 4, rx: inline, migration_probability: 0.19 }
  kube_dns:
    endpoints: 2
    records: [redis.shop.svc.cluster.local]
  pods:
    - name: app
      libc: glibc
      threads: 50
      lookups_per_process: 1
      rate_per_s: 50
      duration_s: 2
      names: [redis]
      resolv_conf: |
        search shop.svc.cluster.local svc.cluster.local cluster.local
        nameserver 10.96.0.10
        options ndots:5
`;

/** A comparison whose base's overlap is calibrated: its reference variant runs at both ends too, so the shards cut across those replications. */
const COMPARISON = `name: shard-compare
description: A small comparison for shards.
seeds: 3
base:
  name: base
  description: busy node
  seed: 21
  kernel: "5.4"
  node: { cpus: 4, rx: inline, migration_probability: { estimate: 0.02, low: 0.005, high: 0.08 } }
  kube_dns: { endpoints: 2, records: [redis.shop.svc.cluster.local] }
  pods:
    - { name: app, libc: glibc, threads: 2, lookups_per_process: 1, lookups: 600, names: [{ name: redis.shop.svc.cluster.local., weight: 1 }], resolv_conf: "nameserver 10.96.0.10\\n" }
variants:
  - { name: glibc, changes: nothing }
  - { name: single-request, changes: options single-request, resolv_options: [single-request] }
`;

function files(d: string): Record<string, string> {
  return Object.fromEntries(readdirSync(d).sort().map((f) => [f, readFileSync(join(d, f), "latin1")]));
}

describe("shards: a sweep split over processes, merged byte for byte", () => {
  it("N shard processes started with JOB_COMPLETION_INDEX=0..N-1, merged, equal the single run byte for byte", () => {
    const d = mkdtempSync(join(tmpdir(), "dnsrace-shard-"));
    const file = join(d, "sweep.yaml");
    writeFileSync(file, SWEEP);
    const whole = cli(["sweep", file, "--out", join(d, "whole"), "--jobs", "1", "--json"]);
    assert.equal(whole.status, 0, whole.stderr);
    // 12 runs over 5 shards: slices of 2 and 3 runs.
    for (let i = 0; i < 5; i++) {
      const r = cli(["sweep", file, "--shard", "5", "--out", join(d, `shard-${i}`), "--jobs", "1"], { JOB_COMPLETION_INDEX: String(i) });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readdirSync(join(d, `shard-${i}`)), ["shard.json"]);
    }
    const merged = cli(["merge", ...[3, 1, 4, 0, 2].map((i) => join(d, `shard-${i}`)), "--out", join(d, "merged"), "--json"]);
    assert.equal(merged.status, 0, merged.stderr);
    assert.deepEqual(files(join(d, "merged")), files(join(d, "whole")));
    assert.equal(merged.stdout, whole.stdout);
    // --shard I/N names the index itself.
    const explicit = cli(["sweep", file, "--shard", "2/5", "--out", join(d, "explicit"), "--jobs", "1"]);
    assert.equal(explicit.status, 0, explicit.stderr);
    assert.deepEqual(files(join(d, "explicit")), files(join(d, "shard-2")));
  });

  it("merge refuses a missing or repeated shard, and a sweep file whose bytes changed (exit 2, naming them)", () => {
    const d = mkdtempSync(join(tmpdir(), "dnsrace-shard-"));
    const file = join(d, "sweep.yaml");
    writeFileSync(file, SWEEP);
    for (const i of [0, 1]) assert.equal(cli(["sweep", file, "--shard", `${i}/2`, "--out", join(d, `s${i}`), "--jobs", "1", "--quiet"]).status, 0);
    const missing = cli(["merge", join(d, "s0"), "--out", join(d, "m")]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^dnsrace: shard 1 of 2 missing: name every shard folder\.\n$/);
    const twice = cli(["merge", join(d, "s0"), join(d, "s0"), "--out", join(d, "m")]);
    assert.equal(twice.status, 2);
    assert.match(twice.stderr, /shard 0 of 2 again/);
    const none = cli(["merge", d, "--out", join(d, "m")]);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /no shard\.json; name the folders that dnsrace sweep --shard wrote/);
    writeFileSync(file, SWEEP.replace("seeds: 2", "seeds: 3"));
    const changed = cli(["merge", join(d, "s0"), join(d, "s1"), "--out", join(d, "m")]);
    assert.equal(changed.status, 2);
    assert.match(changed.stderr, /sweep\.yaml: not the sweep file the shards ran \(its bytes differ/);
    assert.deepEqual(readdirSync(d).sort(), ["s0", "s1", "sweep.yaml"]);
  });

  it("compare: N shard processes started with JOB_COMPLETION_INDEX=0..N-1, merged, equal the single run byte for byte (files, the table, --json)", () => {
    const d = mkdtempSync(join(tmpdir(), "dnsrace-shard-"));
    const file = join(d, "compare.yaml");
    writeFileSync(file, COMPARISON);
    const whole = cli(["compare", file, "--out", join(d, "whole"), "--jobs", "1", "--json"]);
    assert.equal(whole.status, 0, whole.stderr);
    const table = cli(["compare", file, "--out", join(d, "whole-table"), "--jobs", "1"]);
    assert.equal(table.status, 0, table.stderr);
    // 2 variants x 3 seeds, and the reference at both ends of the interval x 3 seeds: 12 replications over 5 shards.
    for (let i = 0; i < 5; i++) {
      const r = cli(["compare", file, "--shard", "5", "--out", join(d, `shard-${i}`), "--jobs", "2"], { JOB_COMPLETION_INDEX: String(i) });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readdirSync(join(d, `shard-${i}`)), ["shard.json"]);
    }
    const shards = [4, 2, 0, 3, 1].map((i) => join(d, `shard-${i}`));
    const merged = cli(["merge", ...shards, "--out", join(d, "merged"), "--json"]);
    assert.equal(merged.status, 0, merged.stderr);
    assert.deepEqual(Object.keys(files(join(d, "whole"))), ["cdf.svg", "compare.csv", "compare.runs.csv", "report.md", "slow.svg", "tail.svg"]);
    assert.deepEqual(files(join(d, "merged")), files(join(d, "whole")));
    assert.equal(merged.stdout, whole.stdout);
    const mergedTable = cli(["merge", ...shards, "--out", join(d, "merged-table")]);
    assert.equal(mergedTable.status, 0, mergedTable.stderr);
    assert.equal(mergedTable.stdout, table.stdout);
    assert.match(mergedTable.stderr, /^merged 5 shards: 2 variants x 3 seeds, 12 replications\n/);
    // A sweep's shard is not one of the comparison's.
    const sweep = join(d, "sweep.yaml");
    writeFileSync(sweep, SWEEP);
    assert.equal(cli(["sweep", sweep, "--shard", "0/5", "--out", join(d, "sweep-0"), "--jobs", "1", "--quiet"]).status, 0);
    const mixed = cli(["merge", join(d, "sweep-0"), ...shards.slice(1), "--out", join(d, "m")]);
    assert.equal(mixed.status, 2);
    assert.match(mixed.stderr, /a shard of another run \(its kind is compare, that of .*sweep-0 sweep\); merge the shards of one sweep\./);
  });

  it("--shard: I/N with I from 0 to N-1, or N with JOB_COMPLETION_INDEX; anything else is refused", () => {
    assert.deepEqual(parseShard("2/5"), { index: 2, count: 5 });
    assert.deepEqual(parseShard("5", { JOB_COMPLETION_INDEX: "4" }), { index: 4, count: 5 });
    assert.equal(parseShard(undefined), null);
    const refused: [string, NodeJS.ProcessEnv, RegExp][] = [
      ["5/5", {}, /^--shard 5\/5: the shard index must be a whole number from 0 to 4\.$/],
      ["x", {}, /^--shard: expected I\/N/],
      ["0/0", {}, /^--shard: expected I\/N/],
      ["1.5/3", {}, /from 0 to 2/],
      ["3", {}, /^--shard 3: no shard index: give --shard I\/3, or set JOB_COMPLETION_INDEX/],
      ["3", { JOB_COMPLETION_INDEX: "3" }, /^JOB_COMPLETION_INDEX "3" \(with --shard 3\): the shard index must be a whole number from 0 to 2\.$/],
    ];
    for (const [text, env, re] of refused) assert.throws(() => parseShard(text, env), (e: unknown) => e instanceof InputError && re.test(e.message), text);
  });

  it("the slices cover every run once, in order, their sizes differing by at most one", () => {
    for (const [total, count] of [[12, 5], [3, 7], [54, 3], [1, 1]] as const) {
      const slices = Array.from({ length: count }, (_, index) => shardRange(total, { index, count }));
      assert.equal(slices[0]!.from, 0);
      assert.equal(slices.at(-1)!.to, total);
      for (let i = 1; i < count; i++) assert.equal(slices[i]!.from, slices[i - 1]!.to);
      const sizes = slices.map((s) => s.to - s.from);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
    }
  });
});
