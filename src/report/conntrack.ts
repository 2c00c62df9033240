import { COUNTER_NAMES, type CounterName } from "../kernel/conntrack.js";
import type { KernelFeatures } from "../kernel/version.js";

/**
 * One CPU's counters as `conntrack -S` prints them (conntrack-tools over
 * ctnetlink): `clash_resolve=` exists only from 5.10 (bc92470413f3).
 */
export function conntrackStatLine(cpu: number, c: Record<CounterName, number>, f: KernelFeatures): string {
  const names = COUNTER_NAMES.filter((n) => n !== "clash_resolve" || f.clashResolveCounter);
  return [`cpu=${cpu}`, ...names.map((n) => `${n}=${c[n]}`)].join(" ");
}
