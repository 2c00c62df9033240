import type { Interval } from "./stats.js";
import { type Pooled, type Replication, pool, replicate, replicationSeeds, shareDiff } from "./run.js";
import type { Comparison, Variant } from "./spec.js";
import { type OverlapInterval, overlapInterval } from "../scenario/overlap.js";

export interface VariantResult {
  variant: Variant;
  reps: Replication[];
  pooled: Pooled;
  /** Share over 1 s minus that of the variant it is compared against, paired by seed (null for itself or with one seed). */
  diff: Interval | null;
}

export interface ComparisonResult {
  comparison: Comparison;
  seeds: number[];
  results: VariantResult[];
  /** When the base node's overlap is calibrated: its interval, and each reference variant pooled at both ends. */
  calibration: Calibrated | null;
}

/** The reference variants (those others are compared against) at the ends of the base's calibrated overlap. */
export interface Calibrated {
  interval: OverlapInterval;
  references: { name: string; low: Pooled; high: Pooled }[];
}

/**
 * Runs every variant on the same K seeds. Common random numbers: the workload
 * (arrival times, think times, names) draws from streams of its own, keyed by
 * seed and pod name, so every variant sees the same lookups at the same times
 * and differences come from the change, not from the draw.
 */
export function runComparison(c: Comparison, k: number, progress?: (done: number) => void): ComparisonResult {
  const seeds = replicationSeeds(c.variants[0]!.loaded, k);
  const total = c.variants.length * k;
  let done = 0;
  const reps = c.variants.map((v) =>
    seeds.map((seed) => {
      const r = replicate(v.loaded, seed, progress ? (f) => progress((done + f) / total) : undefined);
      done++;
      return r;
    }),
  );
  const byName = new Map(c.variants.map((v, i) => [v.name, i]));
  const results = c.variants.map((variant, i) => {
    const j = byName.get(variant.against)!;
    return { variant, reps: reps[i]!, pooled: pool(reps[i]!), diff: j === i ? null : shareDiff(reps[i]!, reps[j]!) };
  });
  return { comparison: c, seeds, results, calibration: calibrated(c, seeds) };
}

/**
 * The base's calibrated overlap carried into the comparison: every reference variant runs again on
 * the same seeds at the low and the high end of the interval. A variant's verdict is made at the
 * estimate; these say how far its reference's slow share moves within the node's uncertainty.
 */
function calibrated(c: Comparison, seeds: number[]): Calibrated | null {
  const interval = overlapInterval(c.variants[0]!.loaded.scenario);
  if (interval === null) return null;
  const refs = [...new Set(c.variants.map((v) => v.against))];
  const references = refs.map((name) => {
    const v = c.variants.find((x) => x.name === name)!;
    const at = (overlap: number) => pool(seeds.map((seed) => replicate(v.loaded, seed, undefined, overlap)));
    return { name, low: at(interval.low), high: at(interval.high) };
  });
  return { interval, references };
}
