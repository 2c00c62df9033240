import { COUNTER_NAMES, type CounterName } from "../kernel/conntrack.js";
import type { KernelFeatures } from "../kernel/version.js";

/**
 * One CPU's counters as `conntrack -S` prints them (conntrack-tools over
 * ctnetlink, ctnetlink_ct_stat_cpu_fill_info): `ignore=` only before 5.10
 * ("remove ignore stats"), `clash_resolve=` only from 5.10 (bc92470413f3).
 */
export function conntrackStatLine(cpu: number, c: Record<CounterName, number>, f: KernelFeatures): string {
  const names = COUNTER_NAMES.filter((n) => (n !== "clash_resolve" || f.clashResolveCounter) && (n !== "ignore" || f.ignoreCounter));
  return [`cpu=${cpu}`, ...names.map((n) => `${n}=${c[n]}`)].join(" ");
}
