import { Process, TIMEOUT, type Waiter } from "../engine/process.js";
import type { DnsMessage, QType } from "../net/packet.js";
import type { GoConf } from "./go-conf.js";
import { type GaiStatus, type LookupResult, type Spawn, type TcpConn, type ThreadCtx, type Wait, countDots, countSends, gaiResult, pollUdp, qualify, query, udpWoken, withDot } from "./host.js";
import type { Family } from "./resolver.js";

// Go's lookup (dnsclient_unix.go goLookupIPCNAME, tryOneName, exchange); its conf is go.ts's.

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
export function* goGetaddrinfo(t: ThreadCtx, conf: GoConf, name: string, family: Family = "unspec"): Wait<LookupResult> {
  const qtypes: QType[] = family === "inet" ? ["A"] : family === "inet6" ? ["AAAA"] : ["A", "AAAA"];
  // A goroutine (the `go` statement): a process of its own on the same clock, or the harness's (ThreadCtx.spawn).
  const sim = t.host.sim;
  const go: Spawn = t.spawn ?? (<R>(gen: Generator<unknown, R, unknown>, onDone: (r: R) => void) => new Process<unknown, R>(sim, gen, onDone));
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
        const g: ThreadCtx = { id: t.id, cpu: t.cpu, proc: t.proc, host: t.host, rng: t.rng, tally: t.tally, note: t.note };
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
