import type { DnsMessage, QType } from "../net/packet.js";
import type { GlibcConf, GlibcRes } from "./glibc-conf.js";
import {
  type LookupResult,
  type TcpConn,
  type ThreadCtx,
  type UdpSocket,
  type Wait,
  countDots,
  countSends,
  endsWithDot,
  gaiResult,
  lowerAbsolute,
  pollUdp,
  qualify,
  query,
  recvTcp,
  udpWoken,
  waitEstablished,
} from "./host.js";
import type { Family } from "./resolver.js";

// glibc's exchange (nss_dns, res_query.c, res_send.c); its conf and per-thread state are glibc.ts's.

type Herrno = "HOST_NOT_FOUND" | "TRY_AGAIN" | "NO_RECOVERY" | "NO_DATA";

const SEC = 1_000_000_000;
/** A received answer's length, only compared with 0, 1 and sizeof(HEADER) = 12 below. */
const ANSLEN = 100;
const HFIXEDSZ = 12;

/** State shared by __res_context_send and send_dg/send_vc for one search step (one call). */
interface SendState {
  /** EXT(statp).nssocks[ns]: kept across attempts, closed by __res_iclose. */
  socks: (UdpSocket | null)[];
  vc: TcpConn | null;
  /** The two answer buffers and their lengths (resplen, *resplen2). */
  ans1: DnsMessage | null;
  ans2: DnsMessage | null;
  resplen2: number;
  vCircuit: boolean;
  gotsomewhere: boolean;
}

/**
 * getaddrinfo(name, AF_UNSPEC) through nss_dns: _nss_dns_gethostbyname4_r ->
 * __res_context_search(T_QUERY_A_AND_AAAA), or T_A with `no-aaaa`
 * (glibc 2.36, resolv/nss_dns/dns-host.c). The error mapping is gaih_inet's
 * (nss/getaddrinfo.c): TRY_AGAIN -> EAI_AGAIN, NO_DATA -> EAI_NODATA, else EAI_NONAME.
 */
export function* glibcGetaddrinfo(t: ThreadCtx, conf: GlibcConf, g: GlibcRes, name: string, family: Family = "unspec"): Wait<LookupResult> {
  let types: QType[];
  if (family === "inet") types = ["A"];
  else if (family === "inet6") types = ["AAAA"];
  else types = conf.noAaaa ? ["A"] : ["A", "AAAA"];
  if (conf.retry <= 0 || conf.nameservers.length === 0) return gaiResult("EAI_AGAIN", false, false);
  const r = (yield resContextSearch(t, conf, g, name, types)) as QueryOutcome;
  if (r.ok) return gaiResult("OK", r.v4, r.v6);
  const status = r.herrno === "TRY_AGAIN" ? "EAI_AGAIN" : r.herrno === "NO_DATA" ? "EAI_NODATA" : "EAI_NONAME";
  return gaiResult(status, false, false);
}

interface QueryOutcome {
  ok: boolean;
  v4: boolean;
  v6: boolean;
  herrno: Herrno;
  /** hp->rcode as __res_context_search reads it (the first answer buffer). */
  rcode1: string;
  econnrefused: boolean;
}

/** __res_context_search (resolv/res_query.c): the search list walk. */
function* resContextSearch(t: ThreadCtx, conf: GlibcConf, g: GlibcRes, name: string, types: QType[]): Wait<QueryOutcome> {
  const dots = countDots(name);
  const trailingDot = endsWithDot(name);
  let herrno: Herrno = "HOST_NOT_FOUND"; // "True if we never query."
  let savedHerrno: Herrno | null = null;
  let gotNodata = false;
  let gotServfail = false;
  let triedAsIs = false;
  let searched = false;
  if (dots >= conf.ndots || trailingDot) {
    const r = (yield resContextQuery(t, conf, g, name, types)) as QueryOutcome;
    if (r.ok || trailingDot) return r;
    savedHerrno = r.herrno;
    triedAsIs = true;
  }
  // RES_DEFNAMES and RES_DNSRCH are in RES_DEFAULT.
  if (!dots || (dots && !trailingDot)) {
    // By index: a for-of iterator would live across the yields, a heap object and a call per step.
    for (let i = 0; i < conf.search.length; i++) {
      searched = true;
      const r = (yield resContextQuery(t, conf, g, qualify(name, conf.search[i]!), types)) as QueryOutcome;
      if (r.ok) return r;
      if (r.econnrefused) return { ...r, herrno: "TRY_AGAIN" };
      herrno = r.herrno;
      if (r.herrno === "NO_DATA") {
        gotNodata = true;
        continue;
      }
      if (r.herrno === "HOST_NOT_FOUND") continue;
      if (r.herrno === "TRY_AGAIN" && r.rcode1 === "SERVFAIL") {
        gotServfail = true;
        continue;
      }
      break; // "anything else implies that we're done" (a timeout: TRY_AGAIN with rcode NOERROR)
    }
  }
  if ((dots || !searched || !conf.noTldQuery) && !triedAsIs) {
    const r = (yield resContextQuery(t, conf, g, name, types)) as QueryOutcome;
    if (r.ok) return r;
    herrno = r.herrno;
  }
  if (savedHerrno !== null) herrno = savedHerrno;
  else if (gotNodata) herrno = "NO_DATA";
  else if (gotServfail) herrno = "TRY_AGAIN";
  return { ok: false, v4: false, v6: false, herrno, rcode1: "NOERROR", econnrefused: false };
}

