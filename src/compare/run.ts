import { quantileSorted } from "d3-array";
import { type Summary, summarize } from "../stats/summary.js";
import { InputError } from "../scenario/inputerror.js";
import type { LoadedScenario } from "../scenario/load.js";
import { showCount } from "../scenario/limits.js";
import { MAX_REPLICATED_QUERIES, estimatedQueries } from "./cost.js";
import { runScenario } from "../scenario/run.js";
import { stream } from "../engine/random.js";
import { type Bounds, type Interval, bootstrapQuantile, pairedInterval, shareInterval } from "./stats.js";


/** One run of one scenario on one seed. */
export interface Replication {
  seed: number;
  summary: Summary;
  /** Lookups answered without an IPv6 address (outcome "OK v4"). */
  okV4: number;
  /** Every lookup's latency, ms, ascending. */
  latMs: Float64Array;
}

/** One replication to run, as plain data (a worker thread can be handed it). */
export interface ReplicationTask {
  loaded: LoadedScenario;
  seed: number;
  /** The client node at this migration_probability (an end of its calibrated interval). */
  overlap?: number;
}

/** The seeds of K replications: the scenario's own seed, then the next ones (independent streams, since each stream is keyed by seed and name). */
export function replicationSeeds(loaded: LoadedScenario, k: number): number[] {
  return Array.from({ length: k }, (_, i) => loaded.scenario.seed + i);
}

/** `overlap`: the client node at this migration_probability instead of the scenario's (an end of its calibrated interval). */
export function replicate(loaded: LoadedScenario, seed: number, progress?: (f: number) => void, overlap?: number): Replication {
  // No row is kept: each leaves as soon as it is done, and the figures (latencies, counts) stay.
  const res = runScenario(loaded, { seed, sink: () => {}, ...(progress ? { progress } : {}), ...(overlap !== undefined ? { overlap } : {}) });
  const summary = summarize(res);
  return { seed, summary, okV4: res.log.figures().okV4, latMs: res.log.sortedLatencies() };
}

/** Figures over K replications: pooled distribution, and intervals across replications. */
export interface Pooled {
  replications: number;
  lookups: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  share_over_1s: number;
  share_ge_5s: number;
  /** Lookups over 1 s and at or over 5 s, over every replication. */
  over_1s: number;
  ge_5s: number;
  share_ok_v4: number;
  share_failed: number;
  queries_per_lookup: number;
  clashes: number;
  insert_failed: number;
  drop: number;
  clash_resolve: number;
  /** 95% percentile-bootstrap interval of the pooled p99, resampling seeds. */
  p99_ci: Bounds | null;
  /** The shares' 95% intervals across seeds (compare/stats.ts shareInterval: a count of 0 in every seed gives the pooled upper bound). */
  share_over_1s_ci: Interval | null;
  share_ge_5s_ci: Interval | null;
  /** Every lookup of every replication, ms, ascending (for plots). */
  latMs: Float64Array;
}

