import type { Bounds } from "../compare/stats.js";
import { percentText } from "../stats/proportion.js";

/** A share as a percentage with two decimals: "0.63%". */
export const pct = (v: number, digits = 2) => `${(v * 100).toFixed(digits)}%`;
/** A latency in ms as read: "0.49 ms", "40.6 ms", "5.07 s". */
export const msText = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 1)} ms`);
/** " (low to high)" in the given format, or nothing without an interval. */
export const ciText = (i: Bounds | null, f: (v: number) => string) => (i === null ? "" : ` (${f(i.low)} to ${f(i.high)})`);

/**
 * A pooled share with its interval, in words: "14.83% (13.58% to 16.16%)", or for a count of 0 in
 * every seed its upper bound, "0 (95% upper bound 0.031%)" (compare/stats.ts shareInterval).
 */
export function shareText(share: number, count: number, ci: Bounds | null): string {
  if (count === 0) return ci === null ? "0" : `0 (95% upper bound ${percentText(ci.high)}%)`;
  return `${pct(share)}${ciText(ci, (x) => pct(x))}`;
}

/** The same for a console table: "14.83% (13.58..16.16)", "0 (<0.031%)". */
export function shareCell(share: number, count: number, ci: Bounds | null): string {
  if (count === 0) return ci === null ? "0" : `0 (<${percentText(ci.high)}%)`;
  return ci === null ? pct(share) : `${pct(share)} (${percentText(ci.low)}..${percentText(ci.high)})`;
}

/** Text from a YAML field on one line (a folded field ends in a newline). */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** "a, b and c". */
export function listText(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** A grid parameter's dotted path in words, for an axis: kube_dns.endpoints is "kube-dns endpoints", pods.libc "pod libc". */
export function paramWords(path: string): string {
  const parts = path.split(".");
  const head: Record<string, string> = { kube_dns: "kube-dns", pods: "pod", node: "node", endpoint_nodes: "endpoint nodes", cluster: "cluster", nodelocal: "NodeLocal DNSCache" };
  const words = parts.map((p, i) => (i === 0 && parts.length > 1 && head[p] !== undefined ? head[p] : p.replace(/_/g, " ")));
  return words.join(" ").replace(/\bcpus\b/, "CPUs").replace(/\b(ms|us|ns|s)$/, "($1)");
}
