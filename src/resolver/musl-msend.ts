import { TIMEOUT, type Waiter } from "../engine/process.js";
import type { DnsMessage } from "../net/packet.js";
import { type LookupResult, type TcpConn, type ThreadCtx, type UdpSocket, type Wait, countDots, countSends, endsWithDot, gaiResult, pollUdp, qualify, query, udpWoken, withDot } from "./host.js";
import type { MuslConf } from "./musl-conf.js";
import type { Family } from "./resolver.js";

// musl's exchange (lookup_name.c, res_msend.c); its conf and releases are musl.ts's.

/**
 * getaddrinfo(name, AF_UNSPEC) in musl 1.2.3: __lookup_name -> name_from_dns_search
 * (src/network/lookup_name.c). The search list is used only when dots < ndots and
 * there is no trailing dot, and the walk goes on only when name_from_dns returns 0
 * (NXDOMAIN); NODATA, SERVFAIL and a timeout stop it. A search domain that
 * would make the name longer than 255 characters is passed over unasked.
 */
export function* muslGetaddrinfo(t: ThreadCtx, conf: MuslConf, name: string, family: Family = "unspec"): Wait<LookupResult> {
  const dots = countDots(name);
  const trailing = endsWithDot(name);
  const search = dots >= conf.ndots || trailing ? [] : conf.search;
  const base = (trailing ? name.slice(0, -1) : name).toLowerCase();
  if (base === "" || endsWithDot(base)) return gaiResult("EAI_NONAME", false, false);
  // By index: a for-of iterator would live across the yields, a heap object and a call per step.
  for (let i = 0; i < search.length; i++) {
    const domain = search[i]!;
    // "if (z-p < 256 - l - 1)" (every release): a domain that would make name.domain longer than 255
    // characters is passed over unqueried; such a name never reaches res_mkquery.
    if (domain.length >= 255 - base.length) {
      t.note?.(`musl name_from_dns_search: ${base}.${domain} would be over 255 characters: search domain ${domain} skipped, no query`);
      continue;
    }
    const r = (yield nameFromDns(t, conf, withDot(qualify(base, domain)), family)) as LookupResult | 0;
    if (r !== 0) return r;
  }
  const r = (yield nameFromDns(t, conf, withDot(base), family)) as LookupResult | 0;
  return r === 0 ? gaiResult("EAI_NONAME", false, false) : r;
}

/**
 * name_from_dns (src/network/lookup_name.c): A then AAAA through one
 * __res_msend_rc; 0 means NXDOMAIN (try the next name). How the pair is judged
 * depends on the release: from 1.2.1 (5cf1ac24) every answer is checked before
 * parsing, in order (A then AAAA) and the first verdict winning, so a missing or
 * failed answer fails the name even when the other has an address; before, any
 * address won and only the first query's answer was read for the error.
 */
