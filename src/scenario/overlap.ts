import type { Scenario } from "./schema.js";

/** A node's measured overlap per burst with its 95% interval (node.migration_probability as dnsrace calibrate writes it). */
export interface OverlapInterval {
  estimate: number;
  low: number;
  high: number;
}

/** The scenario's overlap interval, or null when it gives a bare probability (or none). */
export function overlapInterval(s: Scenario): OverlapInterval | null {
  const m = s.node.migration_probability;
  return m === undefined || typeof m === "number" ? null : m;
}

/** The probability the client node runs with: the bare value, or the interval's estimate. */
export function overlapEstimate(s: Scenario): number | undefined {
  const m = s.node.migration_probability;
  return m === undefined || typeof m === "number" ? m : m.estimate;
}
