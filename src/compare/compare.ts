import type { Interval } from "./stats.js";
import { type Pooled, type Replication, pool, replicate, replicationSeeds, shareDiff } from "./run.js";
import type { Comparison, Variant } from "./spec.js";

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
  return { comparison: c, seeds, results };
}