function* nameFromDns(t: ThreadCtx, conf: MuslConf, qname: string, family: Family): Wait<LookupResult | 0> {
  if (mkqueryRejects(qname)) {
    if (!conf.checksMkquery) {
      // 1.1.13-1.1.14: qlens[i] = -1 is not checked (04bced40 added the check in 1.1.15); __res_msend_rc runs with it.
      t.note?.(`musl name_from_dns: res_mkquery refuses ${qname} (over 253 characters, or a label over 63), unchecked before 1.1.15: sendto() of length -1 fails, nothing is sent, the exchange waits out its timeout: EAI_AGAIN`);
      yield unsentExchange(t, conf);
      // No answer: alens[0] < 4 is EAI_AGAIN.
      return gaiResult("EAI_AGAIN", false, false);
    }
    // __res_mkquery returned -1: 1.2.4 returns 0 (1e7fb12f "treat names rejected by res_mkquery as nonexistent rather than error").
    t.note?.(`musl name_from_dns: res_mkquery refuses ${qname} (over 253 characters, or a label over 63): ${conf.skipRejectedNames ? "passed over like NXDOMAIN (1.2.4, 1e7fb12f)" : "EAI_NONAME, the walk ends (1.1.15-1.2.3, 04bced40)"}`);
    return conf.skipRejectedNames ? 0 : gaiResult("EAI_NONAME", false, false);
  }
  // afrr[]: A first, then AAAA, each unless the family excludes it. (Array literals: made at their
  // size, where pushing onto [] allocates room for 17.)
  const qs: DnsMessage[] =
    family === "unspec" ? [query(t.host, qname, "A"), query(t.host, qname, "AAAA")] : family === "inet" ? [query(t.host, qname, "A")] : [query(t.host, qname, "AAAA")];
  if (qs.length === 2 && conf.sameIdProbability > 0 && t.rng() < conf.sameIdProbability) {
    // res_mkquery: id = ts.tv_nsec + ts.tv_nsec/65536 of CLOCK_REALTIME; the same reading gives the same ID
    // (from 1.2.4 name_from_dns makes them differ, 6c858d6f).
    qs[1]!.id = qs[0]!.id;
    t.note?.(`musl res_mkquery: the clock read the same for both queries: A and AAAA have the same ID ${qs[0]!.id} (before 1.2.4)`);
  }
  const answers = (yield resMsendRc(t, conf, qs)) as (DnsMessage | null)[];
  let v4 = false;
  let v6 = false;
  if (conf.judgeEachAnswer) {
    for (const a of answers) {
      if (a === null || a.rcode === "SERVFAIL") return gaiResult("EAI_AGAIN", false, false);
      if (a.rcode === "NXDOMAIN") return 0;
      if (a.rcode !== "NOERROR") return gaiResult("EAI_FAIL", false, false);
    }
    for (const a of answers) {
      if (a!.ancount > 0) {
        if (a!.qtype === "A") v4 = true;
        else v6 = true;
      }
    }
    if (v4 || v6) return gaiResult("OK", v4, v6);
    // 1.2.1-1.2.3 return EAI_NONAME for a name with no address; 1.2.4 EAI_NODATA (85050ac5).
    return gaiResult(conf.eaiNodata ? "EAI_NODATA" : "EAI_NONAME", false, false);
  }
  // 1.1.13-1.2.0: __dns_parse every answer first ("if (ctx.cnt) return ctx.cnt;") ...
  for (const a of answers) {
    if (a !== null && a.rcode === "NOERROR" && a.ancount > 0) {
      if (a.qtype === "A") v4 = true;
      else v6 = true;
    }
  }
  if (v4 || v6) {
    if (t.note && answers.includes(null)) t.note("musl name_from_dns (before 1.2.1): an address in one answer is enough; the query that got no answer is not reported");
    return gaiResult("OK", v4, v6);
  }
  // ... then only the first query's answer (abuf[0]) decides.
  const a0 = answers[0]!;
  if (a0 === null || a0.rcode === "SERVFAIL") return gaiResult("EAI_AGAIN", false, false);
  if (a0.rcode === "NOERROR") return gaiResult("EAI_NONAME", false, false);
  if (a0.rcode === "NXDOMAIN") return 0;
  return gaiResult("EAI_FAIL", false, false);
}

/**
 * __res_msend_rc (res_msend.c) with queries of length -1 (musl 1.1.13-1.1.14): the socket is opened and bound,
 * every pass's sendto() fails, so no packet leaves and no answer comes; the loop ends at the first pass that
 * starts at or after `timeout` (ceil(timeout / retry_interval) passes of retry_interval), as for a lost query.
 */
function* unsentExchange(t: ThreadCtx, conf: MuslConf): Wait<void> {
  const host = t.host;
  const timeout = 1000 * conf.timeout;
  const retryInterval = Math.trunc(timeout / conf.attempts);
  const ms = timeout === 0 ? 0 : Math.ceil(timeout / retryInterval) * retryInterval;
  const deadline = host.sim.now + ms * 1_000_000;
  const sock = host.openUdp(conf.nameservers, 53);
  try {
    for (;;) {
      let msg = pollUdp(t, sock, deadline);
      if (msg === undefined) msg = udpWoken(sock, yield undefined);
      if (msg === null) {
        t.gaveUp?.(false);
        return;
      }
    }
  } finally {
    host.closeUdp(sock);
  }
}

/** __res_mkquery's refusals: a name over 253 characters (without its final dot), or a label of 0 or more than 63. */
function mkqueryRejects(qname: string): boolean {
  const l = endsWithDot(qname) ? qname.length - 1 : qname.length;
  if (l > 253) return true;
  let start = 0;
  for (let i = 0; i <= l; i++) {
    if (i === l || qname.charCodeAt(i) === 46) {
      const len = i - start;
      if (l > 0 && (len === 0 || len > 63)) return true;
      start = i + 1;
    }
  }
  return false;
}

/** alens[i] = -1: the query is being asked over TCP (1.2.4); never handed to the caller. */
const TCP_PENDING: DnsMessage = { id: -1, qname: "", qtype: "A", response: true, rcode: "NOERROR", ancount: 0, tc: false, from: "", sends: 0 };

/** Wakes the thread for an event on TCP connection i (a TCP fallback of 1.2.4). */
class TcpEvent {
  constructor(
    readonly i: number,
    readonly v: unknown,
  ) {}
}

/**
 * __res_msend_rc (src/network/res_msend.c): one socket; every unanswered
 * query is sent to every nameserver at once and again every
 * retry_interval = timeout/attempts; the whole exchange gives up after `timeout`
 * (not timeout x attempts). SERVFAIL triggers an immediate, bounded resend;
 * other rcodes than NOERROR and NXDOMAIN are ignored. An answer goes to the
 * first query not yet answered, from `next` on, with its ID. From 1.2.4
 * (51d4669f, dec8f0a4) a truncated answer is asked again over TCP, to the
 * nameserver that sent it, for that query alone (start_tcp).
 */
