import jstat from "jstat";

const { jStat } = jstat;

/** A rate with its 95% interval: k events in n trials. */
export interface Proportion {
  /** Events counted. */
  k: number;
  /** Trials (pairs, lookups, inserts). */
  n: number;
  /** k / n (0 when n is 0). */
  estimate: number;
  /** The 95% interval's ends; low is 0 when k is 0. */
  low: number;
  high: number;
}

/**
 * The exact (Clopper-Pearson) 95% interval of a binomial proportion: the
 * 2.5% and 97.5% quantiles of Beta(k, n - k + 1) and Beta(k + 1, n - k).
 * It never undercovers, and it gives a zero count a finite upper bound
 * (about 3.69 / n), which is how a rate that was never seen is shown.
 */
export function proportion(k: number, n: number): Proportion {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n) {
    throw new RangeError(`proportion(${k}, ${n}): expected whole numbers with 0 <= k <= n`);
  }
  if (n === 0) return { k, n, estimate: 0, low: 0, high: 1 };
  const low = k === 0 ? 0 : jStat.beta.inv(0.025, k, n - k + 1);
  const high = k === n ? 1 : jStat.beta.inv(0.975, k + 1, n - k);
  return { k, n, estimate: k / n, low, high };
}

/** A rate in the summaries' words: "1.2e-5 (95%: 3.1e-6 to 4.0e-5)", or "0 (95%: below 3.7e-6)". */
export function formatProportion(p: Proportion, digits = 2): string {
  const g = (x: number) => (x === 0 ? "0" : x.toExponential(digits - 1));
  if (p.k === 0) return `0 (95%: below ${g(p.high)})`;
  return `${g(p.estimate)} (95%: ${g(p.low)} to ${g(p.high)})`;
}

/** A share as a percentage for tables: 2 decimals from 0.1%, 2 significant digits below. */
export function percentText(x: number): string {
  const v = x * 100;
  if (v === 0) return "0";
  return v >= 0.1 ? v.toFixed(2) : v.toPrecision(2);
}

/**
 * A rate with its interval in a table cell: "14.83% (13.58..16.16)", a zero as its upper bound
 * "0 (<0.12%)", "-" with no trials. `per: "percent"` for shares, "exp" for small rates ("1.2e-5 (8.1e-6..1.7e-5)").
 */
export function compactProportion(p: { k: number; n: number; estimate: number; low: number; high: number }, per: "percent" | "exp" = "percent"): string {
  if (p.n === 0) return "-";
  const f = per === "percent" ? percentText : (x: number) => (x === 0 ? "0" : x.toExponential(1));
  const unit = per === "percent" ? "%" : "";
  if (p.k === 0) return `0 (<${f(p.high)}${unit})`;
  return `${f(p.estimate)}${unit} (${f(p.low)}..${f(p.high)})`;
}
