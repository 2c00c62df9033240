import type { ComparisonResult, VariantResult } from "../compare/compare.js";
import { type Cost, EFFORTS, SCOPES, type Variant } from "../compare/spec.js";
import { ciText, listText, msText, oneLine, pct, shareText } from "./words.js";

/**
 * What a variant does to the lookups over 1 s against its reference (the variant named by its
 * `against`), best first:
 * - fixes: none over 1 s where the reference has some (the zero's exact upper bound is shown);
 * - removes-most: the paired interval of the difference lies below 0 and the share is a fifth of the reference's or less;
 * - fewer: the paired interval lies below 0;
 * - reference: the reference itself, as it is;
 * - nothing-to-fix: neither it nor its reference has a lookup over 1 s;
 * - unclear: the interval includes 0 (or one seed, no interval);
 * - none: every lookup on every seed took exactly as long as with the reference, with the same clashes and drops;
 * - more: the paired interval lies above 0;
 * - no-lookups: no lookup finished.
 */
export type Effect = "fixes" | "removes-most" | "fewer" | "reference" | "nothing-to-fix" | "unclear" | "none" | "more" | "no-lookups";
const EFFECT_ORDER: readonly Effect[] = ["fixes", "removes-most", "fewer", "reference", "nothing-to-fix", "unclear", "none", "more", "no-lookups"];
/** The effects that count as working: the share over 1 s is shown to fall. */
export const WORKING: ReadonlySet<Effect> = new Set<Effect>(["fixes", "removes-most", "fewer"]);
export const EFFECT_WORDS: Record<Effect, string> = {
  fixes: "fixes",
  "removes-most": "removes most",
  fewer: "fewer",
  reference: "reference",
  "nothing-to-fix": "nothing to fix",
  unclear: "no clear effect",
  none: "no effect",
  more: "more",
  "no-lookups": "no lookups",
};

/** Whether two variants gave the same lookups on every seed: each latency, clash and drop alike. */
export function identical(a: VariantResult, b: VariantResult): boolean {
  if (a.reps.length !== b.reps.length) return false;
  return a.reps.every((r, i) => {
    const o = b.reps[i]!;
    const [s, t] = [r.summary, o.summary];
    if (r.latMs.length !== o.latMs.length || r.okV4 !== o.okV4) return false;
    if (s.clashes !== t.clashes || s.drop !== t.drop || s.failed !== t.failed || s.queries_sent !== t.queries_sent) return false;
    return r.latMs.every((x, j) => x === o.latMs[j]);
  });
}

export function effectOf(v: VariantResult, base: VariantResult): Effect {
  const p = v.pooled;
  const b = base.pooled;
  if (p.lookups === 0) return "no-lookups";
  if (v === base) return "reference";
  if (b.lookups === 0) return "unclear";
  if (b.over_1s === 0 && p.over_1s === 0) return "nothing-to-fix";
  if (p.over_1s === 0) return "fixes";
  if (identical(v, base)) return "none";
  const d = v.diff;
  if (d === null) return "unclear";
  if (d.high < 0) return p.share_over_1s <= b.share_over_1s / 5 ? "removes-most" : "fewer";
  if (d.low > 0) return "more";
  return "unclear";
}

/** A cost's rank: effort first (low, medium, high), then scope (pod, node, cluster); undeclared last. */
export function costRank(c: Cost | null): number {
  return c === null ? EFFORTS.length * SCOPES.length : EFFORTS.indexOf(c.effort) * SCOPES.length + SCOPES.indexOf(c.scope);
}

export function costText(c: Cost | null): string {
  return c === null ? "cost not declared" : `${c.effort} effort, ${c.scope} scope`;
}

/** The variants judged against one reference: one libc's pods, as the comparison's base has them. */
export interface Group {
  reference: VariantResult;
  /** The resolvers of the reference's pods ("glibc", "musl"). */
  libcs: string[];
  /** The reference and its variants, best first: effect, then cost, then share over 1 s, p99, file order. */
  ranked: VariantResult[];
  /** Pod-level variants of other groups with no counterpart here (the same change on these pods). */
  untried: Variant[];
}

