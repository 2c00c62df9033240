import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { type RaceArgs, formatRaceReport, raceJson, raceOptions } from "../src/cli/race.js";
import { runRace } from "../src/experiment/race.js";
import type { HopEvent } from "../src/kernel/netns.js";
import { InputError } from "../src/scenario/load.js";
import { NO_RACE_FLAGS, ROOT } from "./helpers.js";

const NO_FLAGS = NO_RACE_FLAGS;

interface BurstJson {
  threads: number;
  bursts: number;
  queries: number;
  clashes: number;
  clashes_per_burst: number[];
  bursts_clashed: number;
  bursts_lost: number;
  lost_per_burst: number[];
  first_lost_bursts: number[];
  selftest: "PASS" | "SKIP" | null;
  drop: number;
  clash_resolve: number;
  dropped: number;
  [k: string]: unknown;
}

/** The command's path in this process: flags -> options -> model -> report and JSON. */
function race(flags: Partial<RaceArgs>): { text: string; json: BurstJson } {
  const o = raceOptions({ ...NO_FLAGS, ...flags });
  const r = runRace(o);
  return { text: formatRaceReport(r, o, o.kernel), json: JSON.parse(raceJson(r, o, o.kernel)) as BurstJson };
}

const flat = (text: string) => text.replace(/\s+/g, " ");

