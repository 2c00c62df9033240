import { type Dist, Empirical, Exponential, Fixed, LogNormal, Uniform } from "../engine/dist.js";

/** A distribution as written in a scenario, in the unit its field names (ms, us). */
export type DistSpec =
  | number
  | { fixed: number }
  | { uniform: { min: number; max: number } }
  | { exponential: { mean: number } }
  | { lognormal: { median: number; p99: number } }
  | { empirical: { values: number[]; weights?: number[] } };

export const DIST_HELP =
  "a number from 0 to 1e9 (fixed), or one of {fixed: V}, {uniform: {min: A, max: B}}, {exponential: {mean: M}}, {lognormal: {median: M, p99: P}}, {empirical: {values: [...], weights: [...]}}";

/** Checks a scenario value is a distribution; returns a reason if not. */
/** The largest value a distribution may take, in its field's unit (a day in ms is 8.64e7: generous for any delay). */
export const DIST_MAX = 1e9;

export function checkDist(v: unknown): string | null {
  const num = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x >= 0 && x <= DIST_MAX;
  if (num(v)) return null;
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `expected ${DIST_HELP}`;
  const keys = Object.keys(v);
  if (keys.length !== 1) return `expected exactly one kind of distribution, found keys ${keys.join(", ") || "(none)"}; ${DIST_HELP}`;
  const kind = keys[0]!;
  const body = (v as Record<string, unknown>)[kind];
  const obj = (x: unknown, fields: string[]): string | null => {
    if (typeof x !== "object" || x === null || Array.isArray(x)) return `"${kind}" needs {${fields.join(", ")}}`;
    const extra = Object.keys(x).filter((k) => !fields.includes(k) && !(kind === "empirical" && k === "weights"));
    if (extra.length > 0) return `"${kind}" has unknown field ${extra.map((e) => `"${e}"`).join(", ")} (allowed: ${fields.join(", ")}${kind === "empirical" ? ", weights" : ""})`;
    for (const f of fields) if (!(f in x)) return `"${kind}" is missing "${f}"`;
    return null;
  };
  switch (kind) {
    case "fixed":
      return num(body) ? null : `"fixed" needs a number from 0 to 1e9`;
    case "uniform": {
      const e = obj(body, ["min", "max"]);
      if (e) return e;
      const b = body as { min: unknown; max: unknown };
      if (!num(b.min) || !num(b.max)) return `"uniform" min and max must be numbers from 0 to 1e9`;
      return (b.max as number) >= (b.min as number) ? null : `"uniform" needs max >= min`;
    }
    case "exponential": {
      const e = obj(body, ["mean"]);
      if (e) return e;
      const m = (body as { mean: unknown }).mean;
      return num(m) && (m as number) > 0 ? null : `"exponential" mean must be a number above 0, at most 1e9`;
    }
    case "lognormal": {
      const e = obj(body, ["median", "p99"]);
      if (e) return e;
      const b = body as { median: unknown; p99: unknown };
      if (!num(b.median) || !num(b.p99) || (b.median as number) <= 0) return `"lognormal" median and p99 must be numbers above 0, at most 1e9`;
      return (b.p99 as number) > (b.median as number) ? null : `"lognormal" needs p99 > median`;
    }
    case "empirical": {
      const e = obj(body, ["values"]);
      if (e) return e;
      const b = body as { values: unknown; weights?: unknown };
      if (!Array.isArray(b.values) || b.values.length === 0 || !b.values.every(num)) return `"empirical" values must be a non-empty list of numbers from 0 to 1e9`;
      if (b.weights !== undefined && (!Array.isArray(b.weights) || b.weights.length !== b.values.length || !b.weights.every(num)))
        return `"empirical" weights must be a list of numbers from 0 to 1e9, one per value`;
      if (b.weights !== undefined && !(b.weights as number[]).some((w) => w > 0)) return `"empirical" weights must not all be 0`;
      return null;
    }
    default:
      return `unknown distribution "${kind}"; ${DIST_HELP}`;
  }
}

/** Builds the distribution, scaling values by `scale` (e.g. 1e6 for ms to ns). Call after checkDist. */
export function buildDist(v: DistSpec, scale: number): Dist {
  if (typeof v === "number") return new Fixed(v * scale);
  if ("fixed" in v) return new Fixed(v.fixed * scale);
  if ("uniform" in v) return new Uniform(v.uniform.min * scale, v.uniform.max * scale);
  if ("exponential" in v) return new Exponential(v.exponential.mean * scale);
  if ("lognormal" in v) return new LogNormal(v.lognormal.median * scale, v.lognormal.p99 * scale);
  return new Empirical(
    v.empirical.values.map((x) => x * scale),
    v.empirical.weights,
  );
}

/** The mean of a checked distribution, in its field's unit (for estimates of a run's length). */
export function distMean(v: DistSpec): number {
  if (typeof v === "number") return v;
  if ("fixed" in v) return v.fixed;
  if ("uniform" in v) return (v.uniform.min + v.uniform.max) / 2;
  if ("exponential" in v) return v.exponential.mean;
  if ("lognormal" in v) {
    const sigma = Math.log(v.lognormal.p99 / v.lognormal.median) / 2.326347874;
    return v.lognormal.median * Math.exp((sigma * sigma) / 2);
  }
  const w = v.empirical.weights ?? v.empirical.values.map(() => 1);
  const total = w.reduce((a, b) => a + b, 0);
  return v.empirical.values.reduce((a, x, i) => a + x * w[i]!, 0) / total;
}
