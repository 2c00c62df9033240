import type { Waiter } from "../engine/process.js";
import type { DnsMessage } from "../net/packet.js";
import type { CaresConf } from "./cares-conf.js";
import type { TcpConn, ThreadCtx, UdpSocket } from "./host.js";

// c-ares 1.34.6's channel: its servers with their failures and latency metrics (src/lib/ares_metrics.c),
// their UDP connections (ares_conn.c, ares_close_sockets.c) and the reading of answers (ares_process.c).

export const MS = 1_000_000;
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

/** Where a lookup on the channel reads the answers to its queries: what the channel's reader gave it, and its process while it waits. */
export interface Inbox {
  queue: DnsMessage[];
  waiter: Waiter | null;
}

/**
 * A channel (ares_channel_t): its servers' state carries from one lookup to the next. Its UDP
 * connections are the servers' (server->connections), so lookups in flight at once on one channel
 * (threads sharing it) send on the same socket; but without ARES_FLAG_STAYOPEN,
 * ares_check_cleanup_conns closes a connection as soon as no query is left on it, so a lookup
 * alone on the channel opens a fresh UDP socket.
 */
export class CaresChannel {
  readonly servers: CaresServer[];
  /** The servers' UDP connections, newest first (ares_open_connection puts a new one at the head). */
  readonly udpConns: Conn[] = [];
  /** channel->queries_by_qid: the lookup waiting for each query in flight, by its DNS ID (IDs are unique on the channel: generate_unique_qid). */
  readonly byQid = new Map<number, Inbox>();
  /**
   * The channel's sockets are read by the channel (read_answers), not by a thread: an answer goes to the
   * lookup of its query ID (process_answer finds it in queries_by_qid, then same_questions checks it), and
   * one whose ID has no query in flight is dropped ("We may have stopped listening for this query").
   */
  readonly reader: Waiter = {
    deadline(): void {
      throw new Error("the channel's reader has no deadline");
    },
    wake: (v: unknown): void => {
      const m = v as DnsMessage;
      const box = this.byQid.get(m.id);
      if (box === undefined) return;
      const w = box.waiter;
      box.waiter = null;
      if (w !== null) w.wake(m);
      else box.queue.push(m);
    },
  };

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
export function recordLatency(s: CaresServer, sentNs: number, nowNs: number): void {
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

/** A connection (ares_conn_t): a UDP socket of the channel, or a lookup's TCP connection to the server. */
export interface Conn {
  server: CaresServer;
  udp: UdpSocket | null;
  tcp: TcpConn | null;
  /** Queries written to it and not yet answered or moved (conn->queries_to_conn). */
  queries: number;
  /** TCP: queries written before the handshake completed, sent when it does. */
  pending: DnsMessage[];
  closed: boolean;
  /** The lookup that opened it (the inbox of its name's queries), for the trace. */
  by: Inbox;
}

/** ares_check_cleanup_conns: a connection of the channel (or the lookup's TCP) with no query left is closed (no ARES_FLAG_STAYOPEN). */
export function closeIdle(t: ThreadCtx, ch: CaresChannel, conns: Conn[]): void {
  for (const c of conns) {
    if (!c.closed && c.queries === 0) {
      c.closed = true;
      t.host.closeTcp(c.tcp!);
    }
  }
  const udp = ch.udpConns;
  let kept = 0;
  for (const c of udp) {
    if (!c.closed && c.queries === 0) {
      c.closed = true;
      t.host.closeUdp(c.udp!);
    }
    if (!c.closed) udp[kept++] = c;
  }
  udp.length = kept;
}
