import type { CommandModule } from "yargs";
import { NODE_LOADS, type NodeLoad, RX_MODES, type RxMode, rxProblem } from "../kernel/rx.js";
import type { NatBackend } from "../kernel/timing.js";
import { type KernelFeatures, kernelFeatures } from "../kernel/version.js";
import { MASQUERADE_MODES, type MasqueradeMode, RACE_DEFAULTS, type RaceOptions, type RaceResult, runRace, type SendMode } from "../experiment/race.js";
import { knownKernel } from "../scenario/limits.js";
import { InputError } from "../scenario/load.js";
import { decimal, onceText, wholeNumber } from "./flags.js";
import { DEFAULT_IPVS_SCHEDULE_NS } from "../kernel/ipvs.js";
import { conntrackStatLine, statLineNames, statValue } from "../report/conntrack.js";

export { conntrackStatLine };

/** The flags as yargs hands them over; numbers stay text so an error can quote what was typed. */
export interface RaceArgs {
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

/** How the report and --json name a receive path: the veth as created is "default" there, as it always was. */
export function rxFlag(m: RxMode): string {
  return m === "inline" ? "default" : m;
}

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
  return {
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

/** What this kernel does with the entry confirmed second, and the counters it moves (from its features). */
export function loserFate(f: KernelFeatures): string {
  // Before 4e35c1cb9460 (5.0) the null binding can rewrite the loser's source port (race 2): never identical, dropped.
  const race2 = "a loser whose reply tuple the winner already owns gets a new source port (found += 2)";
  if (f.clashResolution === "none") {
    return [`${f.version}: there is no clash resolution before 4.7, every loser is dropped (insert_failed++; drop does not move)`, ...(f.sameOriginSkip ? [] : [race2])].join("; ");
  }
  if (f.clashResolution === "nat-free-only") {
    return [
      `${f.version}: every loser is dropped (insert_failed++, drop++), because a clash is resolved only when the winner has no NAT, and on a node with a nat table every entry has at least a null binding`,
      ...(f.sameOriginSkip ? [] : [race2]),
    ].join("; ");
  }
  const parts = [`${f.version}: identical tuples are merged (${f.clashResolveCounter ? "clash_resolve++" : "insert_failed++"})`];
  if (!f.sameOriginSkip) parts.push(`${race2} and is dropped (insert_failed++, drop++)`);
  if (f.natClashEntry === "none") {
    parts.push("a loser that went to another endpoint is dropped (insert_failed++, drop++)");
    return parts.join(", ");
  }
  const life = f.natClashEntry === "delete-on-reply" ? "that its first reply deletes" : "that lives 1 s";
  parts.push(`a loser that went to another endpoint goes on as a reply-only NAT-clash entry ${life} (${f.clashResolveCounter ? "clash_resolve++" : "no counter moves"})`);
  return `${parts.join(", ")}; a clash it cannot resolve is dropped (insert_failed++, drop++)`;
}

const RX_PHRASE: Record<RxMode, string> = {
  inline: "each datagram processed to completion in the sender's softirq",
  rps: "RPS queues each datagram to the CPU of its flow hash",
  gro: "GRO on the veth's NAPI, polled inline in the sender's softirq",
  "gro-threaded": "GRO with threaded NAPI, a queued burst handed on as one list",
  "rps-gro-threaded": "threaded NAPI, RPS re-queues the datagrams one by one",
};

const MASQUERADE_PHRASE: Record<MasqueradeMode, string> = {
  none: "",
  plain: ", and MASQUERADEd to the node's address (kube-proxy --masquerade-all)",
  "random-fully": ", and MASQUERADEd to the node's address with --random-fully (a random source port per new entry)",
};

const BACKEND_PHRASE: Record<NatBackend, string> = {
  nftables: "a native nftables ruleset",
  "iptables-nft": "kube-proxy's iptables rules through iptables-nft",
  "iptables-legacy": "kube-proxy's iptables rules through iptables-legacy",
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`;
}

function sendPhrase(o: RaceOptions): string {
  if (o.send === "sendmmsg") {
    return `A and AAAA in one sendmmsg() from one thread on one connected UDP socket${o.gapUs !== 0 ? " (--gap-us does not apply)" : ""}`;
  }
  if (o.send === "two-sends") {
    return `A and AAAA in two send() calls from one thread on one connected UDP socket, as musl sends them${o.gapUs !== 0 ? " (--gap-us does not apply)" : ""}`;
  }
  const g = o.gapUs;
  const when = g === 0 ? "sent at the same time" : g > 0 ? `AAAA sent ${g} us after A` : `AAAA sent ${-g} us before A`;
  const cpus = `A from CPU 0, AAAA from CPU ${1 % o.cpus}`;
  return o.send === "two-threads"
    ? `A and AAAA from two threads sharing one connected UDP socket (${cpus}), ${when}`
    : `A and AAAA from two threads with a socket each (${cpus}, different source ports), ${when}`;
}

/** Greedy word wrap, so the report fits a terminal. */
function wrap(text: string, indent = "", width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines;
}

/** The readable report: what was run, the clashes and losses, the kernel's rule for losers, `conntrack -S`. */
export function formatRaceReport(r: RaceResult, o: RaceOptions, f: KernelFeatures): string {
  const dropped = r.conservation.dropped;
  const merged = r.clashes - r.nat_clash_entries - dropped;
  const out: string[] = [
    ...wrap(
      `dnsrace race on kernel ${f.version}: ${plural(r.pairs, "pair")} of queries, ${sendPhrase(o)}, a fresh source port per pair, ` +
        `through one node hop (${plural(o.cpus, "CPU")}; receive path ${rxFlag(o.rx)}: ${RX_PHRASE[o.rx]}; load ${o.load}${o.softirqShare > 0 ? `, the node's own softirq ${(100 * o.softirqShare).toFixed(0)}% of each CPU and ${o.runnablePerCpu} runnable task(s) per CPU` : ""}), ` +
        (o.ipvsScheduleNs === null
          ? `where the DNS Service is DNATed to ${plural(o.endpoints, "endpoint")} by ${BACKEND_PHRASE[o.backend]}, ${plural(o.rules, "nat rule")} walked before its rule${MASQUERADE_PHRASE[o.masquerade]}; `
          : `where IPVS (rr) sends the DNS Service to ${plural(o.endpoints, "endpoint")}, two first packets splitting only when their IPVS steps on two CPUs are less than ${o.ipvsScheduleNs} ns apart${MASQUERADE_PHRASE[o.masquerade]}; `) +
        `seed ${o.seed}.`,
    ),
    ...(f.note === null ? [] : wrap(`kernel: ${f.note}.`)),
    "",
    `clashes        ${r.clashes} of ${r.pairs} pairs (${percent(r.clashes, r.pairs)})${r.clashes === 0 ? "" : `; to different endpoints: ${r.different_endpoint_clashes} (${percent(r.different_endpoint_clashes, r.clashes)} of them)`}`,
    r.lost_pairs === 0
      ? `lost a query   0 pairs: every query was answered`
      : `lost a query   ${r.lost_pairs} pairs (${percent(r.lost_pairs, r.pairs)}): unanswered, retried after 5 s (glibc) or 2.5 s (musl)`,
    "",
    "what the kernel does with the loser of a clash (the entry confirmed second):",
    ...wrap(loserFate(f), "  "),
  ];
  const here: string[] = [];
  if (merged > 0) here.push(`${merged} merged`);
  if (r.nat_clash_entries > 0) here.push(`${r.nat_clash_entries} kept as NAT-clash entries`);
  if (dropped > 0) here.push(`${dropped} dropped`);
  const other = r.different_source_clashes;
  const why = other > 0 ? `; ${other} of the clashes went to the winner's endpoint from another source port` : "";
  out.push(...wrap(`in this run: ${here.length > 0 ? here.join(", ") : "no clash, nothing to resolve"}${why}`, "  "), "", "conntrack -S");
  r.perCpu.forEach((c, cpu) => out.push(conntrackStatLine(cpu, c, f)));
  return `${out.join("\n")}\n`;
}

/** One JSON object: the flags as run (their CLI names), the outcome, and the per-CPU counters. */
export function raceJson(r: RaceResult, o: RaceOptions, f: KernelFeatures): string {
  return JSON.stringify({
    kernel: f.version,
    ...(f.note === null ? {} : { kernel_note: f.note }),
    endpoints: o.endpoints,
    gap_us: o.gapUs,
    send: o.send,
    rules: o.rules,
    backend: o.backend,
    rx: rxFlag(o.rx),
    load: o.load,
    softirq_share: o.softirqShare,
    runnable_per_cpu: o.runnablePerCpu,
    cpus: o.cpus,
    seed: o.seed,
    proxy_mode: o.ipvsScheduleNs === null ? "iptables" : "ipvs",
    ipvs_schedule_ns: o.ipvsScheduleNs,
    masquerade: o.masquerade,
    pairs: r.pairs,
    clashes: r.clashes,
    lost_pairs: r.lost_pairs,
    both_replied: r.both_replied,
    insert_failed: r.insert_failed,
    drop: r.drop,
    clash_resolve: r.clash_resolve,
    found: r.found,
    port_rewrites: r.port_rewrites,
    different_endpoint_clashes: r.different_endpoint_clashes,
    different_source_clashes: r.different_source_clashes,
    nat_clash_entries: r.nat_clash_entries,
    merged: r.clashes - r.nat_clash_entries - r.conservation.dropped,
    dropped: r.conservation.dropped,
    // The counters of `conntrack -S` on this kernel, and no others.
    per_cpu: r.perCpu.map((c, cpu) => Object.fromEntries([["cpu", cpu], ...statLineNames(f).map((n) => [n, statValue(c, n)])])),
  });
}
