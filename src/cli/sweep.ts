import { resolve } from "node:path";
import type { CommandModule } from "yargs";
import { type Replication, checkReplications, replicationSeeds } from "../compare/run.js";
import { type Sweep, loadSweep } from "../compare/spec.js";
import { shareInterval } from "../compare/stats.js";
import { type CsvTable, csvRecords, csvText, ms3 } from "../report/csv.js";
import { InputError } from "../scenario/load.js";
import { paramWords, sweepChart } from "../report/plots.js";
import { Progress } from "./progress.js";
import { parseSeeds } from "./compare.js";
import { checkOutputFolder, withOutputSet } from "./output.js";
import { JOBS_OPTION, parseJobs, withPool } from "./parallel.js";
import { JOB_MANIFEST_OPTIONS, type JobManifestArgs, checkNoManifestFlags, printJobManifest } from "./jobmanifest.js";
import { SHARD_FILE, outFolder, parseShard, sha256, shardRange, shardText } from "./shard.js";
import { DEFAULT_OUT } from "./run.js";

interface SweepArgs extends JobManifestArgs {
  file: string;
  out: string | undefined;
  seeds: string | undefined;
  quiet: boolean;
  json: boolean;
  jobs: string | undefined;
  shard: string | undefined;
}

/** What sweep.csv and the plot read of a run: its seed and summary. */
export type SweepRun = Pick<Replication, "seed" | "summary">;

export const SWEEP_COLUMNS = ["seed", "lookups", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "share_over_1s", "share_over_1s_low", "share_over_1s_high", "share_ge_5s", "share_ge_5s_low", "share_ge_5s_high", "failed", "clashes", "insert_failed", "drop", "clash_resolve"] as const;

/**
 * A grid parameter's column header: an identifier, the parameter's path with every character
 * other than a letter, digit or "_" written "_" (kube_dns.endpoints: kube_dns_endpoints).
 */
export function sweepHeader(param: string): string {
  return param.replace(/[^A-Za-z0-9_]/g, "_");
}

/** The grid parameters' headers, refused (before anything runs) if two of them, or one and a result column, would share one. */
export function sweepHeaders(s: Sweep): string[] {
  const headers = s.params.map(sweepHeader);
  const clash = headers.find((h, i) => headers.indexOf(h) !== i || (SWEEP_COLUMNS as readonly string[]).includes(h));
  if (clash !== undefined) throw new InputError(`${s.file}: two grid parameters (or one and a result column) would share the sweep.csv column ${clash} (its headers write "_" for every character other than a letter, digit or "_").`);
  return headers;
}

/**
 * sweep.csv's content: tidy, one row per grid point and seed, a column per grid parameter (named
 * by sweepHeader). A parameter whose grid gives text (kernel: ["4.19", "5.10"]) is a text column,
 * quoted; numbers and booleans are written bare.
 */
export function sweepTable(s: Sweep, runs: SweepRun[][]): CsvTable {
  const headers = sweepHeaders(s);
  const text = new Set(headers.filter((_, j) => s.points.some((p) => typeof p.values[j] === "string")));
  const rows = s.points.flatMap((p, i) =>
    runs[i]!.map(({ seed, summary: m }) => [
      ...p.values.map(String),
      seed,
      m.lookups,
      ms3(m.p50_ms),
      ms3(m.p90_ms),
      ms3(m.p99_ms),
      ms3(m.p999_ms),
      ms3(m.max_ms),
      m.share_over_1s.toFixed(6),
      m.share_over_1s_low.toFixed(6),
      m.share_over_1s_high.toFixed(6),
      m.share_ge_5s.toFixed(6),
      m.share_ge_5s_low.toFixed(6),
      m.share_ge_5s_high.toFixed(6),
      m.failed,
      m.clashes,
      m.insert_failed,
      m.drop,
      m.clash_resolve,
    ]),
  );
  return { columns: [...headers, ...SWEEP_COLUMNS], text, quoted: text, rows };
}

