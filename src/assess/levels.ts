import type { Measure } from "./risk.js";
import type { NodeLoadSpec } from "./nodeload.js";

/**
 * Risk levels, lowest first. The race can slow a workload only where its pairs meet in conntrack
 * and the node's kernel then loses a query; so:
 * - none: even with every A+AAAA pair meeting, the model finds no lookup over 1 s on this path;
 * - low: exposed (some lookups over 1 s when pairs meet), none at the node's own overlap rate;
 * - medium: lookups over 1 s at the node's rate, under 1% of them;
 * - high: 1% or more at the node's rate.
 * The 1% line is a reporting threshold, not a model constant.
 */
export const LEVELS = ["none", "low", "medium", "high"] as const;
export type Level = (typeof LEVELS)[number];
export const HIGH_SHARE = 0.01;

export interface AssessOptions {
  lookups: number;
  seed: number;
  /** --node-load: the nodes' (or pools') own load; the others are idle, the model's default. */
  nodeLoads?: NodeLoadSpec[];
}

/** One resolver's figures for a row: when every pair meets, and at the node's overlap (its interval's ends when calibrated). */
export interface ResolverRisk {
  resolver: "glibc" | "musl" | "go";
  exposure: Measure;
  atRate: Measure;
  atLow: Measure | null;
  atHigh: Measure | null;
  level: Level;
}
