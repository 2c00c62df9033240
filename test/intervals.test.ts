import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { summaryTable } from "../src/cli/run.js";
import { shareInterval } from "../src/compare/stats.js";
import { shareCell, shareText } from "../src/report/compare.js";
import { summaryCsv } from "../src/report/csv.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { compactProportion, proportion } from "../src/stats/proportion.js";
import { summarize } from "../src/stats/summary.js";
import { scenarioPath } from "./helpers.js";

const scenario = (file: string, edit: (t: string) => string = (t) => t) => summarize(runScenario(loadScenarioText(edit(readFileSync(scenarioPath(file), "utf8")), "t.yaml")));
const onKernel = (v: string) => (t: string) => t.replace(/^kernel: .*$/m, `kernel: "${v}"`);
/**
 * glibc.yaml's busy 5.4 node has (correctly) almost no clash; the node block of scenarios/mitigations.yaml
 * is one whose counters show 1 clash in 100 pairs, so that the shares and their intervals have something to count.
 */
const calibrated = (t: string) => t.replace(/^node:\n(?: {2}.*\n)+/m, "node:\n  cpus: 4\n  rx: inline\n  migration_probability: 0.01\n");

describe("intervals wherever a rate is shown (stats/proportion.ts)", () => {
  const glibc = scenario("glibc.yaml", calibrated);
  const nodelocal = scenario("nodelocal.yaml");
  const tcp = scenario("tcp.yaml");

  it("run summary: the shares over 1 s and at or over 5 s carry their exact (Clopper-Pearson) 95% interval", () => {
    for (const [k, share, low, high] of [
      [glibc.over_1s, glibc.share_over_1s, glibc.share_over_1s_low, glibc.share_over_1s_high],
      [glibc.ge_5s, glibc.share_ge_5s, glibc.share_ge_5s_low, glibc.share_ge_5s_high],
    ] as const) {
      const p = proportion(k, glibc.lookups);
      assert.ok(k > 0);
      assert.deepEqual([share, low, high], [p.estimate, p.low, p.high]);
      assert.ok(low < share && share < high);
    }
  });

  it("a share of 0 keeps its upper bound (about 3.69 / lookups), not 0", () => {
    assert.equal(nodelocal.share_over_1s, 0);
    assert.equal(nodelocal.share_over_1s_low, 0);
    assert.equal(nodelocal.share_over_1s_high, proportion(0, nodelocal.lookups).high);
    assert.ok(Math.abs(nodelocal.share_over_1s_high * nodelocal.lookups - 3.69) < 0.05);
  });

  it("pairs clashed: each pair sent counts once and clashes at most once; on one node every clash is its pair's", () => {
    assert.ok(glibc.pairs > glibc.lookups, "a lookup sends a pair per search step");
    assert.equal(glibc.pairs_clashed, glibc.clashes);
    const p = proportion(glibc.pairs_clashed, glibc.pairs);
    assert.deepEqual([glibc.share_pairs_clashed, glibc.share_pairs_clashed_low, glibc.share_pairs_clashed_high], [p.estimate, p.low, p.high]);
  });

  it("pairs clashed with endpoints on other nodes: never more than the clashes on the path, nor than the pairs", () => {
    const remote = scenario("glibc.yaml", (t) => calibrated(t).replace(/^kube_dns:\n/m, "kube_dns:\n  placement: remote\n"));
    assert.ok(remote.pairs_clashed > 0);
    assert.ok(remote.pairs_clashed <= remote.clashes && remote.pairs_clashed <= remote.pairs);
  });

  it("TCP (use-vc) sends no pair: the share of pairs clashed is empty, not 0 of 0", () => {
    assert.equal(tcp.pairs, 0);
    assert.equal(tcp.share_pairs_clashed, null);
    const csv = summaryCsv([tcp]).trim().split("\n");
    const col = (name: string) => csv[1]!.split(",")[csv[0]!.split(",").indexOf(name)];
    assert.equal(col("share_pairs_clashed"), "");
    assert.equal(col("share_pairs_clashed_high"), "");
  });

  it("insert_failed per insert: with its interval where insert is counted (before 4.9), empty elsewhere", () => {
    const old = scenario("glibc.yaml", (t) => onKernel("4.8")(calibrated(t)));
    assert.ok(old.insert > 0);
    const p = proportion(old.insert_failed, old.insert);
    assert.deepEqual([old.insert_failed_per_insert, old.insert_failed_per_insert_low, old.insert_failed_per_insert_high], [p.estimate, p.low, p.high]);
    assert.equal(glibc.insert, 0);
    assert.equal(glibc.insert_failed_per_insert, null);
    const busy = scenario("glibc.yaml", (t) => onKernel("4.8")(calibrated(t)).replace(/^node:\n/m, "node:\n  other_connections_per_s: 1000\n"));
    assert.ok(busy.insert_failed_per_insert! < old.insert_failed_per_insert! / 10, "other flows give the ratio its denominator");
  });

  it("summary.csv: an interval column pair after each share, and the same bytes on every run", () => {
    const header = summaryCsv([glibc]).split("\n")[0]!.split(",");
    for (const s of ["share_over_1s", "share_ge_5s", "share_pairs_clashed", "insert_failed_per_insert"]) {
      assert.deepEqual(header.slice(header.indexOf(s), header.indexOf(s) + 3), [s, `${s}_low`, `${s}_high`]);
    }
    assert.equal(summaryCsv([scenario("glibc.yaml", calibrated)]), summaryCsv([glibc]));
  });

  it("the run table: each share with its interval, a zero as its upper bound, - where there is nothing to count", () => {
    const table = summaryTable([glibc, nodelocal, tcp]);
    const [head, , g, n, t] = table.split("\n");
    assert.match(head!, />1s \(95% CI\) +>=5s \(95% CI\) +failed +pairs clashed \(95% CI\) .* per insert /);
    assert.match(g!, / \d+\.\d\d% \(\d+\.\d\d\.\.\d+\.\d\d\) /);
    assert.match(n!, / 0 \(<0\.12%\) +0 \(<0\.12%\) /);
    assert.match(t!, / 0 \(<0\.12%\) .* - +0 +0 +- /);
  });

  it("compactProportion: a share, its interval, its upper bound when 0", () => {
    assert.equal(compactProportion(proportion(0, 3000)), "0 (<0.12%)");
    assert.equal(compactProportion(proportion(3, 100000), "exp"), "3.0e-5 (6.2e-6..8.8e-5)");
    assert.equal(compactProportion(proportion(0, 0)), "-");
  });

  it("compare: a share that is 0 in every seed gets the pooled upper bound, not the degenerate 0..0 of Student's t", () => {
    const ci = shareInterval([0, 0, 0], 0, 3000)!;
    assert.deepEqual(ci, { mean: 0, low: 0, high: proportion(0, 3000).high });
    assert.equal(shareInterval([0], 0, 1000)!.high, proportion(0, 1000).high, "one seed too");
    assert.equal(shareInterval([0.1], 100, 1000), null, "a count above 0 on one seed has no interval");
    const t = shareInterval([0.1, 0.2, 0.15], 450, 3000)!;
    assert.ok(t.low > 0 && t.high < 1 && Math.abs(t.mean - 0.15) < 1e-12);
    assert.equal(shareText(0, 0, ci), "0 (95% upper bound 0.12%)");
    assert.equal(shareCell(0, 0, ci), "0 (<0.12%)");
    assert.equal(shareCell(0.15, 450, t), `15.00% (${(t.low * 100).toFixed(2)}..${(t.high * 100).toFixed(2)})`);
  });
});