const libcsOf = (v: Variant) => [...new Set(v.loaded.scenario.pods.map((p) => p.libc))];

/** A change without the resolver it picks: two variants with the same key make the same change to different pods. */
function changeKey(v: Variant): string {
  const pods = { ...(v.change.pods ?? {}) };
  delete pods.libc;
  return JSON.stringify([v.change.set ?? {}, pods, v.change.resolv_options ?? []]);
}

/** Whether a variant changes its pods' resolver from its reference's (go for glibc): not a setting of that resolver. */
function changesLibc(v: Variant, ref: Variant): boolean {
  return libcsOf(v).join() !== libcsOf(ref).join();
}

export function groups(r: ComparisonResult): Group[] {
  const refs = r.results.filter((v) => v.variant.against === v.variant.name);
  const order = new Map(r.results.map((v, i) => [v, i]));
  const built = refs.map((reference) => {
    const members = r.results.filter((v) => v.variant.against === reference.variant.name);
    const key = (v: VariantResult) => EFFECT_ORDER.indexOf(effectOf(v, reference));
    const ranked = [...members].sort(
      (a, b) =>
        key(a) - key(b) ||
        (WORKING.has(effectOf(a, reference)) ? costRank(a.variant.cost) - costRank(b.variant.cost) : 0) ||
        a.pooled.share_over_1s - b.pooled.share_over_1s ||
        a.pooled.p99_ms - b.pooled.p99_ms ||
        order.get(a)! - order.get(b)!,
    );
    return { reference, libcs: libcsOf(reference.variant), ranked, untried: [] as Variant[] };
  });
  for (const g of built) {
    const here = new Set(g.ranked.filter((v) => v !== g.reference).map((v) => changeKey(v.variant)));
    for (const other of built) {
      if (other === g) continue;
      for (const v of other.ranked) {
        if (v === other.reference || v.variant.cost?.scope !== "pod" || changesLibc(v.variant, other.reference.variant)) continue;
        if (!here.has(changeKey(v.variant))) g.untried.push(v.variant);
      }
    }
  }
  return built;
}

/** Every variant, group by group (in the order of their references), each group best first. */
export function ranked(r: ComparisonResult): VariantResult[] {
  return groups(r).flatMap((g) => g.ranked);
}

const points = (x: number) => (x * 100).toFixed(2);

