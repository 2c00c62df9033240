import yargs from "yargs";
import { InputError } from "../scenario/load.js";
import { runCommand } from "./run.js";

/** Exit codes: 0 done, 1 internal error, 2 bad input (scenario, resolv.conf, flags). */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const parser = yargs(argv)
    .scriptName("dnsrace")
    .usage("$0 <command> [options]\n\nSimulates the conntrack insertion race behind 5-second DNS lookups in Kubernetes pods.")
    .command(
      "run <paths..>",
      "run scenario files (or every .yaml in the folders given) and write latency distributions as CSV",
      (y) =>
        y
          .positional("paths", { type: "string", array: true, demandOption: true, describe: "scenario files or folders" })
          .option("out", { type: "string", default: "results", describe: "folder for <scenario>.lookups.csv and summary.csv" })
          .option("seed", { type: "number", describe: "seed for every scenario (default: each scenario's own seed)" })
          .option("quiet", { type: "boolean", default: false, describe: "print nothing but errors" }),
      (args) => {
        if (args.seed !== undefined && (!Number.isInteger(args.seed) || args.seed < 0)) {
          throw new InputError(`--seed: expected a whole number >= 0, found ${String(args.seed)}.`);
        }
        code = runCommand({ paths: args.paths as string[], out: args.out, seed: args.seed, quiet: args.quiet });
      },
    )
    .demandCommand(1, "name a command: dnsrace run <scenario files or folders>")
    .strict()
    .help()
    .version(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw new InputError(`${msg}\nRun "dnsrace --help" for the commands and their options.`);
    });
  try {
    await parser.parseAsync();
    return code;
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`dnsrace: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`dnsrace: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.DNSRACE_DEBUG) process.stderr.write(`${(e as Error).stack ?? ""}\n`);
    return 1;
  }
}
