import { resolve } from "node:path";
import type { CommandModule } from "yargs";
import { type ComparisonResult, assembleComparison, comparisonTasks } from "../compare/compare.js";
import { loadComparison } from "../compare/spec.js";
import { type Replication, checkReplications } from "../compare/run.js";
import { calibrationText, compareCsv, compareReport, compareRunsCsv, compareRunsTable, compareTable, ranked, shareCell } from "../report/compare.js";
import { csvRecords } from "../report/csv.js";
import { comparePlots } from "../report/compareplots.js";
import { InputError } from "../scenario/load.js";
import { Progress } from "./progress.js";
import { checkOutputFolder, withOutputSet } from "./output.js";
import { JOBS_OPTION, parseJobs, withPool } from "./parallel.js";
import { DEFAULT_OUT } from "./run.js";
import { JOB_MANIFEST_OPTIONS, type JobManifestArgs, checkNoManifestFlags, printJobManifest } from "./jobmanifest.js";
import { SHARD_FILE, outFolder, parseShard, sha256, shardRange, shardText } from "./shard.js";

interface CompareArgs extends JobManifestArgs {
  file: string;
  out: string | undefined;
  seeds: string | undefined;
  quiet: boolean;
  json: boolean;
  jobs: string | undefined;
  shard: string | undefined;
}

/** --seeds: replications per variant (or grid point), as typed. */
export function parseSeeds(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < 1 || n > 1000) throw new InputError(`--seeds: expected a whole number of replications from 1 to 1000, found "${v}".`);
  return n;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: "compare <file>",
  describe: "run a comparison file (a base scenario and its variants) over several seeds: compare.csv with 95% intervals, report.md and SVG plots",
  builder: (y) =>
    y
      .positional("file", { type: "string", demandOption: true, describe: "a comparison file (base and variants)" })
      .option("out", { type: "string", describe: `output folder (default: ${DEFAULT_OUT}/<file name>)` })
      .option("seeds", { type: "string", describe: "replications per variant, each on its own seed (default: the file's seeds)" })
      .option("quiet", { type: "boolean", default: false, describe: "print nothing but errors (and the --json object)" })
      .option("jobs", JOBS_OPTION)
      .option("shard", { type: "string", describe: "run only the I-th of N slices of the replications, I/N; N alone takes I from JOB_COMPLETION_INDEX; writes DIR/shard.json for dnsrace merge" })
      .options(JOB_MANIFEST_OPTIONS)
      .option("json", { type: "boolean", default: false, describe: "print one JSON object instead of the table: {compare: [the rows of compare.csv], compare_runs: [those of compare.runs.csv]}, typed" }) as never,
  handler: async (args) => {
    const seeds = parseSeeds(args.seeds);
    const jobs = parseJobs(args.jobs);
    if (args["job-manifest"]) {
      const c = loadComparison(args.file);
      const k = seeds ?? c.seeds;
      checkReplications(args.file, c.variants.map((v) => v.loaded), k, "variants", seeds === undefined ? "the file's seeds" : "--seeds");
      printJobManifest("compare", args.file, c.name, comparisonTasks(c, k).length, args, seeds, jobs);
      return;
    }
    checkNoManifestFlags(args);
    const shard = parseShard(args.shard);
    if (shard !== null && args.json) throw new InputError(`--json: a shard writes shard.json only; print the comparison's rows with dnsrace merge --json.`);
    const progress = new Progress(process.stderr, args.quiet);
    // The workers start loading while the file is read and checked.
    await withPool(jobs, progress, async (pool) => {
      const c = loadComparison(args.file);
      const out = outFolder(args.file, args.out, shard);
      checkOutputFolder(out);
      const k = seeds ?? c.seeds;
      checkReplications(args.file, c.variants.map((v) => v.loaded), k, "variants", seeds === undefined ? "the file's seeds" : "--seeds");
      const tasks = comparisonTasks(c, k).map((t) => ({ kind: "replicate" as const, ...t }));
      const { from, to } = shard === null ? { from: 0, to: tasks.length } : shardRange(tasks.length, shard);
      const { r, written } = await withOutputSet(out, async (set) => {
        progress.begin(`${c.name}: ${c.variants.length} variants x ${k} seeds${shard === null ? "" : `, shard ${shard.index} of ${shard.count}`}`);
        const reps = await pool.run<Replication>(tasks.slice(from, to), set);
        const r = shard === null ? assembleComparison(c, k, reps) : null;
        const files =
          r === null
            ? [{ name: SHARD_FILE, text: shardText({ kind: "compare", file: args.file, path: resolve(args.file), sha256: sha256(args.file), seeds: k, index: shard!.index, count: shard!.count, from, to, total: tasks.length, runs: reps.map((x) => ({ seed: x.seed, summary: x.summary, okV4: x.okV4, latMs: x.latMs })) }) }]
            : comparisonFiles(c.name, k, r);
        for (const f of files) set.write(f.name, f.text);
        set.commit(files.map((f) => f.name));
        return { r, written: files.length };
      });
      if (r !== null) output(args, out, written, r);
      else if (!args.quiet) process.stderr.write(`${c.variants.length} variants x ${k} seeds: shard ${shard!.index} of ${shard!.count}: replications ${from + 1} to ${to} of ${tasks.length}\nwrote ${written} file to ${out}/\n`);
    });
  },
};

