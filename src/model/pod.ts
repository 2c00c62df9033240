import type { Dist } from "../engine/dist.js";
import { Process, type Waiter } from "../engine/process.js";
import { LazyTimer } from "../engine/timer.js";
import type { Rng } from "../engine/random.js";
import type { DnsMessage, Packet } from "../net/packet.js";
import {
  type LookupResult,
  type ResolverHost,
  type TcpConn,
  type ThreadCtx,
  type UdpSocket,
  interned,
  outcomeLabel,
} from "../resolver/host.js";
import { type ResolverName, resolverNamed } from "../resolver/registry.js";
import type { ResolverSettings, ResolverSetup, ResolverThread } from "../resolver/resolver.js";
import type { ResolvConf } from "../resolver/resolvconf.js";
import { type LookupLog, NO_THREAD } from "./log.js";
import type { TcpConnection } from "./tcp.js";
import { portTable } from "./ports.js";
import { markPairs, newTally } from "./tally.js";
import type { LocalReceiver, PodWiring } from "./wiring.js";

/** A resolver of the registry (resolver/registry.ts). */
export type Libc = ResolverName;
export type Family = "unspec" | "inet" | "inet6";

export type Workload =
  | { kind: "closed"; lookups: number; thinkNs: Dist }
  | { kind: "open"; ratePerS: number; durationNs: number };

/** With the resolver's own settings (ResolverSettings: the musl release and its query-ID collisions). */
export interface PodConfig extends ResolverSettings {
  name: string;
  /** Its address: the node's with hostNetwork. */
  ip: string;
  /** The pod shares the node's network namespace (hostNetwork): no veth, its packets go through OUTPUT. */
  hostNetwork: boolean;
  libc: Libc;
  resolvConf: ResolvConf;
  family: Family;
  threads: number;
  /** CPU of thread k is (firstCpu + k) mod cpus. */
  firstCpu: number;
  workload: Workload;
  names: { name: string; weight: number }[];
  /**
   * A thread is a fresh process after this many lookups (curl in a shell loop: 1;
   * PHP-FPM pm.max_requests, gunicorn max_requests): glibc's per-thread
   * single-request fallback does not outlive the process. Infinity: never.
   */
  lookupsPerProcess: number;
}

/** ip_local_port_range default: 32768-60999. */
const PORT_MIN = 32768;
const PORT_MAX = 60999;

interface PodSocket extends UdpSocket {
  peerIds: number[];
  /** "pod <name>" of the pod that opened it (the host-network pods share one port table). */
  owner: string;
}

interface Thread extends ThreadCtx {
  /** The resolver's state for this thread (glibc's _res), and its getaddrinfo. */
  resolver: ResolverThread;
  /** The thread's deadline timer (poll() timeouts). */
  timer: LazyTimer;
  onDone: (r: LookupResult) => void;
  /** The thread's process, reused from one lookup to the next. */
  process: Process<unknown, LookupResult> | null;
  lookupsDone: number;
  current: { name: string; startNs: number; lookup: number } | null;
}

/** The waiter of a thread between lookups: nothing may wake it. */
const IDLE: Waiter = {
  deadline(): void {
    throw new Error("an idle thread has no deadline");
  },
  wake(): void {
    throw new Error("an idle thread cannot be woken");
  },
};

/**
 * A pod: application threads that call getaddrinfo() through the pod's libc,
 * its sockets (ephemeral ports), and its end of the veth into the node.
 */
export class Pod implements LocalReceiver {
  /** Sockets by local port (one table for UDP and TCP; the host-network pods share the node's). */
  private readonly ports: (PodSocket | TcpConnection | undefined)[];
  private readonly ip: number;
  /** "pod <name>", where its packets come from in traces (made once: sendUdp passes it with every burst). */
  private readonly label: string;
  private readonly peerIdCache = new Map<string[], number[]>();
  private readonly threads: Thread[] = [];
  private readonly idle: Thread[] = [];
  /** Calls that arrived while every thread was busy: the name, and when it was called. */
  private readonly pending: { name: string; t: number }[] = [];
  private arrivalsDone = false;
  private remaining = 0;
  private tcpCount = 0;
  private nextId = 1;
  /** The pod's resolver with its conf, read once here. */
  private readonly resolver: ResolverSetup;
  private readonly nameCum: number[];
  /** cfg.names' names, interned (resolver/host.ts): the resolvers' memos and the log are keyed by them. */
  private readonly names: string[];
  private readonly portRng: Rng;
  private readonly workRng: Rng;
  private readonly nameRng: Rng;

