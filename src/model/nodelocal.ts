import type { Dist } from "../engine/dist.js";
import type { Rng } from "../engine/random.js";
import { type CacheConfig, DnsCache, cacheOf, remainingTtl } from "../dns/cache.js";
import { FORWARD_DEADLINE_NS, type ForwardConfig, forwardQuery } from "../dns/forward.js";
import { type DnsMessage, type Packet, answerTo, replyPacket } from "../net/packet.js";
import type { TcpConnection } from "./tcp.js";
import type { CacheWiring, LocalReceiver } from "./wiring.js";

export interface NodeLocalConfig {
  /** Addresses the cache listens on, with raw NOTRACK: 169.254.20.10 and, in iptables mode, the kube-dns ClusterIP. */
  localIps: string[];
  /** The kube-dns-upstream ClusterIP, for cluster-zone misses over TCP (force_tcp). */
  upstreamVip: string;
  /** Time the cache takes to answer (hit) or to hand a miss on. */
  cacheNs: Dist;
  /** The cluster zone's server block: cache { success 9984 30; denial 9984 5 }. */
  clusterCache: CacheConfig;
  /** The `.:53` block's `cache 30`. */
  otherCache: CacheConfig;
  /** Its forward plugin: to kube-dns-upstream over TCP (force_tcp), and to the node's upstreams. */
  forward: ForwardConfig;
  /** The share of forward attempts the node's upstream never answers (kube_dns.upstream_loss). */
  upstreamLoss: number;
  /** CoreDNS forward: cached connections expire after 10 s idle. */
  connExpireNs: number;
  /** The node's CPU the cache's sends start on. */
  cpu: number;
}

/** A pod's cluster-zone query being forwarded to kube-dns over TCP. */
interface Waiting {
  pkt: Packet;
  /** The forward attempts made for it (one connection each), and when the first began. */
  attempts: number;
  startNs: number;
  done: boolean;
}

/** The cluster zone's block in the node-local-dns Corefile (k8s-dns nodelocaldns.yaml). */
export function nodeLocalClusterCache(): CacheConfig {
  const c = cacheOf(30);
  c.success = { capacity: 9984, maxTtlS: 30, minTtlS: c.success.minTtlS };
  c.denial = { capacity: 9984, maxTtlS: 5, minTtlS: c.denial.minTtlS };
  return c;
}

/**
 * NodeLocal DNSCache (kubernetes/dns node-cache, a CoreDNS): answers pods on
 * its NOTRACKed addresses from CoreDNS's cache plugin (one per server block of
 * its Corefile); cluster-zone misses go to kube-dns-upstream over TCP
 * (force_tcp), other zones upstream over UDP, each through forward's timeouts
 * (dns/forward.ts): an attempt without an answer after read_timeout closes its
 * connection, and when forward gives up the pod gets SERVFAIL. It runs in the
 * node's network namespace (a hostNetwork DaemonSet): its connections to
 * kube-dns are the node's own, through OUTPUT.
 */
export class NodeLocalCache implements LocalReceiver {
  readonly stats = { queries: 0, hits: 0, misses: 0, tcpConnects: 0, timeouts: 0, servfails: 0 };
  private readonly clusterCache: DnsCache;
  private readonly otherCache: DnsCache;
  private readonly idle: { c: TcpConnection; lastUsed: number }[] = [];
  private readonly ips: Set<number>;
  private readonly inFlight = new Map<TcpConnection, Waiting>();
  private nextPort = 40000;
  private readonly handleFn = (p: Packet) => this.handle(p);

  constructor(
    /** The cluster as the cache sees it: the services of CacheWiring. */
    private readonly cluster: CacheWiring,
    private readonly cfg: NodeLocalConfig,
    private readonly rng: Rng,
    /** The caches' evictions and the upstream's losses: a stream of their own. */
    private readonly ownRng: Rng,
  ) {
    this.ips = new Set(cfg.localIps.map((ip) => cluster.addrs.id(ip)));
    this.clusterCache = new DnsCache(cfg.clusterCache, ownRng);
    this.otherCache = new DnsCache(cfg.otherCache, ownRng);
  }

