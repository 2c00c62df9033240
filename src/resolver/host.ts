import { type Process, TIMEOUT, type Waiter } from "../engine/process.js";
import type { Rng } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import type { DnsMessage, LookupTally, QType } from "../net/packet.js";

/** A UDP socket of the pod: one ephemeral port, the nameserver it talks to. */
export interface UdpSocket {
  port: number;
  /** connect()ed peer (glibc), or the nameservers an unconnected socket accepts answers from (musl). */
  peers: string[];
  peerPort: number;
  /** Datagrams received and not yet read. */
  queue: DnsMessage[];
  waiter: Waiter | null;
  closed: boolean;
}

/** A TCP connection of the pod (glibc send_vc, Go use-vc). */
export interface TcpConn {
  label: string;
  peer: string;
  peerPort: number;
  established: boolean;
  queue: DnsMessage[];
  waiter: Waiter | null;
  closed: boolean;
}

/** What a resolver asks of the pod's kernel. */
export interface ResolverHost {
  readonly sim: Simulator;
  /** socket() + bind/connect: a new ephemeral source port (inet_csk/udp_lib_get_port pick at random). */
  openUdp(peers: string[], peerPort: number): UdpSocket;
  closeUdp(s: UdpSocket): void;
  /**
   * Datagrams handed to the kernel without blocking in between: one sendmmsg()
   * (glibc) or back-to-back sendto() (musl). Datagram i goes to s.peers[to[i]], or to s.peers[0].
   */
  sendUdp(s: UdpSocket, msgs: DnsMessage[], to?: number[]): void;
  /** connect() on a new TCP socket; a thread waiting on it is woken when it is established. */
  openTcp(peer: string, peerPort: number): TcpConn;
  /** writev() of DNS messages (each with its 2-byte length) on an established connection. */
  sendTcp(c: TcpConn, msgs: DnsMessage[]): void;
  closeTcp(c: TcpConn): void;
  /** A fresh query ID (res_mkquery's random_bits, here a counter: IDs only need to differ). */
  newId(): number;
}

/** The thread a resolver runs on: its process, CPU and random stream (the resolver's own per-thread state is its ResolverThread). */
export interface ThreadCtx {
  readonly id: number;
  readonly cpu: number;
  /** The process running the thread's current lookup. */
  proc: Waiter;
  readonly host: ResolverHost;
  /** The thread's random stream (glibc's random_bits(), which seeds RES_ROTATE's counter). */
  readonly rng: Rng;
  /** Accounting for the lookup in progress. */
  tally: LookupTally;
  /** When tracing: the resolver says what it does and why, in its source's terms (null otherwise). */
  note: ((text: string) => void) | null;
  /**
   * When set: told each time an exchange gives up on its timer with a query unanswered (musl's
   * __res_msend_rc), and whether it had sent anything (`dnsrace lookup` tells give-ups from resends).
   */
  gaveUp?: ((sent: boolean) => void) | undefined;
  /** When set: starts the thread's goroutines (Go), so a harness can record their timeouts; a plain Process otherwise. */
  spawn?: Spawn | undefined;
}

/** Starts a process of its own on the same clock (Go's `go` statement). */
export type Spawn = <R>(gen: Generator<unknown, R, unknown>, onDone: (r: R) => void) => Process<unknown, R>;

/**
 * A resolver step, run by a Process: it yields undefined to wait (resumed with
 * a message or TIMEOUT), or yields another step to call it (resumed with that
 * step's return value): `const r = (yield sub()) as R`.
 */
export interface Wait<T> extends Generator<Wait<unknown> | undefined, T, unknown> {}

/**
 * poll() with a timeout on a UDP socket, in two halves so the caller yields
 * itself (one generator level less on the hot path):
 *   let m = pollUdp(t, s, deadline); if (m === undefined) m = udpWoken(s, yield);
 * pollUdp returns a datagram already queued, null if the deadline has passed,
 * or undefined after arming the wait.
 */
export function pollUdp(t: ThreadCtx, s: UdpSocket, deadline: number): DnsMessage | null | undefined {
  const ready = s.queue.shift();
  if (ready !== undefined) return ready;
  if (t.host.sim.now >= deadline) return null;
  s.waiter = t.proc;
  t.proc.deadline(deadline);
  return undefined;
}

/** The second half of pollUdp: what the process was resumed with (a datagram, or null on timeout). */
export function udpWoken(s: UdpSocket, v: unknown): DnsMessage | null {
  s.waiter = null;
  return v === TIMEOUT ? null : (v as DnsMessage);
}

/** Wait for a TCP connection to be established (blocking connect()). */
export function* waitEstablished(t: ThreadCtx, c: TcpConn): Wait<void> {
  while (!c.established) {
    c.waiter = t.proc;
    yield undefined;
    c.waiter = null;
  }
}

