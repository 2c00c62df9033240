import { mean, quantileSorted, sum } from "d3-array";
import type { CounterName } from "../kernel/conntrack.js";
import type { HopStats } from "../kernel/netns.js";
import type { LookupLog } from "../model/log.js";
import { type Proportion, proportion } from "./proportion.js";

export interface Summary {
  scenario: string;
  seed: number;
  kernel: string;
  lookups: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  mean_ms: number;
  /** Lookups over 1 s, and at or over 5 s (the shares' counts). */
  over_1s: number;
  ge_5s: number;
  share_over_1s: number;
  /** The exact (Clopper-Pearson) 95% interval of each share (stats/proportion.ts). */
  share_over_1s_low: number;
  share_over_1s_high: number;
  share_ge_5s: number;
  share_ge_5s_low: number;
  share_ge_5s_high: number;
  /** Lookups that did not return OK, those the run ended before included. */
  failed: number;
  /** Lookups the run ended before (UNFINISHED or NOT_STARTED in the lookups CSV); counted in lookups and failed too. */
  unfinished: number;
  /**
   * For a node whose overlap is calibrated (node.migration_probability: {estimate, low, high}): the
   * interval's ends, and the shares of slow lookups the same run gives at each end (null otherwise).
   */
  overlap_low: number | null;
  overlap_high: number | null;
  share_over_1s_at_overlap_low: number | null;
  share_over_1s_at_overlap_high: number | null;
  share_ge_5s_at_overlap_low: number | null;
  share_ge_5s_at_overlap_high: number | null;
  queries_sent: number;
  queries_lost: number;
  /** Pairs sent (two queries to one server from one socket at once) and those with an insert clash on the path. */
  pairs: number;
  pairs_clashed: number;
  /** Null when no pair was sent (TCP, single requests). */
  share_pairs_clashed: number | null;
  share_pairs_clashed_low: number | null;
  share_pairs_clashed_high: number | null;
  clashes: number;
  /** insert, summed over the nodes whose kernel counts it (before 4.9); 0 elsewhere. */
  insert: number;
  insert_failed: number;
  /** insert_failed per insert over the nodes that count insert, with its interval; null where none does (or no insert). */
  insert_failed_per_insert: number | null;
  insert_failed_per_insert_low: number | null;
  insert_failed_per_insert_high: number | null;
  drop: number;
  clash_resolve: number;
}

/** A conntrack hop's figures after a run. */
export interface HopFigures {
  counters: Record<CounterName, number>;
  hop: HopStats;
  /** hotpathStats: the node's kernel counts insert on the packet path (before 4.9). */
  features: { hotpathStats: boolean };
}

/** What a summary reads of a run (scenario/run.ts's RunResult is one). */
export interface RunFigures {
  name: string;
  seed: number;
  kernel: string;
  /** Every lookup's figures (those the run ended before included), released in lookup order. */
  log: Pick<LookupLog, "figures" | "sortedLatencies">;
  /** The client node's hop. */
  client: HopFigures;
  /** The hops of the nodes that run endpoints. */
  endpointNodes: HopFigures[];
}

/** The distribution of one run: quantiles (d3 quantileSorted, R-7), shares over thresholds, and the counters. */
export function summarize(res: RunFigures): Summary {
  const f = res.log.figures();
  // Every latency, ascending (8 bytes a lookup): the quantiles are exact.
  const lat = res.log.sortedLatencies();
  const n = lat.length;
  const q = (p: number) => (n === 0 ? 0 : quantileSorted(lat as unknown as number[], p)!);
  let over1 = 0;
  let ge5 = 0;
  for (let i = n - 1; i >= 0 && lat[i]! > 1000; i--) {
    over1++;
    if (lat[i]! >= 5000) ge5++;
  }
  const { sent, lost, failed, unfinished, pairs, pairsClashed } = f;
  const nodes = [res.client, ...res.endpointNodes];
  const counting = nodes.filter((h) => h.features.hotpathStats);
  const inserts = sum(counting, (h) => h.counters.insert);
  const failedInserts = sum(counting, (h) => h.counters.insert_failed);
  const perInsert = insertFailedPerInsert(failedInserts, inserts);
  const over = proportion(over1, n);
  const slow = proportion(ge5, n);
  const clashed = pairs === 0 ? null : proportion(pairsClashed, pairs);
  return {
    scenario: res.name,
    seed: res.seed,
    kernel: res.kernel,
    lookups: n,
    p50_ms: q(0.5),
    p90_ms: q(0.9),
    p99_ms: q(0.99),
    p999_ms: q(0.999),
    max_ms: n === 0 ? 0 : lat[n - 1]!,
    mean_ms: n === 0 ? 0 : mean(lat)!,
    over_1s: over1,
    ge_5s: ge5,
    share_over_1s: over.estimate,
    share_over_1s_low: over.low,
    share_over_1s_high: over.high,
    share_ge_5s: slow.estimate,
    share_ge_5s_low: slow.low,
    share_ge_5s_high: slow.high,
    failed,
    unfinished,
    overlap_low: null,
    overlap_high: null,
    share_over_1s_at_overlap_low: null,
    share_over_1s_at_overlap_high: null,
    share_ge_5s_at_overlap_low: null,
    share_ge_5s_at_overlap_high: null,
    queries_sent: sent,
    queries_lost: lost,
    pairs,
    pairs_clashed: pairsClashed,
    share_pairs_clashed: clashed?.estimate ?? null,
    share_pairs_clashed_low: clashed?.low ?? null,
    share_pairs_clashed_high: clashed?.high ?? null,
    // Every conntrack hop on the path: the client node's, and those of the endpoints' nodes.
    clashes: res.client.hop.clashes + sum(res.endpointNodes, (n) => n.hop.clashes),
    insert: inserts,
    insert_failed: res.client.counters.insert_failed + sum(res.endpointNodes, (n) => n.counters.insert_failed),
    insert_failed_per_insert: perInsert?.estimate ?? null,
    insert_failed_per_insert_low: perInsert?.low ?? null,
    insert_failed_per_insert_high: perInsert?.high ?? null,
    drop: res.client.counters.drop + sum(res.endpointNodes, (n) => n.counters.drop),
    clash_resolve: res.client.counters.clash_resolve + sum(res.endpointNodes, (n) => n.counters.clash_resolve),
  };
}

/**
 * insert_failed per insert, the field's ratio (calibrate reads it the same way): only where insert
 * is counted and moved, and as an interval only while insert_failed <= insert (a loser is no
 * subset of the inserts, but each clashed with one, so this holds but for three-way clashes).
 */
export function insertFailedPerInsert(failed: number, inserts: number): Proportion | null {
  if (inserts === 0 || failed > inserts) return null;
  return proportion(failed, inserts);
}
