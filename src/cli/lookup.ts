import { readFileSync } from "node:fs";
import type { CommandModule } from "yargs";
import { FAULT_ACTIONS, type FaultAction, type FaultRule, RuleError, parseRule as parseRuleText } from "../dns/rules.js";
import { type DirectOptions, type DirectResult, type ServerLogEntry, runDirectLookup } from "../experiment/direct.js";
import { RESOLVER_SETTINGS, findResolver, resolverList } from "../resolver/registry.js";
import { ResolverRefusal, type ResolverSettings, type TimerReport } from "../resolver/resolver.js";
import { type ResolvConf, ResolvConfError, parseResolvConf } from "../resolver/resolvconf.js";
import { InputError } from "../scenario/load.js";

export interface LookupArgs {
  name: string;
  libc: string;
  resolvConf: string | undefined;
  family: string;
  /** One string per --rule (yargs gives a string when the flag is given once). */
  rule: string | string[] | undefined;
  /** As typed on the command line (text), or a number from a caller in code. */
  rttMs: number | string;
  maxMs: number | string;
  json: boolean;
  /** A resolver's own flags, as yargs camel-cases them (--musl-version: muslVersion), from the registry. */
  [resolverFlag: string]: unknown;
}

/** A pod's resolv.conf reduced to what matters here: one nameserver (the server answers whatever address). */
export const DEFAULT_RESOLV_CONF = "nameserver 10.96.0.10\n";

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

/** --rtt-ms's upper end: a round trip of 1000 s. */
export const MAX_RTT_MS = 1_000_000;
/** --max-ms's upper end: a day of simulated time. */
export const MAX_LOOKUP_MS = 86_400_000;

/**
 * The checked options of one lookup. `resolvConfText` is the resolv.conf read
 * from `source` (a file name, "standard input", or the default).
 */
export function lookupOptions(args: LookupArgs, resolvConfText: string, source: string): DirectOptions {
  const resolver = findResolver(args.libc);
  if (resolver === undefined) throw new InputError(`--libc: expected ${resolverList()}, found "${args.libc}".`);
  const libc = args.libc as DirectOptions["libc"];
  if (!(FAMILIES as readonly string[]).includes(args.family)) throw new InputError(`--family: expected one of ${FAMILIES.join(", ")}, found "${args.family}".`);
  const name = String(args.name);
  if (!HOST_NAME.test(name) || name.length > 254) throw new InputError(`the name "${name}" is not a host name (labels of letters, digits, "-" and "_", separated by dots, optionally ending in a dot).`);
  const rttMs = decimalFlag(args.rttMs);
  const maxMs = decimalFlag(args.maxMs);
  if (!Number.isFinite(rttMs) || rttMs < 0 || rttMs > MAX_RTT_MS) throw new InputError(`--rtt-ms: expected a number of milliseconds from 0 to ${MAX_RTT_MS.toLocaleString("en-US")}, found ${asTyped(args.rttMs)}.`);
  if (!Number.isFinite(maxMs) || maxMs <= 0 || maxMs > MAX_LOOKUP_MS) throw new InputError(`--max-ms: expected a number of milliseconds above 0, at most ${MAX_LOOKUP_MS.toLocaleString("en-US")} (a day; the clock is integer ns), found ${asTyped(args.maxMs)}.`);
  const rules = ruleTexts(args.rule).map(parseRule);
  let resolvConf: ResolvConf;
  try {
    resolvConf = parseResolvConf(resolvConfText);
  } catch (e) {
    if (!(e instanceof ResolvConfError)) throw e;
    throw new InputError(`${source}: line ${e.line}: ${e.reason}.`);
  }
  if (resolvConf.nameservers.length === 0) throw new InputError(`${source}: the resolv.conf has no "nameserver" line.`);
  // A flag of another resolver is refused; the resolver checks its own and the resolv.conf.
  const flag = (name: string) => args[camelCase(name)];
  for (const { resolver: owner, setting } of RESOLVER_SETTINGS) {
    const v = flag(setting.flag.name);
    if (v !== undefined && v !== false && owner !== resolver) throw new InputError(`--${setting.flag.name}: applies to --libc ${owner.name} only.`);
  }
  const settings = resolver.readSettings(flag, "flags");
  try {
    resolver.prepare(resolvConf, undefined, settings, "flags");
  } catch (e) {
    if (!(e instanceof ResolverRefusal)) throw e;
    if (e.at === "resolv_conf") throw new InputError(`${source}: ${e.line === undefined ? "" : `line ${e.line}: `}${e.reason}.`);
    const setting = RESOLVER_SETTINGS.find((s) => s.setting.field === e.at)?.setting;
    throw new InputError(`${setting === undefined ? e.at : `--${setting.flag.name}`}: ${e.reason}.`);
  }
  return { libc, resolvConf, name, family: args.family as DirectOptions["family"], rules, rttMs, maxMs, ...settings };
}

