import { Process, TIMEOUT, type Waiter } from "../engine/process.js";
import type { DnsMessage, QType } from "../net/packet.js";
import {
  type GaiStatus,
  type LookupResult,
  type TcpConn,
  type ThreadCtx,
  type Wait,
  countDots,
  countSends,
  gaiResult,
  pollUdp,
  qualify,
  query,
  udpWoken,
  withDot,
} from "./host.js";
import type { ResolvConf } from "./resolvconf.js";

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

/** nameList (dnsclient_unix.go): the names to try, in order. */
export function nameList(conf: GoConf, name: string): string[] {
  // Check name length (see isDomainName).
  const rooted = name.length > 0 && name.endsWith(".");
  if (name.length > 254 || (name.length === 254 && !rooted)) return [];
  // If name is rooted (trailing dot), try only that name.
  if (rooted) return avoidDNS(name) ? [] : [name];
  const hasNdots = countDots(name) >= conf.ndots;
  const n = withDot(name);
  const names: string[] = [];
  // If name has enough dots, try unsuffixed first.
  if (hasNdots && !avoidDNS(n)) names.push(n);
  // Try suffixes that are not too long (see isDomainName).
  for (const suffix of conf.search) {
    const fqdn = withDot(qualify(name, suffix));
    if (!avoidDNS(fqdn) && fqdn.length <= 254) names.push(fqdn);
  }
  // Try unsuffixed, if not tried first above.
  if (!hasNdots && !avoidDNS(n)) names.push(n);
  return names;
}

/** avoidDNS: the empty name and .onion (RFC 7686) are not looked up. */
function avoidDNS(name: string): boolean {
  if (name === "") return true;
  const n = name.endsWith(".") ? name.slice(0, -1) : name;
  return n.toLowerCase().endsWith(".onion");
}

/**
 * The errors tryOneName can return, by what they become:
 * errNoSuchHost (NXDOMAIN, and an answer without a record of the type: skipToAnswer),
 * a timeout (i/o timeout of the exchange's deadline), errServerTemporarilyMisbehaving
 * (SERVFAIL), errServerMisbehaving (REFUSED and the other rcodes), errNoAnswerFromDNSServer.
 */
export type GoErr = "noSuchHost" | "timeout" | "temporary" | "misbehaving" | "noAnswer";

/** A tryOneName result: the answer, or the error. */
export interface GoTry {
  qtype: QType;
  answer: DnsMessage | null;
  err: GoErr | null;
}

/**
 * Starts a goroutine (the `go` statement): a process of its own on the same clock.
 * The default is a plain Process; a harness may pass one that records its timeouts.
 */
export type GoSpawn = (gen: Generator<unknown, GoTry, unknown>, onDone: (r: GoTry) => void) => Process<unknown, GoTry>;

/** Go's error in getaddrinfo's words (Go has no EAI codes; the labels keep the CSV comparable). */
function gaiStatusOf(err: GoErr): GaiStatus {
  switch (err) {
    case "noSuchHost":
      // NXDOMAIN and NODATA alike: skipToAnswer turns an answer without a record of the
      // type into errNoSuchHost ("no such host", IsNotFound), so Go has no EAI_NODATA.
      return "EAI_NONAME";
    case "timeout":
    case "temporary":
      // "i/o timeout" (IsTimeout) and SERVFAIL's "server misbehaving" (IsTemporary).
      return "EAI_AGAIN";
    default:
      // errServerMisbehaving (REFUSED, ...) and errNoAnswerFromDNSServer: not temporary.
      return "EAI_FAIL";
  }
}

/**
 * LookupIPAddr(name) through goLookupIPCNAME (dnsclient_unix.go), order dns (no
 * /etc/hosts in the model): for each name of nameList, A and AAAA in two goroutines
 * (or one after the other with single-request), both awaited; the first name with
 * an address ends the walk (StrictErrors off: any error goes on to the next name).
 */