/** __res_context_query: send the pair, then judge the two answer buffers (hp, hp2). */
function* resContextQuery(t: ThreadCtx, conf: GlibcConf, g: GlibcRes, name: string, types: QType[]): Wait<QueryOutcome> {
  const qname = lowerAbsolute(name);
  const q1 = query(t.host, qname, types[0]!);
  const q2 = types.length > 1 ? query(t.host, qname, types[1]!) : null;
  const st: SendState = { socks: [null, null, null], vc: null, ans1: null, ans2: null, resplen2: 0, vCircuit: false, gotsomewhere: false };
  const n = (yield resContextSend(t, conf, g, st, q1, q2)) as number;
  if (n < 0) return failed("TRY_AGAIN", st.ans1?.rcode ?? "NOERROR", !st.gotsomewhere && !st.vCircuit);
  // "We simplify the following tests by assigning HP to HP2 or vice versa."
  let hp = st.ans1;
  let hp2: DnsMessage | null;
  if (q2 === null || st.resplen2 < HFIXEDSZ) hp2 = hp;
  else {
    hp2 = st.ans2;
    if (n < HFIXEDSZ) hp = hp2;
  }
  if (hp === null || hp2 === null) return failed("TRY_AGAIN", "NOERROR", false);
  if (!hasRecords(hp) && !hasRecords(hp2)) {
    const rc = hp.rcode === "NOERROR" ? hp2.rcode : hp.rcode;
    const herrno: Herrno = rc === "NXDOMAIN" ? "HOST_NOT_FOUND" : rc === "SERVFAIL" ? "TRY_AGAIN" : rc === "NOERROR" ? "NO_DATA" : "NO_RECOVERY";
    return failed(herrno, st.ans1?.rcode ?? "NOERROR", false);
  }
  // gaih_getanswer parses both buffers (only the first when *resplen2 < sizeof(HEADER)).
  const v4 = (hp.qtype === "A" && hasRecords(hp)) || (hp2 !== hp && hp2.qtype === "A" && hasRecords(hp2));
  const v6 = (hp.qtype === "AAAA" && hasRecords(hp)) || (hp2 !== hp && hp2.qtype === "AAAA" && hasRecords(hp2));
  return { ok: true, v4, v6, herrno: "HOST_NOT_FOUND", rcode1: hp.rcode, econnrefused: false };
}

function hasRecords(m: DnsMessage): boolean {
  return m.rcode === "NOERROR" && m.ancount > 0;
}

function failed(herrno: Herrno, rcode1: string, econnrefused: boolean): QueryOutcome {
  return { ok: false, v4: false, v6: false, herrno, rcode1, econnrefused };
}

/** __res_context_send (resolv/res_send.c): attempts x nameservers, UDP or TCP. Returns resplen, or -1. */
function* resContextSend(t: ThreadCtx, conf: GlibcConf, g: GlibcRes, st: SendState, q1: DnsMessage, q2: DnsMessage | null): Wait<number> {
  const nscount = conf.nameservers.length;
  st.vCircuit = conf.useVc;
  // "Name server index offset.  Used to implement RES_ROTATE."
  const nsOffset = conf.rotate && nscount > 1 ? nameserverOffset(t, g, nscount) : 0;
  try {
    for (let attempt = 0; attempt < conf.retry; attempt++) {
      for (let shift = 0; shift < nscount; shift++) {
        let ns = shift + nsOffset;
        if (ns >= nscount) ns -= nscount;
        for (;;) {
          // same_ns:
          let n: number;
          if (st.vCircuit) {
            attempt = conf.retry; // "Use VC; at most one attempt per server."
            n = (yield sendVc(t, conf, st, q1, q2, ns)) as number;
            if (n === 0 && (q2 === null || st.resplen2 === 0)) break;
          } else {
            n = (yield sendDg(t, conf, g, st, q1, q2, ns)) as number;
            if (n === 0 && (q2 === null || st.resplen2 === 0)) break;
            if (st.vCircuit) continue; // truncated: same server over TCP
          }
          return n;
        }
      }
    }
    return -1;
  } finally {
    iclose(t, st);
  }
}