  constructor(
    /** The cluster as the pod sees it: the services of PodWiring, nothing more. */
    private readonly cluster: PodWiring,
    readonly cfg: PodConfig,
    private readonly log: LookupLog,
    private readonly nextLookupNumber: () => number,
  ) {
    const s = cluster.streams;
    this.portRng = s.get(`pod/${cfg.name}/ports`);
    this.workRng = s.get(`workload/${cfg.name}`);
    this.nameRng = s.get(`names/${cfg.name}`);
    this.resolver = resolverNamed(cfg.libc).configure(cfg.resolvConf, cfg);
    let c = 0;
    this.nameCum = cfg.names.map((n) => (c += n.weight));
    this.names = cfg.names.map((n) => interned(n.name));
    this.ip = cluster.addrs.id(cfg.ip);
    this.label = `pod ${cfg.name}`;
    this.ports = portTable(cfg.hostNetwork, cluster);
    if (cfg.hostNetwork) cluster.registerHostReceiver({ owns: (port) => this.ports[port] !== undefined, deliver: (pkt, owned) => this.deliver(pkt, owned) });
    else cluster.registerReceiver(this.ip, this);
  }

  /** Schedules the threads (and, for an open workload, the arrivals). */
  start(): void {
    const sim = this.cluster.sim;
    const cpus = this.cluster.cpus;
    const w = this.cfg.workload;
    if (w.kind === "closed") this.remaining = w.lookups;
    // The threads are those of one process, unless lookups_per_process makes each a process of its own.
    const shared = this.cfg.lookupsPerProcess === Infinity ? this.resolver.newProcess() : null;
    for (let k = 0; k < this.cfg.threads; k++) {
      const cpu = (this.cfg.firstCpu + k) % cpus;
      const th: Thread = {
        id: k,
        cpu,
        host: this.hostFor(k, cpu),
        proc: IDLE,
        rng: this.cluster.streams.get(`pod/${this.cfg.name}/thread${k}`),
        tally: newTally(),
        resolver: (shared ?? this.resolver.newProcess()).newThread(),
        note: null,
        lookupsDone: 0,
        current: null,
        timer: new LazyTimer(sim),
        onDone: (r: LookupResult) => this.done(th, r),
        process: null,
      };
      this.threads.push(th);
      // Threads start spread over the first millisecond (from the workload stream).
      sim.at(Math.round(this.workRng() * 1_000_000), this.nextFn, th);
    }
    if (w.kind === "open") {
      const meanGapNs = 1e9 / w.ratePerS;
      const scheduleNext = (t: number) => {
        const next = t + Math.round(-meanGapNs * Math.log(1 - this.workRng()));
        if (next >= w.durationNs) {
          this.arrivalsDone = true;
          return;
        }
        sim.at(next, () => {
          // A getaddrinfo() call arrives: an idle thread takes it, or it waits for one.
          const name = this.pickName();
          const th = this.idle.shift();
          if (th !== undefined) this.begin(th, name);
          else this.pending.push({ name, t: next });
          scheduleNext(next);
        }, undefined);
      };
      scheduleNext(0);
    }
  }

  private readonly nextFn = (th: Thread) => this.next(th);
  /** For a trace: the resolver's explanation of its timers, from the conf the lookups run with. */
  private readonly explainLoss = () => this.resolver.lossExplanation();

  /** The thread is free: it takes its next lookup, or waits for one (open workload). */
  private next(th: Thread): void {
    if (this.cfg.workload.kind === "closed") {
      if (this.remaining <= 0) return;
      this.remaining--;
      this.begin(th, this.pickName());
      return;
    }
    const call = this.pending.shift();
    if (call === undefined) {
      if (!this.arrivalsDone) this.idle.push(th);
      return;
    }
    this.begin(th, call.name);
  }