function* resMsendRc(t: ThreadCtx, conf: MuslConf, qs: DnsMessage[]): Wait<(DnsMessage | null)[]> {
  const host = t.host;
  const sim = host.sim;
  const MS = 1_000_000;
  const timeout = 1000 * conf.timeout;
  const retryInterval = Math.trunc(timeout / conf.attempts);
  const nq = qs.length;
  // alens[i] as answers[i]: null for 0 (no answer), TCP_PENDING for -1 (being asked over TCP, 1.2.4), else the answer.
  const answers: (DnsMessage | null)[] = nq === 2 ? [null, null] : [null];
  let next = 0;
  // 1.2.4: the TCP connection of each query (pfd[i]), created on its first truncated answer.
  let tcp: (TcpConn | null)[] | null = null;
  let tcpSent: boolean[] | null = null;
  let udpOn = true;
  // socket() + bind() to port 0: unconnected; answers from addresses not in the list are ignored.
  const sock = host.openUdp(conf.nameservers, 53);
  // mtime() in ms, counted from the start of the exchange.
  const start = sim.now;
  const t0 = 0;
  let t2 = t0;
  let t1 = t2 - retryInterval;
  let servfailRetry = 0;
  try {
    out: for (; t2 - t0 < timeout; t2 = Math.floor((sim.now - start) / MS)) {
      if (tcp !== null) {
        // 1.2.4: "This is the loop exit condition: that all queries have an accepted answer."
        let all = true;
        for (let i = 0; i < nq; i++) if (answers[i] === null || answers[i] === TCP_PENDING) all = false;
        if (all) break;
      }
      if (t2 - t1 >= retryInterval) {
        // "Query all configured nameservers in parallel": each unanswered query to each of them.
        // The arrays are made at their size (pushing onto [] would allocate room for 17 every time).
        const ns = conf.nameservers.length;
        let unanswered = 0;
        for (let i = 0; i < nq; i++) if (answers[i] === null) unanswered++;
        const burst = new Array<DnsMessage>(unanswered * ns);
        const to: number[] | undefined = ns > 1 ? new Array<number>(unanswered * ns) : undefined;
        let k = 0;
        for (let i = 0; i < nq; i++) {
          if (answers[i] !== null) continue;
          for (let j = 0; j < ns; j++, k++) {
            burst[k] = qs[i]!;
            if (to !== undefined) to[k] = j;
          }
        }
        if (t.note && t2 > 0 && burst.length > 0) t.note(`musl res_msend: ${t2} ms without an answer to ${burst.length === nq * conf.nameservers.length ? "any query" : "one query"}: resending only the unanswered (retry_interval = timeout/attempts = ${conf.timeout * 1000}/${conf.attempts} ms)`);
        else if (t.note && t2 === 0) t.note(`musl res_msend: ${qs.map((q) => q.qtype).join(" and ")} as back-to-back sendto() on one socket; resend every ${retryInterval} ms, give up after ${timeout} ms`);
        if (burst.length > 0) {
          host.sendUdp(sock, burst, to);
          countSends(t.tally, burst);
        }
        t1 = t2;
        servfailRetry = 2 * nq;
      }
      // "Wait for a response, or until time to retry"
      const deadline = start + (t1 + retryInterval) * MS;
      // poll(pfd, ..., t1+retry_interval-t2): not capped at t0+timeout, so with an interval that does not
      // divide the timeout the last pass waits past it (timeout:5 attempts:3 gives up at 6664 ms).
      let msg: DnsMessage | null | undefined;
      let tcpEvent: TcpEvent | null = null;
      if (tcp === null) {
        msg = pollUdp(t, sock, deadline);
        if (msg === undefined) msg = udpWoken(sock, yield undefined);
      } else {
        const woken = (yield pollAll(t, sock, udpOn, tcp, tcpSent!, deadline)) as DnsMessage | TcpEvent | null;
        if (woken instanceof TcpEvent) {
          tcpEvent = woken;
          msg = null;
        } else msg = woken;
      }
      while (msg !== null && next < nq) {
        // "Find which query this answer goes with, if any"
        let i = next;
        while (i < nq && qs[i]!.id !== msg.id) i++;
        if (i < nq && answers[i] === null) {
          if (msg.rcode === "NOERROR" || msg.rcode === "NXDOMAIN") {
            // "Store answer in the right slot, or update next available temp slot if it's already in place."
            answers[i] = msg;
            if (i === next) while (next < nq && answers[next] !== null) next++;
            // 1.2.4: "Ignore further UDP if all slots full or TCP-mode"
            if (conf.tcpFallback && next === nq) udpOn = false;
            if (conf.tcpFallback && msg.tc) {
              // "If answer is truncated (TC bit), fallback to TCP"
              answers[i] = TCP_PENDING;
              const j = Math.max(0, conf.nameservers.indexOf(msg.from));
              t.note?.(`musl res_msend: the ${qs[i]!.qtype} answer is truncated (TC): asking ${qs[i]!.qtype} again over TCP to ${conf.nameservers[j]} (start_tcp, 1.2.4)`);
              tcp ??= nq === 2 ? [null, null] : [null];
              tcpSent ??= nq === 2 ? [false, false] : [false];
              // TCP_FASTOPEN_CONNECT: no cookie from the server, so the query waits for the handshake.
              tcp[i] = host.openTcp(conf.nameservers[j]!, 53);
              tcpSent[i] = false;
            }
          } else if (msg.rcode === "SERVFAIL") {
            if (servfailRetry > 0) {
              servfailRetry--;
              host.sendUdp(sock, [qs[i]!], [Math.max(0, conf.nameservers.indexOf(msg.from))]);
              countSends(t.tally, [qs[i]!]);
            }
          }
        }
        // Drain what is already queued (recvmsg until EAGAIN).
        msg = udpOn ? (sock.queue.shift() ?? null) : null;
      }
      if (tcp !== null) {
        // pfd[i] POLLOUT: the connection is up, the query goes out; POLLIN: its answer.
        for (let i = 0; i < nq; i++) {
          const c = tcp[i];
          if (c === null || c === undefined) continue;
          if (c.established && !tcpSent![i]) {
            host.sendTcp(c, [qs[i]!]);
            countSends(t.tally, [qs[i]!]);
            tcpSent![i] = true;
          }
          let a: DnsMessage | undefined = tcpEvent !== null && tcpEvent.i === i && isMessage(tcpEvent.v) ? tcpEvent.v : undefined;
          a ??= c.queue.shift();
          if (a === undefined) continue;
          if (a.rcode !== "NOERROR" && a.rcode !== "NXDOMAIN") {
            t.note?.(`musl res_msend: the TCP answer to ${a.qtype} is ${a.rcode}: the whole exchange ends (goto out)`);
            break out;
          }
          // "Storing the length here commits the accepted answer. Immediately close TCP socket."
          answers[i] = a;
          host.closeTcp(c);
          tcp[i] = null;
        }
      } else {
        let all = true;
        for (let i = 0; i < nq; i++) if (answers[i] === null) all = false;
        if (all) break;
      }
    }
    // The loop ended on its condition, t2-t0 < timeout, rather than by a break: the exchange gave up.
    if (t2 - t0 >= timeout) t.gaveUp?.(true);
    // "Disregard any incomplete TCP results"
    for (let i = 0; i < nq; i++) if (answers[i] === TCP_PENDING) answers[i] = null;
    return answers;
  } finally {
    host.closeUdp(sock);
    if (tcp !== null) for (const c of tcp) if (c !== null) host.closeTcp(c);
  }
}

