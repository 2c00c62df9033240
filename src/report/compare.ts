import type { ComparisonResult, VariantResult } from "../compare/compare.js";
import type { Pooled } from "../compare/run.js";
import type { Bounds } from "../compare/stats.js";
import { percentText } from "../stats/proportion.js";
import { type CsvTable, csvText, ms3 } from "./csv.js";
import { msText, oneLine, pct, shareText } from "./words.js";

import { DIFF_METHOD, costText, decisionText, effectOf } from "./decide.js";

export { oneLine, pct, shareCell, shareText } from "./words.js";
export { ranked } from "./decide.js";

const share6 = (v: number) => v.toFixed(6);
const ciCell = (i: Bounds | null, side: "low" | "high", fmt: (v: number) => string) => (i === null ? "" : fmt(i[side]));

export const COMPARE_COLUMNS = [
  "variant",
  "changes",
  "against",
  "kernel",
  "replications",
  "lookups",
  "p50_ms",
  "p90_ms",
  "p99_ms",
  "p99_ci_low_ms",
  "p99_ci_high_ms",
  "p999_ms",
  "max_ms",
  "share_over_1s",
  "share_over_1s_ci_low",
  "share_over_1s_ci_high",
  "share_over_1s_diff",
  "share_over_1s_diff_ci_low",
  "share_over_1s_diff_ci_high",
  "share_ge_5s",
  "share_ge_5s_ci_low",
  "share_ge_5s_ci_high",
  "share_ok_v4",
  "share_failed",
  "queries_per_lookup",
  "clashes",
  "insert_failed",
  "drop",
  "clash_resolve",
] as const;

/** compare.csv: one row per variant, figures pooled over the replications, intervals across them. */
/** compare.csv's content: a row per variant; the names and the kernel are text, the kernel quoted. */
export function compareTable(r: ComparisonResult): CsvTable {
  const rows = r.results.map(({ variant: v, pooled: p, diff }) => {
    // No finished lookup: no quantile or share to report.
    const ms = (x: number) => (p.lookups === 0 ? "" : ms3(x));
    const share = (x: number) => (p.lookups === 0 ? "" : share6(x));
    return [
      v.name,
      oneLine(v.changes),
      v.against,
      v.loaded.scenario.kernel,
      p.replications,
      p.lookups,
      ms(p.p50_ms),
      ms(p.p90_ms),
      ms(p.p99_ms),
      ciCell(p.p99_ci, "low", ms3),
      ciCell(p.p99_ci, "high", ms3),
      ms(p.p999_ms),
      ms(p.max_ms),
      share(p.share_over_1s),
      ciCell(p.share_over_1s_ci, "low", share6),
      ciCell(p.share_over_1s_ci, "high", share6),
      diff === null ? "" : share6(diff.mean),
      ciCell(diff, "low", share6),
      ciCell(diff, "high", share6),
      share(p.share_ge_5s),
      ciCell(p.share_ge_5s_ci, "low", share6),
      ciCell(p.share_ge_5s_ci, "high", share6),
      share(p.share_ok_v4),
      share(p.share_failed),
      p.queries_per_lookup.toFixed(3),
      p.clashes,
      p.insert_failed,
      p.drop,
      p.clash_resolve,
    ];
  });
  return { columns: COMPARE_COLUMNS, text: new Set(["variant", "changes", "against", "kernel"]), quoted: new Set(["kernel"]), rows };
}

export function compareCsv(r: ComparisonResult): string {
  return csvText(compareTable(r));
}

export const RUN_COLUMNS = ["variant", "seed", "lookups", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "share_over_1s", "share_ge_5s", "share_ok_v4", "failed", "queries_sent", "clashes", "insert_failed", "drop", "clash_resolve"] as const;

/** compare.runs.csv: one row per variant and seed, the replications the intervals are made of. */
/** compare.runs.csv's content: a row per variant and seed; the variant is text (it has no kernel column). */
export function compareRunsTable(r: ComparisonResult): CsvTable {
  const rows = r.results.flatMap(({ variant, reps }) =>
    reps.map(({ seed, summary: s, okV4 }) => [
      variant.name,
      seed,
      s.lookups,
      ms3(s.p50_ms),
      ms3(s.p90_ms),
      ms3(s.p99_ms),
      ms3(s.p999_ms),
      ms3(s.max_ms),
      share6(s.share_over_1s),
      share6(s.share_ge_5s),
      share6(s.lookups === 0 ? 0 : okV4 / s.lookups),
      s.failed,
      s.queries_sent,
      s.clashes,
      s.insert_failed,
      s.drop,
      s.clash_resolve,
    ]),
  );
  return { columns: RUN_COLUMNS, text: new Set(["variant"]), quoted: new Set(), rows };
}