  /** getaddrinfo(name) on thread th: the libc's generator runs as the thread's process. */
  private begin(th: Thread, name: string): void {
    if (th.lookupsDone > 0 && th.lookupsDone % this.cfg.lookupsPerProcess === 0) {
      // A new process: the resolver's per-thread and process-wide state start over.
      th.resolver.freshProcess();
    }
    th.lookupsDone++;
    th.tally = newTally();
    th.current = { name, startNs: this.cluster.sim.now, lookup: this.nextLookupNumber() };
    const tracer = this.cluster.tracer;
    if (tracer !== null) {
      const tally = th.tally;
      const sim = this.cluster.sim;
      tracer.begin(tally, th.current.lookup, this.cfg.name, th.id, name, sim.now, this.explainLoss);
      tracer.add(tally, sim.now, this.where(th), `getaddrinfo("${name}") with ${this.resolver.name}`);
      th.note = (text) => tracer.add(tally, sim.now, this.resolver.name, text);
    }
    const gen = th.resolver.getaddrinfo(th, name, this.cfg.family);
    if (th.process === null) {
      th.process = new Process<unknown, LookupResult>(this.cluster.sim, gen, th.onDone, th.timer);
      th.proc = th.process;
      th.process.start();
    } else {
      th.proc = th.process;
      th.process.restart(gen);
    }
  }

  private done(th: Thread, result: LookupResult): void {
    const c = th.current!;
    const sim = this.cluster.sim;
    this.log.put(c.lookup, this.cfg.name, th.id, c.name, c.startNs, sim.now, result, th.tally);
    if (this.cluster.tracer !== null) {
      const outcome = outcomeLabel(result);
      this.cluster.tracer.add(th.tally, sim.now, this.where(th), `getaddrinfo returns ${outcome} after ${((sim.now - c.startNs) / 1e6).toFixed(3)} ms`);
      this.cluster.tracer.end(th.tally, sim.now, outcome);
    }
    th.current = null;
    th.proc = IDLE;
    const w = this.cfg.workload;
    const think = w.kind === "closed" ? Math.round(w.thinkNs.sample(this.workRng)) : 0;
    if (think > 0) sim.at(sim.now + think, this.nextFn, th);
    else this.next(th);
  }

  /**
   * At the end of the run (nothing left to happen): records each lookup still running as UNFINISHED,
   * and each call no thread took (waiting, or a closed workload's lookups not yet begun) as NOT_STARTED,
   * with its latency up to `endNs`. Returns how many were recorded.
   */
  recordUnfinished(endNs: number): number {
    let n = 0;
    for (const th of this.threads) {
      const c = th.current;
      if (c === null) continue;
      this.log.putUnfinished(c.lookup, this.cfg.name, th.id, c.name, c.startNs, endNs, th.tally);
      this.cluster.tracer?.end(th.tally, endNs, "UNFINISHED");
      n++;
    }
    const notStarted = (name: string, t: number) => {
      this.log.putUnfinished(this.nextLookupNumber(), this.cfg.name, NO_THREAD, name, t, endNs, newTally());
      n++;
    };
    for (const call of this.pending.splice(0)) notStarted(call.name, call.t);
    if (this.cfg.workload.kind === "closed") {
      for (; this.remaining > 0; this.remaining--) notStarted(this.pickName(), endNs);
    }
    return n;
  }

  private where(th: ThreadCtx): string {
    return `pod ${this.cfg.name} thread ${th.id}`;
  }

  private pickName(): string {
    const total = this.nameCum[this.nameCum.length - 1]!;
    const u = this.nameRng() * total;
    let i = 0;
    while (this.nameCum[i]! <= u) i++;
    return this.names[i]!;
  }

  private ephemeralPort(): number {
    // udp_lib_get_port / inet_hash_connect: a random free port in ip_local_port_range.
    for (;;) {
      const p = PORT_MIN + Math.floor(this.portRng() * (PORT_MAX - PORT_MIN + 1));
      if (this.ports[p] === undefined) return p;
    }
  }

