import type { CommandModule } from "yargs";
import { NODE_LOADS, type NodeLoad, RX_MODES, rxProblem } from "../kernel/rx.js";
import type { NatBackend } from "../kernel/timing.js";
import { type KernelFeatures, kernelFeatures } from "../kernel/version.js";
import { MASQUERADE_MODES, type MasqueradeMode, RACE_DEFAULTS, type RaceOptions, runRace, type SendMode } from "../experiment/race.js";
import { knownKernel } from "../scenario/limits.js";
import { InputError } from "../scenario/load.js";
import { decimal, onceText, wholeNumber } from "./flags.js";
import { DEFAULT_IPVS_SCHEDULE_NS } from "../kernel/ipvs.js";
import { conntrackStatLine } from "../report/conntrack.js";
import { type BurstArgs, DEFAULT_BURSTS, burstOptions } from "./race-bursts.js";
import { formatRaceReport, loserFate, raceJson, rxFlag } from "./race-report.js";

export { conntrackStatLine, formatRaceReport, loserFate, raceJson, rxFlag };

/** The flags as yargs hands them over; numbers stay text so an error can quote what was typed. */
export interface RaceArgs extends BurstArgs {
  kernel: string | undefined;
  endpoints: string | undefined;
  gapUs: string | undefined;
  send: string | undefined;
  pairs: string | undefined;
  rules: string | undefined;
  /** node.rules_before_dns's name for --rules. */
  rulesBeforeDns?: string | undefined;
  iptables: string | undefined;
  /** node.nat_backend's name for --iptables (which names two of its three values). */
  natBackend?: string | undefined;
  rx: string | undefined;
  load: string | undefined;
  cpus: string | undefined;
  seed: string | undefined;
  proxyMode: string | undefined;
  ipvsScheduleNs: string | undefined;
  masquerade?: string | undefined;
  /** node.masquerade_all and node.masquerade_random_fully, the scenario's names for --masquerade. */
  masqueradeAll?: boolean | undefined;
  masqueradeRandomFully?: boolean | undefined;
  softirqShare?: string | undefined;
  runnablePerCpu?: string | undefined;
  json: boolean;
}

export const SEND_MODES: readonly SendMode[] = ["two-threads", "sendmmsg", "two-sends", "two-sockets"];
/** --rx values: node.rx's, and "default", the older name of the veth as created ("inline"). */
export const RX_FLAGS: readonly string[] = [...RX_MODES, "default"];
const PROXY_MODES = ["iptables", "ipvs"] as const;
/** --nat-backend values: node.nat_backend's. */
export const NAT_BACKENDS: readonly NatBackend[] = ["iptables-nft", "iptables-legacy", "nftables"];
/** --iptables, the older spelling: two of --nat-backend's values, shortened. */
const IPTABLES: Record<string, NatBackend> = { nft: "iptables-nft", legacy: "iptables-legacy" };
const DEFAULT_KERNEL = "6.18";
/**
 * Without --nat-backend: the small native nft ruleset of the measured node.
 * A scenario's node.nat_backend defaults to iptables-nft instead; race keeps its
 * own default so that its reports (and the figures quoted from them) stay as they were.
 */
export const DEFAULT_BACKEND: NatBackend = "nftables";

/**
 * The --help note on the older spellings, each still accepted, and the one
 * default that differs from the scenario field's.
 */
export const RACE_EPILOG = [
  "A flag that sets a scenario field has that field's name and default (README: \"race flags and scenario fields\"),",
  "except that --nat-backend defaults to nftables here and node.nat_backend to iptables-nft.",
  "Older spellings, still accepted: --rx default (= --rx inline); --iptables nft|legacy (= --nat-backend iptables-nft|iptables-legacy);",
  "--masquerade plain|random-fully|none (= --masquerade-all, with --masquerade-random-fully, or neither); --rules (= --rules-before-dns).",
].join("\n");

/** Pairs are 1.1 ms apart (experiment/race.ts); a larger gap or a longer rule walk would let pairs overlap. */
const MAX_GAP_US = 10_000;
/** 40,000 nft rules walk ~0.6-1 ms, still shorter than the 1.1 ms between pairs. */
const MAX_RULES = 40_000;
/** The model's address book holds 1024 addresses (net/addr.ts). */
const MAX_ENDPOINTS = 1000;
/** About 30 s of run time. */
const MAX_PAIRS = 1_000_000;
const MAX_CPUS = 64;

