import { TIMEOUT } from "../engine/process.js";
import type { DnsMessage, QType } from "../net/packet.js";
import { type CaresChannel, type CaresServer, type Conn, type Inbox, MS, closeIdle, recordLatency, serverTimeoutMs } from "./cares-channel.js";
import { caresNames } from "./cares-conf.js";
import { type LookupResult, type ThreadCtx, type UdpSocket, type Wait, countSends, gaiResult, lowerAbsolute, query } from "./host.js";
import type { Family } from "./resolver.js";

// c-ares 1.34.6's ares_getaddrinfo path, as an application's event loop drives it (ares_process_fds
// when a socket is readable or ares_timeout() has passed). Sources: src/lib/ares_getaddrinfo.c,
// ares_send.c, ares_process.c, ares_metrics.c, ares_close_sockets.c, ares_conn.c.


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
  // The next name's queries are sent from the callback of the last answer, before
  // ares_check_cleanup_conns runs, so they reuse the socket; at the end it closes what is idle.
  // TCP connections are kept per lookup (the model shares UDP connections only).
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
    closeIdle(t, ch, conns);
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
  // The queries are in channel->queries_by_qid while in flight: the channel's reader gives their answers here.
  const inbox: Inbox = { queue: [], waiter: null };

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
    if (q.usingTcp) conn = conns.find((c) => !c.closed && c.server === server);
    // ares_fetch_connection: the server's newest UDP connection on the channel, unless the server has failures.
    else if (server.consecFailures === 0) conn = ch.udpConns.find((c) => !c.closed && c.server === server);
    if (conn === undefined) {
      if (q.usingTcp) {
        conn = { server, udp: null, tcp: host.openTcp(server.addr, 53), queries: 0, pending: [], closed: false, by: inbox };
        conns.unshift(conn);
      } else {
        const udp = host.openUdp([server.addr], 53);
        udp.waiter = ch.reader;
        conn = { server, udp, tcp: null, queries: 0, pending: [], closed: false, by: inbox };
        ch.udpConns.unshift(conn); // UDP connections go to the front (ares_open_connection)
      }
    } else if (conn.udp !== null && conn.by !== inbox && conn.queries > 0) {
      t.note?.(`c-ares ares_fetch_connection: the ${q.msg.qtype} goes out on the channel's UDP socket from port ${conn.udp.port}, which another lookup's queries in flight keep open`);
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

  for (const q of qs) ch.byQid.set(q.msg.id, inbox);
  try {
    for (const q of qs) sendQuery(q);
    for (;;) {
      flushWrites(t, writes);
      // The last query ended: back to the caller, which may send the next name's before the cleanup.
      if (qs.every((q) => q.done)) return lastStatus;
      closeIdle(t, ch, conns);
      // ares_process_fds: what is readable first (process_read), then the timeouts (process_timeouts).
      let progressed = false;
      while (inbox.queue.length > 0) {
        processAnswer(inbox.queue.shift()!, false);
        progressed = true;
      }
      for (const c of conns) {
        if (c.closed) continue;
        if (c.tcp!.established && c.pending.length > 0) {
          host.sendTcp(c.tcp!, c.pending);
          countSends(t.tally, c.pending);
          c.pending = [];
        }
        const queue = c.tcp!.queue;
        while (queue.length > 0) {
          processAnswer(queue.shift()!, true);
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
      inbox.waiter = proc;
      for (const c of open) c.tcp!.waiter = overTcp;
      proc.deadline(deadline);
      const v: unknown = yield undefined;
      inbox.waiter = null;
      for (const c of open) c.tcp!.waiter = null;
      if (v === TIMEOUT) continue;
      const tcp = v instanceof TcpWake;
      const m = tcp ? v.v : v;
      // The TCP handshake done wakes with the connection: the loop sends what waited for it.
      if (typeof m === "object" && m !== null && "qname" in m) processAnswer(m as DnsMessage, tcp);
    }
  } finally {
    for (const q of qs) if (ch.byQid.get(q.msg.id) === inbox) ch.byQid.delete(q.msg.id);
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
