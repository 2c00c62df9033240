import { goGetaddrinfo } from "./go-lookup.js";
import type { LookupResult, ThreadCtx, Wait } from "./host.js";
import {
  type Family,
  type Resolver,
  type ResolverEnv,
  ResolverRefusal,
  type ResolverProcess,
  type ResolverSettings,
  type ResolverSetup,
  type ResolverThread,
  type Spelling,
  type TimerReport,
  instants,
  optionWord,
  seconds,
} from "./resolver.js";
import type { ResolvConf } from "./resolvconf.js";

// nameList reads the conf, and the lookup walks it.
export { nameList } from "./go-lookup.js";

/*
 * Go's pure resolver (package net with CGO_ENABLED=0, the netgo tag, GODEBUG=netdns=go,
 * or the default choice when nothing sends it to cgo), after src/net/dnsclient_unix.go
 * and src/net/dnsconfig_unix.go (Go 1.21-1.24). Every query, and every retry of it, is
 * exchanged on a socket of its own (exchange: dial, write, read, close), so A and AAAA
 * never share a source port and the same-tuple conntrack race cannot happen.
 */

/** Go's dnsConfig as dnsReadConfig fills it. */
export interface GoConf {
  /** servers: at most 3 (the "small, but the standard limit"). */
  servers: string[];
  /** [server] per index: stable peer lists for dial("udp"/"tcp", server). */
  serverPeers: string[][];
  search: string[];
  /** 0..15. */
  ndots: number;
  /** Seconds, at least 1: the deadline of one exchange. */
  timeout: number;
  /** At least 1: passes over the server list in tryOneName. */
  attempts: number;
  rotate: boolean;
  /** single-request or single-request-reopen: A, then AAAA, in the calling goroutine. */
  singleRequest: boolean;
  /** use-vc (usevc and tcp are Go spellings the resolv.conf parser rejects). */
  useTCP: boolean;
  trustAD: boolean;
  noReload: boolean;
  /** soffset: rotate's counter (serverOffset), shared by every lookup that uses this config. */
  soffset: number;
}

/** dtoi stops at big = 0xFFFFFF. */
const BIG = 0xffffff;

/**
 * dnsReadConfig (dnsconfig_unix.go) from the parsed resolv.conf: defaults ndots 1,
 * timeout 5 s, attempts 2; ndots clamped to 0..15, timeout and attempts at least 1.
 * edns0 is ignored (Go always sends EDNS0). Options Go does not know are refused
 * before this by goUnknownOption.
 */
export function goConf(rc: ResolvConf): GoConf {
  const o = rc.options;
  const servers = rc.nameservers.slice(0, 3);
  return {
    servers,
    serverPeers: servers.map((s) => [s]),
    search: rc.search,
    ndots: Math.max(0, Math.min(o.ndots ?? 1, 15)),
    timeout: Math.max(1, Math.min(o.timeout ?? 5, BIG)),
    attempts: Math.max(1, Math.min(o.attempts ?? 2, BIG)),
    rotate: o.rotate ?? false,
    singleRequest: (o.singleRequest ?? false) || (o.singleRequestReopen ?? false),
    useTCP: o.useVc ?? false,
    trustAD: o.trustAd ?? false,
    // Not carried by the parsed ResolvConf; no effect here (the model never re-reads resolv.conf).
    noReload: goOptionWords(rc).some((w) => w.kind === "option" && w.word === "no-reload"),
    soffset: 0,
  };
}

/** The options dnsReadConfig knows; anything else sets unknownOpt. */
const GO_FLAG_OPTIONS = new Set(["rotate", "single-request", "single-request-reopen", "use-vc", "usevc", "tcp", "trust-ad", "edns0", "no-reload"]);
const GO_KEYWORDS = new Set(["nameserver", "domain", "search", "options", "lookup"]);

/**
 * The first thing in the resolv.conf that sets dnsConfig.unknownOpt, read the way
 * dnsReadConfig reads it: only a line starting with '#' or ';' is a comment (so an
 * inline comment after `options` is read as options), any keyword other than
 * nameserver, domain, search, options and lookup is unknown (sortlist too).
 * conf.go lookupOrder: with cgo available and no resolver forced, unknownOpt sends
 * every lookup to cgo, i.e. to the libc.
 */
export function goUnknownOption(rc: ResolvConf): GoWord | null {
  for (const w of goOptionWords(rc)) {
    if (w.kind === "keyword") {
      if (!GO_KEYWORDS.has(w.word)) return w;
    } else if (!(w.word.startsWith("ndots:") || w.word.startsWith("timeout:") || w.word.startsWith("attempts:") || GO_FLAG_OPTIONS.has(w.word))) return w;
  }
  return null;
}

/** A keyword (first field of a line) or an option (a field after "options"), with its line. */
export interface GoWord {
  line: number;
  word: string;
  kind: "option" | "keyword";
}

