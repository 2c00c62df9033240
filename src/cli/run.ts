import { existsSync, readdirSync, statSync } from "node:fs";
import type { CommandModule } from "yargs";
import { basename, extname, join } from "node:path";
import { csvRecords, summaryCsv, summaryTable as summaryCsvTable, formatSummaryValue } from "../report/csv.js";
import type { Summary } from "../stats/summary.js";
import { fileKind } from "../compare/spec.js";
import { InputError, type LoadedScenario, loadScenarioText, parseYaml, readScenarioFile } from "../scenario/load.js";
import { pct } from "../report/compare.js";
import { overlapInterval } from "../scenario/overlap.js";
import { Progress } from "./progress.js";
import { seedFlag } from "./flags.js";
import { checkOutputFolder, withOutputSet } from "./output.js";
import { type CommandPool, JOBS_OPTION, parseJobs, withPool } from "./parallel.js";
import type { ScenarioOutcome, Task } from "./tasks.js";
import { compactProportion } from "../stats/proportion.js";
import { conntrackStatLine, procStatHeader, procStatRow } from "../report/conntrack.js";

/** Where output goes unless --out names a folder: never the committed results/ (npm start names it). */
export const DEFAULT_OUT = "dnsrace-results";

export interface RunArgs {
  paths: string[];
  out: string;
  seed: number | undefined;
  quiet: boolean;
  "conntrack-stats": boolean;
  "proc-stat"?: boolean;
  json?: boolean;
  jobs?: number;
}

/** The scenario files named by the arguments: files as given, folders' *.yaml and *.yml files in name order. */
export function collectScenarioFiles(paths: string[]): { file: string; inFolder: boolean }[] {
  const files: { file: string; inFolder: boolean }[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new InputError(`${p}: no such file or folder.`);
    if (statSync(p).isDirectory()) {
      const inDir = readdirSync(p)
        .filter((f) => [".yaml", ".yml"].includes(extname(f)))
        .sort()
        .map((f) => join(p, f));
      if (inDir.length === 0) throw new InputError(`${p}: the folder has no .yaml scenario files.`);
      files.push(...inDir.map((file) => ({ file, inFolder: true })));
    } else {
      files.push({ file: p, inFolder: false });
    }
  }
  return files;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: "run <paths..>",
  describe: "run scenario files (or every .yaml in the folders given) and write latency distributions as CSV",
  builder: (y) =>
    y
      .positional("paths", { type: "string", array: true, demandOption: true, describe: "scenario files or folders" })
      .option("out", { type: "string", default: DEFAULT_OUT, describe: "folder for <scenario>.lookups.csv and summary.csv (the committed results/ only when named)" })
      .option("seed", { type: "string", describe: "seed for every scenario, a whole number from 0 to 2^53 - 1 (default: each scenario's own seed)" })
      .option("quiet", { type: "boolean", default: false, describe: "print nothing but errors (and the --json object)" })
      .option("jobs", JOBS_OPTION)
      .option("json", { type: "boolean", default: false, describe: "print one JSON object instead of the table: {summary: [the rows of summary.csv, typed]}" })
      .option("conntrack-stats", { type: "boolean", default: false, describe: "also print each scenario's counters as `conntrack -S` lines, per node on the path" })
      .option("proc-stat", { type: "boolean", default: false, describe: "also print each scenario's counters as /proc/net/stat/nf_conntrack shows them (its columns by kernel version), per node on the path" }) as never,
  handler: async (args) => {
    // yargs gives the flags' text (type string): seedFlag and parseJobs read it exactly.
    const seed = seedFlag(args.seed as unknown);
    const jobs = parseJobs(args.jobs as unknown);
    // The workers start loading while the files are read and checked.
    await withPool(jobs, new Progress(process.stderr, args.quiet), (pool) => runScenarios({ ...args, seed, jobs }, pool));
  },
};

