import type { Interval } from "./stats.js";
import { type Pooled, type Replication, type ReplicationTask, pool, replicate, replicationSeeds, shareDiff } from "./run.js";
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
  const tasks = comparisonTasks(c, k);
  const total = tasks.length;
  let done = 0;
  const reps = tasks.map((t) => {
    const r = replicate(t.loaded, t.seed, progress ? (f) => progress((done + f) / total) : undefined, t.overlap);
    done++;
    return r;
  });
  return assembleComparison(c, k, reps);
}

/**
 * The replications of a comparison, in the order assembleComparison() reads them: each variant
 * on each seed, then (when the base's overlap is calibrated) each reference variant on each seed
 * at the low, then the high end of the interval. Each is independent of the others (they can run
 * in any order, or at once).
 */
export function comparisonTasks(c: Comparison, k: number): ReplicationTask[] {
  const seeds = replicationSeeds(c.variants[0]!.loaded, k);
  const tasks: ReplicationTask[] = c.variants.flatMap((v) => seeds.map((seed) => ({ loaded: v.loaded, seed })));
  const interval = overlapInterval(c.variants[0]!.loaded.scenario);
  if (interval !== null) {
    for (const name of references(c)) {
      const v = c.variants.find((x) => x.name === name)!;
      for (const overlap of [interval.low, interval.high]) tasks.push(...seeds.map((seed) => ({ loaded: v.loaded, seed, overlap })));
    }
  }
  return tasks;
}

/** The variants others are compared against, in the order first named. */
function references(c: Comparison): string[] {
  return [...new Set(c.variants.map((v) => v.against))];
}

/** The comparison's result from its replications (`reps` in the order of comparisonTasks()). */
export function assembleComparison(c: Comparison, k: number, reps: readonly Replication[]): ComparisonResult {
  const seeds = replicationSeeds(c.variants[0]!.loaded, k);
  const of = (i: number) => reps.slice(i * k, (i + 1) * k);
  const byName = new Map(c.variants.map((v, i) => [v.name, i]));
  const results = c.variants.map((variant, i) => {
    const j = byName.get(variant.against)!;
    return { variant, reps: of(i), pooled: pool(of(i)), diff: j === i ? null : shareDiff(of(i), of(j)) };
  });
  return { comparison: c, seeds, results, calibration: calibrated(c, reps.slice(c.variants.length * k), k) };
}

/**
 * The base's calibrated overlap carried into the comparison: every reference variant runs again on
 * the same seeds at the low and the high end of the interval. A variant's verdict is made at the
 * estimate; these say how far its reference's slow share moves within the node's uncertainty.
 * `ends`: those replications, as comparisonTasks() orders them.
 */
function calibrated(c: Comparison, ends: readonly Replication[], k: number): Calibrated | null {
  const interval = overlapInterval(c.variants[0]!.loaded.scenario);
  if (interval === null) return null;
  const refs = references(c).map((name, r) => ({
    name,
    low: pool(ends.slice(2 * r * k, (2 * r + 1) * k)),
    high: pool(ends.slice((2 * r + 1) * k, (2 * r + 2) * k)),
  }));
  return { interval, references: refs };
}
