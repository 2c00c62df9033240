import { TIMEOUT } from "../engine/process.js";
import type { DnsMessage, QType } from "../net/packet.js";
import type { CaresConf } from "./cares-conf.js";
import { caresNames } from "./cares-conf.js";
import { type LookupResult, type TcpConn, type ThreadCtx, type UdpSocket, type Wait, countSends, gaiResult, lowerAbsolute, query } from "./host.js";
import type { Family } from "./resolver.js";

// c-ares 1.34.6's ares_getaddrinfo path, as an application's event loop drives it (ares_process_fds
// when a socket is readable or ares_timeout() has passed). Sources: src/lib/ares_getaddrinfo.c,
// ares_send.c, ares_process.c, ares_metrics.c, ares_close_sockets.c, ares_conn.c.

const MS = 1_000_000;
/** ares_metrics.c: the bounds of a server's timeout and the multiple of its average latency. */
const MIN_TIMEOUT_MS = 250;
const MAX_TIMEOUT_MS = 5000;
const AVG_TIMEOUT_MULTIPLIER = 5;
const MIN_COUNT_FOR_AVERAGE = 3;
/** ARES_METRIC_1MINUTE, 15MINUTES, 1HOUR, 1DAY: bucket widths in s; the last, INCEPTION, never rolls over. */
const BUCKETS_S = [60, 15 * 60, 60 * 60, 24 * 60 * 60, 0];

/** One of a server's latency buckets (ares_server_metrics_t). */
interface Bucket {
  ts: number;
  totalMs: number;
  count: number;
  prevTs: number;
  prevTotalMs: number;
  prevCount: number;
}

/** A server of the channel (ares_server_t): its failures and latency metrics live as long as the channel. */
export interface CaresServer {
  idx: number;
  addr: string;
  consecFailures: number;
  metrics: Bucket[];
}

/**
 * The channel of a process (ares_channel_t): its servers' state carries from one lookup to the next.
 * Its connections do not: without ARES_FLAG_STAYOPEN, ares_check_cleanup_conns closes a connection
 * as soon as no query is left on it, so every lookup opens a fresh UDP socket.
 */
export class CaresChannel {
  readonly servers: CaresServer[];
  constructor(readonly conf: CaresConf) {
    this.servers = conf.nameservers.map((addr, idx) => ({ idx, addr, consecFailures: 0, metrics: BUCKETS_S.map(() => ({ ts: 0, totalMs: 0, count: 0, prevTs: 0, prevTotalMs: 0, prevCount: 0 })) }));
  }

  /** The servers as channel->servers sorts them (server_sort_cb: fewest consecutive failures, then configuration order). */
  sorted(): CaresServer[] {
    return [...this.servers].sort((a, b) => a.consecFailures - b.consecFailures || a.idx - b.idx);
  }
}

/** ares_metric_timestamp: the bucket's period number at time `sec` (INCEPTION: always 1, its previous 0). */
function bucketTs(i: number, sec: number, previous: boolean): number {
  const w = BUCKETS_S[i]!;
  if (w === 0) return previous ? 0 : 1;
  if (previous) return w >= sec ? 0 : Math.floor((sec - w) / w);
  return Math.floor(sec / w);
}

/** ares_metrics_record: a NOERROR or NXDOMAIN answer's latency (whole ms, at least 1) in every bucket. */
function recordLatency(s: CaresServer, sentNs: number, nowNs: number): void {
  const sec = Math.floor(nowNs / 1e9);
  const ms = Math.max(1, Math.floor((nowNs - sentNs) / MS));
  s.metrics.forEach((b, i) => {
    const ts = bucketTs(i, sec, false);
    if (ts !== b.ts) {
      b.prevTs = b.ts;
      b.prevTotalMs = b.totalMs;
      b.prevCount = b.count;
      b.ts = ts;
      b.totalMs = 0;
      b.count = 0;
    }
    b.count++;
    b.totalMs += ms;
  });
}

/**
 * ares_metrics_server_timeout: 5 x the average latency of the first bucket (current period, else the
 * previous one) with 3 answers or more, else channel->timeout; then at least 250 ms and at most
 * maxtimeout, or 5000 ms when none is set (ARES_OPT_MAXTIMEOUTMS; ares_init sets none).
 */
export function serverTimeoutMs(s: CaresServer, channelTimeoutMs: number, nowNs: number): number {
  const sec = Math.floor(nowNs / 1e9);
  let timeout = 0;
  for (let i = 0; i < s.metrics.length; i++) {
    const b = s.metrics[i]!;
    if (bucketTs(i, sec, false) !== b.ts || b.count < MIN_COUNT_FOR_AVERAGE) {
      if (bucketTs(i, sec, true) !== b.prevTs || b.prevCount < MIN_COUNT_FOR_AVERAGE) continue;
      timeout = Math.floor(b.prevTotalMs / b.prevCount);
    } else {
      timeout = Math.floor(b.totalMs / b.count);
    }
    timeout *= AVG_TIMEOUT_MULTIPLIER;
    break;
  }
  if (timeout === 0) timeout = channelTimeoutMs;
  return Math.min(MAX_TIMEOUT_MS, Math.max(MIN_TIMEOUT_MS, timeout));
}