/**
 * nameserver_offset (res_send.c, glibc 2.26 and later, 5b757a51 "Make RES_ROTATE
 * start with a random name server"): round robin over the nameservers with a
 * process-wide counter, seeded on its first use from random_bits() and
 * advanced by one per __res_context_send call (per search step, not per lookup).
 * Called only with rotate and more than one nameserver, as the source returns 0
 * before touching the counter otherwise.
 */
function nameserverOffset(t: ThreadCtx, g: GlibcRes, nscount: number): number {
  const p = g.process;
  // atomic_fetch_add_relaxed (&global_offset, 2)
  let offset = p.globalOffset;
  p.globalOffset = (offset + 2) >>> 0;
  if ((offset & 1) === 0) {
    // "Initialization is required."  random_bits(): 32 bits from CLOCK_MONOTONIC, here the thread's stream.
    offset = Math.floor(t.rng() * 4294967296) >>> 0;
    offset = (offset << 1) >>> 0; // "The lowest bit is the most random.  Preserve it."
    p.globalOffset = (((offset | 1) >>> 0) + 2) >>> 0;
  }
  offset >>>= 1; // "Remove the initialization bit."
  switch (nscount) {
    case 2:
      return offset & 1;
    case 3:
      return offset % 3;
    default:
      return offset % nscount;
  }
}

/** __res_iclose: close every UDP socket and the TCP connection. */
function iclose(t: ThreadCtx, st: SendState): void {
  for (let i = 0; i < st.socks.length; i++) {
    const s = st.socks[i];
    if (s) t.host.closeUdp(s);
    st.socks[i] = null;
  }
  if (st.vc) t.host.closeTcp(st.vc);
  st.vc = null;
}

/** reopen(): a connected UDP socket for nameserver ns, created only if there is none. */
function reopen(t: ThreadCtx, conf: GlibcConf, st: SendState, ns: number): UdpSocket {
  let s = st.socks[ns];
  if (!s) {
    s = t.host.openUdp(conf.nsPeers[ns]!, 53);
    st.socks[ns] = s;
  }
  return s;
}

/**
 * send_dg (resolv/res_send.c, glibc 2.36): one window of `seconds` per call; A
 * and AAAA in one sendmmsg() unless single-request; on a window that expires
 * with one answer, the sticky fallback to single-request (same socket, fresh
 * window), then to single-request-reopen (new socket per query).
 */
