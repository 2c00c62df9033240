import type { CommandModule } from "yargs";
import { replicationSeeds } from "../compare/run.js";
import { loadSweep } from "../compare/spec.js";
import { csvRecords } from "../report/csv.js";
import { InputError } from "../scenario/load.js";
import { checkOutputFolder, writeOutputSet } from "./output.js";
import { mergeShards, shardSweepFile } from "./shard.js";
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
  describe: "put the shard folders of one sweep (dnsrace sweep --shard) together: sweep.csv and sweep.svg, the same bytes as the unsharded sweep",
  builder: (y) =>
    y
      .positional("dirs", { type: "string", array: true, demandOption: true, describe: "every shard folder of the sweep (each with its shard.json)" })
      .option("out", { type: "string", demandOption: true, describe: "output folder for sweep.csv and sweep.svg" })
      .option("file", { type: "string", describe: "the sweep file the shards ran, if it is no longer where they ran it (the same bytes)" })
      .option("quiet", { type: "boolean", default: false, describe: "print nothing but errors (and the --json object)" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object: {sweep: [the rows of sweep.csv, typed]}" }) as never,
  handler: (args) => {
    const { first, runs } = mergeShards(args.dirs);
    const file = shardSweepFile(first, args.file);
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