/** dnsrace run: every input is validated before anything runs or is written. */
export async function runScenarios(args: RunArgs, pool: CommandPool): Promise<void> {
  if (args.json === true && (args["conntrack-stats"] || args["proc-stat"] === true)) {
    throw new InputError(`--json: prints the summary rows only; ${args["conntrack-stats"] ? "--conntrack-stats" : "--proc-stat"} prints text: give one or the other.`);
  }
  const loaded: LoadedScenario[] = [];
  const skipped: string[] = [];
  for (const { file, inFolder } of collectScenarioFiles(args.paths)) {
    const y = parseYaml(readScenarioFile(file), file);
    const kind = fileKind(y.data);
    if (kind === "scenario") {
      loaded.push(loadScenarioText(y, file));
    } else if (inFolder) {
      skipped.push(`${file} (a ${kind} file: dnsrace ${kind === "comparison" ? "compare" : "sweep"} ${file})`);
    } else {
      throw new InputError(`${file}: this is a ${kind} file (it has base and ${kind === "comparison" ? "variants" : "grid"}); run it with dnsrace ${kind === "comparison" ? "compare" : "sweep"} ${file}.`);
    }
  }
  checkOutputFolder(args.out);
  if (loaded.length === 0) throw new InputError(`${args.paths.join(", ")}: no scenario files to run (only comparison or sweep files).`);
  const stems = new Map<string, string>();
  for (const l of loaded) {
    const stem = basename(l.file, extname(l.file));
    if (stems.has(stem)) throw new InputError(`${l.file}: its output name ${stem}.lookups.csv would overwrite that of ${stems.get(stem)}; rename one of them.`);
    stems.set(stem, l.file);
  }
  const progress = pool.progress;
  const summaries: Summary[] = [];
  const stats: string[] = [];
  const procStats: string[] = [];
  const kernelNotes: string[] = [];
  const calibrated: string[] = [];
  const seed = args.seed !== undefined ? { seed: args.seed } : {};
  const written = await withOutputSet(args.out, async (set) => {
    // Each scenario file's run (its lookups CSV streamed into the set), then, for a calibrated
    // overlap, the same run at each end of the interval.
    const tasks: Task[] = [];
    const first: number[] = [];
    const names: string[] = [];
    for (const l of loaded) {
      const name = `${basename(l.file, extname(l.file))}.lookups.csv`;
      names.push(name);
      first.push(tasks.length);
      tasks.push({ kind: "scenario", loaded: l, ...seed, lookupsFile: set.path(name) });
      const interval = overlapInterval(l.scenario);
      if (interval !== null) for (const overlap of [interval.low, interval.high]) tasks.push({ kind: "summary", loaded: l, ...seed, overlap });
    }
    progress.begin(loaded.length === 1 ? basename(loaded[0]!.file, extname(loaded[0]!.file)) : `${loaded.length} scenarios`);
    const results = await pool.run<ScenarioOutcome | Summary>(tasks, set);
    loaded.forEach((l, j) => {
      const res = results[first[j]!] as ScenarioOutcome;
      const summary = res.summary;
      const interval = overlapInterval(l.scenario);
      if (interval !== null) {
        // The calibrated interval carried into the result: the same run (seed, lookups) at each end of it.
        const ends = [results[first[j]! + 1] as Summary, results[first[j]! + 2] as Summary];
        summary.overlap_low = interval.low;
        summary.overlap_high = interval.high;
        summary.share_over_1s_at_overlap_low = ends[0]!.share_over_1s;
        summary.share_over_1s_at_overlap_high = ends[1]!.share_over_1s;
        summary.share_ge_5s_at_overlap_low = ends[0]!.share_ge_5s;
        summary.share_ge_5s_at_overlap_high = ends[1]!.share_ge_5s;
        calibrated.push(
          `${summary.scenario}: its node's overlap is calibrated, ${interval.low.toExponential(2)} to ${interval.high.toExponential(2)} per pair (95%); ` +
            `at those ends the same run gives ${pct(ends[0]!.share_over_1s)} to ${pct(ends[1]!.share_over_1s)} of lookups over 1 s and ${pct(ends[0]!.share_ge_5s)} to ${pct(ends[1]!.share_ge_5s)} at or over 5 s.`,
        );
      }
      summaries.push(summary);
      for (const n of [res.client, ...res.endpointNodes]) {
        const which = n === res.client ? "client node" : `endpoint node ${n.name}`;
        if (n.features.note !== null) kernelNotes.push(`${summary.scenario}, ${which}: kernel ${n.features.note}.`);
        stats.push(`${summary.scenario} (kernel ${n.kernel}), ${which}: conntrack -S`, ...n.perCpuCounters.map((c, cpu) => conntrackStatLine(cpu, c, n.features)), "");
        procStats.push(
          `${summary.scenario} (kernel ${n.kernel}), ${which}: /proc/net/stat/nf_conntrack`,
          procStatHeader(n.features),
          ...n.perCpuCounters.map((c) => procStatRow(n.conntrackEntries, c, n.features)),
          "",
        );
      }
    });
    set.write("summary.csv", summaryCsv(summaries));
    set.commit([...names, "summary.csv"]);
    return names.length + 1;
  });
  if (args.json === true) {
    // stdout carries the object alone; what the table would be followed by goes with the status.
    process.stdout.write(`${JSON.stringify({ summary: csvRecords(summaryCsvTable(summaries)) })}\n`);
    if (args.quiet) return;
    const notes = [...kernelNotes, ...calibrated, ...unfinishedLines(summaries)];
    if (notes.length > 0) process.stderr.write(`${notes.join("\n")}\n`);
    statusLines(args.out, written, skipped);
    return;
  }
  if (!args.quiet) {
    process.stdout.write(summaryTable(summaries));
    if (kernelNotes.length > 0) process.stdout.write(`\n${kernelNotes.join("\n")}\n`);
    if (calibrated.length > 0) process.stdout.write(`\n${calibrated.join("\n")}\n`);
    for (const line of unfinishedLines(summaries)) process.stdout.write(`${line}\n`);
    if (args["conntrack-stats"]) process.stdout.write(`\n${stats.join("\n")}`);
    if (args["proc-stat"]) process.stdout.write(`\n${procStats.join("\n")}`);
    statusLines(args.out, written, skipped);
  }
}