/** The keywords and options of the resolv.conf as dnsReadConfig splits it (getFields). */
function goOptionWords(rc: ResolvConf): GoWord[] {
  const out: GoWord[] = [];
  rc.text.split("\n").forEach((line, i) => {
    if (line.startsWith("#") || line.startsWith(";")) return; // comment.
    const f = line.split(/[ \t\r\n]+/).filter((w) => w !== "");
    if (f.length < 1) return;
    out.push({ line: i + 1, word: f[0]!, kind: "keyword" });
    if (f[0] === "options") for (const s of f.slice(1)) out.push({ line: i + 1, word: s, kind: "option" });
  });
  return out;
}

/** The refusal for a resolv.conf Go would hand to the libc (the caller says where); `how` names the choice ("libc: glibc or musl"). */
export function goFallbackMessage(u: GoWord, how: string): string {
  return (
    `Go falls back to the libc (cgo) on unknown ${u.kind} "${u.word}"; use ${how} to model that ` +
    `(a binary built with CGO_ENABLED=0 or the netgo tag, or run with GODEBUG=netdns=go, ignores it instead: remove it from the resolv.conf to model that)`
  );
}

/** The choice of a libc resolver instead, in the words of the scenario or of the lookup command. */
function libcInstead(spelling: Spelling): string {
  return spelling === "scenario" ? "libc: glibc or musl" : "--libc glibc or musl";
}

/** The network argument of Go's lookup for getaddrinfo's family ("ip" asks A and AAAA). */
function goNetwork(family: Family): string {
  return family === "inet" ? '"ip4"' : family === "inet6" ? '"ip6"' : '"ip"';
}

/** Go keeps no resolver state per goroutine or thread; rotate's counter is the conf's (soffset). */
class GoThread implements ResolverThread, ResolverProcess {
  constructor(private readonly conf: GoConf) {}

  getaddrinfo(t: ThreadCtx, name: string, family: Family): Wait<LookupResult> {
    return goGetaddrinfo(t, this.conf, name, family);
  }

  freshProcess(): void {}

  newThread(): ResolverThread {
    return this;
  }
}

class GoSetup implements ResolverSetup {
  readonly name = "go";
  readonly jsonFields = {};
  readonly contrast = null;
  private readonly conf: GoConf;
  private readonly thread: GoThread;

  constructor(private readonly rc: ResolvConf) {
    this.conf = goConf(rc);
    this.thread = new GoThread(this.conf);
  }

  call(name: string, family: Family): string {
    return `go LookupIPAddr("${name}") (goLookupIPCNAME, network ${goNetwork(family)})`;
  }

  newProcess(): ResolverProcess {
    return this.thread;
  }

  sendWords(count: number): string {
    return count === 1 ? "sends" : "sends back to back";
  }

  lossExplanation(): string {
    const c = this.conf;
    return `Go's exchange waits until the query's own deadline, timeout = ${c.timeout * 1000} ms (options timeout:${c.timeout}), then tryOneName sends it again from a new socket (attempts:${c.attempts}): ${c.timeout * 1000} ms plus a round trip. Its A and AAAA never share a socket, so they cannot clash with each other in conntrack.`;
  }

  timerHint(r: TimerReport): string | null {
    if (r.timeouts.length === 0) return null;
    const c = this.conf;
    const o = this.rc.options;
    const opt = `options ${optionWord("timeout", o.timeout, c.timeout)} ${optionWord("attempts", o.attempts, c.attempts)}; dnsclient_unix.go exchange, tryOneName`;
    return (
      `Go gives each try of a query its own deadline of timeout = ${seconds(1000 * c.timeout)} on a new socket (${opt}): a lost query costs ${seconds(1000 * c.timeout)}, ` +
      `then it is sent again from a new port, up to ${c.attempts} tr${c.attempts === 1 ? "y" : "ies"} per nameserver; ${r.timeouts.length === 1 ? "a deadline expired" : "deadlines expired"} at ${instants(r.timeouts)}.`
    );
  }

  hangHint(): string | null {
    return null;
  }
}

/**
 * Go's pure resolver: no settings of its own. An environment with RES_OPTIONS or LOCALDOMAIN, or a
 * resolv.conf with an option it does not know, sends the lookups to the libc (conf.go): refused.
 */
export const go = {
  name: "go",
  settings: [],
  readSettings: (): ResolverSettings => ({}),
  prepare(rc: ResolvConf, env: ResolverEnv | undefined, _settings: ResolverSettings, spelling: Spelling): ResolvConf {
    if (env !== undefined && (env.RES_OPTIONS !== undefined || env.LOCALDOMAIN !== undefined)) {
      throw new ResolverRefusal("env", `RES_OPTIONS or LOCALDOMAIN make Go use the libc (cgo) instead of its own resolver (conf.go); use ${libcInstead(spelling)} to model that`);
    }
    const unknown = goUnknownOption(rc);
    if (unknown !== null) throw new ResolverRefusal("resolv_conf", goFallbackMessage(unknown, libcInstead(spelling)), unknown.line);
    return rc;
  },
  configure: (rc: ResolvConf): ResolverSetup => new GoSetup(rc),
} as const satisfies Resolver;