export function* goGetaddrinfo(t: ThreadCtx, conf: GoConf, name: string, family: "unspec" | "inet" | "inet6" = "unspec", spawn?: GoSpawn): Wait<LookupResult> {
  const qtypes: QType[] = family === "inet" ? ["A"] : family === "inet6" ? ["AAAA"] : ["A", "AAAA"];
  const go: GoSpawn = spawn ?? ((gen, onDone) => new Process<unknown, GoTry>(t.host.sim, gen, onDone));
  const lane = new Lane();
  const asIs = withDot(name); // name+"." (never equal to a name of the list when name is rooted)
  let v4 = false;
  let v6 = false;
  let lastErr: GoErr | null = null;
  for (const fqdn of nameList(conf, name)) {
    if (conf.singleRequest) {
      if (t.note) t.note(`go goLookupIPCNAME: single-request: ${qtypes.join(", then ")} ${fqdn}, each tryOneName in turn`);
    } else {
      if (t.note) t.note(`go goLookupIPCNAME: ${qtypes.join(" and ")} ${fqdn} in ${qtypes.length === 2 ? "two goroutines, each exchange on a socket of its own" : "a goroutine"}`);
      // queryFn: one goroutine per type, each with its own view of the thread (its own process).
      for (const qtype of qtypes) {
        const g: ThreadCtx = { id: t.id, cpu: t.cpu, proc: t.proc, host: t.host, rng: t.rng, tally: t.tally, glibcSticky: t.glibcSticky, glibcProcess: t.glibcProcess, note: t.note };
        const p = go(tryOneName(g, conf, fqdn, qtype), (r) => lane.send(r));
        g.proc = p;
        p.start();
      }
    }
    for (const qtype of qtypes) {
      // responseFn: tryOneName here, or <-lane (in completion order).
      const r = conf.singleRequest ? ((yield tryOneName(t, conf, fqdn, qtype)) as GoTry) : ((yield recvLane(t, lane)) as GoTry);
      if (r.err !== null) {
        // "Prefer error for original name."
        if (lastErr === null || fqdn === asIs) lastErr = r.err;
        continue;
      }
      if (r.qtype === "A") v4 = true;
      else v6 = true;
    }
    if (v4 || v6) break;
  }
  if (v4 || v6) return gaiResult("OK", v4, v6);
  // No name to try (nameList empty): no addresses and no error; net.Dial reports "no such host".
  return gaiResult(gaiStatusOf(lastErr ?? "noSuchHost"), false, false);
}

/** lane := make(chan result, 1): the goroutines' results, received in completion order. */
class Lane {
  readonly queue: GoTry[] = [];
  waiter: Waiter | null = null;

  send(r: GoTry): void {
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w.wake(r);
    } else this.queue.push(r);
  }
}

function* recvLane(t: ThreadCtx, lane: Lane): Wait<GoTry> {
  const ready = lane.queue.shift();
  if (ready !== undefined) return ready;
  lane.waiter = t.proc;
  return (yield undefined) as GoTry;
}

/**
 * tryOneName (dnsclient_unix.go): attempts passes over the servers (from serverOffset),
 * one exchange each. NXDOMAIN, or an answer without a record of the type, returns at
 * once ("trying another server won't help"); a timeout, SERVFAIL or another rcode moves
 * on to the next server or pass. A lame referral (NOERROR, no answer, neither AA nor RA,
 * no additional) would move on too; the model's servers always set RA, and Go's EDNS0
 * OPT comes back in the additional section, so it does not arise here.
 */
function* tryOneName(t: ThreadCtx, conf: GoConf, name: string, qtype: QType): Wait<GoTry> {
  let lastErr: GoErr = "noAnswer";
  // serverOffset: with rotate, atomic.AddUint32(&soffset, 1) - 1.
  const serverOffset = conf.rotate ? conf.soffset++ : 0;
  const sLen = conf.servers.length;
  for (let i = 0; i < conf.attempts; i++) {
    for (let j = 0; j < sLen; j++) {
      const server = (serverOffset + j) % sLen;
      const r = (yield exchange(t, conf, server, name, qtype)) as DnsMessage | GoErr;
      if (typeof r === "string") {
        lastErr = r;
        continue;
      }
      // checkHeader
      if (r.rcode === "NXDOMAIN") return { qtype, answer: r, err: "noSuchHost" };
      if (r.rcode !== "NOERROR") {
        lastErr = r.rcode === "SERVFAIL" ? "temporary" : "misbehaving";
        continue;
      }
      // skipToAnswer: no record of the type is errNoSuchHost too.
      if (r.ancount === 0) return { qtype, answer: r, err: "noSuchHost" };
      return { qtype, answer: r, err: null };
    }
  }
  return { qtype, answer: null, err: lastErr };
}