/** Blocking read of one DNS message from a TCP connection (no timeout: glibc send_vc sets none). */
export function* recvTcp(t: ThreadCtx, c: TcpConn): Wait<DnsMessage> {
  for (;;) {
    const ready = c.queue.shift();
    if (ready !== undefined) return ready;
    c.waiter = t.proc;
    const v: unknown = yield undefined;
    c.waiter = null;
    if (v !== TIMEOUT && v !== undefined && v !== null && typeof v === "object" && "qname" in v) return v as DnsMessage;
  }
}

/** Whether a name ends with '.' (a charCodeAt: String.prototype.endsWith is a builtin call, several per lookup). */
export function endsWithDot(name: string): boolean {
  return name.charCodeAt(name.length - 1) === 46;
}

/** Number of dots in a name (both libcs count every '.', the trailing one included). */
export function countDots(name: string): number {
  let dots = 0;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 46) dots++;
  return dots;
}

/*
 * Query names are built from a few names and search domains, millions of
 * times. These return the same string object for the same inputs, so the name
 * is concatenated, flattened and hashed (by the server's lookup) once, not per query.
 */

/**
 * The string made flat and internalized, once: a concatenation is a rope in V8 (a
 * ConsString), which every later endsWith(), hash or comparison of a different
 * string object has to walk. A property key is always a flat, internalized string,
 * and two internalized strings are compared by identity. The names and search
 * domains the resolvers are configured with go through it too (the memos below are
 * keyed by them), so two pods' equal names are one string.
 */
export function interned(s: string): string {
  return Object.keys({ [s]: 0 })[0]!;
}

const MEMO_LIMIT = 10_000;
const qualified = new Map<string, Map<string, string>>();
const dotted = new Map<string, string>();
const absolute = new Map<string, string>();

/** `${name}.${domain}` (a search-list candidate). */
export function qualify(name: string, domain: string): string {
  let byDomain = qualified.get(name);
  if (byDomain === undefined) {
    byDomain = new Map();
    if (qualified.size < MEMO_LIMIT) qualified.set(name, byDomain);
  }
  let s = byDomain.get(domain);
  if (s === undefined) {
    s = interned(`${name}.${domain}`);
    if (byDomain.size < MEMO_LIMIT) byDomain.set(domain, s);
  }
  return s;
}

/** `${name}.` */
export function withDot(name: string): string {
  let s = dotted.get(name);
  if (s === undefined) {
    s = interned(`${name}.`);
    if (dotted.size < MEMO_LIMIT) dotted.set(name, s);
  }
  return s;
}

/**
 * The name in lower case, made absolute with a trailing dot if it has none.
 * Through withDot(), so glibc's query names are the very strings musl's are:
 * the server's per-name cache (dns/zone.ts) then finds them by identity,
 * without comparing their characters.
 */
export function lowerAbsolute(name: string): string {
  let s = absolute.get(name);
  if (s === undefined) {
    const lower = name.toLowerCase();
    s = lower.endsWith(".") ? lower : withDot(lower);
    if (absolute.size < MEMO_LIMIT) absolute.set(name, s);
  }
  return s;
}

export function query(host: ResolverHost, qname: string, qtype: QType): DnsMessage {
  return { id: host.newId(), qname, qtype, response: false, rcode: "NOERROR", ancount: 0, tc: false, from: "", sends: 0 };
}

/** getaddrinfo()'s answer, in the words users see. */
export type GaiStatus = "OK" | "EAI_NONAME" | "EAI_AGAIN" | "EAI_NODATA" | "EAI_FAIL";

export interface LookupResult {
  status: GaiStatus;
  v4: boolean;
  v6: boolean;
}

/**
 * getaddrinfo()'s result as a shared, frozen value. There are only a few
 * distinct ones, and every lookup's record keeps its result to the end of the
 * run: sharing them spares the heap one long-lived object per lookup.
 */
export function gaiResult(status: GaiStatus, v4: boolean, v6: boolean): LookupResult {
  return GAI_RESULTS[status][(v4 ? 1 : 0) + (v6 ? 2 : 0)]!;
}

/** Indexed by v4 + 2 * v6. */
function gaiResults(status: GaiStatus): readonly LookupResult[] {
  return [false, true].flatMap((v6) => [false, true].map((v4) => Object.freeze({ status, v4, v6 })));
}

const GAI_RESULTS: Record<GaiStatus, readonly LookupResult[]> = {
  OK: gaiResults("OK"),
  EAI_NONAME: gaiResults("EAI_NONAME"),
  EAI_AGAIN: gaiResults("EAI_AGAIN"),
  EAI_NODATA: gaiResults("EAI_NODATA"),
  EAI_FAIL: gaiResults("EAI_FAIL"),
};

export function outcomeLabel(r: LookupResult): string {
  if (r.status !== "OK") return r.status;
  return r.v4 && r.v6 ? "OK v4+v6" : r.v4 ? "OK v4" : "OK v6";
}

/** Account for queries handed to the kernel: a query sent again with the same ID is a retransmission. */
export function countSends(tally: LookupTally, qs: readonly DnsMessage[]): void {
  for (const q of qs) {
    if (q.sends > 0) tally.retransmits++;
    q.sends++;
    tally.queriesSent++;
  }
}
