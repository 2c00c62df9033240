import type { CommandModule } from "yargs";
import { TraceCollector, type LookupTrace } from "../model/trace.js";
import { loadScenarioFileFor } from "../compare/spec.js";
import { InputError } from "../scenario/load.js";
import { type RunResult, runScenario } from "../scenario/run.js";
import { onceText, seedFlag } from "./flags.js";

interface TraceArgs {
  scenario: string;
  lookup: string | undefined;
  "first-slow": boolean;
  format: string | undefined;
  json: boolean;
  seed: number | undefined;
}

export const traceCommand: CommandModule<object, TraceArgs> = {
  command: "trace <scenario>",
  describe: "the packet-level story of one lookup: sends, conntrack, DNAT, the clash, the resolver's timer, the answer",
  builder: (y) =>
    y
      .positional("scenario", { type: "string", demandOption: true, describe: "a scenario file" })
      .option("lookup", { type: "string", describe: "the lookup to trace (its number in the lookups CSV)" })
      .option("first-slow", { type: "boolean", default: false, describe: "trace the first lookup that took over 1 s (the default when --lookup is not given)" })
      .option("format", { type: "string", choices: ["text", "json"], defaultDescription: "text", describe: "output format" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object (the same as --format json)" })
      .option("seed", { type: "string", describe: "seed, a whole number from 0 to 2^53 - 1 (default: the scenario's own)" }) as never,
  handler: (args) => {
    const seed = seedFlag(args.seed as unknown);
    if (args.json && args.format === "text") throw new InputError("--json and --format text: give one or the other (--json is --format json).");
    const json = args.json || args.format === "json";
    const lookupText = onceText("--lookup", args.lookup);
    // Read from its text, so that an error quotes what was typed.
    const lookup = lookupText === undefined ? undefined : /^\s*\+?\d+\s*$/.test(lookupText) ? Number(lookupText) : NaN;
    if (lookup !== undefined && (!Number.isSafeInteger(lookup) || lookup < 1)) throw new InputError(`--lookup: expected a lookup number >= 1, found "${lookupText}".`);
    if (lookup !== undefined && args["first-slow"]) throw new InputError("--lookup and --first-slow: give one or the other.");
    const loaded = loadScenarioFileFor(args.scenario, "trace");
    const collector = new TraceCollector();
    const res = runScenario(loaded, { collector, ...(seed !== undefined ? { seed } : {}) });
    const pick = chooseLookup(collector, lookup);
    if (pick.trace === null) throw new InputError(`--lookup ${String(lookup)}: the scenario ran ${collector.lookups.length} lookup${collector.lookups.length === 1 ? "" : "s"} (numbered from 1).`);
    const tr = pick.trace;
    if (json) {
      process.stdout.write(`${JSON.stringify(traceJson(res, tr))}\n`);
      return;
    }
    process.stdout.write(formatTrace(res, tr, pick.why));
  },
};

function chooseLookup(c: TraceCollector, wanted: number | undefined): { trace: LookupTrace | null; why: string } {
  if (wanted !== undefined) return { trace: c.lookups.find((l) => l.lookup === wanted) ?? null, why: `lookup ${wanted}, as asked` };
  const slow = c.lookups.filter((l) => l.endNs - l.startNs > 1_000_000_000).sort((a, b) => a.lookup - b.lookup)[0];
  if (slow !== undefined) return { trace: slow, why: `the first lookup over 1 s (lookup ${slow.lookup} of ${c.lookups.length})` };
  const first = c.lookups.sort((a, b) => a.lookup - b.lookup)[0] ?? null;
  return { trace: first, why: `no lookup took over 1 s; this is lookup 1 of ${c.lookups.length}` };
}

const ms = (ns: number) => (ns / 1e6).toFixed(3);

function traceJson(res: RunResult, tr: LookupTrace) {
  return {
    scenario: res.name,
    seed: res.seed,
    kernel: res.kernel,
    lookup: tr.lookup,
    pod: tr.pod,
    thread: tr.thread,
    name: tr.name,
    latency_ms: Number(ms(tr.endNs - tr.startNs)),
    outcome: tr.outcome,
    events: tr.lines.map((l) => ({ t_ms: Number(ms(l.t - tr.startNs)), where: l.where, what: l.text })),
  };
}

/** The timeline, then a plain-language reading of where the time went. */
export function formatTrace(res: RunResult, tr: LookupTrace, why: string): string {
  const out: string[] = [];
  out.push(`${res.name} (seed ${res.seed}, kernel ${res.kernel}): ${why}`);
  out.push(`pod ${tr.pod}, thread ${tr.thread}: getaddrinfo("${tr.name}")`);
  out.push("");
  const whereWidth = Math.max(5, ...tr.lines.map((l) => l.where.length));
  out.push(`${"ms".padStart(10)}  ${"where".padEnd(whereWidth)}  what`);
  for (const l of tr.lines) out.push(`${ms(l.t - tr.startNs).padStart(10)}  ${l.where.padEnd(whereWidth)}  ${l.text}`);
  out.push("");
  out.push(...explain(res, tr));
  return `${out.join("\n")}\n`;
}

function explain(res: RunResult, tr: LookupTrace): string[] {
  const rec = res.log.has(tr.lookup - 1) ? res.log.record(tr.lookup - 1) : undefined;
  const latency = (tr.endNs - tr.startNs) / 1e6;
  const lost = rec?.tally.queriesLost ?? 0;
  const clashes = rec?.tally.clashes ?? 0;
  const lines: string[] = [`Total: ${latency.toFixed(3)} ms, ${tr.outcome}.`];
  if (lost === 0) {
    lines.push(clashes > 0 ? `The lookup's packets clashed in conntrack ${clashes === 1 ? "once" : `${clashes} times`}, but kernel ${res.kernel} resolved every clash: no query was lost.` : "No query was lost: every answer came back after its round trip.");
    return lines;
  }
  lines.push(`${lost} quer${lost === 1 ? "y" : "ies"} got no answer (${clashes} conntrack clash${clashes === 1 ? "" : "es"} ${res.endpointNodes.length > 0 ? "on the path" : "on the node"}). The resolver cannot tell a lost query from a slow one: it waits for its timer.`);
  // The pod's resolver explains its timers from the very conf its lookups ran with.
  lines.push(tr.explainLoss());
  return lines;
}
