import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ComparisonResult, runComparison } from "../src/compare/compare.js";
import { loadComparison } from "../src/compare/spec.js";
import { compareReport, compareTable } from "../src/report/compare.js";
import { costRank, effectOf, groups, headline } from "../src/report/decide.js";
import { inputError } from "./helpers.js";
import { SMALL } from "./compare.test.js";

function tmpFile(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), "dnsrace-decide-")), "c.yaml");
  writeFileSync(f, text);
  return f;
}

/**
 * SMALL with declared costs, a musl reference, and the glibc options offered to musl too:
 * kernel-5.10 (high effort) and reopen (low) both fix the glibc pod's slow lookups.
 */
const DECIDE = SMALL.replace("    changes: a 5.10 node\n", "    changes: a 5.10 node\n    cost: { effort: high, scope: node }\n")
  .replace("    changes: single-request-reopen\n", "    changes: single-request-reopen\n    cost: { effort: low, scope: pod }\n")
  .concat(
    `  - name: ndots
    changes: ndots:1
    cost: { effort: low, scope: pod }
    resolv_options: [ndots:1]
  - name: musl
    against: musl
    changes: the Alpine image
    pods: { libc: musl }
  - name: musl-reopen
    against: musl
    changes: the musl pod with single-request-reopen
    cost: { effort: low, scope: pod }
    pods: { libc: musl }
    resolv_options: [single-request-reopen]
    notes: musl reads only ndots, attempts and timeout (src/network/resolvconf.c).
`,
  );

let cached: ComparisonResult | null = null;
const result = () => (cached ??= runComparison(loadComparison(tmpFile(DECIDE)), 3));
const named = (r: ComparisonResult, n: string) => r.results.find((v) => v.variant.name === n)!;

describe("report: a decision per libc, ranked by effect then declared cost", () => {
  it("costs rank by effort, then scope; an undeclared cost ranks last", () => {
    assert.ok(costRank({ effort: "low", scope: "cluster" }) < costRank({ effort: "medium", scope: "pod" }));
    assert.ok(costRank({ effort: "high", scope: "pod" }) < costRank({ effort: "high", scope: "node" }));
    assert.ok(costRank({ effort: "high", scope: "cluster" }) < costRank(null));
  });

  it("a variant's cost is read from the comparison file; a cost outside its choices is a located input error", () => {
    const c = loadComparison(tmpFile(DECIDE));
    assert.deepEqual(c.variants.find((v) => v.name === "reopen")!.cost, { effort: "low", scope: "pod" });
    assert.equal(c.variants[0]!.cost, null);
    const bad = DECIDE.replace("cost: { effort: low, scope: pod }", "cost: { effort: trivial, scope: pod }");
    const line = bad.split("\n").findIndex((l) => l.includes("trivial")) + 1;
    assert.match(inputError(() => loadComparison(tmpFile(bad))), new RegExp(`line ${line}: field "variants\\[2\\]\\.cost\\.effort"`));
  });

  it("two variants that both fix the slow lookups rank by cost, not by p99: low-effort reopen before kernel-5.10", () => {
    const r = result();
    const [glibc] = groups(r);
    assert.equal(glibc!.reference.variant.name, "glibc");
    assert.equal(effectOf(named(r, "reopen"), named(r, "glibc")), "fixes");
    assert.equal(effectOf(named(r, "kernel-5.10"), named(r, "glibc")), "fixes");
    assert.ok(named(r, "kernel-5.10").pooled.p99_ms < named(r, "reopen").pooled.p99_ms, "the test needs kernel-5.10 to have the better p99");
    assert.deepEqual(glibc!.ranked.slice(0, 2).map((v) => v.variant.name), ["reopen", "kernel-5.10"]);
  });

  it("the musl pod with single-request-reopen: no effect (every lookup identical to musl's), and the file's reason why", () => {
    const r = result();
    const musl = groups(r).find((g) => g.reference.variant.name === "musl")!;
    assert.deepEqual(musl.libcs, ["musl"]);
    assert.equal(effectOf(named(r, "musl-reopen"), named(r, "musl")), "none");
    const report = compareReport(r, { cdf: "c.svg", tail: "t.svg", slow: "s.svg" });
    assert.match(report, /\| musl-reopen \| no effect \|/);
    assert.match(report, /- \*\*musl-reopen\*\* has no effect: every lookup on every seed is as with musl\. musl reads only ndots/);
    assert.match(report, /### musl-reopen[\s\S]*?\*\*No effect\*\*: on every seed every lookup took exactly as long as with musl/);
  });

  it("a pod-level variant of one libc not run on another is named as not run there", () => {
    const musl = groups(result()).find((g) => g.reference.variant.name === "musl")!;
    assert.deepEqual(
      musl.untried.map((v) => v.name),
      ["ndots"],
      "reopen has its musl counterpart; kernel-5.10 is node-level",
    );
    assert.match(compareReport(result(), { cdf: "c.svg", tail: "t.svg", slow: "s.svg" }), /Not run on these pods: ndots \(pod level\)/);
  });

  it("one headline sentence per libc names the mitigation, its cost, the zero's upper bound and the reference's share", () => {
    const r = result();
    const gs = groups(r);
    const g = headline(gs[0]!);
    const reopen = named(r, "reopen").pooled;
    const ub = `${(reopen.share_over_1s_ci!.high * 100).toFixed(3)}%`;
    assert.equal(g.split(/[.!?](\s|$)/).filter((s) => s.trim().length > 0 && !/^\d/.test(s)).length >= 1, true);
    assert.match(g, new RegExp(`^\\*\\*glibc pods\\*\\*: deploy \\*\\*reopen\\*\\* \\(low effort, pod scope\\): no lookup of ${reopen.lookups} took over 1 s \\(95% upper bound ${ub.replace(".", "\\.")}\\), against \\d+\\.\\d\\d% \\(`));
    assert.ok(g.endsWith("."), g);
    assert.doesNotMatch(g.slice(0, -1), /\.\s/, "one sentence");
    const m = headline(gs[1]!);
    assert.match(m, /^\*\*musl pods\*\*: /);
    assert.match(m, /musl-reopen changes nothing for them\.$/);
    assert.match(compareReport(r, { cdf: "c.svg", tail: "t.svg", slow: "s.svg" }), /## Decision\n\n- \*\*glibc pods\*\*: deploy \*\*reopen\*\*/);
  });

  it("share_over_1s_diff is the mean over seeds of the per-seed differences of shares, as the report says", () => {
    const r = result();
    const v = named(r, "ndots");
    const b = named(r, "glibc");
    const perSeed = v.reps.map((rep, i) => rep.summary.share_over_1s - b.reps[i]!.summary.share_over_1s);
    const mean = perSeed.reduce((a, x) => a + x, 0) / perSeed.length;
    const t = compareTable(r);
    const row = t.rows.find((x) => x[0] === "ndots")!;
    assert.equal(row[t.columns.indexOf("share_over_1s_diff")], mean.toFixed(6));
    assert.match(compareReport(r, { cdf: "c.svg", tail: "t.svg", slow: "s.svg" }), /share_over_1s_diff\) is the mean over the seeds of each seed's share over 1 s minus the reference's share on the same seed/);
  });
});
