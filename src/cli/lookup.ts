import { readFileSync } from "node:fs";
import type { CommandModule } from "yargs";
import { FAULT_ACTIONS, type FaultAction, type FaultRule, RuleError, parseRule as parseRuleText } from "../dns/rules.js";
import { type DirectOptions, type DirectResult, type GiveUp, type ServerLogEntry, runDirectLookup } from "../experiment/direct.js";
import { glibcConf } from "../resolver/glibc.js";
import { goConf, goFallbackMessage, goUnknownOption } from "../resolver/go.js";
import { MUSL_DEFAULT_VERSION, muslAtLeast, muslConf, muslVersionProblem } from "../resolver/musl.js";
import { type ResolvConf, ResolvConfError, parseResolvConf } from "../resolver/resolvconf.js";
import { InputError } from "../scenario/load.js";

export interface LookupArgs {
  name: string;
  libc: string;
  resolvConf: string | undefined;
  family: string;
  /** One string per --rule (yargs gives a string when the flag is given once). */
  rule: string | string[] | undefined;
  /** --musl-version (--libc musl only). */
  muslVersion?: string | undefined;
  /** --musl-same-id: A and AAAA get the same query ID (musl before 1.2.4). */
  muslSameId?: boolean | undefined;
  rttMs: number;
  maxMs: number;
  json: boolean;
}

/** A pod's resolv.conf reduced to what matters here: one nameserver (the server answers whatever address). */
export const DEFAULT_RESOLV_CONF = "nameserver 10.96.0.10\n";

const LIBCS = ["glibc", "musl", "go"] as const;
const FAMILIES = ["unspec", "inet", "inet6"] as const;
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/** "ACTION key=value ..." -> a FaultRule (src/dns/rules.ts); bad input names the rule, the word and what is allowed. */
export function parseRule(text: string): FaultRule {
  try {
    return parseRuleText(text);
  } catch (e) {
    if (!(e instanceof RuleError)) throw e;
    throw new InputError(`--rule "${text}": ${e.reason}.`);
  }
}

/**
 * The checked options of one lookup. `resolvConfText` is the resolv.conf read
 * from `source` (a file name, "standard input", or the default).
 */
export function lookupOptions(args: LookupArgs, resolvConfText: string, source: string): DirectOptions {
  if (!(LIBCS as readonly string[]).includes(args.libc)) throw new InputError(`--libc: expected glibc, musl or go, found "${args.libc}".`);
  const libc = args.libc as DirectOptions["libc"];
  if (!(FAMILIES as readonly string[]).includes(args.family)) throw new InputError(`--family: expected one of ${FAMILIES.join(", ")}, found "${args.family}".`);
  const name = String(args.name);
  if (!HOST_NAME.test(name) || name.length > 254) throw new InputError(`the name "${name}" is not a host name (labels of letters, digits, "-" and "_", separated by dots, optionally ending in a dot).`);
  if (!Number.isFinite(args.rttMs) || args.rttMs < 0) throw new InputError(`--rtt-ms: expected a number of milliseconds >= 0, found ${String(args.rttMs)}.`);
  if (!Number.isFinite(args.maxMs) || args.maxMs <= 0) throw new InputError(`--max-ms: expected a number of milliseconds > 0, found ${String(args.maxMs)}.`);
  const rules = ruleTexts(args.rule).map(parseRule);
  let resolvConf: ResolvConf;
  try {
    resolvConf = parseResolvConf(resolvConfText);
  } catch (e) {
    if (!(e instanceof ResolvConfError)) throw e;
    throw new InputError(`${source}: line ${e.line}: ${e.reason}.`);
  }
  if (resolvConf.nameservers.length === 0) throw new InputError(`${source}: the resolv.conf has no "nameserver" line.`);
  if (args.muslVersion !== undefined && libc !== "musl") throw new InputError(`--musl-version: applies to --libc musl only.`);
  if (args.muslSameId && libc !== "musl") throw new InputError(`--musl-same-id: applies to --libc musl only.`);
  const muslVersion = args.muslVersion === undefined ? MUSL_DEFAULT_VERSION : String(args.muslVersion);
  const problem = muslVersionProblem(muslVersion);
  if (problem !== null) throw new InputError(`--musl-version: ${problem}.`);
  if (args.muslSameId && muslAtLeast(muslVersion, "1.2.4")) {
    throw new InputError(`--musl-same-id: musl ${muslVersion} makes the A and AAAA query IDs differ (6c858d6f, 1.2.4); use --musl-version 1.2.3 or earlier.`);
  }
  // musl reads attempts: from 1.1.17 (1a7fa5e5).
  if (libc === "musl" && resolvConf.options.attempts === 0 && muslAtLeast(muslVersion, "1.1.17")) {
    throw new InputError(`${source}: "options attempts:0" makes musl divide by zero (res_msend.c: timeout/attempts, SIGFPE); use attempts:1 or more.`);
  }
  if (libc === "go") {
    const unknown = goUnknownOption(resolvConf);
    if (unknown !== null) throw new InputError(`${source}: line ${unknown.line}: ${goFallbackMessage(unknown, "--libc glibc or musl")}.`);
  }
  const opts: DirectOptions = { libc, resolvConf, name, family: args.family as DirectOptions["family"], rules, rttMs: args.rttMs, maxMs: args.maxMs };
  if (libc === "musl") opts.musl = { version: muslVersion, sameIdProbability: args.muslSameId ? 1 : 0 };
  return opts;
}