function isMessage(v: unknown): v is DnsMessage {
  return typeof v === "object" && v !== null && "qname" in v;
}

/**
 * poll() on the UDP socket (unless its events are off) and the TCP connections
 * at once: what is ready now, or the first wake, or null at the deadline. A
 * connection that is up but has not sent its query is ready (POLLOUT).
 */
function* pollAll(t: ThreadCtx, sock: UdpSocket, udpOn: boolean, tcp: (TcpConn | null)[], sent: boolean[], deadline: number): Wait<DnsMessage | TcpEvent | null> {
  if (udpOn && sock.queue.length > 0) return sock.queue.shift()!;
  for (let i = 0; i < tcp.length; i++) {
    const c = tcp[i];
    if (c === null || c === undefined) continue;
    if ((c.established && !sent[i]) || c.queue.length > 0) return new TcpEvent(i, undefined);
  }
  if (t.host.sim.now >= deadline) return null;
  const proc = t.proc;
  const waiters: Waiter[] = [];
  for (let i = 0; i < tcp.length; i++) {
    const c = tcp[i];
    if (c === null || c === undefined) continue;
    const w: Waiter = { deadline: (d) => proc.deadline(d), wake: (v) => proc.wake(new TcpEvent(i, v)) };
    c.waiter = w;
    waiters.push(w);
  }
  if (udpOn) sock.waiter = proc;
  proc.deadline(deadline);
  const v: unknown = yield undefined;
  sock.waiter = null;
  for (const c of tcp) if (c !== null && c !== undefined) c.waiter = null;
  if (v === TIMEOUT) return null;
  return v as DnsMessage | TcpEvent;
}