/** A connection of the lookup (ares_conn_t): a UDP socket, or the server's TCP connection. */
interface Conn {
  server: CaresServer;
  udp: UdpSocket | null;
  tcp: TcpConn | null;
  /** Queries written to it and not yet answered or moved (conn->queries_to_conn). */
  queries: number;
  /** TCP: queries written before the handshake completed, sent when it does. */
  pending: DnsMessage[];
  closed: boolean;
}

/** ares_status_t values the lookup can end a query with. */
type Status = "SUCCESS" | "ENODATA" | "ENOTFOUND" | "ETIMEOUT" | "ESERVFAIL" | "EREFUSED" | "ENOTIMP";

/** One query (ares_query_t) of the host query. */
interface Query {
  msg: DnsMessage;
  tryCount: number;
  /** terminate_retries: the A answer had an address, so this AAAA is not retried. */
  noRetries: boolean;
  usingTcp: boolean;
  conn: Conn | null;
  server: CaresServer | null;
  sentNs: number;
  deadlineNs: number;
  done: boolean;
  errorStatus: Status | null;
}

/** The host query (struct host_query) across the search list. */
interface HostQuery {
  v4: boolean;
  v6: boolean;
  nodata: number;
}

/**
 * ares_getaddrinfo(name, AF_UNSPEC) on the process's channel: for each name of the search list
 * (ares_search_name_list), A and AAAA are sent at once (next_dns_lookup: two ares_query_nolock
 * calls, back to back on the server's one UDP connection); the next name is asked only when both
 * have ended with no address and the last to end said ENOTFOUND or ENODATA (host_callback).
 */
export function* caresGetaddrinfo(t: ThreadCtx, ch: CaresChannel, name: string, family: Family): Wait<LookupResult> {
  const names = caresNames(ch.conf, name);
  const h: HostQuery = { v4: false, v6: false, nodata: 0 };
  // The lookup's connections: the next name's queries are sent from the callback of the last
  // answer, before ares_check_cleanup_conns runs, so they reuse the socket; at the end it closes them.
  const conns: Conn[] = [];
  let last: Status = "ENOTFOUND";
  try {
    for (let i = 0; i < names.length; i++) {
      const qname = lowerAbsolute(names[i]!);
      last = (yield hostLookup(t, ch, h, conns, qname, family)) as Status;
      if (h.v4 || h.v6) return gaiResult("OK", h.v4, h.v6);
      if (last === "ENOTFOUND" || last === "ENODATA") {
        if (last === "ENODATA") h.nodata++;
        t.note?.(`c-ares host_callback: ${qname} has no address (${last === "ENODATA" ? "ARES_ENODATA" : "ARES_ENOTFOUND"}): next name of the search list`);
        continue;
      }
      // Issue #852: SERVFAIL or REFUSED on a single-label name goes on too.
      if ((last === "ESERVFAIL" || last === "EREFUSED") && !names[i]!.replace(/\.$/, "").includes(".")) continue;
      return gaiResult(last === "ETIMEOUT" || last === "ESERVFAIL" ? "EAI_AGAIN" : "EAI_FAIL", false, false);
    }
    return gaiResult(h.nodata > 0 ? "EAI_NODATA" : "EAI_NONAME", false, false);
  } finally {
    closeIdle(t, conns);
  }
}

/** ares_check_cleanup_conns: a connection with no query left is closed (no ARES_FLAG_STAYOPEN). */
function closeIdle(t: ThreadCtx, conns: Conn[]): void {
  for (const c of conns) {
    if (!c.closed && c.queries === 0) {
      c.closed = true;
      if (c.udp !== null) t.host.closeUdp(c.udp);
      else t.host.closeTcp(c.tcp!);
    }
  }
}

/** The status an answer gives its query (ares_dns_query_reply_tostatus). */
function replyStatus(a: DnsMessage): Status {
  if (a.rcode === "NXDOMAIN") return "ENOTFOUND";
  if (a.rcode !== "NOERROR") return "ESERVFAIL";
  return a.ancount > 0 ? "SUCCESS" : "ENODATA";
}