function ruleTexts(rule: string | string[] | undefined): string[] {
  if (rule === undefined) return [];
  return (Array.isArray(rule) ? rule : [rule]).map(String);
}

/** Reads the resolv.conf the flag names: a file, "-" for standard input, or the default. */
export function readResolvConf(arg: string | undefined): { text: string; source: string } {
  if (arg === undefined) return { text: DEFAULT_RESOLV_CONF, source: "the default resolv.conf" };
  const source = arg === "-" ? "--resolv-conf - (standard input)" : `--resolv-conf ${arg}`;
  try {
    return { text: readFileSync(arg === "-" ? 0 : arg, "utf8"), source };
  } catch (e) {
    throw new InputError(`${source}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)}).`);
  }
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/** With more than one nameserver, each query's line names the one it went to. */
function manyServers(opts: DirectOptions): boolean {
  return opts.resolvConf.nameservers.length > 1;
}

/** The --json line: what the resolver returned, when, and every query the server saw (with its nameserver when there are several). */
export function lookupJson(opts: DirectOptions, r: DirectResult): string {
  const many = manyServers(opts);
  return JSON.stringify({
    libc: opts.libc,
    ...(opts.libc === "musl" ? { musl_version: opts.musl?.version ?? MUSL_DEFAULT_VERSION } : {}),
    name: opts.name,
    latency_ms: round3(r.latencyMs),
    result: r.result,
    packets: r.packets.map((p) => ({ t_ms: round3(p.t_ms), transport: p.transport, port: p.port, ...(many ? { server: p.server } : {}), qtype: p.qtype, qname: p.qname, fate: p.fate })),
  });
}

const FATE_WORDS: Record<FaultAction, string> = {
  answer: "answered",
  drop: "dropped",
  nxdomain: "NXDOMAIN",
  nodata: "NODATA (no records)",
  servfail: "SERVFAIL",
  refused: "REFUSED",
  truncate: "truncated (TC bit)",
};

/** The readable timeline: one line per query that reached the server, the result, and a hint on timeouts. */
export function formatTimeline(opts: DirectOptions, r: DirectResult): string {
  const libcWord = opts.libc === "musl" ? `musl ${opts.musl?.version ?? MUSL_DEFAULT_VERSION}` : opts.libc;
  const call = opts.libc === "go" ? `go LookupIPAddr("${opts.name}") (goLookupIPCNAME, network ${goNetwork(opts.family)})` : `${libcWord} getaddrinfo("${opts.name}", ${familyWord(opts.family)})`;
  const lines: string[] = [`${call} against one scripted server, round trip ${opts.rttMs} ms`];
  const times = r.packets.map((p) => p.t_ms.toFixed(3));
  const width = Math.max(0, ...times.map((t) => t.length));
  const portWidth = Math.max(0, ...r.packets.map((p) => p.port.length));
  const nameWidth = Math.max(0, ...r.packets.map((p) => p.qname.length));
  const serverWidth = Math.max(0, ...r.packets.map((p) => p.server.length));
  const many = manyServers(opts);
  r.packets.forEach((p: ServerLogEntry, i) => {
    const to = many ? `to ${p.server.padEnd(serverWidth)}  ` : "";
    lines.push(`  ${times[i]!.padStart(width)} ms  ${p.transport} ${p.port.padEnd(portWidth)}  ${to}${p.qtype.padEnd(4)} ${p.qname.padEnd(nameWidth)}  ${FATE_WORDS[p.fate]}`);
  });
  if (r.packets.length === 0) lines.push("  (no query reached the server)");
  if (r.result === "HANG") lines.push(`result: HANG, still waiting after ${r.latencyMs.toFixed(3)} ms (--max-ms)`);
  else lines.push(`result: ${r.result} after ${r.latencyMs.toFixed(3)} ms`);
  const hint = timeoutHint(opts, r);
  if (hint !== null) lines.push(`hint: ${hint}`);
  if (r.result === "HANG") lines.push(`hint: ${hangHint(opts, r)}`);
  if ((opts.musl?.sameIdProbability ?? 0) > 0 && sameIdChanged(opts, r)) {
    lines.push("hint: A and AAAA had the same ID (--musl-same-id): res_msend.c gives an answer to the first query not yet answered that has its ID, whatever its type, so two answers of one type can fill both slots and the other query is not asked again (fixed in 1.2.4, 6c858d6f).");
  }
  return lines.join("\n") + "\n";
}

/**
 * Whether the shared query ID changed what happened: the same lookup with distinct IDs gives another
 * result, latency or server log (the IDs themselves are not shown, so only their effects count).
 */
function sameIdChanged(opts: DirectOptions, r: DirectResult): boolean {
  const d = runDirectLookup({ ...opts, musl: { ...opts.musl, sameIdProbability: 0 } });
  const log = (x: DirectResult) => JSON.stringify([x.result, x.latencyMs, x.packets]);
  return log(d) !== log(r);
}

/** The network argument of Go's lookup for getaddrinfo's family ("ip" asks A and AAAA). */
function goNetwork(family: DirectOptions["family"]): string {
  return family === "inet" ? '"ip4"' : family === "inet6" ? '"ip6"' : '"ip"';
}

function familyWord(family: DirectOptions["family"]): string {
  return family === "inet" ? "AF_INET" : family === "inet6" ? "AF_INET6" : "AF_UNSPEC";
}

const seconds = (ms: number) => `${ms / 1000} s`;
const instants = (ts: number[]) => ts.map((t) => `${t.toFixed(3)} ms`).join(", ");

/** One sentence on the resolver timers behind the latency, with their values from the resolv.conf; null if none expired. */
export function timeoutHint(opts: DirectOptions, r: DirectResult): string | null {
  if (r.timeouts.length === 0) return null;
  const o = opts.resolvConf.options;
  if (opts.libc === "glibc") {
    const c = glibcConf(opts.resolvConf);
    // send_dg: seconds = retrans << ns, divided by nscount for ns > 0, at least 1.
    const windows = c.nameservers.map((_, ns) => Math.max(1, ns === 0 ? c.retrans : Math.trunc((c.retrans << ns) / c.nameservers.length)));
    const window = new Set(windows).size === 1 ? `its ${windows[0]} s window` : `its windows of ${windows.map((w) => `${w} s`).join(", ")} for nameservers 1-${windows.length}`;
    return `glibc waited ${window} (options ${optionWord("timeout", o.timeout, c.retrans)}; res_send.c send_dg) for an answer that had not come; ${r.timeouts.length === 1 ? "the window expired" : "windows expired"} at ${instants(r.timeouts)}.`;
  }
  if (opts.libc === "go") {
    const c = goConf(opts.resolvConf);
    const opt = `options ${optionWord("timeout", o.timeout, c.timeout)} ${optionWord("attempts", o.attempts, c.attempts)}; dnsclient_unix.go exchange, tryOneName`;
    return (
      `Go gives each try of a query its own deadline of timeout = ${seconds(1000 * c.timeout)} on a new socket (${opt}): a lost query costs ${seconds(1000 * c.timeout)}, ` +
      `then it is sent again from a new port, up to ${c.attempts} tr${c.attempts === 1 ? "y" : "ies"} per nameserver; ${r.timeouts.length === 1 ? "a deadline expired" : "deadlines expired"} at ${instants(r.timeouts)}.`
    );
  }
  const c = muslConf(opts.resolvConf, opts.musl);
  const retryMs = Math.trunc((1000 * c.timeout) / c.attempts);
  // Before 1.1.17 resolvconf.c never finds the digits of attempts: (1a7fa5e5).
  const attempts = o.attempts !== undefined && !muslAtLeast(c.version, "1.1.17") ? `attempts:${o.attempts} not read before 1.1.17, so 2` : optionWord("attempts", o.attempts, c.attempts);
  const opt = `options ${optionWord("timeout", o.timeout, c.timeout)} ${attempts}; res_msend.c`;
  // res_msend.c sends a pass every retry_interval while less than `timeout` has passed, then waits out that pass.
  const passes = Math.ceil((1000 * c.timeout) / retryMs);
  const total = `${passes} pass${passes === 1 ? "" : "es"} ${seconds(retryMs)} apart (passes start while less than timeout = ${seconds(1000 * c.timeout)} has passed; the last one is waited out)`;
  // A timer that expired is a resend unless the exchange gave up then (the resolver tells, r.gaveUp): after a
  // give-up the lookup ends, or the search walk goes on to its next name with a new exchange.
  const at = (t: number) => (g: GiveUp) => Math.abs(g.t_ms - t) < 1e-6;
  const resends = r.timeouts.filter((t) => !r.gaveUp.some(at(t)));
  const sent = r.gaveUp.filter((g) => g.sent);
  const unsent = r.gaveUp.filter((g) => !g.sent);
  const ending = r.gaveUp.find(at(r.latencyMs));
  const wentOn = sent.filter((g) => g !== ending);
  if (sent.length === 0 && unsent.length === 0) return `musl resent the unanswered query after timeout/attempts = ${seconds(retryMs)} (${opt}), at ${instants(resends)}.`;
  const clauses: string[] = [];
  if (resends.length > 0) clauses.push(`musl resent the unanswered query after timeout/attempts = ${seconds(retryMs)}, at ${instants(resends)}`);
  if (sent.length > 0) {
    const who = resends.length > 0 ? "gave up" : "musl gave up";
    const without = resends.length > 0 ? "" : " with a query unanswered, without resending it";
    clauses.push(`${who} after ${total}${without}, at ${instants(sent.map((g) => g.t_ms))}`);
  }
  // lookup_name.c before 1.1.15 (04bced40): res_mkquery's -1 went to sendto().
  if (unsent.length > 0) clauses.push(`${clauses.length > 0 ? "" : "musl "}sent nothing for a name res_mkquery refuses (before 1.1.15 its -1 goes to sendto(), 04bced40) and gave up after ${total}, at ${instants(unsent.map((g) => g.t_ms))}`);
  let then = "";
  // name_from_dns: an exchange that gave up goes on to the next name only when the first query's answer is NXDOMAIN.
  if (wentOn.length > 0) then += `; the first query's answer was NXDOMAIN, so after ${wentOn.length === 1 ? "that give-up" : "those give-ups"} the search went on to the next name (lookup_name.c)`;
  if (ending?.sent === true && r.result !== "EAI_AGAIN") {
    then += c.judgeEachAnswer
      ? `; the answers it had decide, judged in order, A then AAAA, the first verdict winning (lookup_name.c, 5cf1ac24)`
      : `; before 1.2.1 the answers it had decide, an address in either being enough (lookup_name.c, 5cf1ac24)`;
  }
  return `${clauses.join(", and ")} (${opt})${then}.`;
}

/** An option as the libc read it (its default when not given): "timeout:5", or "timeout:99 clamped to 30". */
function optionWord(name: string, given: number | undefined, used: number): string {
  return given === undefined || given === used ? `${name}:${used}` : `${name}:${given} clamped to ${used}`;
}

function hangHint(opts: DirectOptions, r: DirectResult): string {
  const overTcp = r.packets.some((p) => p.transport === "tcp");
  if (opts.libc === "glibc" && overTcp) {
    return `glibc sets no timeout on a TCP query (res_send.c send_vc reads until the answer comes): this lookup would wait for ever; the simulation stopped at --max-ms ${opts.maxMs}.`;
  }
  return `the lookup had not returned when the simulation stopped at --max-ms ${opts.maxMs}; raise --max-ms if it is only slow.`;
}

/** Everything the command prints, from its arguments and the resolv.conf read (the handler minus its I/O). */
export function lookupOutput(args: LookupArgs, resolvConf: { text: string; source: string }): string {
  const opts = lookupOptions(args, resolvConf.text, resolvConf.source);
  const r = runDirectLookup(opts);
  return args.json ? `${lookupJson(opts, r)}\n` : formatTimeline(opts, r);
}

/** dnsrace lookup: one lookup by one libc resolver against one scripted DNS server, no cluster around it. */
export const lookupCommand: CommandModule<object, LookupArgs> = {
  command: "lookup <name>",
  describe: "one lookup by one libc resolver against a scripted DNS server (no cluster): every query the server sees, and why the lookup takes as long as it does",
  builder: (y) =>
    y
      .positional("name", { type: "string", demandOption: true, describe: "the name the application looks up (a trailing dot skips the search list)" })
      .option("libc", { type: "string", demandOption: true, describe: "the resolver: glibc, musl, or go (Go's pure resolver, CGO_ENABLED=0)" })
      // nargs: 1 makes yargs take a lone "-" as the value instead of leaving it as an argument.
      .option("resolv-conf", { type: "string", nargs: 1, describe: `the pod's resolv.conf, or - to read it from standard input (default: "${DEFAULT_RESOLV_CONF.trim()}")` })
      .option("family", { type: "string", default: "unspec", describe: "getaddrinfo's ai_family: unspec (A and AAAA), inet (A), inet6 (AAAA)" })
      .option("rule", {
        type: "string",
        describe: `a server fault, repeatable; the first that matches a query decides, no match answers: "ACTION [qtype=A|AAAA] [name=NAME|*.domain] [nth=1,2] [transport=udp|tcp] [delay_ms=D]" with ACTION one of ${FAULT_ACTIONS.join(", ")}`,
      })
      .option("musl-version", { type: "string", nargs: 1, describe: `with --libc musl: the release, 1.1.13 to 1.2.5 (default ${MUSL_DEFAULT_VERSION}): before 1.2.1 an address in one answer is enough; 1.2.4 adds the TCP fallback and EAI_NODATA` })
      .option("musl-same-id", { type: "boolean", default: false, describe: "with --libc musl before 1.2.4: A and AAAA get the same query ID (res_mkquery's clock read the same for both)" })
      .option("rtt-ms", { type: "number", default: 0.1, describe: "round trip between the resolver and the server" })
      .option("max-ms", { type: "number", default: 60000, describe: "a lookup still running then is reported as HANG" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object (libc, name, latency_ms, result, packets) as the last line" }) as never,
  handler: (args) => {
    process.stdout.write(lookupOutput(args, readResolvConf(args.resolvConf)));
  },
};