describe("race --threads N: N senders on one socket", () => {
  it("race --threads 2 --spread-us 0: the pair experiment at gap 0, figure for figure (5.4, 6.18, 4.4)", () => {
    for (const kernel of ["5.4", "6.18", "4.4"]) {
      const pair = race({ kernel, pairs: "2000" }).json;
      const burst = race({ kernel, threads: "2", spreadUs: "0", bursts: "2000" }).json;
      for (const k of ["insert_failed", "drop", "clash_resolve", "found", "port_rewrites", "different_endpoint_clashes", "different_source_clashes", "nat_clash_entries", "merged", "dropped", "per_cpu"]) {
        assert.deepEqual(burst[k], pair[k], `${kernel} ${k}`);
      }
      assert.equal(burst.clashes, pair.clashes);
      assert.equal(burst.bursts_lost, pair.lost_pairs);
      assert.equal(burst.lost_per_burst[0], pair.both_replied);
    }
  });

  it("race --threads 10: a burst spread well beyond the critical section (uniform 0-100 us) clashes less than a point burst", () => {
    const point = race({ kernel: "5.4", threads: "10", bursts: "500" }).json;
    const spread = race({ kernel: "5.4", threads: "10", bursts: "500", spreadUs: "{uniform: {min: 0, max: 100}}" }).json;
    assert.ok(point.clashes >= 0.99 * 500, `point ${point.clashes}`);
    assert.ok(spread.clashes < 0.3 * point.clashes, `spread ${spread.clashes} vs point ${point.clashes}`);
    assert.ok(spread.bursts_lost < point.bursts_lost, `lost ${spread.bursts_lost} vs ${point.bursts_lost}`);
  });

  it("race --threads: the wider the spread, the fewer clashes per burst (2 threads: 0, 5, 20, 100 us)", () => {
    const clashes = ["0", "{uniform: {min: 0, max: 5}}", "{uniform: {min: 0, max: 20}}", "{uniform: {min: 0, max: 100}}"].map(
      (spreadUs) => race({ kernel: "6.18", threads: "2", bursts: "2000", spreadUs }).json.clashes,
    );
    for (let i = 1; i < clashes.length; i++) assert.ok(clashes[i]! < clashes[i - 1]!, clashes.join(" > "));
  });

  it("race --threads: on 2 CPUs a burst clashes at most once (the first confirm ends the race for the rest); on 4 CPUs up to 3 times", () => {
    const two = race({ kernel: "6.18", threads: "10", bursts: "300" }).json;
    assert.equal(two.clashes_per_burst.length, 2, JSON.stringify(two.clashes_per_burst));
    const four = race({ kernel: "6.18", threads: "10", bursts: "300", cpus: "4" }).json;
    assert.equal(four.clashes_per_burst.length, 4, JSON.stringify(four.clashes_per_burst));
    assert.equal(four.clashes_per_burst[3], 300);
  });

  it("race --threads: the per-burst histograms add up to the bursts, the clashes and the dropped queries", () => {
    const j = race({ kernel: "5.4", threads: "10", cpus: "4", bursts: "400", spreadUs: "{uniform: {min: 0, max: 20}}" }).json;
    const sum = (h: number[]) => h.reduce((a, b) => a + b, 0);
    const weighted = (h: number[]) => h.reduce((a, n, k) => a + k * n, 0);
    assert.equal(sum(j.clashes_per_burst), 400);
    assert.equal(weighted(j.clashes_per_burst), j.clashes);
    assert.equal(j.bursts_clashed, 400 - j.clashes_per_burst[0]!);
    assert.equal(sum(j.lost_per_burst), 400);
    // An idle node loses a query only in a clash drop: the lost queries are the drops.
    assert.equal(weighted(j.lost_per_burst), j.dropped);
    assert.equal(j.bursts_lost, 400 - j.lost_per_burst[0]!);
    assert.ok(j.bursts_lost > 0 && j.first_lost_bursts.length === Math.min(20, j.bursts_lost));
    assert.ok(j.first_lost_bursts.every((b, i, a) => b >= 0 && b < 400 && (i === 0 || b > a[i - 1]!)));
  });

  it("race --threads 10 on 5.4 through 2 endpoints: a burst loses a query when a loser went to the other endpoint; 6.18 on 2 CPUs keeps it as a NAT-clash entry", () => {
    const old = race({ kernel: "5.4", threads: "10", cpus: "4", bursts: "300" }).json;
    assert.ok(old.bursts_lost > 0.5 * 300, `lost ${old.bursts_lost}`);
    assert.equal(old.drop, old.dropped);
    const now = race({ kernel: "6.18", threads: "10", bursts: "300" }).json;
    assert.equal(now.bursts_lost, 0);
    assert.equal(now.clash_resolve, now.clashes);
  });

  it("race --threads 10 on 6.18, 4 CPUs, 2 endpoints: a second loser to the same other endpoint is dropped (its reply tuple is the first loser's NAT-clash entry)", () => {
    const j = race({ kernel: "6.18", threads: "10", cpus: "4", bursts: "400" }).json;
    // Three losers a burst, each to the other endpoint with p = 1/2: two or more of them in half the bursts.
    assert.ok(j.bursts_lost > 0.4 * 400 && j.bursts_lost < 0.6 * 400, `lost ${j.bursts_lost}`);
    assert.equal(j.drop, j.dropped);
    assert.equal(j.clash_resolve + j.drop, j.clashes);
  });

  it("race --threads --rx rps: a burst is one flow, which RPS sends to one CPU's backlog: no clash however many threads and CPUs", () => {
    const j = race({ kernel: "6.18", threads: "128", endpoints: "3", bursts: "20", cpus: "4", rx: "rps" }).json;
    assert.equal(j.clashes, 0);
    assert.equal(j.selftest, "SKIP");
    assert.ok(race({ kernel: "6.18", threads: "128", endpoints: "3", bursts: "20", cpus: "4" }).json.clashes > 0);
  });

  it("the selftest setup (128 threads, numgen random mod 3: 3 endpoints, 10 attempts) on a kernel with clash_resolve moves clash_resolve: PASS", () => {
    const { json, text } = race({ kernel: "6.18", threads: "128", endpoints: "3", bursts: "10" });
    assert.ok(json.clash_resolve > 0);
    assert.equal(json.selftest, "PASS");
    assert.match(flat(text), /conntrack_clash\.sh would say PASS: clash_resolve moved/);
  });

  it("the selftest on one CPU: xmit completes sequentially, no parallel insertion: SKIP", () => {
    const { json, text } = race({ kernel: "6.18", threads: "128", endpoints: "3", bursts: "10", cpus: "1" });
    assert.equal(json.clashes, 0);
    assert.equal(json.selftest, "SKIP");
    assert.match(flat(text), /would say SKIP: clash resolution did not trigger \(xmit completed sequentially\)/);
  });

  it("the selftest before 5.10: its check reads clash_resolve, which the kernel does not have (null)", () => {
    const { json, text } = race({ kernel: "5.4", threads: "128", endpoints: "3", bursts: "10" });
    assert.equal(json.selftest, null);
    assert.match(flat(text), /check does not apply on 5\.4: it reads clash_resolve, a counter from 5\.10/);
  });

  it("race --threads --qtypes: alternate sends A, AAAA, A, ...; A and AAAA send one type", () => {
    const types = (qtypes: string | undefined) => {
      const o = raceOptions({ ...NO_FLAGS, kernel: "6.18", threads: "4", bursts: "2", ...(qtypes === undefined ? {} : { qtypes }) });
      const seen: string[] = [];
      runRace({ ...o, trace: (e: HopEvent) => void (e.kind === "lookup-miss" || e.kind === "lookup-hit" ? seen.push(e.pkt.dns!.qtype) : 0) });
      return seen;
    };
    assert.deepEqual([...new Set(types("A"))], ["A"]);
    assert.deepEqual([...new Set(types("AAAA"))], ["AAAA"]);
    const alt = types(undefined);
    assert.equal(alt.length, 8);
    assert.equal(alt.filter((q) => q === "A").length, 4);
  });

  it("race --threads: the same flags and seed give the same JSON; another seed other draws", () => {
    const f = { kernel: "5.4", threads: "10", cpus: "4", bursts: "200", spreadUs: "{exponential: {mean: 10}}" };
    assert.deepEqual(race(f).json, race(f).json);
    assert.notDeepEqual(race(f).json.clashes_per_burst, race({ ...f, seed: "2" }).json.clashes_per_burst);
  });

  it("race --threads: bad flags are refused naming the flag (InputError)", () => {
    const refused = (flags: Partial<RaceArgs>, re: RegExp) =>
      assert.throws(() => raceOptions({ ...NO_FLAGS, ...flags }), (e: unknown) => e instanceof InputError && re.test(e.message));
    refused({ threads: "1" }, /--threads: expected a whole number from 2 to 1,024, found "1"/);
    refused({ threads: "10", spreadUs: "uniform" }, /--spread-us: expected .* in microseconds .* found "uniform"\./);
    refused({ threads: "10", spreadUs: "{uniform: {min: 5, max: 1}}" }, /--spread-us: .*"uniform" needs max >= min/);
    refused({ threads: "10", spreadUs: "{exponential: {mean: 5000000}}" }, /--spread-us: .*mean is above 1,000,000 us/);
    refused({ threads: "10", spreadUs: "{a: [" }, /--spread-us: /);
    refused({ threads: "10", qtypes: "MX" }, /--qtypes: expected one of alternate, A, AAAA, found "MX"/);
    refused({ threads: "1024", bursts: "5000" }, /5,120,000 queries, more than the 2,000,000/);
    refused({ threads: "10", gapUs: "3" }, /--gap-us: does not apply with --threads/);
    refused({ threads: "10", pairs: "3" }, /--pairs: does not apply with --threads/);
    refused({ threads: "10", send: "sendmmsg" }, /--send: does not apply with --threads/);
    refused({ bursts: "3" }, /--bursts: applies only with --threads/);
    refused({ spreadUs: "0" }, /--spread-us: applies only with --threads/);
  });

  it("dnsrace race --threads --json as a user runs it: exit 0, the last line one object; a bad spread exits 2 with one paragraph", () => {
    const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });
    const p = cli(["race", "--threads", "10", "--cpus", "4", "--kernel", "4.19", "--bursts", "10", "--spread-us", "{uniform: {min: 0, max: 20}}", "--json"]);
    assert.equal(p.status, 0, p.stderr);
    const j = JSON.parse(p.stdout.trimEnd().split("\n").pop()!) as BurstJson;
    assert.equal(j.threads, 10);
    assert.equal(j.bursts, 10);
    assert.equal(j.queries, 100);
    assert.equal(j.spread_us, "{uniform: {min: 0, max: 20}}");
    const bad = cli(["race", "--threads", "10", "--spread-us", "{normal: 3}"]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^dnsrace: --spread-us: .*unknown distribution "normal"/);
    assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/);
  });
});