/** One name's A and AAAA through the channel, to their end; the status of the last query to end. */
function* hostLookup(t: ThreadCtx, ch: CaresChannel, h: HostQuery, conns: Conn[], qname: string, family: Family): Wait<Status> {
  const host = t.host;
  const sim = host.sim;
  const types: QType[] = family === "inet" ? ["A"] : family === "inet6" ? ["AAAA"] : ["A", "AAAA"];
  const qs: Query[] = types.map((qt) => ({ msg: query(host, qname, qt), tryCount: 0, noRetries: false, usingTcp: ch.conf.useVc, conn: null, server: null, sentNs: 0, deadlineNs: 0, done: false, errorStatus: null }));
  /** Datagrams written in this step, per socket, handed to the kernel back to back at its end. */
  const writes = new Map<UdpSocket, DnsMessage[]>();
  let lastStatus: Status = "ENOTFOUND";

  const endQuery = (q: Query, status: Status, a: DnsMessage | null) => {
    q.done = true;
    if (q.conn !== null) q.conn.queries--;
    q.conn = null;
    lastStatus = status;
    if (status === "SUCCESS" && a !== null) {
      if (a.qtype === "A") h.v4 = true;
      else h.v6 = true;
      // terminate_retries: an IPv4 address in hand, the other query is not retried (host_callback).
      if (h.v4) {
        for (const o of qs) {
          if (o !== q && !o.done && !o.noRetries) {
            o.noRetries = true;
            t.note?.(`c-ares host_callback: the A answer has an address: the ${o.msg.qtype} query is not retried if it times out (terminate_retries)`);
          }
        }
      }
    }
  };

  /** ares_send_query: the first server (or a random one of the best, with rotate), its connection, the query's timeout. */
  const sendQuery = (q: Query) => {
    const sorted = ch.sorted();
    let server = sorted[0]!;
    if (ch.conf.rotate) {
      const best = sorted.filter((s) => s.consecFailures === sorted[0]!.consecFailures);
      server = best[Math.floor(t.rng() * 256) % best.length]!;
    }
    let conn: Conn | undefined;
    if (q.usingTcp) conn = conns.find((c) => !c.closed && c.tcp !== null && c.server === server);
    // ares_fetch_connection: the newest UDP connection, unless the server has failures.
    else if (server.consecFailures === 0) conn = conns.find((c) => !c.closed && c.udp !== null && c.server === server);
    if (conn === undefined) {
      conn = q.usingTcp
        ? { server, udp: null, tcp: host.openTcp(server.addr, 53), queries: 0, pending: [], closed: false }
        : { server, udp: host.openUdp([server.addr], 53), tcp: null, queries: 0, pending: [], closed: false };
      conns.unshift(conn); // UDP connections go to the front (ares_open_connection)
    }
    if (conn.udp !== null) {
      const list = writes.get(conn.udp);
      if (list === undefined) writes.set(conn.udp, [q.msg]);
      else list.push(q.msg);
    } else if (conn.tcp!.established) {
      host.sendTcp(conn.tcp!, [q.msg]);
      countSends(t.tally, [q.msg]);
    } else conn.pending.push(q.msg);
    const timeout = queryTimeoutMs(t, ch, q, server);
    q.conn = conn;
    q.server = server;
    conn.queries++;
    q.sentNs = sim.now;
    q.deadlineNs = sim.now + timeout * MS;
    if (t.note && q.tryCount > 0) t.note(`c-ares ares_send_query: try ${q.tryCount + 1} of ${ch.conf.tries * ch.servers.length} of ${q.msg.qtype} to ${server.addr} on ${conn.udp !== null ? "a new UDP socket (the server has failures: ares_fetch_connection opens another)" : "TCP"}, timeout ${timeout} ms`);
  };

  /** ares_requeue_query: another try while tries remain and it may be retried, else the query ends. */
  const requeue = (q: Query, status: Status, incTry: boolean) => {
    if (q.conn !== null) q.conn.queries--;
    q.conn = null;
    if (status !== "SUCCESS") q.errorStatus = status;
    if (incTry) q.tryCount++;
    if (q.tryCount < ch.servers.length * ch.conf.tries && !q.noRetries) {
      sendQuery(q);
      return;
    }
    q.done = true;
    lastStatus = q.errorStatus ?? "ETIMEOUT";
    t.note?.(`c-ares ares_requeue_query: ${q.msg.qtype} ends with ARES_${lastStatus}${q.noRetries ? " (not retried: terminate_retries)" : ` after ${q.tryCount} tries`}`);
  };

  /** process_answer: the query with the answer's ID and question, then by its rcode and TC bit. */
  const processAnswer = (a: DnsMessage, overTcp: boolean) => {
    const q = qs.find((x) => !x.done && x.msg.id === a.id && x.msg.qname === a.qname && x.msg.qtype === a.qtype);
    if (q === undefined) return; // "We may have stopped listening for this query, that's ok"
    if (q.conn !== null) q.conn.queries--;
    q.conn = null;
    if (a.tc && !overTcp) {
      q.usingTcp = true;
      t.note?.(`c-ares process_answer: the ${a.qtype} answer is truncated: asked again over TCP`);
      requeue(q, "SUCCESS", false);
      return;
    }
    if (a.rcode === "SERVFAIL" || a.rcode === "REFUSED" || a.rcode === "NOTIMP") {
      q.server!.consecFailures++;
      requeue(q, a.rcode === "SERVFAIL" ? "ESERVFAIL" : a.rcode === "REFUSED" ? "EREFUSED" : "ENOTIMP", true);
      return;
    }
    if (a.rcode === "NOERROR" || a.rcode === "NXDOMAIN") recordLatency(q.server!, q.sentNs, sim.now);
    q.server!.consecFailures = 0; // server_set_good
    endQuery(q, replyStatus(a), a);
  };

  for (const q of qs) sendQuery(q);
  for (;;) {
    flushWrites(t, writes);
    // The last query ended: back to the caller, which may send the next name's before the cleanup.
    if (qs.every((q) => q.done)) return lastStatus;
    closeIdle(t, conns);
    // ares_process_fds: what is readable first (process_read), then the timeouts (process_timeouts).
    let progressed = false;
    for (const c of conns) {
      if (c.closed) continue;
      if (c.tcp !== null && c.tcp.established && c.pending.length > 0) {
        host.sendTcp(c.tcp, c.pending);
        countSends(t.tally, c.pending);
        c.pending = [];
      }
      const queue = c.udp !== null ? c.udp.queue : c.tcp!.queue;
      while (queue.length > 0) {
        processAnswer(queue.shift()!, c.tcp !== null);
        progressed = true;
      }
    }
    const now = sim.now;
    for (const q of [...qs].sort((x, y) => x.deadlineNs - y.deadlineNs)) {
      if (q.done || q.deadlineNs > now) continue;
      t.note?.(`c-ares process_timeouts: no answer to ${q.msg.qtype} in ${(q.deadlineNs - q.sentNs) / MS} ms`);
      q.server!.consecFailures++; // server_increment_failures
      requeue(q, "ETIMEOUT", true);
      progressed = true;
    }
    if (progressed) continue;
    // Wait for a readable socket, an established connection, or the first query's timeout (ares_timeout).
    let deadline = Infinity;
    for (const q of qs) if (!q.done && q.deadlineNs < deadline) deadline = q.deadlineNs;
    const open = conns.filter((c) => !c.closed);
    const proc = t.proc;
    // A TCP connection's wake is marked as such: its answers are not truncated UDP ones.
    const overTcp = { deadline: (d: number) => proc.deadline(d), wake: (x: unknown) => proc.wake(new TcpWake(x)) };
    for (const c of open) {
      if (c.udp !== null) c.udp.waiter = proc;
      else c.tcp!.waiter = overTcp;
    }
    proc.deadline(deadline);
    const v: unknown = yield undefined;
    for (const c of open) {
      if (c.udp !== null) c.udp.waiter = null;
      else c.tcp!.waiter = null;
    }
    if (v === TIMEOUT) continue;
    const tcp = v instanceof TcpWake;
    const m = tcp ? v.v : v;
    // The TCP handshake done wakes with the connection: the loop sends what waited for it.
    if (typeof m === "object" && m !== null && "qname" in m) processAnswer(m as DnsMessage, tcp);
  }
}