  private hostFor(threadId: number, cpu: number): ResolverHost {
    const cluster = this.cluster;
    const pod = this;
    const tallyOf = () => pod.threads[threadId]!.tally;
    return {
      sim: cluster.sim,
      openUdp(peers: string[], peerPort: number): UdpSocket {
        let peerIds = pod.peerIdCache.get(peers);
        if (peerIds === undefined) {
          peerIds = peers.map((p) => cluster.addrs.id(p));
          pod.peerIdCache.set(peers, peerIds);
        }
        const s: PodSocket = { port: pod.ephemeralPort(), peers, peerPort, queue: [], waiter: null, closed: false, peerIds, owner: pod.label };
        pod.ports[s.port] = s;
        return s;
      },
      closeUdp(s: UdpSocket): void {
        s.closed = true;
        pod.ports[s.port] = undefined;
      },
      sendUdp(s: UdpSocket, msgs: DnsMessage[], to?: number[]): void {
        const tally = tallyOf();
        const peerIds = (s as PodSocket).peerIds;
        // Made at its size: pushing onto [] would allocate room for 17 packets on every send.
        const burst = new Array<Packet>(msgs.length);
        for (let i = 0; i < msgs.length; i++) {
          const dst = peerIds[to === undefined ? 0 : to[i]!]!;
          burst[i] = cluster.udpPacket(pod.ip, s.port, dst, s.peerPort, msgs[i]!, tally);
        }
        if (msgs.length > 1) markPairs(burst, tally);
        if (cluster.tracer !== null) {
          const how = pod.resolver.sendWords(msgs.length);
          const what = msgs.map((m) => `${m.qtype}${m.sends > 0 ? " (again)" : ""}`).join(" and ");
          cluster.tracer.add(tally, cluster.sim.now, pod.where(pod.threads[threadId]!), `${how} ${what} ${msgs[0]!.qname} from port ${s.port} to ${cluster.addrs.name(peerIds[0]!)}:${s.peerPort}`);
        }
        if (pod.cfg.hostNetwork) cluster.localEgress(burst, cpu, pod.resolver.sendCalls);
        else cluster.podEgress(burst, cpu, pod.label, pod.resolver.sendCalls);
      },
      openTcp(peer: string, peerPort: number): TcpConn {
        pod.tcpCount++;
        const c: TcpConnection = {
          label: `t${pod.tcpCount}`,
          localAddr: pod.ip,
          port: pod.ephemeralPort(),
          peer,
          peerPort,
          endpointAddr: -1,
          established: false,
          closed: false,
          queue: [],
          waiter: null,
          onEstablished: (conn) => {
            if (conn.waiter !== null) conn.waiter.wake(conn);
          },
          onMessage: (conn, m) => {
            m.from = conn.peer;
            if (conn.waiter !== null) conn.waiter.wake(m);
            else conn.queue.push(m);
          },
        };
        pod.ports[c.port] = c;
        cluster.tcpConnect(c, cpu, pod.cfg.hostNetwork);
        return c;
      },
      sendTcp(c: TcpConn, msgs: DnsMessage[]): void {
        cluster.tcpSend(c as TcpConnection, msgs, tallyOf());
      },
      closeTcp(c: TcpConn): void {
        const conn = c as TcpConnection;
        cluster.tcpClose(conn);
        pod.ports[conn.port] = undefined;
      },
      newId(): number {
        const id = pod.nextId;
        pod.nextId = (pod.nextId % 65535) + 1;
        return id;
      },
    };
  }

  /** An answer reaches the pod's veth. */
  deliver(pkt: Packet, owned: boolean): void {
    const net = this.cluster.net;
    const s = this.ports[pkt.dport];
    if (s === undefined || s.closed || !("peerIds" in s)) {
      net.toClosedPort++;
      return;
    }
    // A connected socket only matches datagrams from its peer (udp4_lib_lookup); musl's
    // unconnected socket receives them, and res_msend ignores "replies from addresses we didn't send to".
    if (!owned || !s.peerIds.includes(pkt.src) || pkt.sport !== s.peerPort) {
      this.cluster.tracer?.add(pkt.tally, this.cluster.sim.now, s.owner, `an answer from ${this.cluster.addrs.name(pkt.src)}:${pkt.sport} reaches port ${pkt.dport}: not the address the socket talks to, ignored`);
      net.ignoredBySocket++;
      if (pkt.tally !== null) pkt.tally.queriesLost++;
      return;
    }
    const m = pkt.dns!;
    m.from = this.cluster.addrs.name(pkt.src);
    net.answersDelivered++;
    this.cluster.tracer?.add(pkt.tally, this.cluster.sim.now, s.owner, `the ${m.qtype} answer (${m.rcode}${m.rcode === "NOERROR" ? (m.ancount > 0 ? ", 1 address" : ", no address") : ""}) reaches the socket on port ${pkt.dport}`);
    if (s.waiter !== null) s.waiter.wake(m);
    else s.queue.push(m);
  }
}
