import { deviation, mean } from "d3-array";

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

export interface Interval {
  mean: number;
  low: number;
  high: number;
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