export function compareRunsCsv(r: ComparisonResult): string {
  return csvText(compareRunsTable(r));
}

/** The plain-language verdict on one variant, from its figures against those of the variant it is compared with. */
export function verdict(v: VariantResult, base: VariantResult): string[] {
  const p = v.pooled;
  const b = base.pooled;
  const lines: string[] = [];
  if (p.lookups === 0) return ["**No lookups finished** in this variant: there is nothing to judge. Check its workload (rate_per_s, duration_s, lookups)."];
  if (v !== base && b.lookups === 0) return [`**Nothing to compare with**: ${base.variant.name} has no finished lookup.`];
  if (v === base) {
    lines.push(
      `Reference point. ${shareText(p.share_over_1s, p.over_1s, p.share_over_1s_ci)} of lookups take over 1 s and ${shareText(p.share_ge_5s, p.ge_5s, p.share_ge_5s_ci)} take 5 s or more; ` +
        `p50 ${msText(p.p50_ms)}, p99 ${msText(p.p99_ms)}, slowest ${msText(p.max_ms)}.`,
    );
  } else {
    lines.push(effect(v, base));
  }
  lines.push(mechanism(p, b, v === base));
  if (v !== base) lines.push(...costs(p, b));
  if (v.variant.cost !== null) lines.push(`Cost as the comparison file declares it: ${costText(v.variant.cost)}.`);
  if (v.variant.notes !== null) lines.push(oneLine(v.variant.notes));
  return lines;
}

function effect(v: VariantResult, base: VariantResult): string {
  const p = v.pooled;
  const b = base.pooled;
  const d = v.diff;
  const change = `${pct(b.share_over_1s)} → ${pct(p.share_over_1s)} of lookups over 1 s`;
  const diffText = d === null ? "" : ` (difference ${(d.mean * 100).toFixed(2)} points, 95% CI ${(d.low * 100).toFixed(2)} to ${(d.high * 100).toFixed(2)}, paired by seed)`;
  const against = `than ${base.variant.name}`;
  const bound = p.share_over_1s_ci === null ? "" : `; 95% upper bound ${percentText(p.share_over_1s_ci.high)}%`;
  if (b.share_over_1s === 0 && p.share_over_1s === 0) return `**No slow lookups, as with ${base.variant.name}.** Neither has a lookup over 1 s (${p.lookups} lookups${bound}).`;
  if (effectOf(v, base) === "none") return `**No effect**: on every seed every lookup took exactly as long as with ${base.variant.name}, with the same clashes and drops; the change reaches nothing these lookups use.`;
  if (p.share_over_1s === 0) return `**Fixes the slow lookups**: none of ${p.lookups} lookups takes over 1 s (${base.variant.name}: ${pct(b.share_over_1s)}${bound}).`;
  if (d === null) {
    // One seed: no interval, only the point figures.
    const dir = p.share_over_1s < b.share_over_1s ? "Fewer" : p.share_over_1s > b.share_over_1s ? "More" : "As many";
    return `**${dir} slow lookups ${against}** on one seed: ${change}; with one seed there is no interval to tell this from noise (run with --seeds 2 or more).`;
  }
  if (d.high < 0 && p.share_over_1s <= b.share_over_1s / 5) return `**Removes most slow lookups**: ${change}${diffText}.`;
  if (d.high < 0) return `**Fewer slow lookups ${against}**, but not none: ${change}${diffText}.`;
  if (d.low > 0) return `**More slow lookups ${against}**: ${change}${diffText}.`;
  return `**No clear effect** on the slow lookups: ${change}${diffText}; the interval of the difference includes 0.`;
}

function mechanism(p: Pooled, b: Pooled, isBase: boolean): string {
  const parts: string[] = [];
  if (p.clashes === 0) parts.push("No conntrack insert clash happens at all");
  else {
    parts.push(`${p.clashes} conntrack clashes${isBase ? "" : ` (${b.clashes} before)`}`);
    if (p.drop === 0) parts.push(p.clash_resolve > 0 ? `none dropped: the kernel resolves them (clash_resolve ${p.clash_resolve})` : "none dropped");
    else parts.push(`${p.drop} packets dropped${isBase ? "" : ` (${b.drop} before)`}, each a query left unanswered until its resolver's retry timer`);
  }
  return `${parts.join("; ")}.`;
}