/** A flag's number: a number as given, or text read as a decimal number (NaN for anything else, a repeated flag included). */
function decimalFlag(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return NaN;
  return /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v) ? Number(v) : NaN;
}

/** A flag's value for an error message: text quoted as typed, a number as it is. */
function asTyped(v: unknown): string {
  if (typeof v === "string") return `"${v}"`;
  if (Array.isArray(v)) return `${v.length} values (${v.join(", ")}); give it once`;
  return String(v);
}

/** yargs' camel-case key of a flag: "musl-same-id" -> "muslSameId". */
function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
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
    ...r.resolver.jsonFields,
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
  const call = r.resolver.call(opts.name, opts.family);
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
  const contrast = r.resolver.contrast;
  if (contrast !== null && changedWithout(opts, r, contrast.settings)) lines.push(`hint: ${contrast.hint}`);
  return lines.join("\n") + "\n";
}

/**
 * Whether a setting changed what happened: the same lookup with the resolver's settings without it gives
 * another result, latency or server log (only effects that show count).
 */
function changedWithout(opts: DirectOptions, r: DirectResult, settings: ResolverSettings): boolean {
  const d = runDirectLookup({ ...opts, ...settings });
  const log = (x: DirectResult) => JSON.stringify([x.result, x.latencyMs, x.packets]);
  return log(d) !== log(r);
}

/** What the run shows of the resolver's timers, for its hints. */
function timerReport(opts: DirectOptions, r: DirectResult): TimerReport {
  return { latencyMs: r.latencyMs, result: r.result, timeouts: r.timeouts, gaveUp: r.gaveUp, overTcp: r.packets.some((p) => p.transport === "tcp"), maxMs: opts.maxMs };
}

/** One sentence on the resolver timers behind the latency, from the conf the lookup ran with; null if none expired. */
export function timeoutHint(opts: DirectOptions, r: DirectResult): string | null {
  return r.resolver.timerHint(timerReport(opts, r));
}

function hangHint(opts: DirectOptions, r: DirectResult): string {
  return r.resolver.hangHint(timerReport(opts, r)) ?? `the lookup had not returned when the simulation stopped at --max-ms ${opts.maxMs}; raise --max-ms if it is only slow.`;
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
  builder: (y) => {
    const common = y
      .positional("name", { type: "string", demandOption: true, describe: "the name the application looks up (a trailing dot skips the search list)" })
      .option("libc", { type: "string", demandOption: true, describe: "the resolver: glibc, musl, go (Go's pure resolver, CGO_ENABLED=0), c-ares (ares_getaddrinfo, as Node.js's dns.resolve* and gRPC use it) or busybox (busybox nslookup's own resolver)" })
      // nargs: 1 makes yargs take a lone "-" as the value instead of leaving it as an argument.
      .option("resolv-conf", { type: "string", nargs: 1, describe: `the pod's resolv.conf, or - to read it from standard input (default: "${DEFAULT_RESOLV_CONF.trim()}")` })
      .option("family", { type: "string", default: "unspec", describe: "getaddrinfo's ai_family: unspec (A and AAAA), inet (A), inet6 (AAAA)" })
      .option("rule", {
        type: "string",
        describe: `a server fault, repeatable; the first that matches a query decides, no match answers: "ACTION [qtype=A|AAAA] [name=NAME|*.domain] [nth=1,2] [transport=udp|tcp] [delay_ms=D]" with ACTION one of ${FAULT_ACTIONS.join(", ")}`,
      });
    // The resolvers' own flags (--musl-version, ...), as the registry's resolvers declare them.
    const withResolvers = RESOLVER_SETTINGS.reduce(
      (b, { setting: { flag: f } }) =>
        b.option(f.name, { type: f.type, describe: f.describe, ...(f.nargs !== undefined ? { nargs: f.nargs } : {}), ...(f.type === "boolean" ? { default: false } : {}) }),
      common,
    );
    return withResolvers
      // Text, read by lookupOptions, so that an error can quote what was typed.
      .option("rtt-ms", { type: "string", default: 0.1, describe: "round trip between the resolver and the server" })
      .option("max-ms", { type: "string", default: 60000, describe: "a lookup still running then is reported as HANG" })
      .option("json", { type: "boolean", default: false, describe: "print one JSON object (libc, name, latency_ms, result, packets) as the last line" }) as never;
  },
  handler: (args) => {
    process.stdout.write(lookupOutput(args, readResolvConf(args.resolvConf)));
  },
};
