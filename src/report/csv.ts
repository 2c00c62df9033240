import { stringify } from "csv-stringify/sync";
import { type LookupLog, NO_THREAD } from "../model/log.js";
import type { RunResult } from "../scenario/run.js";
import type { Summary } from "../stats/summary.js";

const MS = 1_000_000;

/** A cell of a CSV file as built: text, or a number already in its written form. */
export type CsvCell = string | number;

/**
 * One CSV file's content: its header (identifiers), its rows, the columns that hold text
 * (the others are numbers, or empty for none), and those of them that are quoted in every row.
 * A column is quoted when its text can look like a number, so that a reader that honours quotes
 * (LibreOffice's "quoted field as text", Python's csv with QUOTE_NONNUMERIC) keeps it as text. A
 * column named `kernel` holds kernel versions, written as the kernel's Makefile names its release
 * (VERSION.PATCHLEVEL.SUBLEVEL: `make kernelversion` prints 5.10.0 for 5.10), which pandas, R and
 * spreadsheets, guessing types through quotes, read as the text it is (README, *Outputs*).
 */
export interface CsvTable {
  columns: readonly string[];
  text: ReadonlySet<string>;
  quoted: ReadonlySet<string>;
  rows: CsvCell[][];
}

/** A kernel version in its three-part release form: "5.10" -> "5.10.0"; "4.14.173" as it is. */
export function kernelRelease(version: string): string {
  return /^\d+\.\d+$/.test(version) ? `${version}.0` : version;
}

/** The rows with each `kernel` cell in its release form. */
function withReleases(t: CsvTable): CsvCell[][] {
  const k = t.columns.indexOf("kernel");
  if (k < 0 || !t.text.has("kernel")) return t.rows;
  return t.rows.map((row) => row.map((v, i) => (i === k ? kernelRelease(String(v)) : v)));
}

/** The file's bytes: RFC 4180 as csv-stringify writes it, with the table's quoted columns quoted in every row (never in the header). */
export function csvText(t: CsvTable): string {
  const quoted = t.columns.map((c) => t.quoted.has(c));
  return stringify(withReleases(t), {
    header: true,
    columns: [...t.columns],
    cast: { string: (value, ctx) => (!ctx.header && typeof ctx.column === "number" && quoted[ctx.column] === true ? { value, quoted: true } : value) },
  });
}

/** The rows as --json prints them: an object per row keyed by the header, text as strings, numbers as numbers, an empty cell as null. */
export function csvRecords(t: CsvTable): Record<string, string | number | null>[] {
  return withReleases(t).map((row) =>
    Object.fromEntries(
      t.columns.map((c, i) => {
        const v = row[i]!;
        if (t.text.has(c)) return [c, String(v)];
        if (v === "") return [c, null];
        return [c, typeof v === "number" ? v : Number(v)];
      }),
    ),
  );
}

/** Fixed-point text for ms values: exact to the microsecond, the same bytes on every machine. */
export function ms3(v: number): string {
  return v.toFixed(3);
}

export const LOOKUP_COLUMNS = [
  "scenario",
  "seed",
  "lookup",
  "pod",
  "thread",
  "name",
  "start_ms",
  "latency_ms",
  "outcome",
  "queries_sent",
  "queries_lost",
  "retransmits",
  "clashes",
] as const;

/** Row i of a run's lookups CSV (report/lookups.ts streams them). */
export function lookupRow(name: string, seed: number, log: LookupLog, i: number): (string | number)[] {
  return [name, seed, i + 1, log.pod(i), log.threadOf(i) === NO_THREAD ? "" : log.threadOf(i), log.name(i), ms3(log.startNs(i) / MS), ms3(log.latencyNs(i) / MS), log.outcome(i), log.queriesSent(i), log.queriesLost(i), log.retransmits(i), log.clashes(i)];
}

export function lookupsCsv(res: RunResult): string {
  const log = res.log;
  const rows: (string | number)[][] = [];
  for (let i = 0; i < log.length; i++) if (log.has(i)) rows.push(lookupRow(res.name, res.seed, log, i));
  return stringify(rows, { header: true, columns: [...LOOKUP_COLUMNS] });
}

export const SUMMARY_COLUMNS: (keyof Summary)[] = [
  "scenario",
  "seed",
  "kernel",
  "lookups",
  "p50_ms",
  "p90_ms",
  "p99_ms",
  "p999_ms",
  "max_ms",
  "mean_ms",
  "share_over_1s",
  "share_over_1s_low",
  "share_over_1s_high",
  "share_ge_5s",
  "share_ge_5s_low",
  "share_ge_5s_high",
  "failed",
  "queries_sent",
  "queries_lost",
  "pairs",
  "pairs_clashed",
  "share_pairs_clashed",
  "share_pairs_clashed_low",
  "share_pairs_clashed_high",
  "clashes",
  "insert",
  "insert_failed",
  "insert_failed_per_insert",
  "insert_failed_per_insert_low",
  "insert_failed_per_insert_high",
  "drop",
  "clash_resolve",
  "overlap_low",
  "overlap_high",
  "share_over_1s_at_overlap_low",
  "share_over_1s_at_overlap_high",
  "share_ge_5s_at_overlap_low",
  "share_ge_5s_at_overlap_high",
];

/** A summary value as CSV text: ms to the microsecond, shares to 6 decimals, per-insert rates with 4 significant digits, an empty cell for none. */
export function formatSummaryValue(k: keyof Summary, v: Summary[keyof Summary]): string {
  if (v === null) return "";
  if (typeof v === "string") return v;
  if (k.endsWith("_ms")) return ms3(v);
  if (k.startsWith("share_")) return v.toFixed(6);
  if (k.startsWith("overlap_")) return v.toExponential(3);
  if (k.startsWith("insert_failed_per_insert")) return v === 0 ? "0" : v.toExponential(3);
  return String(v);
}

/** summary.csv's content: a row per scenario; scenario and kernel are text, the kernel quoted. */
export function summaryTable(rows: Summary[]): CsvTable {
  return {
    columns: SUMMARY_COLUMNS,
    text: new Set(["scenario", "kernel"]),
    quoted: new Set(["kernel"]),
    rows: rows.map((s) => SUMMARY_COLUMNS.map((k) => formatSummaryValue(k, s[k]))),
  };
}

export function summaryCsv(rows: Summary[]): string {
  return csvText(summaryTable(rows));
}