/** The plot: share over 1 s (mean over seeds, 95% interval) against the x parameter, a line per combination of the others. */
export function sweepPlot(s: Sweep, runs: SweepRun[][]): string {
  const xi = s.params.indexOf(s.x);
  const others = s.params.filter((_, i) => i !== xi);
  const lines = new Map<string, { label: string; points: { x: string | number; y: number; low: number | null; high: number | null }[] }>();
  s.points.forEach((p, i) => {
    const key = others.map((o) => `${o}=${String(p.values[s.params.indexOf(o)])}`).join(", ") || "all";
    const shares = runs[i]!.map((r) => r.summary.share_over_1s);
    const ci = shareInterval(
      shares,
      runs[i]!.reduce((a, r) => a + r.summary.over_1s, 0),
      runs[i]!.reduce((a, r) => a + r.summary.lookups, 0),
    );
    const y = shares.reduce((a, b) => a + b, 0) / shares.length;
    const x = p.values[xi]!;
    if (!lines.has(key)) lines.set(key, { label: key, points: [] });
    lines.get(key)!.points.push({ x: typeof x === "boolean" ? String(x) : x, y, low: ci?.low ?? null, high: ci?.high ?? null });
  });
  const k = runs[0]!.length;
  return sweepChart(`Share of lookups over 1 s against ${paramWords(s.x)}`, `${s.name}: mean over ${k} seed${k === 1 ? "" : "s"}${k > 1 ? ", with 95% intervals" : ""}`, paramWords(s.x), "share of lookups over 1 s", [...lines.values()]);
}

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: "sweep <file>",
  describe: "run a parameter grid over a base scenario and several seeds: one tidy CSV (a row per grid point and seed) and a plot",
  builder: (y) =>
    y
      .positional("file", { type: "string", demandOption: true, describe: "a sweep file (base and grid)" })
      .option("out", { type: "string", describe: `output folder (default: ${DEFAULT_OUT}/<file name>)` })
      .option("seeds", { type: "string", describe: "seeds per grid point (default: the file's seeds)" })
      .option("quiet", { type: "boolean", default: false, describe: "print nothing but errors (and the --json object)" })
      .option("jobs", JOBS_OPTION)
      .option("shard", { type: "string", describe: "run only the I-th of N slices of the (grid point, seed) runs, I/N; N alone takes I from JOB_COMPLETION_INDEX; writes DIR/shard.json for dnsrace merge" })
      .options(JOB_MANIFEST_OPTIONS)
      .option("json", { type: "boolean", default: false, describe: "print one JSON object: {sweep: [the rows of sweep.csv, typed]}" }) as never,
  handler: async (args) => {
    const seeds = parseSeeds(args.seeds);
    const jobs = parseJobs(args.jobs);
    if (args["job-manifest"]) {
      const s = loadSweep(args.file);
      sweepHeaders(s);
      const k = seeds ?? s.seeds;
      checkReplications(args.file, s.points.map((p) => p.loaded), k, "grid points", seeds === undefined ? "the file's seeds" : "--seeds");
      printJobManifest("sweep", args.file, s.name, s.points.length * k, args, seeds, jobs);
      return;
    }
    checkNoManifestFlags(args);
    const shard = parseShard(args.shard);
    if (shard !== null && args.json) throw new InputError(`--json: a shard writes shard.json only; print the sweep's rows with dnsrace merge --json.`);
    const progress = new Progress(process.stderr, args.quiet);
    // The workers start loading while the file is read and checked.
    await withPool(jobs, progress, async (pool) => {
      const s = loadSweep(args.file);
      const out = outFolder(args.file, args.out, shard);
      sweepHeaders(s);
      checkOutputFolder(out);
      const k = seeds ?? s.seeds;
      checkReplications(args.file, s.points.map((p) => p.loaded), k, "grid points", seeds === undefined ? "the file's seeds" : "--seeds");
      const total = s.points.length * k;
      // Each grid point on each seed, in that order (sweep.csv's rows); a shard takes its slice.
      const all = s.points.flatMap((p) => replicationSeeds(p.loaded, k).map((seed) => ({ kind: "replicate" as const, loaded: p.loaded, seed })));
      const { from, to } = shard === null ? { from: 0, to: total } : shardRange(total, shard);
      const { table, written } = await withOutputSet(out, async (set) => {
        progress.begin(`${s.name}: ${s.points.length} grid points x ${k} seeds${shard === null ? "" : `, shard ${shard.index} of ${shard.count}`}`);
        const reps = await pool.run<Replication>(all.slice(from, to), set);
        const files =
          shard === null
            ? sweepFiles(s, reps, k)
            : [{ name: SHARD_FILE, text: shardText({ kind: "sweep", file: args.file, path: resolve(args.file), sha256: sha256(args.file), seeds: k, index: shard.index, count: shard.count, from, to, total, runs: reps.map((r) => ({ seed: r.seed, summary: r.summary })) }) }];
        for (const f of files) set.write(f.name, f.text);
        set.commit(files.map((f) => f.name));
        return { table: shard === null ? sweepTable(s, byPoint(reps, k)) : null, written: files.length };
      });
      if (args.json && table !== null) process.stdout.write(`${JSON.stringify({ sweep: csvRecords(table) })}\n`);
      const what = shard === null ? `${total} runs` : `shard ${shard.index} of ${shard.count}: runs ${from + 1} to ${to} of ${total}`;
      if (!args.quiet) process.stderr.write(`${s.points.length} grid points x ${k} seeds: ${what}\nwrote ${written} file${written === 1 ? "" : "s"} to ${out}/\n`);
    });
  },
};

/** The runs (grid point by grid point, k seeds each) as the table and plot read them. */
export function byPoint<T>(runs: readonly T[], k: number): T[][] {
  return Array.from({ length: runs.length / k }, (_, i) => runs.slice(i * k, (i + 1) * k));
}

/** sweep.csv and sweep.svg from every run, in list order (grid point by grid point). */
export function sweepFiles(s: Sweep, runs: readonly SweepRun[], k: number): { name: string; text: string }[] {
  const points = byPoint(runs, k);
  return [
    { name: "sweep.csv", text: csvText(sweepTable(s, points)) },
    { name: "sweep.svg", text: sweepPlot(s, points) },
  ];
}
