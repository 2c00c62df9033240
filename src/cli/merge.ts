import type { CommandModule } from "yargs";
import { assembleComparison, comparisonTasks } from "../compare/compare.js";
import { type Replication, replicationSeeds } from "../compare/run.js";
import { loadComparison, loadSweep } from "../compare/spec.js";
import { csvRecords } from "../report/csv.js";
import { InputError } from "../scenario/load.js";
import { comparisonFiles, output } from "./compare.js";
import { checkOutputFolder, writeOutputSet } from "./output.js";
import { type ShardData, mergeShards, shardSweepFile } from "./shard.js";
import { byPoint, sweepFiles, sweepHeaders, sweepTable } from "./sweep.js";

interface MergeArgs {
  dirs: string[];
  out: string;
  file: string | undefined;
  quiet: boolean;
  json: boolean;
}

export const mergeCommand: CommandModule<object, MergeArgs> = {
  command: "merge <dirs..>",
  describe: "put the shard folders of one sweep or comparison (sweep --shard, compare --shard) together: the same files, byte for byte, as the unsharded command",
  builder: (y) =>
    y
      .positional("dirs", { type: "string", array: true, demandOption: true, describe: "every shard folder of the sweep or comparison (each with its shard.json)" })
      .option("out", { type: "string", demandOption: true, describe: "output folder (a sweep's sweep.csv and sweep.svg, a comparison's compare.csv, report.md and plots)" })
      .option("file", { type: "string", describe: "the sweep or comparison file the shards ran, if it is no longer where they ran it (the same bytes)" })
      .option("quiet", { type: "boolean", default: false, describe: "print nothing but errors (and the --json object)" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object, as the unsharded command's --json does" }) as never,
  handler: (args) => {
    const { first, runs } = mergeShards(args.dirs);
    const file = shardSweepFile(first, args.file);
    if (first.kind === "compare") {
      mergeComparison(args, first, runs, file);
      return;
    }
    const s = loadSweep(file);
    sweepHeaders(s);
    checkOutputFolder(args.out);
    const k = first.seeds;
    const seeds = s.points.flatMap((p) => replicationSeeds(p.loaded, k));
    if (seeds.length !== runs.length || seeds.some((seed, i) => runs[i]!.seed !== seed)) {
      throw new InputError(`${args.dirs[0]}: the shards hold ${runs.length} runs, not the ${seeds.length} (grid points x ${k} seeds) of ${file}.`);
    }
    const files = sweepFiles(s, runs, k);
    writeOutputSet(args.out, files);
    if (args.json) process.stdout.write(`${JSON.stringify({ sweep: csvRecords(sweepTable(s, byPoint(runs, k))) })}\n`);
    if (!args.quiet) process.stderr.write(`merged ${first.count} shard${first.count === 1 ? "" : "s"}: ${s.points.length} grid points x ${k} seeds, ${runs.length} runs\nwrote ${files.length} files to ${args.out}/\n`);
  },
};

/** The comparison from its shards: what compare writes and prints, byte for byte. */
function mergeComparison(args: MergeArgs, first: ShardData, runs: ShardData["runs"], file: string): void {
  const c = loadComparison(file);
  checkOutputFolder(args.out);
  const k = first.seeds;
  const tasks = comparisonTasks(c, k);
  if (tasks.length !== runs.length || tasks.some((t, i) => runs[i]!.seed !== t.seed)) {
    throw new InputError(`${args.dirs[0]}: the shards hold ${runs.length} replications, not the ${tasks.length} of ${file} with ${k} seeds.`);
  }
  // readShard checked that every run of a comparison's shard has okV4 and its latencies.
  const reps: Replication[] = runs.map((x) => ({ seed: x.seed, summary: x.summary, okV4: x.okV4!, latMs: x.latMs! }));
  const r = assembleComparison(c, k, reps);
  const files = comparisonFiles(c.name, k, r);
  writeOutputSet(args.out, files);
  if (!args.quiet && !args.json) process.stderr.write(`merged ${first.count} shard${first.count === 1 ? "" : "s"}: ${c.variants.length} variants x ${k} seeds, ${runs.length} replications\n`);
  output(args, args.out, files.length, r);
}
