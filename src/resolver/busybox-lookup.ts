import type { DnsMessage, QType } from "../net/packet.js";
import { type LookupResult, type ThreadCtx, type Wait, countSends, gaiResult, lowerAbsolute, pollUdp, query, udpWoken } from "./host.js";
import type { Family } from "./resolver.js";
import type { ResolvConf } from "./resolvconf.js";

// busybox nslookup with FEATURE_NSLOOKUP_BIG (networking/nslookup.c, 1.37.0): its own resolver,
// not the libc's. nslookup_main, parse_resolvconf, add_query_with_search, send_queries.

/** The busybox release modelled: 1.37.0 (networking/nslookup.c as of 371fe9f, after 62775ec4b: unique query IDs). */
export const BUSYBOX_VERSION = "1.37.0";

/**
 * What nslookup reads: nameserver lines (in order) and the search list, and nothing of the options
 * line: INIT_G's default_timeout 5 s and default_retry 2 hold unless -timeout= or -retry= are given.
 */
export interface BusyboxConf {
  nameservers: string[];
  search: string[];
  timeoutS: number;
  retry: number;
}

/**
 * parse_resolvconf: a `search` line sets the search string (the last one wins); a `domain` line
 * sets it only while no `search` line has been seen; no nameserver line means 127.0.0.1. With no
 * search list it would take the domain part of the host name (a pod's host name has none).
 */
export function busyboxConf(rc: ResolvConf): BusyboxConf {
  let search: string[] = [];
  let haveSearch = false;
  for (const d of rc.lines) {
    if (d.key === "search") {
      haveSearch = true;
      search = d.args;
    } else if (d.key === "domain" && !haveSearch) search = d.args;
  }
  search = search.map((x) => x.replace(/\.$/, "")).filter((x) => x !== "");
  return { nameservers: rc.nameservers.length > 0 ? rc.nameservers : ["127.0.0.1"], search, timeoutS: 5, retry: 2 };
}

/**
 * The queries nslookup makes for a host name (no -type=): add_query_with_search(T_A) then
 * (T_AAAA). A name with a dot is asked as is; a name without one, with a search list, is asked
 * once per search domain and never as is.
 */
export function busyboxQueries(c: BusyboxConf, name: string, family: Family): { qname: string; qtype: QType }[] {
  const names = name.includes(".") || c.search.length === 0 ? [name] : c.search.map((d) => `${name}.${d}`);
  const types: QType[] = family === "inet" ? ["A"] : family === "inet6" ? ["AAAA"] : ["A", "AAAA"];
  return types.flatMap((qtype) => names.map((n) => ({ qname: lowerAbsolute(n), qtype })));
}

/**
 * nslookup_main: every query goes to the first nameserver through send_queries; the next
 * nameserver is asked (again all the queries, from a new socket) only when no reply at all came.
 */
export function* busyboxNslookup(t: ThreadCtx, c: BusyboxConf, name: string, family: Family): Wait<LookupResult> {
  const qs = busyboxQueries(c, name, family).map((q) => query(t.host, q.qname, q.qtype));
  const replies: (DnsMessage | null)[] = qs.map(() => null);
  for (let ns = 0; ns < c.nameservers.length; ns++) {
    const n = (yield sendQueries(t, c, c.nameservers[ns]!, qs, replies)) as number;
    if (n > 0) break;
    t.note?.(`busybox nslookup: no reply from ${c.nameservers[ns]}${ns + 1 < c.nameservers.length ? ": the next nameserver" : ": \";; connection timed out; no servers could be reached\""}`);
  }
  let v4 = false;
  let v6 = false;
  let nx = false;
  let failed = false;
  let unanswered = false;
  replies.forEach((a) => {
    if (a === null) unanswered = true;
    else if (a.rcode === "NOERROR") {
      if (a.ancount > 0 && a.qtype === "A") v4 = true;
      if (a.ancount > 0 && a.qtype === "AAAA") v6 = true;
    } else if (a.rcode === "NXDOMAIN") nx = true;
    else failed = true;
  });
  // What it prints: the addresses, "** server can't find NAME: RCODE", "*** Can't find NAME: No answer".
  if (v4 || v6) return gaiResult("OK", v4, v6);
  if (replies.every((a) => a === null)) return gaiResult("EAI_AGAIN", false, false);
  if (failed) return gaiResult("EAI_FAIL", false, false);
  if (nx) return gaiResult("EAI_NONAME", false, false);
  return gaiResult(unanswered ? "EAI_AGAIN" : "EAI_NODATA", false, false);
}

