import { readFileSync } from "node:fs";
import yargs from "yargs";
import { InputError } from "../scenario/load.js";
import { assessCommand } from "./assess.js";
import { calibrateCommand } from "./calibrate.js";
import { compareCommand } from "./compare.js";
import { lookupCommand } from "./lookup.js";
import { mergeCommand } from "./merge.js";
import { raceCommand } from "./race.js";
import { missingArgumentMessage, stdinArguments, unknownOptionMessage, withNumberFlags } from "./flags.js";
import { OutputError } from "./output.js";
import { runCommand } from "./run.js";
import { sweepCommand } from "./sweep.js";
import { traceCommand } from "./trace.js";

/** The package's version, from its package.json (three folders up from dist/src/cli/). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Exit codes: 0 done, 1 internal error or output the file system could not take (a full disk), 2 bad input (scenario, resolv.conf, flags), 3 assess --fail-on reached, 130/143 stopped by SIGINT/SIGTERM. */
export async function main(given: string[]): Promise<number> {
  const argv = stdinArguments(given);
  // A reader that stops early (`dnsrace run ... | head`) is not an error: stop quietly, as Unix tools do.
  // Standard output that cannot take the text (a full disk: ENOSPC, > /dev/full) is the file system's refusal, not
  // an internal error: one line naming it, exit 1, as for a file of --out (README, "The output set").
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    process.stderr.write(`dnsrace: cannot write the standard output (${e.code ?? "error"}: ${e.message.replace(/^\w+: /, "")}); the output files, if any, are complete.\n`);
    process.exit(1);
  });
  let pendingMissing: string | null = null;
  const parser = yargs(argv)
    .scriptName("dnsrace")
    .usage("$0 <command> [options]\n\nSimulates the conntrack insertion race behind 5-second DNS lookups in Kubernetes pods.")
    .command(withNumberFlags(runCommand))
    .command(withNumberFlags(raceCommand))
    .command(withNumberFlags(lookupCommand))
    .command(withNumberFlags(traceCommand))
    .command(withNumberFlags(compareCommand))
    .command(withNumberFlags(sweepCommand))
    .command(mergeCommand)
    .command(withNumberFlags(calibrateCommand))
    .command(withNumberFlags(assessCommand))
    .demandCommand(1, "name a command: dnsrace run <scenario files or folders>")
    .strict()
    .help()
    .alias("help", "h")
    .version(packageVersion())
    .fail((msg, err) => {
      if (err) throw err;
      // A missing argument is reported after yargs's next check: an unknown flag (run --bogus file.yaml)
      // that took the argument as its value is the mistake to name (see the middleware below).
      if (/^Not enough non-option arguments/.test(msg) && pendingMissing === null) {
        pendingMissing = `${missingArgumentMessage(argv) ?? msg}\nRun "dnsrace --help" for the commands and their options.`;
        return;
      }
      if (/^Unknown arguments?: /.test(msg)) throw new InputError(`${unknownOptionMessage(argv, msg, pendingMissing !== null)}\nRun "dnsrace --help" for the commands and their options.`);
      if (pendingMissing !== null) throw new InputError(pendingMissing);
      throw new InputError(`${msg}\nRun "dnsrace --help" for the commands and their options.`);
    })
    .middleware(() => {
      if (pendingMissing !== null) throw new InputError(pendingMissing);
    }, false);
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
