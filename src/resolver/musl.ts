import type { DnsMessage } from "../net/packet.js";
import { type LookupResult, type ThreadCtx, type Wait, countDots, countSends, gaiResult, pollUdp, qualify, query, udpWoken, withDot } from "./host.js";
import { type ResolvConf, type ResolvOptions, parseOption } from "./resolvconf.js";

/** musl's struct resolvconf as __get_resolv_conf fills it (src/network/resolvconf.c, 1.2.3). */
export interface MuslConf {
  nameservers: string[];
  search: string[];
  ndots: number;
  /** Seconds (options timeout:, at most 60). */
  timeout: number;
  /** options attempts:, at most 10. */
  attempts: number;
}

/**
 * resolvconf.c reads only nameserver (MAXNS 3), search/domain and the ndots:,
 * attempts:, timeout: options (clamped to 15, 10 and 60); every other option is
 * ignored. Lines are read with fgets() into a 256-byte buffer, and a line that
 * does not fit with its newline (255 characters or more) is skipped whole
 * ("Ignore lines that get truncated"), so an earlier search line stays in force.
 */
export function muslConf(rc: ResolvConf): MuslConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  const o: ResolvOptions = {};
  for (const d of rc.lines) {
    if (d.length >= MUSL_LINE_MAX) continue;
    if (d.key === "nameserver") {
      if (nameservers.length < 3) nameservers.push(d.args[0]!);
    } else if (d.key === "search" || d.key === "domain") {
      search = d.args.map((x) => x.replace(/\.$/, ""));
    } else {
      for (const opt of d.args) parseOption(o, opt, d.line);
    }
  }
  return {
    nameservers,
    search,
    ndots: Math.min(o.ndots ?? 1, 15),
    timeout: Math.min(o.timeout ?? 5, 60),
    attempts: Math.min(o.attempts ?? 2, 10),
  };
}

/** char line[256]: fgets() keeps 255 characters, so a line of 255 or more has no room for its newline. */
export const MUSL_LINE_MAX = 255;

/**
 * getaddrinfo(name, AF_UNSPEC) in musl 1.2.3: __lookup_name -> name_from_dns_search
 * (src/network/lookup_name.c). The search list is used only when dots < ndots and
 * there is no trailing dot, and the walk goes on only when name_from_dns returns 0
 * (NXDOMAIN); NODATA, SERVFAIL and a timeout stop it.
 */
export function* muslGetaddrinfo(t: ThreadCtx, conf: MuslConf, name: string, family: "unspec" | "inet" | "inet6" = "unspec"): Wait<LookupResult> {
  const dots = countDots(name);
  const trailing = name.endsWith(".");
  const search = dots >= conf.ndots || trailing ? [] : conf.search;
  const base = (trailing ? name.slice(0, -1) : name).toLowerCase();
  if (base === "" || base.endsWith(".")) return gaiResult("EAI_NONAME", false, false);
  for (const domain of search) {
    const r = (yield nameFromDns(t, conf, withDot(qualify(base, domain)), family)) as LookupResult | 0;
    if (r !== 0) return r;
  }
  const r = (yield nameFromDns(t, conf, withDot(base), family)) as LookupResult | 0;
  return r === 0 ? gaiResult("EAI_NONAME", false, false) : r;
}

/** name_from_dns: A then AAAA through one __res_msend_rc; 0 means NXDOMAIN (try the next name). */
function* nameFromDns(t: ThreadCtx, conf: MuslConf, qname: string, family: "unspec" | "inet" | "inet6"): Wait<LookupResult | 0> {
  // afrr[]: A first, then AAAA, each unless the family excludes it.
  const qs: DnsMessage[] = [];
  if (family !== "inet6") qs.push(query(t.host, qname, "A"));
  if (family !== "inet") qs.push(query(t.host, qname, "AAAA"));
  const answers = (yield resMsendRc(t, conf, qs)) as (DnsMessage | null)[];
  let v4 = false;
  let v6 = false;
  for (const a of answers) {
    if (a === null || a.rcode === "SERVFAIL") return gaiResult("EAI_AGAIN", false, false);
    if (a.rcode === "NXDOMAIN") return 0;
    if (a.rcode !== "NOERROR") return gaiResult("EAI_FAIL", false, false);
    if (a.ancount > 0) {
      if (a.qtype === "A") v4 = true;
      else v6 = true;
    }
  }
  // 1.2.3 returns EAI_NONAME for a name with no address (1.2.4 made it EAI_NODATA, 85050ac5).
  if (!v4 && !v6) return gaiResult("EAI_NONAME", v4, v6);
  return gaiResult("OK", v4, v6);
}

