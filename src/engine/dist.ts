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

/** A standard normal deviate (Box-Muller, one of the pair; no cached state, so draws stay per call). */
export function normal(rng: Rng): number {
  const u1 = 1 - rng();
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

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