  serves(addr: number): boolean {
    return this.ips.has(addr);
  }

  /** A pod's query (or TCP SYN) reaches the cache (untracked, not DNATed) at time t. */
  query(pkt: Packet, t: number): void {
    if (pkt.flags === "SYN") {
      // The cache listens on TCP too (CoreDNS's dns server serves both): the node's stack answers the SYN.
      this.cluster.sim.at(t, this.acceptFn, pkt);
      return;
    }
    this.cluster.sim.at(t + Math.round(this.cfg.cacheNs.sample(this.rng)), this.handleFn, pkt);
  }

  private readonly acceptFn = (syn: Packet) => {
    this.cluster.tcpAccept(syn);
    this.cluster.replyToPod(replyPacket(this.cluster.nextUid(), syn, null, "SYN-ACK", this.cluster.sim.now));
  };

  private handle(pkt: Packet): void {
    const sim = this.cluster.sim;
    const q = pkt.dns!;
    this.stats.queries++;
    const zone = this.cluster.zone;
    const inCluster = zone.inClusterDomain(q.qname);
    const cache = inCluster ? this.clusterCache : this.otherCache;
    const hit = cache.get(q.qname, q.qtype, sim.now);
    const tracer = this.cluster.tracer;
    if (hit !== null) {
      tracer?.add(pkt.tally, sim.now, "node-local cache", `${q.qtype} ${q.qname}: cache hit (${hit.from}), answered at once`);
      this.stats.hits++;
      this.answer(pkt, hit.item.rcode, hit.item.ancount, remainingTtl(hit.item, sim.now));
      return;
    }
    this.stats.misses++;
    tracer?.add(pkt.tally, sim.now, "node-local cache", `${q.qtype} ${q.qname}: cache miss, ${inCluster ? "forwarded to kube-dns-upstream over TCP (force_tcp)" : "forwarded upstream over UDP"}`);
    if (!inCluster) {
      // `forward . /etc/resolv.conf` over UDP: a fresh socket per query, no same-tuple pair.
      const a = zone.resolve(q.qname, q.qtype);
      const f = forwardQuery(this.cfg.forward, this.attemptFn);
      sim.at(sim.now + f.delayNs, () => {
        if (!f.answered) {
          this.servfail(pkt, f.attempts);
          return;
        }
        const ttl = this.otherCache.put(q.qname, q.qtype, a.rcode, a.ancount, a.ttlS, sim.now);
        this.answer(pkt, a.rcode, a.ancount, ttl > 0 ? ttl : a.ttlS);
      }, undefined);
      return;
    }
    this.sendUpstream({ pkt, attempts: 0, startNs: sim.now, done: false });
  }

  /** One attempt of the node's upstream: its delay, or null when it never answers. */
  private readonly attemptFn = (): number | null => {
    if (this.cfg.upstreamLoss > 0 && this.ownRng() < this.cfg.upstreamLoss) return null;
    return this.cluster.zone.upstreamDelay(this.rng);
  };

  /** A forward attempt to kube-dns-upstream over TCP, with its read deadline. */
  private sendUpstream(w: Waiting): void {
    w.attempts++;
    const conn = this.takeConnection();
    this.inFlight.set(conn, w);
    if (conn.established) this.cluster.tcpSend(conn, [this.upstreamQuery(w.pkt.dns!)], w.pkt.tally);
    const sim = this.cluster.sim;
    sim.at(sim.now + this.cfg.forward.readTimeoutNs, this.readTimeoutFn, { w, conn });
  }