/** The one sentence an SRE acts on, for one group. */
export function headline(g: Group): string {
  const ref = g.reference;
  const b = ref.pooled;
  const who = `**${g.libcs.join(" and ")} pods**`;
  const refShare = `${shareText(b.share_over_1s, b.over_1s, b.share_over_1s_ci)} with ${ref.variant.name}`;
  const working = g.ranked.filter((v) => WORKING.has(effectOf(v, ref)));
  const idle = g.ranked.filter((v) => effectOf(v, ref) === "none").map((v) => v.variant.name);
  const idleText = idle.length === 0 ? "" : `; ${listText(idle)} change${idle.length === 1 ? "s" : ""} nothing for them`;
  if (b.lookups === 0) return `${who}: no lookup of ${ref.variant.name} finished, so nothing can be judged; check its workload.`;
  if (b.over_1s === 0) return `${who}: nothing to fix: no lookup of ${b.lookups} took over 1 s with ${ref.variant.name} (95% upper bound ${pct(b.share_over_1s_ci?.high ?? 1, 3)}).`;
  if (working.length === 0) return `${who}: none of the ${g.ranked.length - 1} variants tried is shown to cut the lookups over 1 s (${refShare})${idleText}.`;
  const best = working[0]!;
  const p = best.pooled;
  const what =
    effectOf(best, ref) === "fixes"
      ? `no lookup of ${p.lookups} took over 1 s (95% upper bound ${pct(p.share_over_1s_ci?.high ?? 1, 3)}), against ${refShare}`
      : `the lookups over 1 s fall from ${refShare} to ${shareText(p.share_over_1s, p.over_1s, p.share_over_1s_ci)} (difference ${points(best.diff!.mean)} points, 95% CI ${points(best.diff!.low)} to ${points(best.diff!.high)})`;
  const tied = working.filter((v) => v !== best && effectOf(v, ref) === effectOf(best, ref) && costRank(v.variant.cost) === costRank(best.variant.cost)).map((v) => v.variant.name);
  const tiedText = tied.length === 0 ? "" : `; ${listText(tied)} ${tied.length === 1 ? "does" : "do"} as well at the same cost`;
  return `${who}: deploy **${best.variant.name}** (${costText(best.variant.cost)}): ${what}${tiedText}${idleText}.`;
}

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** report.md's decision: a headline per libc, then each group's variants ranked, with their costs. */
export function decisionText(r: ComparisonResult): string[] {
  const gs = groups(r);
  const out: string[] = ["## Decision", ""];
  for (const g of gs) out.push(`- ${headline(g)}`);
  out.push(
    "",
    "Within each libc's pods, the variants are ranked by their effect on the lookups over 1 s against that libc's reference point " +
      "(fixes: none over 1 s, shown with the exact 95% upper bound of a zero count; removes most: the paired interval of the difference below 0 and at most a fifth of the reference's share; " +
      "fewer: the interval below 0; no effect: every lookup on every seed the same as the reference's), then by the cost the comparison file declares " +
      "(effort low, medium, high, then scope pod, node, cluster), then by the share over 1 s and the p99.",
    "",
  );
  for (const g of gs) {
    const ref = g.reference;
    out.push(`### ${g.libcs.join(" and ")} pods (reference: ${ref.variant.name})`, "");
    out.push("| # | variant | effect | over 1 s (95% CI) | difference, points (95% CI) | effort | scope | p50 | p99 (95% CI) | clashes | drops |", "|---|---|---|---|---|---|---|---|---|---|---|");
    g.ranked.forEach((v, i) => {
      const p = v.pooled;
      const d = v.diff === null ? "" : `${points(v.diff.mean)} (${points(v.diff.low)} to ${points(v.diff.high)})`;
      const none = p.lookups === 0;
      out.push(
        `| ${i + 1} | ${cell(v.variant.name)} | ${EFFECT_WORDS[effectOf(v, ref)]} | ${none ? "" : shareText(p.share_over_1s, p.over_1s, p.share_over_1s_ci)} | ${d} | ${v.variant.cost?.effort ?? ""} | ${v.variant.cost?.scope ?? ""} | ${none ? "" : msText(p.p50_ms)} | ${none ? "" : `${msText(p.p99_ms)}${ciText(p.p99_ci, msText)}`} | ${p.clashes} | ${p.drop} |`,
      );
    });
    const idle = g.ranked.filter((v) => effectOf(v, ref) === "none");
    if (idle.length > 0) out.push("");
    for (const v of idle) out.push(`- **${v.variant.name}** has no effect: every lookup on every seed is as with ${ref.variant.name}.${v.variant.notes === null ? "" : ` ${oneLine(v.variant.notes)}`}`);
    if (g.untried.length > 0) {
      out.push("", `Not run on these pods: ${listText(g.untried.map((v) => `${v.name} (${v.cost!.scope} level)`))}; add a variant with the same change against ${ref.variant.name} to see what it does for them.`);
    }
    out.push("");
  }
  return out;
}

/** The share over 1 s difference as compare.csv and the verdicts give it, in words (README, Outputs). */
export const DIFF_METHOD =
  "The difference to a reference (compare.csv's share_over_1s_diff) is the mean over the seeds of each seed's share over 1 s minus the reference's share on the same seed, " +
  "each share over that seed's own lookups; its interval is Student's t on those per-seed differences (paired). The shares in the tables are pooled over all the lookups of all the seeds, " +
  "so when seeds have different numbers of lookups the difference of the pooled shares can differ slightly from it.";
