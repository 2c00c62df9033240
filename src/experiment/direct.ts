import { Process } from "../engine/process.js";
import { stream } from "../engine/random.js";
import { Simulator } from "../engine/sim.js";
import { type FaultAction, type FaultRule, RuleBook } from "../dns/rules.js";
import { type DnsMessage, type LookupTally, type QType, type Rcode, answerTo } from "../net/packet.js";
import { type LookupResult, type ResolverHost, type Spawn, type TcpConn, type ThreadCtx, type UdpSocket, outcomeLabel } from "../resolver/host.js";
import { type ResolverName, resolverNamed } from "../resolver/registry.js";
import type { ResolverSettings, ResolverSetup } from "../resolver/resolver.js";
import type { ResolvConf } from "../resolver/resolvconf.js";

/** With the resolver's own settings (ResolverSettings: the musl release and its query-ID collisions, default 1.2.3, none). */
export interface DirectOptions extends ResolverSettings {
  libc: ResolverName;
  resolvConf: ResolvConf;
  name: string;
  family: "unspec" | "inet" | "inet6";
  rules: FaultRule[];
  /** Round trip between the resolver and the server. */
  rttMs: number;
  /** A lookup still running then is reported as HANG. */
  maxMs: number;
}

export interface ServerLogEntry {
  t_ms: number;
  /** The nameserver address the query was sent to. */
  server: string;
  transport: "udp" | "tcp";
  port: string;
  qtype: QType;
  qname: string;
  fate: FaultAction;
}

export interface DirectResult {
  latencyMs: number;
  /** An outcome label ("OK v4+v6", "EAI_AGAIN", ...) or "HANG". */
  result: string;
  lookup: LookupResult | null;
  packets: ServerLogEntry[];
  /** When the resolver's wait timed out (a poll() deadline expired), ms from the lookup's start. */
  timeouts: number[];
  /** When an exchange gave up on its timer (musl), ms from the lookup's start, and whether it had sent a query. */
  gaveUp: GiveUp[];
  tally: LookupTally;
  /** The resolver with the conf the lookup ran with (its words explain the timers). */
  resolver: ResolverSetup;
}

export interface GiveUp {
  t_ms: number;
  sent: boolean;
}

const MS = 1_000_000;

/**
 * The thread's process, noting each time its deadline ends a wait (the resolver's timer expired).
 * Go's goroutines are processes of their own that share the thread's `expired` list.
 */
class TimedProcess<R = void> extends Process<unknown, R> {
  constructor(
    private readonly clock: Simulator,
    gen: Generator<unknown, R, unknown>,
    readonly expired: number[] = [],
    onDone?: (r: R) => void,
  ) {
    super(clock, gen, onDone);
  }

  override fire(): void {
    if (this.isWaiting) this.expired.push(this.clock.now);
    super.fire();
  }
}

/**
 * One lookup by one resolver against one scripted DNS server, with no cluster
 * around it: the resolver behaviour alone, as the libc calibration measured it.
 * Every query that reaches the server is logged with what the server did.
 */
export function runDirectLookup(opts: DirectOptions): DirectResult {
  return runDirectLookups(opts, [opts.name])[0]!;
}

/**
 * Several lookups one after the other in the same thread (so per-thread state,
 * such as glibc's single-request fallback, carries over), each with its own log.
 */
export function runDirectLookups(opts: DirectOptions, names: string[]): DirectResult[] {
  const sim = new Simulator();
  const oneWay = Math.round((opts.rttMs * MS) / 2);
  const server = scriptedServer(sim, opts.rules, oneWay);
  const packets = server.packets;
  const host = directHost(sim, oneWay, server);

  const results: DirectResult[] = [];
  const giveUps: GiveUp[] = [];
  const ctx = {
    id: 0,
    cpu: 0,
    host,
    rng: stream(1, "direct/thread0"),
    tally: { queriesSent: 0, retransmits: 0, queriesLost: 0, clashes: 0, pairs: 0, pairsClashed: 0 } as LookupTally,
    gaveUp: (sent: boolean) => {
      giveUps.push({ t_ms: sim.now / MS, sent });
    },
    // Goroutines (Go) share the thread's record of expired deadlines.
    spawn: (<R>(gen: Generator<unknown, R, unknown>, onDone: (r: R) => void) => new TimedProcess<R>(sim, gen, proc.expired, onDone)) as Spawn,
  } as ThreadCtx & { proc: Process<unknown> };
  // One thread of one process: its state (glibc's single-request fallback) carries over from lookup to lookup.
  const setup = resolverNamed(opts.libc).configure(opts.resolvConf, opts);
  const resolver = setup.newProcess().newThread();
  let started = 0;
  let firstPacket = 0;
  let firstTimeout = 0;
  let firstGiveUp = 0;
  const timeoutsSince = (startNs: number) => proc.expired.slice(firstTimeout).map((t) => (t - startNs) / MS);
  const giveUpsSince = (startNs: number) => giveUps.slice(firstGiveUp).map((g) => ({ ...g, t_ms: g.t_ms - startNs / MS }));
  function* body() {
    for (const name of names) {
      started = sim.now;
      firstPacket = packets.length;
      firstTimeout = proc.expired.length;
      firstGiveUp = giveUps.length;
      const tally: LookupTally = { queriesSent: 0, retransmits: 0, queriesLost: 0, clashes: 0, pairs: 0, pairsClashed: 0 };
      ctx.tally = tally;
      const gen = resolver.getaddrinfo(ctx, name, opts.family);
      const r = (yield gen) as LookupResult;
      results.push({ latencyMs: (sim.now - started) / MS, result: outcomeLabel(r), lookup: r, packets: rebase(packets.slice(firstPacket), started), timeouts: timeoutsSince(started), gaveUp: giveUpsSince(started), tally, resolver: setup });
    }
    server.done = true;
  }
  const proc = new TimedProcess(sim, body());
  (ctx as { proc: Process<unknown> }).proc = proc;
  ctx.proc.start();
  sim.run(opts.maxMs * MS * names.length);
  if (!server.done) {
    // The lookup in progress never finished: report it as HANG.
    results.push({ latencyMs: opts.maxMs, result: "HANG", lookup: null, packets: rebase(packets.slice(firstPacket), started), timeouts: timeoutsSince(started), gaveUp: giveUpsSince(started), tally: ctx.tally, resolver: setup });
  }
  return results;
}