function costs(p: Pooled, b: Pooled): string[] {
  const out: string[] = [];
  const dMedian = p.p50_ms - b.p50_ms;
  if (Math.abs(dMedian) >= 0.05 && Math.abs(dMedian) >= 0.05 * b.p50_ms) {
    out.push(dMedian > 0 ? `Cost: the median lookup is ${msText(dMedian)} slower (p50 ${msText(b.p50_ms)} → ${msText(p.p50_ms)}).` : `The median lookup is ${msText(-dMedian)} faster (p50 ${msText(b.p50_ms)} → ${msText(p.p50_ms)}).`);
  }
  const dV4 = p.share_ok_v4 - b.share_ok_v4;
  if (dV4 >= 0.0005) out.push(`Cost: ${pct(dV4)} more lookups return IPv4 addresses only (the AAAA answer was lost and not asked again), ${pct(b.share_ok_v4)} → ${pct(p.share_ok_v4)}.`);
  const dFail = p.share_failed - b.share_failed;
  if (dFail >= 0.0005) out.push(`Cost: ${pct(dFail)} more lookups fail (${pct(b.share_failed)} → ${pct(p.share_failed)}).`);
  if (p.queries_per_lookup >= b.queries_per_lookup * 1.1) out.push(`Cost: ${p.queries_per_lookup.toFixed(2)} queries per lookup instead of ${b.queries_per_lookup.toFixed(2)}.`);
  if (p.share_over_1s > 0 && p.max_ms >= 1000) out.push(`What is left: p99.9 ${msText(p.p999_ms)}, slowest ${msText(p.max_ms)}.`);
  if (out.length === 0) out.push("No cost shows in these figures (median, IPv4-only answers, failures, queries per lookup).");
  return out;
}

/** report.md: the decision (a headline and a ranked table per libc), the plots, then a verdict per variant. */
export function compareReport(r: ComparisonResult, plots: { cdf: string; tail: string; slow: string }): string {
  const c = r.comparison;
  const byName = new Map(r.results.map((v) => [v.variant.name, v]));
  const out: string[] = [];
  const base = c.variants[0]!.loaded.scenario;
  const counts = r.results.map((v) => v.pooled.lookups);
  const [fewest, most] = [Math.min(...counts), Math.max(...counts)];
  const lookups = fewest === most ? String(most) : `${fewest} to ${most}`;
  out.push(`# ${c.name}`, "", c.description.trim(), "");
  out.push(
    `Each variant ran on ${r.seeds.length} seed${r.seeds.length === 1 ? "" : "s"} (${r.seeds.join(", ")}) with common random numbers: the same lookups arrive at the same times in every variant, ` +
      `so a difference between two variants comes from what they change. ${lookups} lookups per variant in all` +
      `${base.kernel ? `; the base runs kernel ${base.kernel}` : ""}. Intervals are 95% confidence intervals across the seeds (Student's t for the shares and for differences, ` +
      `paired by seed; a percentile bootstrap over the seeds for the p99); a share that is 0 in every seed shows its exact upper bound over all the lookups (Clopper-Pearson)` +
      (r.seeds.length < 2 ? " (with one seed there are none: run with --seeds 2 or more)." : ".") +
      ` ${DIFF_METHOD}`,
    "",
  );
  if (r.calibration !== null) out.push(...calibrationText(r), "");
  out.push(...decisionText(r));
  out.push(`![latency CDF](${plots.cdf})`, "", `![slow tail](${plots.tail})`, "", `![share of slow lookups](${plots.slow})`, "", "## Verdicts", "");
  for (const v of r.results) {
    const against = byName.get(v.variant.against)!;
    const changes = oneLine(v.variant.changes).replace(/([^.!?])$/, "$1.");
    out.push(`### ${v.variant.name}`, "", `${changes}${v === against ? "" : ` Compared with **${against.variant.name}**.`}`, "");
    for (const line of verdict(v, against)) out.push(`- ${line}`);
    out.push("");
  }
  return out.join("\n");
}

/** The base's calibrated overlap: its interval, and what each reference's slow share is at its ends. */
export function calibrationText(r: ComparisonResult): string[] {
  const cal = r.calibration!;
  const e = (x: number) => x.toExponential(2);
  const refs = cal.references.map((x) => `**${x.name}** ${pct(x.low.share_over_1s)} to ${pct(x.high.share_over_1s)} of lookups over 1 s (${pct(x.low.share_ge_5s)} to ${pct(x.high.share_ge_5s)} at or over 5 s)`);
  return [
    `The base node's overlap is calibrated (node.migration_probability): ${e(cal.interval.estimate)} per pair, 95% interval ${e(cal.interval.low)} to ${e(cal.interval.high)}. ` +
      `Every variant ran at the estimate; at the interval's ends, on the same seeds, ${refs.join("; ")}. ` +
      "A variant that removes the slow lookups does so across the interval; one that only cuts them cuts a share that moves with it.",
  ];
}
