import type { ComparisonResult } from "../compare/compare.js";
import { effectOf, groups, ranked } from "./decide.js";
import { MAX_SERIES, type Panel, cdfChart, intervalBarChart, tailChart } from "./plots.js";

/**
 * The panels of a comparison's curves: one per libc's pods (each reference point), with the
 * reference and the best-ranked of its variants (report.md's order), MAX_SERIES series at most.
 * A variant with no effect is left out: its curve is the reference's, under it.
 */
export function comparePanels(r: ComparisonResult): Panel[] {
  return groups(r).map((g) => {
    const all = g.ranked.filter((v) => v !== g.reference);
    const others = all.filter((v) => effectOf(v, g.reference) !== "none");
    const shown = others.slice(0, MAX_SERIES - 1);
    const idle = all.length - others.length;
    const what = shown.length === others.length ? `${g.reference.variant.name} and its ${others.length} variant${others.length === 1 ? "" : "s"}` : `${g.reference.variant.name} and the ${shown.length} best-ranked of its ${others.length} variants`;
    const left = [...(shown.length < others.length ? [`${others.length - shown.length} lower-ranked not drawn (report.md has them all)`] : []), ...(idle === 0 ? [] : [`${idle} with no effect not drawn (their curves are ${g.reference.variant.name}'s)`])];
    return {
      title: `${g.libcs.join(" and ")} pods: ${what}`,
      ...(left.length === 0 ? {} : { note: `${left.join("; ")}.` }),
      series: [g.reference, ...shown].map((v) => ({ label: v.variant.name, latMs: v.pooled.latMs })),
    };
  });
}

/** cdf.svg, tail.svg and slow.svg of a comparison; `sub` is their subtitle. */
export function comparePlots(r: ComparisonResult, sub: string): { cdf: string; tail: string; slow: string } {
  const panels = comparePanels(r);
  const gs = groups(r);
  const groupOf = new Map(gs.flatMap((g, i) => g.ranked.map((v) => [v, i] as const)));
  const bars = ranked(r).map((v) => ({
    label: v.variant.name,
    value: v.pooled.share_over_1s,
    low: v.pooled.share_over_1s_ci?.low ?? null,
    high: v.pooled.share_over_1s_ci?.high ?? null,
    group: groupOf.get(v) ?? 0,
  }));
  return {
    cdf: cdfChart("Lookup latency by variant (CDF)", sub, panels),
    tail: tailChart("The slow tail: share of lookups slower than t", sub, panels),
    slow: intervalBarChart("Share of lookups over 1 s, with 95% intervals, in the report's rank order", sub, "share of lookups over 1 s", bars, gs.map((g) => `${g.libcs.join(" and ")} pods (reference: ${g.reference.variant.name})`)),
  };
}