/** The files of a comparison's output set. */
export function comparisonFiles(name: string, k: number, r: ComparisonResult): { name: string; text: string }[] {
  const plots = { cdf: "cdf.svg", tail: "tail.svg", slow: "slow.svg" };
  const counts = r.results.map((v) => v.pooled.lookups);
  const [fewest, most] = [Math.min(...counts), Math.max(...counts)];
  const sub = `${name}: ${fewest === most ? most : `${fewest} to ${most}`} lookups per variant over ${k} seed${k === 1 ? "" : "s"}`;
  const svg = comparePlots(r, sub);
  return [
    { name: "compare.csv", text: compareCsv(r) },
    { name: "compare.runs.csv", text: compareRunsCsv(r) },
    { name: "report.md", text: compareReport(r, plots) },
    { name: plots.cdf, text: svg.cdf },
    { name: plots.tail, text: svg.tail },
    { name: plots.slow, text: svg.slow },
  ];
}

/** What compare prints: the ranked table (or the --json object) and the status. */
export function output(args: { json: boolean; quiet: boolean }, out: string, written: number, r: ComparisonResult): void {
  const status = () => process.stderr.write(`wrote ${written} files to ${out}/\n`);
  const calibration = r.calibration === null ? [] : calibrationText(r).map((t) => t.replace(/\*\*/g, ""));
  if (args.json) {
    // stdout carries the object alone; the calibration's sentences go with the status.
    process.stdout.write(`${JSON.stringify({ compare: csvRecords(compareTable(r)), compare_runs: csvRecords(compareRunsTable(r)) })}\n`);
    if (args.quiet) return;
    if (calibration.length > 0) process.stderr.write(`${calibration.join("\n")}\n`);
    status();
    return;
  }
  if (args.quiet) return;
  const rows = ranked(r).map((v, i) => [String(i + 1), v.variant.name, shareCell(v.pooled.share_over_1s, v.pooled.over_1s, v.pooled.share_over_1s_ci), shareCell(v.pooled.share_ge_5s, v.pooled.ge_5s, v.pooled.share_ge_5s_ci), v.pooled.p50_ms.toFixed(2), v.pooled.p99_ms.toFixed(1), String(v.pooled.drop)]);
  const head = ["#", "variant", ">1s (95% CI)", ">=5s (95% CI)", "p50 ms", "p99 ms", "drops"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => (i === 1 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ");
  process.stdout.write([line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line), ...(calibration.length > 0 ? ["", ...calibration] : []), ""].join("\n"));
  status();
}