/** The scripted DNS server: it logs each query that reaches it and answers by the first matching rule. */
interface ScriptedServer {
  readonly packets: ServerLogEntry[];
  /** Set once the lookups are over: what arrives later is not logged. */
  done: boolean;
  /** A query arrives over `transport` from socket `sock`; `reply` receives the answer after its delay and the way back. */
  serve(q: DnsMessage, server: string, transport: "udp" | "tcp", sock: object, reply: (m: DnsMessage) => void): void;
}

function scriptedServer(sim: Simulator, faultRules: FaultRule[], oneWay: number): ScriptedServer {
  const rules = new RuleBook(faultRules);
  const labels = new Map<object, string>();
  let udpCount = 0;
  let tcpCount = 0;
  const label = (sock: object, transport: "udp" | "tcp") => {
    let l = labels.get(sock);
    if (l === undefined) {
      l = transport === "udp" ? `p${++udpCount}` : `t${++tcpCount}`;
      labels.set(sock, l);
    }
    return l;
  };
  const packets: ServerLogEntry[] = [];
  const self: ScriptedServer = {
    packets,
    done: false,
    /** Log the arrival, pick the first matching rule, answer (or not) after its delay. */
    serve(q, server, transport, sock, reply) {
      if (self.done) return;
      const rule = rules.decide(q.qname, q.qtype, transport);
      let fate: FaultAction = rule?.action ?? "answer";
      if (fate === "truncate" && transport === "tcp") fate = "answer"; // nothing to truncate over TCP
      packets.push({ t_ms: sim.now / MS, server, transport, port: label(sock, transport), qtype: q.qtype, qname: q.qname, fate });
      if (fate === "drop") return;
      const rcode: Rcode = fate === "nxdomain" ? "NXDOMAIN" : fate === "servfail" ? "SERVFAIL" : fate === "refused" ? "REFUSED" : "NOERROR";
      const ancount = fate === "answer" ? 1 : 0;
      const answer = answerTo(q, rcode, ancount, fate === "truncate");
      sim.at(sim.now + Math.round((rule?.delayMs ?? 0) * MS) + oneWay, reply, answer);
    },
  };
  return self;
}

/** The resolver's sockets: every query reaches the scripted server after the one-way delay, and its answer comes back. */
function directHost(sim: Simulator, oneWay: number, server: ScriptedServer): ResolverHost {
  let nextPort = 40000;
  let nextId = 1;
  const serve = server.serve;
  return {
    sim,
    openUdp(peers: string[], peerPort: number): UdpSocket {
      return { port: nextPort++, peers, peerPort, queue: [], waiter: null, closed: false };
    },
    closeUdp(s: UdpSocket): void {
      s.closed = true;
    },
    sendUdp(s: UdpSocket, msgs: DnsMessage[], to?: number[]): void {
      msgs.forEach((m, i) => {
        const dest = s.peers[to === undefined ? 0 : to[i]!]!;
        sim.at(sim.now + oneWay + i * 1000, (q: DnsMessage) =>
          serve(q, dest, "udp", s, (a) => {
            if (s.closed) return;
            a.from = dest;
            if (s.waiter !== null) s.waiter.wake(a);
            else s.queue.push(a);
          }), m);
      });
    },
    openTcp(peer: string, peerPort: number): TcpConn {
      const c: TcpConn = { label: "", peer, peerPort, established: false, queue: [], waiter: null, closed: false };
      sim.at(sim.now + 2 * oneWay, (conn: TcpConn) => {
        conn.established = true;
        if (conn.waiter !== null) conn.waiter.wake(conn);
      }, c);
      return c;
    },
    sendTcp(c: TcpConn, msgs: DnsMessage[]): void {
      for (const m of msgs) {
        sim.at(sim.now + oneWay, (q: DnsMessage) =>
          serve(q, c.peer, "tcp", c, (a) => {
            if (c.closed) return;
            a.from = c.peer;
            if (c.waiter !== null) c.waiter.wake(a);
            else c.queue.push(a);
          }), m);
      }
    },
    closeTcp(c: TcpConn): void {
      c.closed = true;
    },
    newId(): number {
      return nextId++;
    },
  };
}

function rebase(log: ServerLogEntry[], startNs: number): ServerLogEntry[] {
  return log.map((p) => ({ ...p, t_ms: p.t_ms - startNs / MS }));
}