/**
 * (*Resolver).exchange (dnsclient_unix.go): a new request (newRequest: a new ID), then
 * for each network ("udp" then "tcp", or "tcp" alone with use-vc) a deadline of
 * `timeout` from now, dial (a new socket, a new ephemeral port), one round trip, close.
 * A UDP answer with TC goes on to "tcp". Returns the answer or the error.
 */
function* exchange(t: ThreadCtx, conf: GoConf, server: number, name: string, qtype: QType): Wait<DnsMessage | GoErr> {
  const host = t.host;
  const q = query(host, name, qtype);
  const networks: ("udp" | "tcp")[] = conf.useTCP ? ["tcp"] : ["udp", "tcp"];
  for (const network of networks) {
    const deadline = host.sim.now + conf.timeout * SEC;
    let m: DnsMessage | null;
    if (network === "udp") {
      if (t.note) t.note(`go exchange: ${qtype} ${name} on a new UDP socket to ${conf.servers[server]}; waits until its deadline, ${conf.timeout} s (options timeout:${conf.timeout})`);
      // dial("udp"): a connected socket on a fresh port.
      const s = host.openUdp(conf.serverPeers[server]!, 53);
      host.sendUdp(s, [q]);
      countSends(t.tally, [q]);
      // dnsPacketRoundTrip: ignore what does not answer this request, until the deadline.
      for (;;) {
        const ready = pollUdp(t, s, deadline);
        m = ready !== undefined ? ready : udpWoken(s, yield undefined);
        if (m === null || (m.id === q.id && m.qtype === qtype && m.qname.toLowerCase() === name.toLowerCase())) break;
      }
      host.closeUdp(s);
    } else {
      if (t.note) t.note(`go exchange: ${qtype} ${name} over a new TCP connection to ${conf.servers[server]}; deadline ${conf.timeout} s`);
      const c = host.openTcp(conf.servers[server]!, 53);
      m = null;
      // dial("tcp") blocks until established or the deadline.
      yield tcpWait(t, c, deadline);
      if (c.established) {
        host.sendTcp(c, [q]);
        countSends(t.tally, [q]);
        // dnsStreamRoundTrip: one message (a wrong ID would be errInvalidDNSResponse; IDs match here).
        m = (yield tcpWait(t, c, deadline)) as DnsMessage | null;
      }
      host.closeTcp(c);
    }
    if (m === null) {
      if (t.note) t.note(`go exchange: no answer to ${qtype} ${name} by the deadline: i/o timeout; the socket is closed`);
      return "timeout";
    }
    // RFC 5966: a UDP answer with TC is retried over TCP.
    if (m.tc && network === "udp") continue;
    return m;
  }
  return "noAnswer";
}

const SEC = 1_000_000_000;

/**
 * Waits on a TCP connection until the deadline (c.SetDeadline): for the connection to be
 * established (returns null; check c.established), or for a message (returns it).
 * Returns null at the deadline.
 */
function* tcpWait(t: ThreadCtx, c: TcpConn, deadline: number): Wait<DnsMessage | null> {
  const wantMessage = c.established;
  for (;;) {
    if (wantMessage) {
      const ready = c.queue.shift();
      if (ready !== undefined) return ready;
    } else if (c.established) return null;
    if (t.host.sim.now >= deadline) return null;
    c.waiter = t.proc;
    t.proc.deadline(deadline);
    const v: unknown = yield undefined;
    c.waiter = null;
    if (v === TIMEOUT) return wantMessage ? (c.queue.shift() ?? null) : null;
    if (wantMessage && v !== null && typeof v === "object" && "qname" in v) return v as DnsMessage;
  }
}