/**
 * send_queries ("logic borrowed & modified from musl libc, res_msend.c"): one socket bound and
 * connected to the server; every query not yet replied to is written (a write() each, back to
 * back) at the start and again each retry_interval = timeout / retry; the loop ends when every
 * query has a reply or `timeout` has passed since the start. A SERVFAIL is resent at once, at most
 * 2 x the number of queries per pass; a reply to a query already replied to is dropped. The clock
 * is monotonic_ms(), read only after a poll or a reply (tcur). Returns the replies received.
 */
function* sendQueries(t: ThreadCtx, c: BusyboxConf, server: string, qs: DnsMessage[], replies: (DnsMessage | null)[]): Wait<number> {
  const host = t.host;
  const sim = host.sim;
  const ms = () => Math.floor(sim.now / 1_000_000);
  const timeout = c.timeoutS * 1000;
  const retryInterval = Math.trunc(timeout / c.retry);
  const sock = host.openUdp([server], 53);
  let servfailRetry = 0;
  let nReplies = 0;
  const tstart = ms();
  let tcur = tstart;
  let tsent = tcur;
  const send = () => {
    const burst = qs.filter((_, i) => replies[i] === null);
    if (t.note && tcur > tstart) t.note(`busybox nslookup send_queries: ${tcur - tstart} ms, ${burst.length} quer${burst.length === 1 ? "y" : "ies"} without a reply: written again (retry_interval = timeout/retry = ${timeout}/${c.retry} ms)`);
    else t.note?.(`busybox nslookup send_queries: ${qs.length} quer${qs.length === 1 ? "y" : "ies"} (${qs.map((q) => `${q.qtype} ${q.qname}`).join(", ")}) written back to back on one connected socket; again every ${retryInterval} ms, until ${timeout} ms`);
    host.sendUdp(sock, burst);
    countSends(t.tally, burst);
    tsent = tcur;
    servfailRetry = 2 * qs.length;
  };
  try {
    send();
    while (tcur - tstart < timeout) {
      if (tcur - tsent >= retryInterval) send();
      // poll(&pfd, 1, retry_interval - (tcur - tsent)), counted from now.
      const deadline = sim.now + (retryInterval - (tcur - tsent)) * 1_000_000;
      let m = pollUdp(t, sock, deadline);
      if (m === undefined) m = udpWoken(sock, yield undefined);
      tcur = ms();
      if (m === null) continue;
      const qn = qs.findIndex((q) => q.id === m.id);
      if (qn < 0 || replies[qn] !== null) continue; // "does not match any query" / "dropped duplicate response"
      if (m.rcode === "SERVFAIL" && servfailRetry > 0) {
        servfailRetry--;
        t.note?.(`busybox nslookup send_queries: SERVFAIL for ${m.qtype} ${m.qname}: written again at once`);
        host.sendUdp(sock, [qs[qn]!]);
        countSends(t.tally, [qs[qn]!]);
        continue;
      }
      replies[qn] = m;
      nReplies++;
      if (nReplies >= qs.length) return nReplies;
    }
    t.gaveUp?.(true);
    t.note?.(`busybox nslookup send_queries: ${timeout} ms since the start with ${qs.length - nReplies} quer${qs.length - nReplies === 1 ? "y" : "ies"} unanswered: "*** Can't find ...: No answer"`);
    return nReplies;
  } finally {
    host.closeUdp(sock);
  }
}