function* sendDg(t: ThreadCtx, conf: GlibcConf, g: GlibcRes, st: SendState, q1: DnsMessage, q2: DnsMessage | null, ns: number): Wait<number> {
  let seconds = conf.retrans << ns;
  if (ns > 0) seconds = Math.trunc(seconds / conf.nameservers.length);
  if (seconds <= 0) seconds = 1;
  let singleRequestReopen = conf.singleRequestReopen || g.singleRequestReopen;
  let singleRequest = conf.singleRequest || g.singleRequest || singleRequestReopen;
  const saveGotsomewhere = st.gotsomewhere;
  let resplen = 0;
  const tally = t.tally;
  let sock = reopen(t, conf, st, ns); // retry_reopen:
  for (;;) {
    // retry:
    const finish = t.host.sim.now + seconds * SEC;
    if (t.note) {
      const mode = singleRequestReopen ? "single-request-reopen: A, then AAAA from a new socket" : singleRequest ? "single-request: A, then AAAA after A's answer" : "A and AAAA together in one sendmmsg()";
      t.note(`glibc send_dg: ${mode}; waits up to ${seconds} s for the answers (options timeout:${conf.retrans}${ns > 0 ? `, nameserver ${ns + 1}` : ""})`);
    }
    let nwritten = 0;
    let recv1 = false;
    let recv2 = q2 === null;
    st.resplen2 = 0;
    let wantWrite = true; // pfd[0].events = POLLOUT
    let restart: "none" | "retry" | "reopen" = "none";
    while (restart === "none") {
      if (wantWrite) {
        if (nwritten === 0 && q2 !== null && !singleRequest) {
          const reqs = [q1, q2];
          t.host.sendUdp(sock, reqs); // __sendmmsg(fd, reqs, 2, MSG_NOSIGNAL)
          countSends(tally, reqs);
          nwritten += 2;
          wantWrite = false;
        } else {
          const q = nwritten !== 0 ? q2! : q1;
          const req = [q];
          t.host.sendUdp(sock, req);
          countSends(tally, req);
          wantWrite = !(nwritten !== 0 || q2 === null || singleRequest);
          nwritten++;
        }
        continue;
      }
      let msg = pollUdp(t, sock, finish);
      if (msg === undefined) msg = udpWoken(sock, yield undefined);
      if (msg === null) {
        // poll() timed out.
        if (resplen > 1 && (recv1 || (q2 !== null && recv2))) {
          // "If we time out after having received one answer switch to the mode
          //  where we send the second request only once we have received the first answer."
          if (!singleRequest) {
            t.note?.(`glibc send_dg: the ${seconds} s window expired with one answer of two: switching this thread to single-request for good (RES_SNGLKUP) and resending on the same socket`);
            g.singleRequest = true; // statp->options |= RES_SNGLKUP (per-thread _res)
            singleRequest = true;
            st.gotsomewhere = saveGotsomewhere;
            restart = "retry";
            continue;
          } else if (!singleRequestReopen) {
            t.note?.(`glibc send_dg: the ${seconds} s window expired again with one answer: switching to single-request-reopen (RES_SNGLKUPREOP), a new socket per query`);
            g.singleRequestReopen = true; // statp->options |= RES_SNGLKUPREOP
            singleRequestReopen = true;
            st.gotsomewhere = saveGotsomewhere;
            iclose(t, st);
            restart = "reopen";
            continue;
          }
          t.note?.(`glibc send_dg: the ${seconds} s window expired in single-request-reopen mode: returning the one answer it has`);
          st.resplen2 = 1;
          return resplen;
        }
        t.note?.(`glibc send_dg: the ${seconds} s window expired with no answer: next nameserver or attempt`);
        st.gotsomewhere = true;
        return 0;
      }
      st.gotsomewhere = true;
      // "response from old query, ignore it"
      if ((recv1 || msg.id !== q1.id) && (recv2 || q2 === null || msg.id !== q2.id)) continue;
      // recvfrom() into the first buffer until one answer is in, then the second.
      const intoFirst = (!recv1 && !recv2) || q2 === null;
      if (intoFirst) {
        st.ans1 = msg;
        resplen = ANSLEN;
      } else {
        st.ans2 = msg;
        st.resplen2 = ANSLEN;
      }
      if (msg.rcode === "SERVFAIL" || msg.rcode === "NOTIMP" || msg.rcode === "REFUSED") {
        if (recv1 || (q2 !== null && recv2)) {
          st.resplen2 = 0;
          return resplen;
        }
        if (q2 !== null) {
          resplen = 0; // "No data from the first reply."
          if (msg.id === q1.id) recv1 = true;
          else recv2 = true;
          continue; // "We are waiting for a possible second reply."
        }
        iclose(t, st); // next_ns
        return 0;
      }
      if (msg.tc) {
        // "To get the rest of answer, use TCP with same server."
        st.vCircuit = true;
        iclose(t, st);
        return 1;
      }
      if (!recv1 && msg.id === q1.id) recv1 = true;
      else recv2 = true;
      if (!(recv1 && recv2)) {
        if (singleRequest) {
          wantWrite = true;
          if (singleRequestReopen) {
            iclose(t, st);
            sock = reopen(t, conf, st, ns);
          }
        }
        continue;
      }
      return resplen;
    }
    if (restart === "reopen") sock = reopen(t, conf, st, ns);
  }
}

/**
 * send_vc (resolv/res_send.c): one TCP connection, both queries in one writev(),
 * answers read in any order. No timeout of its own: loss recovery is TCP's.
 */
function* sendVc(t: ThreadCtx, conf: GlibcConf, st: SendState, q1: DnsMessage, q2: DnsMessage | null, ns: number): Wait<number> {
  if (st.vc === null) {
    st.vc = t.host.openTcp(conf.nameservers[ns]!, 53);
    yield waitEstablished(t, st.vc);
  }
  const qs = q2 === null ? [q1] : [q1, q2];
  t.host.sendTcp(st.vc, qs);
  countSends(t.tally, qs);
  let recv1 = false;
  let recv2 = q2 === null;
  st.resplen2 = 0;
  let resplen = 0;
  while (!(recv1 && recv2)) {
    const msg = (yield recvTcp(t, st.vc)) as DnsMessage;
    if ((recv1 || msg.id !== q1.id) && (recv2 || q2 === null || msg.id !== q2.id)) continue;
    if ((!recv1 && !recv2) || q2 === null) {
      st.ans1 = msg;
      resplen = ANSLEN;
    } else {
      st.ans2 = msg;
      st.resplen2 = ANSLEN;
    }
    if (!recv1 && msg.id === q1.id) recv1 = true;
    else recv2 = true;
  }
  return resplen;
}
