import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import type { CommandModule } from "yargs";
import { type Assessment, type CountersInput, LEVELS, type Level, assess, atLeast } from "../assess/assess.js";
import { parseCountersSpec } from "../assess/counters.js";
import { type ImageMap, parseImageMap } from "../assess/images.js";
import { parseNodeLoad } from "../assess/nodeload.js";
import { type InputText, readObjects } from "../assess/objects.js";
import { assessConsole, assessCsv, assessJson, assessReport } from "../assess/report.js";
import { InputError, readScenarioFile } from "../scenario/load.js";
import { onceText, seedFlag, wholeNumber } from "./flags.js";
import { checkOutputFolder, writeOutputSet } from "./output.js";

/** Exit code when a workload is at or above --fail-on (0 done, 1 internal or output error, 2 bad input). */
export const FAIL_ON_EXIT = 3;

export interface AssessArgs {
  paths: string[];
  out: string;
  images: string | undefined;
  counters: string[] | string | undefined;
  "node-load"?: string[] | string | undefined;
  "fail-on": string | undefined;
  lookups: string | undefined;
  seed: string | undefined;
  json: boolean;
  quiet: boolean;
}

export const assessCommand: CommandModule<object, AssessArgs> = {
  command: "assess <paths..>",
  describe: "a cluster's objects (kubectl get ... -o json) in, each workload's DNS race risk and its cheapest fix out",
  builder: (y) =>
    y
      .positional("paths", { type: "string", array: true, demandOption: true, describe: "kubectl get nodes,pods,services,endpointslices,configmaps,daemonsets,deployments -A -o json (or -o yaml) output: files, folders of them, or - for standard input" })
      .option("out", { type: "string", default: "dnsrace-results", describe: "folder for assess.csv and report.md" })
      .option("images", { type: "string", describe: "a YAML mapping of image patterns (a trailing * matches the rest) to glibc, musl or go" })
      .option("counters", { type: "string", array: true, describe: "NODE=FILE: the node's conntrack counters (a YAML file: before, after, seconds, queries_per_s) for its calibrated overlap" })
      .option("node-load", { type: "string", array: true, describe: "NODE_OR_POOL=LOAD: a node's (or pool's) own load, idle, busy (25% softirq, 1 runnable per CPU) or softirq_share:S,runnable_per_cpu:N (default: idle, the model's)" })
      .option("fail-on", { type: "string", describe: `exit ${FAIL_ON_EXIT} when a workload's level is at or above this one: ${LEVELS.slice(1).join(", ")}` })
      .option("lookups", { type: "string", describe: "lookups per model run, 100 to 100,000 (default 1000)" })
      .option("seed", { type: "string", describe: "seed of every model run (default 1)" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object instead of the table" })
      .option("quiet", { type: "boolean", default: false, describe: "print nothing but errors (and the --json object)" }) as never,
  handler: (args) => {
    const code = assessCommandRun({ ...args, paths: withStdin(args.paths, process.argv) });
    if (code !== 0) process.exitCode = code;
  },
};

/**
 * The paths with "-" where it was typed: yargs-parser drops a lone "-" from the positionals, so it
 * is put back from the command line, in its place among the paths given.
 */
export function withStdin(paths: string[], argv: string[]): string[] {
  const at = argv.indexOf("assess");
  if (at < 0 || !argv.slice(at + 1).includes("-")) return paths;
  const rest = [...paths];
  const out: string[] = [];
  for (const a of argv.slice(at + 1)) {
    if (a === "-") out.push("-");
    else if (rest[0] === a) out.push(rest.shift()!);
  }
  return [...out, ...rest];
}

/** The input texts: files as given, folders' .json, .yaml and .yml files in name order, "-" for standard input. */
export function inputTexts(paths: string[], stdin: () => string = () => readFileSync(0, "utf8")): InputText[] {
  if (paths.length === 0) throw new InputError("assess: name the objects to read: files of kubectl get ... -o json (or -o yaml) output, folders of them, or - for standard input.");
  const out: InputText[] = [];
  for (const p of paths) {
    if (p === "-") {
      out.push({ name: "(standard input)", text: stdin() });
      continue;
    }
    if (!existsSync(p)) throw new InputError(`${p}: no such file or folder.`);
    if (statSync(p).isDirectory()) {
      const files = readdirSync(p).filter((f) => [".json", ".yaml", ".yml"].includes(extname(f))).sort();
      if (files.length === 0) throw new InputError(`${p}: the folder has no .json, .yaml or .yml files of objects.`);
      for (const f of files) out.push({ name: join(p, f), text: readScenarioFile(join(p, f), "objects") });
    } else {
      out.push({ name: p, text: readScenarioFile(p, "objects") });
    }
  }
  return out;
}

/** --counters NODE=FILE, each read with the two snapshots it names (relative to its folder). */
function countersInputs(v: string[] | string | undefined): CountersInput[] {
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
  return list.map((s) => {
    const m = /^([^=]+)=(.+)$/.exec(s);
    if (!m) throw new InputError(`--counters: expected NODE=FILE (a node's name, and a file naming its two counter snapshots), found "${s}".`);
    const [node, file] = [m[1]!, m[2]!];
    const spec = parseCountersSpec(readScenarioFile(file, "counters"), file);
    const at = (f: string) => resolve(dirname(file), f);
    return { node, spec, texts: { before: readScenarioFile(at(spec.before), "counter"), after: readScenarioFile(at(spec.after), "counter") } };
  });
}

function failOn(v: string | undefined): Level | null {
  const s = onceText("--fail-on", v);
  if (s === undefined) return null;
  if (!(LEVELS as readonly string[]).includes(s) || s === "none") throw new InputError(`--fail-on: expected one of ${LEVELS.slice(1).join(", ")}, found "${s}".`);
  return s as Level;
}

/** Reads everything, assesses, writes the set, prints; the exit code (0, or FAIL_ON_EXIT). */
export function assessCommandRun(args: AssessArgs, stdin?: () => string): number {
  const threshold = failOn(args["fail-on"]);
  const lookups = wholeNumber("--lookups", args.lookups, 1000, 100, 100_000);
  const seed = seedFlag(args.seed) ?? 1;
  const out = onceText("--out", args.out) ?? "dnsrace-results";
  checkOutputFolder(out);
  const imagesFile = onceText("--images", args.images);
  const images: ImageMap | null = imagesFile === undefined ? null : parseImageMap(readScenarioFile(imagesFile, "images"), imagesFile);
  const counters = countersInputs(args.counters);
  const loadList = args["node-load"] === undefined ? [] : Array.isArray(args["node-load"]) ? args["node-load"] : [args["node-load"]];
  const nodeLoads = loadList.map((s) => parseNodeLoad(String(s)));
  const objects = readObjects(inputTexts(args.paths, stdin));
  const a: Assessment = assess(objects, images, counters, { lookups, seed, nodeLoads });
  writeOutputSet(out, [
    { name: "assess.csv", text: assessCsv(a) },
    { name: "report.md", text: assessReport(a) },
  ]);
  if (args.json) process.stdout.write(`${JSON.stringify(assessJson(a), null, 2)}\n`);
  else if (!args.quiet) process.stdout.write(assessConsole(a));
  if (!args.quiet) process.stderr.write(`wrote assess.csv and report.md to ${out}/\n`);
  if (threshold !== null) {
    const over = a.rows.filter((r) => atLeast(r.level, threshold));
    if (over.length > 0) {
      if (!args.quiet) process.stderr.write(`--fail-on ${threshold}: ${over.length} workload row${over.length === 1 ? "" : "s"} at ${threshold} or above: ${over.map((r) => r.id).join(", ")}\n`);
      return FAIL_ON_EXIT;
    }
  }
  return 0;
}