/** The lookups that had not returned when the run ended, a line per scenario that has any. */
function unfinishedLines(summaries: Summary[]): string[] {
  return summaries
    .filter((r) => r.unfinished > 0)
    .map((r) => `${r.scenario}: ${r.unfinished} of ${r.lookups} lookups had not returned when nothing was left to happen (UNFINISHED or NOT_STARTED in its lookups CSV; counted as failed).`);
}

/** Status, not results: on stderr, so that stdout carries the table (or the --json object) alone. */
function statusLines(out: string, files: number, skipped: string[]): void {
  process.stderr.write(`wrote ${files} files to ${out}/\n`);
  for (const s of skipped) process.stderr.write(`skipped ${s}\n`);
}

/** A share of the summary with its interval, as compactProportion reads it. */
function shareCell(r: Summary, k: number, n: number, key: "share_over_1s" | "share_ge_5s" | "share_pairs_clashed"): string {
  return compactProportion({ k, n, estimate: r[key] ?? 0, low: r[`${key}_low`] ?? 0, high: r[`${key}_high`] ?? 1 });
}

const TABLE_COLUMNS: { title: string; cell: (r: Summary) => string }[] = [
  { title: "scenario", cell: (r) => r.scenario },
  { title: "lookups", cell: (r) => String(r.lookups) },
  { title: "p50 ms", cell: (r) => formatSummaryValue("p50_ms", r.p50_ms) },
  { title: "p99 ms", cell: (r) => formatSummaryValue("p99_ms", r.p99_ms) },
  { title: "p99.9 ms", cell: (r) => formatSummaryValue("p999_ms", r.p999_ms) },
  { title: "max ms", cell: (r) => formatSummaryValue("max_ms", r.max_ms) },
  { title: ">1s (95% CI)", cell: (r) => shareCell(r, r.over_1s, r.lookups, "share_over_1s") },
  { title: ">=5s (95% CI)", cell: (r) => shareCell(r, r.ge_5s, r.lookups, "share_ge_5s") },
  { title: "failed", cell: (r) => String(r.failed) },
  { title: "pairs clashed (95% CI)", cell: (r) => shareCell(r, r.pairs_clashed, r.pairs, "share_pairs_clashed") },
  { title: "clashes", cell: (r) => String(r.clashes) },
  { title: "insert_failed", cell: (r) => String(r.insert_failed) },
  {
    title: "per insert",
    cell: (r) =>
      r.insert_failed_per_insert === null ? "-" : compactProportion({ k: r.insert_failed, n: r.insert, estimate: r.insert_failed_per_insert, low: r.insert_failed_per_insert_low!, high: r.insert_failed_per_insert_high! }, "exp"),
  },
  { title: "drop", cell: (r) => String(r.drop) },
  { title: "clash_resolve", cell: (r) => String(r.clash_resolve) },
];

export function summaryTable(rows: Summary[]): string {
  const cells = rows.map((r) => TABLE_COLUMNS.map(({ cell }) => cell(r)));
  const widths = TABLE_COLUMNS.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ");
  return [line(TABLE_COLUMNS.map((c) => c.title)), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n") + "\n";
}
