import type { Argv, CommandModule } from "yargs";
import { InputError } from "../scenario/load.js";

/** The value of a flag given once, as text (yargs gives an array when it is repeated). */
export function onceText(flag: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new InputError(`${flag}: given ${v.length} times (${v.join(", ")}); give it once.`);
  return String(v);
}

/** A whole number from min to max, read from the flag's text (default when not given). */
export function wholeNumber(flag: string, v: unknown, dflt: number, min: number, max: number): number {
  const s = onceText(flag, v);
  if (s === undefined) return dflt;
  const n = /^\s*\+?\d+\s*$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max.toLocaleString("en-US")}`;
    throw new InputError(`${flag}: expected a whole number ${range}, found "${s}".`);
  }
  return n;
}

/** A decimal number from lo to hi (0 when not given), as typed; `what` names it in the message. */
export function decimal(flag: string, v: unknown, lo: number, hi: number, what: string): number {
  const s = onceText(flag, v);
  if (s === undefined) return 0;
  const n = /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
  if (!(n >= lo && n <= hi)) throw new InputError(`${flag}: expected ${what} from ${lo} to ${hi}, found "${s}".`);
  return n;
}

/** --seed: a whole number from 0 to 2^53 - 1, read from its text (so 9007199254740993 is not taken as ...992). */
export function seedFlag(v: unknown): number | undefined {
  const s = onceText("--seed", v);
  if (s === undefined) return undefined;
  const n = /^\s*\+?\d+\s*$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new InputError(`--seed: expected a whole number from 0 to ${Number.MAX_SAFE_INTEGER} (2^53 - 1; larger ones are not exact), found "${s}".`);
  }
  return n;
}

/** The positional arguments of each command, as its usage names them (for a message when one is missing). */
const POSITIONALS: Record<string, string> = {
  run: "the scenario files or folders (<paths..>)",
  trace: "the scenario file (<scenario>)",
  lookup: "the NAME to look up (<name>)",
  compare: "the comparison file (<file>)",
  sweep: "the sweep file (<file>)",
  calibrate: "the two counter files (<before> <after>)",
};

/** yargs's "Not enough non-option arguments" in words naming the missing argument, and a flag-like one given where it was expected. */
export function missingArgumentMessage(argv: string[]): string | null {
  const command = argv.find((a) => !a.startsWith("-"));
  const what = command === undefined ? undefined : POSITIONALS[command];
  if (what === undefined) return null;
  const flagLike = argv.filter((a) => /^-[^-]/.test(a) && !/^-\d/.test(a));
  const first = flagLike[0];
  const hint =
    first === undefined
      ? ""
      : command === "lookup"
        ? ` "${first}" was read as a flag, as is every argument that begins with "-"; a host name never does.`
        : ` "${first}" was read as a flag, as is every argument that begins with "-"; write a file of that name as ./${first}.`;
  return `dnsrace ${command}: missing ${what}.${hint}`;
}

/**
 * yargs's "Unknown argument: bogus" in words: the flag as typed, and, when the command's argument is
 * then missing, the word after it that the flag took as its value (run --bogus file.yaml).
 */
export function unknownOptionMessage(argv: string[], msg: string, argumentMissing: boolean): string {
  const command = argv.find((a) => !a.startsWith("-")) ?? "";
  const names = msg.replace(/^Unknown arguments?: /, "").split(", ");
  const given = names.map((n) => argv.find((a) => a.replace(/^-+/, "").split("=")[0] === n) ?? (n.length === 1 ? `-${n}` : `--${n}`));
  const typed = given.map((a) => a.split("=")[0]!);
  const at = argv.indexOf(given[0]!);
  const taken = argumentMissing && at >= 0 && !given[0]!.includes("=") && argv[at + 1] !== undefined && !argv[at + 1]!.startsWith("-") ? argv[at + 1] : undefined;
  const what = `dnsrace ${command}: unknown option${typed.length === 1 ? "" : "s"} ${typed.join(", ")}`;
  return taken === undefined ? `${what}; "dnsrace ${command} --help" lists its options.` : `${what}; it took "${taken}" as its value, so ${POSITIONALS[command] ?? "the command's argument"} ${POSITIONALS[command]?.includes("files") ? "are" : "is"} missing; "dnsrace ${command} --help" lists its options.`;
}

/** The commands whose file argument may be "-", and their flags that take a value (a "-" after one is its value). */
const STDIN_COMMANDS: Record<string, readonly string[]> = {
  run: ["--out", "--seed"],
  trace: ["--lookup", "--format", "--seed"],
  compare: ["--out", "--seeds"],
  sweep: ["--out", "--seeds"],
};

/**
 * A lone "-" where a command takes its file is standard input, as Unix tools read it: yargs drops a
 * lone "-", so it is passed on as /dev/stdin (whose name the messages and output files then use).
 */
export function stdinArguments(argv: string[]): string[] {
  const command = argv.find((a) => !a.startsWith("-"));
  const valued = command === undefined ? undefined : STDIN_COMMANDS[command];
  if (valued === undefined) return argv;
  return argv.map((a, i) => (a === "-" && !valued.includes(argv[i - 1] ?? "") ? "/dev/stdin" : a));
}

/**
 * The flags that take a number, per command. They are read as text (type string), so that a bad
 * value is quoted as typed and a seed past 2^53 is not rounded; yargs's help then calls them
 * [string]. Declaring them numbers too makes help say [number] while the text is still what is
 * read: yargs-parser leaves a key declared string as the text typed.
 */
export const NUMBER_FLAGS: Record<string, readonly string[]> = {
  run: ["seed", "jobs"],
  trace: ["lookup", "seed"],
  compare: ["seeds", "jobs", "shards", "parallelism"],
  sweep: ["seeds", "jobs", "shards", "parallelism"],
  race: ["endpoints", "gap-us", "pairs", "rules-before-dns", "rules", "cpus", "seed", "ipvs-schedule-ns", "softirq-share", "runnable-per-cpu", "threads", "bursts"],
  lookup: ["rtt-ms", "max-ms"],
  calibrate: ["seconds", "queries-per-s", "coredns-share", "endpoints"],
  assess: ["lookups", "seed"],
};

/** A command whose number flags show as [number] in its help (NUMBER_FLAGS). */
export function withNumberFlags<U>(cmd: CommandModule<object, U>): CommandModule<object, U> {
  const name = String(Array.isArray(cmd.command) ? cmd.command[0] : cmd.command).split(" ")[0]!;
  const flags = NUMBER_FLAGS[name];
  const builder = cmd.builder;
  if (flags === undefined || typeof builder !== "function") return cmd;
  return { ...cmd, builder: (y: Argv<object>) => (builder(y) as Argv<U>).number([...flags]) as never };
}
