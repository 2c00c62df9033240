import { COUNTER_NAMES, type CounterName } from "../kernel/conntrack.js";
import type { KernelFeatures } from "../kernel/version.js";

/**
 * One CPU's counters as `conntrack -S` prints them (conntrack-tools over
 * ctnetlink, ctnetlink_ct_stat_cpu_fill_info): `ignore=` only before 5.10
 * ("remove ignore stats"), `clash_resolve=` only from 5.10 (bc92470413f3).
 * Before 4.9 ctnetlink also sends CTA_STATS_SEARCHED, NEW, DELETE and
 * DELETE_LIST (4.8.15 nf_conntrack_netlink.c), in attribute order; the model
 * counts `new` but not searched, delete or delete_list, printed 0 (README,
 * Outputs).
 */
export function conntrackStatLine(cpu: number, c: Record<CounterName, number>, f: KernelFeatures): string {
  return [`cpu=${cpu}`, ...statLineNames(f).map((n) => `${n}=${statValue(c, n)}`)].join(" ");
}

/** A key of a `conntrack -S` line: the counter, or 0 for one the model does not count (searched, delete, delete_list). */
export function statValue(c: Record<CounterName, number>, name: string): number {
  return (COUNTER_NAMES as readonly string[]).includes(name) ? c[name as CounterName] : 0;
}

/** Before 4.9: ctnetlink_ct_stat_cpu_fill_info's attributes, CTA_STATS_SEARCHED to CTA_STATS_SEARCH_RESTART. */
const HOTPATH_STAT_LINE = ["searched", "found", "new", "invalid", "ignore", "delete", "delete_list", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart"] as const;

/** The keys of a `conntrack -S` line on this kernel, in its order (some, before 4.9, are not counters the model keeps). */
export function statLineNames(f: KernelFeatures): string[] {
  return f.hotpathStats ? [...HOTPATH_STAT_LINE] : statNames(f);
}

/** The counters `conntrack -S` prints on this kernel from 4.9 on (the packet path's counters only), in its order. */
export function statNames(f: KernelFeatures): CounterName[] {
  return COUNTER_NAMES.filter((n) => n !== "new" && (n !== "clash_resolve" || f.clashResolveCounter) && (n !== "ignore" || f.ignoreCounter) && (n !== "chaintoolong" || f.chainTooLongCounter));
}

/**
 * The header of /proc/net/stat/nf_conntrack as ct_cpu_seq_show (nf_conntrack_standalone.c)
 * prints it: `searched` became `clashres` in 5.10 ("conntrack: proc: rename stat column", after
 * bc92470413f3), `delete_list` became `chainlength` in 5.15 ("refuse insertion if chain has
 * grown too large"). The two double spaces are the kernel's.
 */
export function procStatHeader(f: KernelFeatures): string {
  const second = f.clashResolveCounter ? "clashres" : "searched";
  const eighth = f.chainTooLongCounter ? "chainlength" : "delete_list";
  return `entries  ${second} found new invalid ignore delete ${eighth} insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart`;
}

/**
 * One CPU's row of /proc/net/stat/nf_conntrack: 17 hex fields, "%08x  %08x ... %08x  %08x ...",
 * the first being the table's entry count (net->ct.count, the same on every row). Columns the
 * kernel prints as 0 are 0: new, delete, searched and delete_list from 4.9 (before their renames),
 * ignore from 5.10; before 4.9 `new` is counted, and searched, delete and delete_list, which the
 * model does not count, are 0; the expectation counters, which the model has no use for, are 0.
 */
export function procStatRow(entries: number, c: Record<CounterName, number>, f: KernelFeatures): string {
  const v = [
    entries,
    f.clashResolveCounter ? c.clash_resolve : 0,
    c.found,
    f.hotpathStats ? c.new : 0,
    c.invalid,
    f.ignoreCounter ? c.ignore : 0,
    0,
    f.chainTooLongCounter ? c.chaintoolong : 0,
    c.insert,
    c.insert_failed,
    c.drop,
    c.early_drop,
    c.error,
    0,
    0,
    0,
    c.search_restart,
  ].map(hex8);
  return `${v[0]}  ${v.slice(1, 13).join(" ")}  ${v.slice(13).join(" ")}`;
}

/** %08x of an unsigned int. */
function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}
