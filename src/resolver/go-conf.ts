import type { ResolvConf } from "./resolvconf.js";

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