export function pool(reps: Replication[]): Pooled {
  const total = reps.reduce((s, r) => s + r.latMs.length, 0);
  const all = new Float64Array(total);
  let off = 0;
  for (const r of reps) {
    all.set(r.latMs, off);
    off += r.latMs.length;
  }
  all.sort();
  const q = (p: number) => (total === 0 ? 0 : quantileSorted(all as unknown as number[], p)!);
  const sum = (f: (s: Summary) => number) => reps.reduce((a, r) => a + f(r.summary), 0);
  const share = (count: number) => (total === 0 ? 0 : count / total);
  let over1 = 0;
  let ge5 = 0;
  for (let i = total - 1; i >= 0 && all[i]! > 1000; i--) {
    over1++;
    if (all[i]! >= 5000) ge5++;
  }
  return {
    replications: reps.length,
    lookups: total,
    p50_ms: q(0.5),
    p90_ms: q(0.9),
    p99_ms: q(0.99),
    p999_ms: q(0.999),
    max_ms: total === 0 ? 0 : all[total - 1]!,
    share_over_1s: share(over1),
    share_ge_5s: share(ge5),
    over_1s: over1,
    ge_5s: ge5,
    share_ok_v4: share(reps.reduce((a, r) => a + r.okV4, 0)),
    share_failed: share(sum((s) => s.failed)),
    queries_per_lookup: share(sum((s) => s.queries_sent)),
    clashes: sum((s) => s.clashes),
    insert_failed: sum((s) => s.insert_failed),
    drop: sum((s) => s.drop),
    clash_resolve: sum((s) => s.clash_resolve),
    p99_ci: bootstrapQuantile(
      reps.map((r) => r.latMs),
      all,
      0.99,
      stream(reps.map((r) => r.seed).join("+"), "bootstrap"),
    ),
    share_over_1s_ci: shareInterval(
      reps.map((r) => r.summary.share_over_1s),
      over1,
      total,
    ),
    share_ge_5s_ci: shareInterval(
      reps.map((r) => r.summary.share_ge_5s),
      ge5,
      total,
    ),
    latMs: all,
  };
}

/** The paired interval of a variant's share over 1 s minus another's, seed by seed. */
export function shareDiff(a: Replication[], b: Replication[]): Interval | null {
  return pairedInterval(
    a.map((r) => r.summary.share_over_1s),
    b.map((r) => r.summary.share_over_1s),
  );
}

/** Lookups a comparison or sweep keeps in memory at once: every replication's latencies, then each variant's pooled. */
export const MAX_REPLICATED_LOOKUPS = 20_000_000;

/**
 * Refuses (InputError) replications that cannot be honoured: seeds past 2^53 - 1 (base.seed + k - 1),
 * or more lookups over all runs than a comparison keeps in memory. `what`: "variants" or "grid points".
 */
export function checkReplications(file: string, runs: LoadedScenario[], k: number, what: string, seedsFrom: string): void {
  const seed = runs[0]!.scenario.seed;
  if (seed + k - 1 > Number.MAX_SAFE_INTEGER) {
    throw new InputError(`${file}: base.seed ${seed} with ${k} seeds (${seedsFrom}) runs on seeds up to base.seed + ${k - 1}, past 2^53 - 1 (${Number.MAX_SAFE_INTEGER}), where seeds are no longer exact; use a smaller base.seed.`);
  }
  const perSeed = runs.reduce((a, l) => a + l.scenario.pods.reduce((b, p) => b + (p.lookups ?? Math.round(p.rate_per_s! * p.duration_s!)), 0), 0);
  const total = perSeed * k;
  const queries = runs.reduce((a, l) => a + estimatedQueries(l), 0) * k;
  if (queries > MAX_REPLICATED_QUERIES) {
    throw new InputError(
      `${file}: ${k} seeds (${seedsFrom}) of ${runs.length} ${what} may send up to ${showCount(queries)} queries in all (each lookup walks its pod's search list, ${Math.max(...runs.flatMap((l) => l.resolvConfs.map((r) => r.search.length)))} domains at most, A and AAAA for each), ` +
        `more than the ${MAX_REPLICATED_QUERIES.toLocaleString("en-US")} a comparison or sweep simulates (some ten minutes of a core); shorten the search list, or use fewer lookups, ${what} or seeds.`,
    );
  }
  if (total > MAX_REPLICATED_LOOKUPS) {
    throw new InputError(
      `${file}: ${k} seeds (${seedsFrom}) of ${runs.length} ${what} asking for ${perSeed.toLocaleString("en-US")} lookups per seed in all make ${total.toLocaleString("en-US")} lookups, more than the ${MAX_REPLICATED_LOOKUPS.toLocaleString("en-US")} a comparison or sweep keeps in memory; use fewer seeds, or fewer lookups in base.`,
    );
  }
}