/** What a TCP connection woke the lookup with (an answer, or the connection once established). */
class TcpWake {
  constructor(readonly v: unknown) {}
}

/** The datagrams written in this step go to the kernel, each socket's back to back (one send() each). */
function flushWrites(t: ThreadCtx, writes: Map<UdpSocket, DnsMessage[]>): void {
  for (const [sock, msgs] of writes) {
    t.host.sendUdp(sock, msgs);
    countSends(t.tally, msgs);
  }
  writes.clear();
}

/**
 * ares_calc_query_timeout: the server's timeout, doubled for each round through the server list
 * (rounds = try_count / servers), less a random share of up to a half once it is retried (jitter),
 * never below the server's timeout. maxtimeout is not set by ares_init, so nothing caps the doubling.
 */
function queryTimeoutMs(t: ThreadCtx, ch: CaresChannel, q: Query, s: CaresServer): number {
  const timeout = serverTimeoutMs(s, ch.conf.timeoutMs, t.host.sim.now);
  const rounds = Math.floor(q.tryCount / ch.servers.length);
  let plus = timeout * 2 ** rounds;
  if (rounds > 0) {
    // ares_rand_bytes into an unsigned short r: delta = (r / USHRT_MAX) * 0.5, plus -= (size_t)(plus * delta).
    const r = Math.floor(t.rng() * 65536);
    plus -= Math.floor(plus * ((r / 65535) * 0.5));
  }
  return Math.max(plus, timeout);
}