  /**
   * lookupDNS's read deadline passed: the connection is closed, not given back ("not giving it
   * back"), and ServeDNS tries again while its attempts and its 5 s deadline allow; then SERVFAIL.
   */
  private readonly readTimeoutFn = ({ w, conn }: { w: Waiting; conn: TcpConnection }): void => {
    if (w.done || this.inFlight.get(conn) !== w) return;
    this.inFlight.delete(conn);
    this.cluster.tcpClose(conn);
    this.stats.timeouts++;
    const now = this.cluster.sim.now;
    const fwd = this.cfg.forward;
    // One upstream here, the kube-dns-upstream ClusterIP (forward . __PILLAR__CLUSTER__DNS__).
    const cap = fwd.maxConnectAttempts === null ? 2 : fwd.maxConnectAttempts;
    if (now - w.startNs < FORWARD_DEADLINE_NS && (cap === 0 || w.attempts < cap)) {
      this.cluster.tracer?.add(w.pkt.tally, now, "node-local cache", `${w.pkt.dns!.qtype} ${w.pkt.dns!.qname}: no answer from kube-dns-upstream within read_timeout: the connection is closed, forward tries again on a new one`);
      this.sendUpstream(w);
      return;
    }
    w.done = true;
    this.servfail(w.pkt, w.attempts);
  };

  /** forward gave up: the server answers SERVFAIL (not cached: it bypasses the cache's ResponseWriter). */
  private servfail(pkt: Packet, attempts: number): void {
    this.stats.servfails++;
    const q = pkt.dns!;
    this.cluster.tracer?.add(pkt.tally, this.cluster.sim.now, "node-local cache", `${q.qtype} ${q.qname}: after ${attempts} attempt${attempts === 1 ? "" : "s"} without an answer forward gives up: SERVFAIL`);
    this.answer(pkt, "SERVFAIL", 0, 0);
  }

  private upstreamQuery(q: DnsMessage): DnsMessage {
    return { ...q, id: q.id, response: false, sends: 1 };
  }

  private takeConnection(): TcpConnection {
    const now = this.cluster.sim.now;
    while (this.idle.length > 0) {
      const { c, lastUsed } = this.idle.pop()!;
      if (lastUsed + this.cfg.connExpireNs > now && !c.closed) return c;
      this.cluster.tcpClose(c);
    }
    this.stats.tcpConnects++;
    const c: TcpConnection = {
      label: `cache-t${this.stats.tcpConnects}`,
      localAddr: this.cluster.nodeIp,
      port: this.nextPort++,
      peer: this.cfg.upstreamVip,
      peerPort: 53,
      endpointAddr: -1,
      established: false,
      closed: false,
      queue: [],
      waiter: null,
      onEstablished: (conn) => {
        const w = this.inFlight.get(conn);
        if (w !== undefined) this.cluster.tcpSend(conn, [this.upstreamQuery(w.pkt.dns!)], w.pkt.tally);
      },
      onMessage: (conn, m) => {
        const w = this.inFlight.get(conn);
        if (w === undefined) return;
        this.inFlight.delete(conn);
        w.done = true;
        this.idle.push({ c: conn, lastUsed: this.cluster.sim.now });
        const msgTtl = m.ttlS ?? 0;
        const ttl = this.clusterCache.put(m.qname, m.qtype, m.rcode, m.ancount, msgTtl, this.cluster.sim.now);
        this.answer(w.pkt, m.rcode, m.ancount, ttl > 0 ? ttl : msgTtl);
      },
    };
    if (this.nextPort > 60999) this.nextPort = 40000;
    // node-local-dns is a hostNetwork DaemonSet: its connection is the node's own, through OUTPUT.
    this.cluster.tcpConnect(c, this.cfg.cpu, true);
    return c;
  }

  /** The answer leaves from the address the pod asked (raw OUTPUT NOTRACK -s localIP --sport 53). */
  private answer(pkt: Packet, rcode: DnsMessage["rcode"], ancount: number, ttlS: number): void {
    const reply = replyPacket(this.cluster.nextUid(), pkt, answerTo(pkt.dns!, rcode, ancount, false, ttlS), "", this.cluster.sim.now);
    if (pkt.proto === "tcp") {
      // An answer on the pod's TCP connection (glibc use-vc, or a retry after a truncated answer).
      this.cluster.tcpAnswer(reply);
      return;
    }
    this.cluster.replyToPod(reply);
  }

  /** Packets addressed to the node itself (the cache's TCP answers arrive via tcpByKey, not here). */
  deliver(_pkt: Packet, _owned: boolean): void {}
}
