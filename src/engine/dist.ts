import type { Rng } from "./random.js";

/**
 * A distribution of non-negative values. Each draws from the stream it is given,
 * so the caller decides which named stream a component consumes.
 */
export interface Dist {
  sample(rng: Rng): number;
  /** Median, for reports and sanity checks. */
  readonly median: number;
  /** A short human description, e.g. "lognormal(median 2, p99 5)". */
  describe(): string;
}

const Z99 = 2.3263478740408408; // standard normal quantile at 0.99

export class Fixed implements Dist {
  constructor(readonly value: number) {}
  get median(): number {
    return this.value;
  }
  sample(_rng: Rng): number {
    return this.value;
  }
  describe(): string {
    return `fixed(${this.value})`;
  }
}

export class Uniform implements Dist {
  constructor(readonly min: number, readonly max: number) {
    if (!(max >= min)) throw new RangeError(`uniform: max ${max} < min ${min}`);
  }
  get median(): number {
    return (this.min + this.max) / 2;
  }
  sample(rng: Rng): number {
    return this.min + (this.max - this.min) * rng();
  }
  describe(): string {
    return `uniform(${this.min}, ${this.max})`;
  }
}

export class Exponential implements Dist {
  constructor(readonly mean: number) {
    if (!(mean > 0)) throw new RangeError(`exponential: mean ${mean} must be > 0`);
  }
  get median(): number {
    return this.mean * Math.LN2;
  }
  sample(rng: Rng): number {
    // Inversion; 1 - u is in (0, 1] so the log is finite.
    return -this.mean * Math.log(1 - rng());
  }
  describe(): string {
    return `exponential(mean ${this.mean})`;
  }
}

/** Lognormal given its median and 99th percentile (p99 > median). */
export class LogNormal implements Dist {
  readonly mu: number;
  readonly sigma: number;
  constructor(readonly median: number, readonly p99: number) {
    if (!(median > 0 && p99 > median)) throw new RangeError(`lognormal: need 0 < median < p99, got ${median}, ${p99}`);
    this.mu = Math.log(median);
    this.sigma = Math.log(p99 / median) / Z99;
  }
  sample(rng: Rng): number {
    return Math.exp(this.mu + this.sigma * normal(rng));
  }
  describe(): string {
    return `lognormal(median ${this.median}, p99 ${this.p99})`;
  }
}

/** Empirical: a value drawn from a list, with optional weights; interpolate=true draws between sorted values. */
export class Empirical implements Dist {
  private readonly values: number[];
  private readonly cum: number[];
  constructor(values: number[], weights?: number[], readonly interpolate = false) {
    if (values.length === 0) throw new RangeError("empirical: no values");
    if (weights !== undefined && weights.length !== values.length) throw new RangeError("empirical: weights and values differ in length");
    const pairs = values.map((v, i) => [v, weights ? weights[i]! : 1] as const);
    if (interpolate) pairs.sort((a, b) => a[0] - b[0]);
    this.values = pairs.map((p) => p[0]);
    let s = 0;
    this.cum = pairs.map((p) => (s += p[1]));
    if (!(s > 0)) throw new RangeError("empirical: weights sum to 0");
  }
  get median(): number {
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)]!;
  }
  sample(rng: Rng): number {
    const total = this.cum[this.cum.length - 1]!;
    const u = rng() * total;
    let lo = 0;
    let hi = this.cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cum[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    if (!this.interpolate || lo === this.values.length - 1) return this.values[lo]!;
    const prev = lo === 0 ? 0 : this.cum[lo - 1]!;
    const frac = (u - prev) / (this.cum[lo]! - prev);
    return this.values[lo]! + frac * (this.values[lo + 1]! - this.values[lo]!);
  }
  describe(): string {
    return `empirical(${this.values.length} values)`;
  }
}

/**
 * A standard normal deviate by inversion: Acklam's rational approximation of the
 * normal quantile (relative error below 1.2e-9). One uniform per draw and no
 * state, so a stream's numbers depend only on how many draws came before.
 */
export function normal(rng: Rng): number {
  let p = rng();
  if (p <= 0) p = Number.MIN_VALUE;
  if (p < P_LOW) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((C1 * q + C2) * q + C3) * q + C4) * q + C5) * q + C6) / ((((D1 * q + D2) * q + D3) * q + D4) * q + 1);
  }
  if (p > 1 - P_LOW) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((C1 * q + C2) * q + C3) * q + C4) * q + C5) * q + C6) / ((((D1 * q + D2) * q + D3) * q + D4) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((A1 * r + A2) * r + A3) * r + A4) * r + A5) * r + A6) * q) / (((((B1 * r + B2) * r + B3) * r + B4) * r + B5) * r + 1);
}

const A1 = -3.969683028665376e1;
const A2 = 2.209460984245205e2;
const A3 = -2.759285104469687e2;
const A4 = 1.38357751867269e2;
const A5 = -3.066479806614716e1;
const A6 = 2.506628277459239;
const B1 = -5.447609879822406e1;
const B2 = 1.615858368580409e2;
const B3 = -1.556989798598866e2;
const B4 = 6.680131188771972e1;
const B5 = -1.328068155288572e1;
const C1 = -7.784894002430293e-3;
const C2 = -3.223964580411365e-1;
const C3 = -2.400758277161838;
const C4 = -2.549732539343734;
const C5 = 4.374664141464968;
const C6 = 2.938163982698783;
const D1 = 7.784695709041462e-3;
const D2 = 3.224671290700398e-1;
const D3 = 2.445134137142996;
const D4 = 3.754408661907416;
const P_LOW = 0.02425;

/** A mixture: with probability p the value comes from `a`, otherwise from `b`. */
export class Mixture implements Dist {
  constructor(readonly p: number, readonly a: Dist, readonly b: Dist) {}
  get median(): number {
    return this.p >= 0.5 ? this.a.median : this.b.median;
  }
  sample(rng: Rng): number {
    return rng() < this.p ? this.a.sample(rng) : this.b.sample(rng);
  }
  describe(): string {
    return `mixture(${this.p}: ${this.a.describe()}, else ${this.b.describe()})`;
  }
}