export const raceCommand: CommandModule<object, RaceArgs> = {
  command: "race",
  describe: "the classic reproducer: pairs of A/AAAA queries on one socket through one node hop",
  builder: (y) =>
    y
      .option("kernel", { type: "string", defaultDescription: DEFAULT_KERNEL, describe: "kernel: the node's kernel version: 4.4, 4.14.173, 5.4, 5.10, 6.18, ..., or as uname -r prints it (5.4.0-1103-aws)" })
      .option("endpoints", { type: "string", defaultDescription: String(RACE_DEFAULTS.endpoints), describe: "kube_dns.endpoints: kube-dns endpoints behind the Service" })
      .option("gap-us", { type: "string", defaultDescription: String(RACE_DEFAULTS.gapUs), describe: "AAAA send time minus A send time, us (negative: AAAA first)" })
      .option("send", { type: "string", choices: SEND_MODES, defaultDescription: RACE_DEFAULTS.send, describe: "how the pair is sent" })
      .option("pairs", { type: "string", defaultDescription: String(RACE_DEFAULTS.pairs), describe: "query pairs, a fresh source port each" })
      .option("rules-before-dns", { type: "string", defaultDescription: String(RACE_DEFAULTS.rules), describe: "node.rules_before_dns: nat rules walked before the DNS Service's rule" })
      .option("rules", { type: "string", describe: "older spelling of --rules-before-dns" })
      .option("nat-backend", {
        type: "string",
        choices: NAT_BACKENDS,
        defaultDescription: DEFAULT_BACKEND,
        describe: "node.nat_backend: kube-proxy's rules through iptables-nft or iptables-legacy, or a native nftables ruleset (a scenario's default is iptables-nft)",
      })
      .option("iptables", { type: "string", choices: Object.keys(IPTABLES), describe: "older spelling: --iptables nft|legacy is --nat-backend iptables-nft|iptables-legacy" })
      .option("rx", { type: "string", choices: RX_FLAGS, defaultDescription: RACE_DEFAULTS.rx, describe: "node.rx: the node's receive path (\"default\" is the older name of inline)" })
      .option("load", { type: "string", choices: NODE_LOADS, defaultDescription: RACE_DEFAULTS.load, describe: "node.load: node load (sets how often threaded NAPI batches a burst)" })
      .option("cpus", { type: "string", defaultDescription: String(RACE_DEFAULTS.cpus), describe: "node.cpus: CPUs of the node" })
      .option("seed", { type: "string", defaultDescription: String(RACE_DEFAULTS.seed), describe: "seed: seed of the random streams" })
      .option("proxy-mode", { type: "string", choices: PROXY_MODES, defaultDescription: "iptables", describe: "node.proxy_mode: kube-proxy's mode: the nat table's DNAT, or IPVS" })
      .option("ipvs-schedule-ns", { type: "string", defaultDescription: String(DEFAULT_IPVS_SCHEDULE_NS), describe: "node.ipvs.schedule_ns: IPVS: ns from a connection-table miss to the new connection's hash" })
      .option("masquerade-all", { type: "boolean", defaultDescription: "false", describe: "node.masquerade_all: MASQUERADE the queries to the node's address (kube-proxy --masquerade-all)" })
      .option("masquerade-random-fully", { type: "boolean", defaultDescription: "false", describe: "node.masquerade_random_fully: --random-fully on that MASQUERADE rule (with --masquerade-all)" })
      .option("masquerade", { type: "string", choices: MASQUERADE_MODES, describe: "older spelling: plain is --masquerade-all, random-fully adds --masquerade-random-fully" })
      .option("softirq-share", { type: "string", defaultDescription: "0", describe: "node.softirq_share: the node's own load: share of each CPU's time in softirq for other traffic (top's si), 0 to 0.95" })
      .option("runnable-per-cpu", { type: "string", defaultDescription: "0", describe: "node.runnable_per_cpu: the node's own load: CPU-bound tasks runnable per CPU (load average / CPUs), 0 to 64" })
      .option("threads", { type: "string", describe: "N senders (2 to 1024) sharing one connected UDP socket, one query each per burst, thread k on CPU k mod --cpus (instead of the pair, whose gap-us, send and pairs flags then do not apply)" })
      .option("spread-us", { type: "string", defaultDescription: "0", describe: "with --threads: each thread's start within its burst, us, a distribution as a scenario writes one: 0, or \"{uniform: {min: 0, max: 20}}\", {exponential: {mean: M}}, {lognormal: {median: M, p99: P}}, {empirical: {values: [...]}}" })
      .option("qtypes", { type: "string", choices: ["alternate", "A", "AAAA"], defaultDescription: "alternate", describe: "with --threads: A and AAAA in turn (thread 0 A, thread 1 AAAA, ...), or all of one type" })
      .option("bursts", { type: "string", defaultDescription: String(DEFAULT_BURSTS), describe: "with --threads: bursts, a fresh source port each" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object instead of the report" })
      .epilog(RACE_EPILOG) as never,
  handler: (args) => {
    const o = raceOptions(args);
    const r = runRace(o);
    process.stdout.write(args.json ? `${raceJson(r, o, o.kernel)}\n` : formatRaceReport(r, o, o.kernel));
  },
};

/** The flags checked and turned into the model's options (the kernel as its features); InputError names the first bad one. */
export function raceOptions(a: RaceArgs): RaceOptions & { kernel: KernelFeatures } {
  const kernel = (onceText("--kernel", a.kernel) ?? DEFAULT_KERNEL).trim();
  const features = kernelFeatures(kernel);
  if (features === null) {
    throw new InputError(`--kernel: expected a kernel version such as 4.4, 4.14.173, 5.4, 5.10 or 6.18, or one as uname -r prints it (5.4.0-1103-aws), found "${kernel}".`);
  }
  const outside = knownKernel(kernel).problem;
  if (outside !== null) throw new InputError(`--kernel: "${kernel}" is ${outside}.`);
  const backend = natBackend(a);
  const ipvs = choice("--proxy-mode", a.proxyMode, PROXY_MODES, "iptables") === "ipvs";
  if (!ipvs && a.ipvsScheduleNs !== undefined) throw new InputError("--ipvs-schedule-ns: applies only with --proxy-mode ipvs.");
  const [rulesFlag, rulesText] = spelling("--rules-before-dns", a.rulesBeforeDns, "--rules", a.rules);
  if (ipvs && rulesText !== undefined) throw new InputError(`${rulesFlag}: kube-proxy's IPVS mode matches Services with an ipset, not one nat rule per Service: no rule walk applies with --proxy-mode ipvs.`);
  const rxName = onceText("--rx", a.rx) ?? RACE_DEFAULTS.rx;
  const rx = rxName === "default" ? "inline" : RX_MODES.find((m) => m === rxName);
  if (rx === undefined) throw new InputError(`--rx: expected one of ${RX_FLAGS.join(", ")}, found "${rxName}".`);
  const rxBad = rxProblem(rx, features);
  if (rxBad !== null) throw new InputError(`--rx ${rxName}: ${rxBad}; give --kernel 5.13 or later.`);
  const burst = burstOptions(a);
  if (burst !== null) {
    for (const [flag, v, instead] of [["--gap-us", a.gapUs, "--spread-us"], ["--send", a.send, "--threads"], ["--pairs", a.pairs, "--bursts"]] as const) {
      if (v !== undefined) throw new InputError(`${flag}: does not apply with --threads (N threads on one socket); give ${instead} instead.`);
    }
  }
  return {
    ...(burst === null ? {} : { burst }),
    ...RACE_DEFAULTS,
    kernel: features,
    endpoints: wholeNumber("--endpoints", a.endpoints, RACE_DEFAULTS.endpoints, 1, MAX_ENDPOINTS),
    gapUs: gap(a.gapUs),
    send: choice("--send", a.send, SEND_MODES, RACE_DEFAULTS.send),
    pairs: wholeNumber("--pairs", a.pairs, RACE_DEFAULTS.pairs, 1, MAX_PAIRS),
    rules: wholeNumber(rulesFlag, rulesText, RACE_DEFAULTS.rules, 0, MAX_RULES),
    backend,
    rx,
    load: choice<NodeLoad>("--load", a.load, NODE_LOADS, RACE_DEFAULTS.load),
    cpus: wholeNumber("--cpus", a.cpus, RACE_DEFAULTS.cpus, 1, MAX_CPUS),
    seed: wholeNumber("--seed", a.seed, RACE_DEFAULTS.seed, 0, Number.MAX_SAFE_INTEGER),
    ipvsScheduleNs: ipvs ? wholeNumber("--ipvs-schedule-ns", a.ipvsScheduleNs, DEFAULT_IPVS_SCHEDULE_NS, 0, 1_000_000) : null,
    masquerade: masquerade(a),
    softirqShare: decimal("--softirq-share", a.softirqShare, 0, 0.95, "a share of CPU time"),
    runnablePerCpu: decimal("--runnable-per-cpu", a.runnablePerCpu, 0, 64, "a number of tasks"),
  };
}

/**
 * A field given under its scenario name or its older one: the name it was given
 * under and its text; both at once is refused, even when they agree.
 */
function spelling(name: string, v: unknown, older: string, w: unknown): [string, string | undefined] {
  if (v !== undefined && w !== undefined) throw new InputError(`${name} and ${older}: two spellings of one flag (${older} is the older); give one.`);
  return w !== undefined ? [older, onceText(older, w)] : [name, onceText(name, v)];
}

/** --nat-backend, or --iptables nft|legacy; without either, race's own default. */
function natBackend(a: RaceArgs): NatBackend {
  if (a.natBackend !== undefined && a.iptables !== undefined) {
    throw new InputError("--nat-backend and --iptables: two spellings of one flag (--iptables nft|legacy is the older); give one.");
  }
  const iptables = onceText("--iptables", a.iptables);
  if (iptables !== undefined) {
    const b = IPTABLES[iptables];
    if (b === undefined) throw new InputError(`--iptables: expected one of ${Object.keys(IPTABLES).join(", ")}, found "${iptables}".`);
    return b;
  }
  return choice("--nat-backend", a.natBackend, NAT_BACKENDS, DEFAULT_BACKEND);
}

/** --masquerade-all [--masquerade-random-fully], or --masquerade none|plain|random-fully. */
function masquerade(a: RaceArgs): MasqueradeMode {
  const all = a.masqueradeAll;
  const fully = a.masqueradeRandomFully;
  if (a.masquerade !== undefined) {
    if (all !== undefined || fully !== undefined) {
      const both = `${all !== undefined ? "--masquerade-all" : "--masquerade-random-fully"} and --masquerade`;
      throw new InputError(`${both}: two spellings of one setting (--masquerade is the older); give --masquerade-all [--masquerade-random-fully], or --masquerade alone.`);
    }
    return choice<MasqueradeMode>("--masquerade", a.masquerade, MASQUERADE_MODES, RACE_DEFAULTS.masquerade);
  }
  if (fully === true && all !== true) {
    throw new InputError("--masquerade-random-fully: applies only with --masquerade-all (it is an option of the MASQUERADE rule that --masquerade-all adds).");
  }
  return all === true ? (fully === true ? "random-fully" : "plain") : RACE_DEFAULTS.masquerade;
}

function choice<T extends string>(flag: string, v: unknown, allowed: readonly T[], dflt: T): T {
  const s = onceText(flag, v);
  if (s === undefined) return dflt;
  const found = allowed.find((x) => x === s);
  if (found === undefined) throw new InputError(`${flag}: expected one of ${allowed.join(", ")}, found "${s}".`);
  return found;
}

function gap(v: unknown): number {
  const s = onceText("--gap-us", v);
  if (s === undefined) return RACE_DEFAULTS.gapUs;
  const n = /^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$/.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(n) || Math.abs(n) > MAX_GAP_US) {
    throw new InputError(`--gap-us: expected a number of microseconds from -${MAX_GAP_US} to ${MAX_GAP_US} (negative: AAAA first), found "${s}".`);
  }
  return n;
}
