import type { CommandModule } from "yargs";
import { calibrate, type Calibration, nodeBlock } from "../calibrate/infer.js";
import { CounterError, counterDelta, parseCounterSnapshot } from "../calibrate/counters.js";
import { corednsPairs } from "../calibrate/coredns.js";
import { kernelFeatures } from "../kernel/version.js";
import { knownKernel } from "../scenario/limits.js";
import { InputError, readScenarioFile } from "../scenario/load.js";
import { onceText, wholeNumber } from "./flags.js";
import { formatProportion } from "../stats/proportion.js";

/** The flags as yargs hands them over; numbers stay text so an error can quote what was typed. */
export interface CalibrateArgs {
  before: string;
  after: string;
  seconds: string | undefined;
  kernel: string | undefined;
  queriesPerS: string | undefined;
  corednsBefore: string | undefined;
  corednsAfter: string | undefined;
  corednsShare: string | undefined;
  endpoints: string | undefined;
  json: boolean;
}

export const calibrateCommand: CommandModule<object, CalibrateArgs> = {
  command: "calibrate <before> <after>",
  describe: "a node's own counters in, its overlap probability per A+AAAA pair (95% interval) and a node: block out",
  builder: (y) =>
    y
      .positional("before", { type: "string", demandOption: true, describe: "first snapshot: `conntrack -S` output, /proc/net/stat/nf_conntrack, or node-exporter metrics" })
      .positional("after", { type: "string", demandOption: true, describe: "second snapshot of the same node, in the same form" })
      .option("seconds", { type: "string", describe: "seconds between the two snapshots (required)" })
      .option("kernel", { type: "string", describe: "the node's kernel version, e.g. 5.4, 5.10 or as uname -r prints it (required: it decides what the counters mean)" })
      .option("queries-per-s", { type: "string", describe: "UDP DNS queries per second from the node's pods (A and AAAA one each, as CoreDNS counts them)" })
      .option("coredns-before", { type: "string", describe: "CoreDNS /metrics at the first snapshot (instead of --queries-per-s)" })
      .option("coredns-after", { type: "string", describe: "CoreDNS /metrics at the second snapshot" })
      .option("coredns-share", { type: "string", defaultDescription: "1", describe: "share of the CoreDNS queries that came from this node's pods" })
      .option("endpoints", { type: "string", describe: "kube-dns endpoints (needed for kernels 5.6 to 5.9)" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object instead of the report" }) as never,
  handler: (args) => {
    const cal = calibrateFromArgs(args);
    process.stdout.write(args.json ? `${JSON.stringify(calibrationJson(cal), null, 2)}\n` : formatCalibration(cal));
  },
};

/** Reads the files and flags; every mistake is an InputError naming the flag or file. */
export function calibrateFromArgs(a: CalibrateArgs): Calibration {
  const kernelText = required("--kernel", a.kernel);
  const kernel = kernelFeatures(kernelText);
  if (kernel === null) throw new InputError(`--kernel: expected a kernel version such as 4.19, 5.4, 5.10 or 6.1, or one as uname -r prints it (5.4.0-1103-aws), found "${kernelText}".`);
  const outside = knownKernel(kernelText).problem;
  if (outside !== null) throw new InputError(`--kernel: "${kernelText}" is ${outside}.`);
  const seconds = positive("--seconds", required("--seconds", a.seconds));
  const endpoints = a.endpoints === undefined ? undefined : wholeNumber("--endpoints", a.endpoints, 1, 1, 1000);
  try {
    const counters = counterDelta(parseCounterSnapshot(readScenarioFile(a.before, "counter"), a.before), parseCounterSnapshot(readScenarioFile(a.after, "counter"), a.after));
    const { pairs, pairsFrom } = dnsPairs(a, seconds);
    return calibrate({ counters, kernel, seconds, pairs, pairsFrom, endpoints });
  } catch (e) {
    if (e instanceof CounterError) throw new InputError(e.message);
    throw e;
  }
}

function dnsPairs(a: CalibrateArgs, seconds: number): { pairs: number; pairsFrom: string } {
  const coredns = a.corednsBefore !== undefined || a.corednsAfter !== undefined;
  if (coredns && a.queriesPerS !== undefined) throw new InputError("--queries-per-s: give the DNS rate either as a number or as CoreDNS metrics (--coredns-before/--coredns-after), not both.");
  if (!coredns) {
    if (a.corednsShare !== undefined) throw new InputError("--coredns-share: applies only with --coredns-before and --coredns-after.");
    const q = positive("--queries-per-s", required("--queries-per-s (or --coredns-before and --coredns-after)", a.queriesPerS));
    return { pairs: Math.round((q * seconds) / 2), pairsFrom: `${q} queries/s x ${seconds} s / 2` };
  }
  const before = required("--coredns-before", a.corednsBefore);
  const after = required("--coredns-after", a.corednsAfter);
  const share = a.corednsShare === undefined ? 1 : fraction("--coredns-share", a.corednsShare);
  const b = corednsPairs(readScenarioFile(before, "CoreDNS metrics"), before);
  const n = corednsPairs(readScenarioFile(after, "CoreDNS metrics"), after);
  if (n < b) throw new InputError(`${after}: coredns_dns_requests_total went down (from ${b} in ${before} to ${n}): CoreDNS restarted between the snapshots.`);
  return { pairs: Math.round((n - b) * share), pairsFrom: `CoreDNS UDP AAAA queries${share === 1 ? "" : ` x ${share}`}` };
}

export function formatCalibration(c: Calibration): string {
  const lines = [
    `node: kernel ${c.kernel}, ${c.cpus > 0 ? `${c.cpus} CPUs, ` : ""}counters from ${c.format}, ${c.seconds} s apart`,
    ...(c.kernelNote === null ? [] : [`kernel: ${c.kernelNote}`]),
    `DNS: ${c.pairs} A+AAAA pairs (${c.pairsFrom})`,
    `counters: ${Object.entries(c.counted).map(([k, v]) => `${k} +${v}`).join(", ")}`,
    `reading: ${c.reading}`,
    `clashes: ${c.overlap.k}`,
    `overlap probability per pair: ${formatProportion(c.overlap, 3)} (Clopper-Pearson)`,
  ];
  if (c.insertFailedPerInsert !== null) lines.push(`insert_failed per insert: ${formatProportion(c.insertFailedPerInsert, 3)}`);
  lines.push("", "A scenario fragment for this node (kernel and node: block):", "", nodeBlock(c));
  return `${lines.join("\n")}\n`;
}

export function calibrationJson(c: Calibration): object {
  return {
    kernel: c.kernel,
    ...(c.kernelNote === null ? {} : { kernel_note: c.kernelNote }),
    format: c.format,
    cpus: c.cpus,
    seconds: c.seconds,
    pairs: c.pairs,
    pairs_from: c.pairsFrom,
    counters: c.counted,
    reading: c.reading,
    clashes: c.overlap.k,
    overlap_per_pair: { estimate: c.overlap.estimate, low: c.overlap.low, high: c.overlap.high },
    insert_failed_per_insert: c.insertFailedPerInsert === null ? null : { estimate: c.insertFailedPerInsert.estimate, low: c.insertFailedPerInsert.low, high: c.insertFailedPerInsert.high },
    node_block: nodeBlock(c),
  };
}

function required(flag: string, v: string | undefined): string {
  const s = onceText(flag, v);
  if (s === undefined) throw new InputError(`${flag}: required.`);
  return s;
}

function positive(flag: string, s: string): number {
  const v = /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
  if (!(v > 0) || !Number.isFinite(v) || v > 1e12) throw new InputError(`${flag}: expected a positive number in decimal, found "${s}".`);
  return v;
}

function fraction(flag: string, s: string): number {
  const v = /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
  if (!(v > 0 && v <= 1)) throw new InputError(`${flag}: expected a share above 0 and at most 1, found "${s}".`);
  return v;
}
