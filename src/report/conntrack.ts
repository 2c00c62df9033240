import { COUNTER_NAMES, type CounterName } from "../kernel/conntrack.js";
import type { KernelFeatures } from "../kernel/version.js";

/**
 * One CPU's counters as `conntrack -S` prints them (conntrack-tools over
 * ctnetlink, ctnetlink_ct_stat_cpu_fill_info): `ignore=` only before 5.10
 * ("remove ignore stats"), `clash_resolve=` only from 5.10 (bc92470413f3).
 */
export function conntrackStatLine(cpu: number, c: Record<CounterName, number>, f: KernelFeatures): string {
  return [`cpu=${cpu}`, ...statNames(f).map((n) => `${n}=${c[n]}`)].join(" ");
}

/** The counters `conntrack -S` prints on this kernel, in its order. */
export function statNames(f: KernelFeatures): CounterName[] {
  return COUNTER_NAMES.filter((n) => (n !== "clash_resolve" || f.clashResolveCounter) && (n !== "ignore" || f.ignoreCounter) && (n !== "chaintoolong" || f.chainTooLongCounter));
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
 * kernel prints as 0 are 0: new, delete (4.19 and later), searched and delete_list before their
 * renames, ignore from 5.10; the expectation counters, which the model has no use for, are 0.
 */
export function procStatRow(entries: number, c: Record<CounterName, number>, f: KernelFeatures): string {
  const v = [
    entries,
    f.clashResolveCounter ? c.clash_resolve : 0,
    c.found,
    0,
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
