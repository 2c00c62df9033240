import { deviation, mean } from "d3-array";
import { proportion } from "../stats/proportion.js";

/** Student's t 0.975 quantiles for 1..30 degrees of freedom (two-sided 95%). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
const Z975 = 1.959964;

/** t(0.975, df); beyond the table, the Cornish-Fisher expansion (error below 1e-4 for df > 30). */
export function t975(df: number): number {
  if (df < 1) return NaN;
  if (df <= T975.length) return T975[df - 1]!;
  const z = Z975;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
}

/** The two ends of a 95% interval. */
export interface Bounds {
  low: number;
  high: number;
}

export interface Interval extends Bounds {
  mean: number;
}

/**
 * The 95% confidence interval for the mean of independent replications
 * (Student's t on K values); null with fewer than two. Clamped to [lo, hi].
 */
export function tInterval(values: readonly number[], lo = -Infinity, hi = Infinity): Interval | null {
  if (values.length < 2) return null;
  const m = mean(values)!;
  const half = (t975(values.length - 1) * deviation(values)!) / Math.sqrt(values.length);
  return { mean: m, low: Math.max(lo, m - half), high: Math.min(hi, m + half) };
}

/**
 * The interval for a difference between two variants run on the same seeds:
 * the pairs share their random workload, so the t interval is taken on the
 * per-seed differences (paired), which cancels the noise they share.
 */
export function pairedInterval(a: readonly number[], b: readonly number[]): Interval | null {
  return tInterval(a.map((v, i) => v - b[i]!));
}

/** Every multiset of k of the indices 0..k-1 (as multiplicities) with its bootstrap probability k!/(prod m!)/k^k. */
export function seedMultisets(k: number): { m: number[]; p: number }[] {
  const out: { m: number[]; p: number }[] = [];
  const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
  const m = new Array<number>(k).fill(0);
  const walk = (i: number, left: number) => {
    if (i === k - 1) {
      m[i] = left;
      out.push({ m: [...m], p: fact(k) / m.reduce((a, c) => a * fact(c), 1) / k ** k });
      return;
    }
    for (let c = left; c >= 0; c--) {
      m[i] = c;
      walk(i + 1, left - c);
    }
  };
  walk(0, k);
  return out;
}

/** Bootstrap resamples enumerated exactly up to this many replications (C(15, 8) = 6435 multisets); beyond, drawn. */
export const EXACT_BOOTSTRAP_MAX = 8;
export const BOOTSTRAP_DRAWS = 2000;

/**
 * The 95% percentile-bootstrap interval of a quantile of the pooled lookups,
 * resampling whole replications (seeds): a lookup's latency depends on the
 * others of its run, a run's do not depend on other runs. With up to 8
 * replications every resample is enumerated with its probability (exact);
 * beyond, BOOTSTRAP_DRAWS resamples come from `rng`. Each resample's quantile
 * (R-7, as d3.quantileSorted) is found by binary search on the pooled values,
 * counting each replication's values at most v with its multiplicity.
 */
export function bootstrapQuantile(reps: readonly Float64Array[], pooled: Float64Array, q: number, rng: () => number): Bounds | null {
  const k = reps.length;
  if (k < 2 || pooled.length === 0) return null;
  const resamples: { m: number[]; p: number }[] =
    k <= EXACT_BOOTSTRAP_MAX
      ? seedMultisets(k)
      : Array.from({ length: BOOTSTRAP_DRAWS }, () => {
          const m = new Array<number>(k).fill(0);
          for (let i = 0; i < k; i++) m[Math.floor(rng() * k)]!++;
          return { m, p: 1 / BOOTSTRAP_DRAWS };
        });
  const upper = (a: Float64Array, v: number) => {
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const values: { v: number; p: number }[] = [];
  for (const { m, p } of resamples) {
    let n = 0;
    for (let i = 0; i < k; i++) n += m[i]! * reps[i]!.length;
    if (n === 0) continue;
    // The r-th smallest (0-based) of the resample: the least pooled value with at least r+1 values at most it.
    const nth = (r: number) => {
      let lo = 0;
      let hi = pooled.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        let c = 0;
        for (let i = 0; i < k; i++) if (m[i]! > 0) c += m[i]! * upper(reps[i]!, pooled[mid]!);
        if (c >= r + 1) hi = mid;
        else lo = mid + 1;
      }
      return pooled[lo]!;
    };
    const h = (n - 1) * q;
    const f = Math.floor(h);
    const a = nth(f);
    values.push({ v: f + 1 < n ? a + (h - f) * (nth(f + 1) - a) : a, p });
  }
  values.sort((x, y) => x.v - y.v);
  const at = (level: number) => {
    let c = 0;
    for (const x of values) {
      c += x.p;
      if (c >= level - 1e-12) return x.v;
    }
    return values[values.length - 1]!.v;
  };
  return { low: at(0.025), high: at(0.975) };
}

/**
 * The 95% interval of a share over K replications: Student's t on the per-seed shares, except
 * when the count is 0 in every seed, where t degenerates to 0..0: then the pooled exact
 * (Clopper-Pearson) upper bound of 0 events in all `trials` (stats/proportion.ts), about 3.69 / n.
 * Null with fewer than two replications and a count above 0.
 */
export function shareInterval(shares: readonly number[], events: number, trials: number): Interval | null {
  if (events === 0 && trials > 0) return { mean: 0, low: 0, high: proportion(0, trials).high };
  return tInterval(shares, 0, 1);
}
