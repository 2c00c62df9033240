import { readFileSync } from "node:fs";
import yargs from "yargs";
import { InputError } from "../scenario/load.js";
import { assessCommand } from "./assess.js";
import { calibrateCommand } from "./calibrate.js";
import { compareCommand } from "./compare.js";
import { lookupCommand } from "./lookup.js";
import { mergeCommand } from "./merge.js";
import { raceCommand } from "./race.js";
import { missingArgumentMessage } from "./flags.js";
import { OutputError } from "./output.js";
import { runCommand } from "./run.js";
import { sweepCommand } from "./sweep.js";
import { traceCommand } from "./trace.js";

/** The package's version, from its package.json (three folders up from dist/src/cli/). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Exit codes: 0 done, 1 internal error or output the file system could not take (a full disk), 2 bad input (scenario, resolv.conf, flags). */
export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`dnsrace run ... | head`) is not an error: stop quietly, as Unix tools do.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  const parser = yargs(argv)
    .scriptName("dnsrace")
    .usage("$0 <command> [options]\n\nSimulates the conntrack insertion race behind 5-second DNS lookups in Kubernetes pods.")
    .command(runCommand)
    .command(raceCommand)
    .command(lookupCommand)
    .command(traceCommand)
    .command(compareCommand)
    .command(sweepCommand)
    .command(mergeCommand)
    .command(calibrateCommand)
    .command(assessCommand)
    .demandCommand(1, "name a command: dnsrace run <scenario files or folders>")
    .strict()
    .help()
    .alias("help", "h")
    .version(packageVersion())
    .fail((msg, err) => {
      if (err) throw err;
      const missing = /^Not enough non-option arguments/.test(msg) ? missingArgumentMessage(argv) : null;
      if (missing !== null) throw new InputError(`${missing}\nRun "dnsrace --help" for the commands and their options.`);
      throw new InputError(`${msg}\nRun "dnsrace --help" for the commands and their options.`);
    });
  try {
    await parser.parseAsync();
    return 0;
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`dnsrace: ${e.message}\n`);
      return 2;
    }
    if (e instanceof OutputError) {
      process.stderr.write(`dnsrace: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`dnsrace: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.DNSRACE_DEBUG) process.stderr.write(`${(e as Error).stack ?? ""}\n`);
    return 1;
  }
}