/**
 * __res_msend_rc (src/network/res_msend.c, 1.2.3): one socket; every unanswered
 * query is sent to every nameserver at once and again every
 * retry_interval = timeout/attempts; the whole exchange gives up after `timeout`
 * (not timeout x attempts). SERVFAIL triggers an immediate, bounded resend;
 * other rcodes than NOERROR and NXDOMAIN are ignored.
 */
function* resMsendRc(t: ThreadCtx, conf: MuslConf, qs: DnsMessage[]): Wait<(DnsMessage | null)[]> {
  const host = t.host;
  const sim = host.sim;
  const MS = 1_000_000;
  const timeout = 1000 * conf.timeout;
  const retryInterval = Math.trunc(timeout / conf.attempts);
  const answers: (DnsMessage | null)[] = qs.length === 2 ? [null, null] : [null];
  // socket() + bind() to port 0: unconnected; answers from addresses not in the list are ignored.
  const sock = host.openUdp(conf.nameservers, 53);
  // mtime() in ms, counted from the start of the exchange.
  const start = sim.now;
  const t0 = 0;
  let t2 = t0;
  let t1 = t2 - retryInterval;
  let servfailRetry = 0;
  try {
    for (; t2 - t0 < timeout; t2 = Math.floor((sim.now - start) / MS)) {
      if (t2 - t1 >= retryInterval) {
        // "Query all configured nameservers in parallel"
        const burst: DnsMessage[] = [];
        const many = conf.nameservers.length > 1;
        const to: number[] | undefined = many ? [] : undefined;
        for (let i = 0; i < qs.length; i++) {
          if (answers[i] !== null) continue;
          for (let j = 0; j < conf.nameservers.length; j++) {
            burst.push(qs[i]!);
            to?.push(j);
          }
        }
        if (t.note && t2 > 0) t.note(`musl res_msend: ${t2} ms without an answer to ${burst.length === qs.length * conf.nameservers.length ? "any query" : "one query"}: resending only the unanswered (retry_interval = timeout/attempts = ${conf.timeout * 1000}/${conf.attempts} ms)`);
        else if (t.note) t.note(`musl res_msend: ${qs.map((q) => q.qtype).join(" and ")} as back-to-back sendto() on one socket; resend every ${retryInterval} ms, give up after ${timeout} ms`);
        host.sendUdp(sock, burst, to);
        countSends(t.tally, burst);
        t1 = t2;
        servfailRetry = 2 * qs.length;
      }
      // "Wait for a response, or until time to retry"
      const deadline = start + (t1 + retryInterval) * MS;
      // poll(pfd, ..., t1+retry_interval-t2): not capped at t0+timeout, so with an interval that does not
      // divide the timeout the last pass waits past it (timeout:5 attempts:3 gives up at 6664 ms).
      let msg = pollUdp(t, sock, deadline);
      if (msg === undefined) msg = udpWoken(sock, yield undefined);
      while (msg !== null) {
        // "Find which query this answer goes with, if any"
        let i = 0;
        while (i < qs.length && qs[i]!.id !== msg.id) i++;
        if (i < qs.length && answers[i] === null) {
          if (msg.rcode === "NOERROR" || msg.rcode === "NXDOMAIN") {
            answers[i] = msg;
          } else if (msg.rcode === "SERVFAIL") {
            if (servfailRetry > 0) {
              servfailRetry--;
              host.sendUdp(sock, [qs[i]!], [Math.max(0, conf.nameservers.indexOf(msg.from))]);
              countSends(t.tally, [qs[i]!]);
            }
          }
        }
        // Drain what is already queued (recvmsg until EAGAIN).
        msg = sock.queue.shift() ?? null;
      }
      let all = true;
      for (const a of answers) if (a === null) all = false;
      if (all) break;
    }
    return answers;
  } finally {
    host.closeUdp(sock);
  }
}
