import { max, mean, quantileSorted, sum } from "d3-array";
import type { CounterName } from "../kernel/conntrack.js";
import type { HopStats } from "../kernel/netns.js";
import type { LookupLog } from "../model/log.js";

const MS = 1_000_000;

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
  share_over_1s: number;
  share_ge_5s: number;
  failed: number;
  queries_sent: number;
  queries_lost: number;
  clashes: number;
  insert_failed: number;
  drop: number;
  clash_resolve: number;
}

/** A conntrack hop's figures after a run. */
export interface HopFigures {
  counters: Record<CounterName, number>;
  hop: HopStats;
}

/** What a summary reads of a run (scenario/run.ts's RunResult is one). */
export interface RunFigures {
  name: string;
  seed: number;
  kernel: string;
  /** Every finished lookup. */
  log: LookupLog;
  /** The client node's hop. */
  client: HopFigures;
  /** The hops of the nodes that run endpoints. */
  endpointNodes: HopFigures[];
}

/** The distribution of one run: quantiles (d3 quantileSorted, R-7), shares over thresholds, and the counters. */
export function summarize(res: RunFigures): Summary {
  const log = res.log;
  const lat: number[] = [];
  for (let i = 0; i < log.length; i++) if (log.has(i)) lat.push(log.latencyNs(i) / MS);
  lat.sort((a, b) => a - b);
  const n = lat.length;
  const q = (p: number) => (n === 0 ? 0 : quantileSorted(lat, p)!);
  const over1 = lat.filter((v) => v > 1000).length;
  const ge5 = lat.filter((v) => v >= 5000).length;
  let sent = 0;
  let lost = 0;
  let failed = 0;
  for (let i = 0; i < log.length; i++) {
    if (!log.has(i)) continue;
    const t = log.tally(i);
    sent += t.queriesSent;
    lost += t.queriesLost;
    if (log.result(i).status !== "OK") failed++;
  }
  return {
    scenario: res.name,
    seed: res.seed,
    kernel: res.kernel,
    lookups: n,
    p50_ms: q(0.5),
    p90_ms: q(0.9),
    p99_ms: q(0.99),
    p999_ms: q(0.999),
    max_ms: n === 0 ? 0 : max(lat)!,
    mean_ms: n === 0 ? 0 : mean(lat)!,
    share_over_1s: n === 0 ? 0 : over1 / n,
    share_ge_5s: n === 0 ? 0 : ge5 / n,
    failed,
    queries_sent: sent,
    queries_lost: lost,
    // Every conntrack hop on the path: the client node's, and those of the endpoints' nodes.
    clashes: res.client.hop.clashes + sum(res.endpointNodes, (n) => n.hop.clashes),
    insert_failed: res.client.counters.insert_failed + sum(res.endpointNodes, (n) => n.counters.insert_failed),
    drop: res.client.counters.drop + sum(res.endpointNodes, (n) => n.counters.drop),
    clash_resolve: res.client.counters.clash_resolve + sum(res.endpointNodes, (n) => n.counters.clash_resolve),
  };
}
