import type { Dist } from "../engine/dist.js";
import type { Rng } from "../engine/random.js";
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
  /** cache { success 9984 30; denial 9984 5 } for the cluster zone; `cache 30` elsewhere. */
  successTtlS: number;
  denialTtlS: number;
  externalTtlS: number;
  /** CoreDNS forward: cached connections expire after 10 s idle. */
  connExpireNs: number;
  /** The node's CPU the cache's sends start on. */
  cpu: number;
}

interface Cached {
  rcode: DnsMessage["rcode"];
  ancount: number;
  expiresAt: number;
}

interface Waiting {
  pkt: Packet;
}

/**
 * NodeLocal DNSCache (kubernetes/dns node-cache, a CoreDNS): answers pods on
 * its NOTRACKed addresses from a TTL cache; cluster-zone misses go to
 * kube-dns-upstream over TCP (force_tcp), other zones upstream over UDP.
 */
export class NodeLocalCache implements LocalReceiver {
  readonly stats = { queries: 0, hits: 0, misses: 0, tcpConnects: 0 };
  private readonly entries = new Map<string, Cached>();
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
  ) {
    this.ips = new Set(cfg.localIps.map((ip) => cluster.addrs.id(ip)));
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
    const key = `${q.qname}|${q.qtype}`;
    const hit = this.entries.get(key);
    const tracer = this.cluster.tracer;
    if (hit !== undefined && hit.expiresAt > sim.now) {
      tracer?.add(pkt.tally, sim.now, "node-local cache", `${q.qtype} ${q.qname}: cache hit, answered at once`);
      this.stats.hits++;
      this.answer(pkt, hit.rcode, hit.ancount);
      return;
    }
    this.stats.misses++;
    const zone = this.cluster.zone;
    const inCluster = zone.inClusterDomain(q.qname);
    tracer?.add(pkt.tally, sim.now, "node-local cache", `${q.qtype} ${q.qname}: cache miss, ${inCluster ? "forwarded to kube-dns-upstream over TCP (force_tcp)" : "forwarded upstream over UDP"}`);
    if (!inCluster) {
      // `forward . /etc/resolv.conf` over UDP: a fresh socket per query, no same-tuple pair.
      const a = zone.answer(q.qname, q.qtype, this.rng);
      const ttl = this.cfg.externalTtlS;
      sim.at(sim.now + a.delayNs, () => {
        this.store(key, a.rcode, a.ancount, ttl);
        this.answer(pkt, a.rcode, a.ancount);
      }, undefined);
      return;
    }
    const conn = this.takeConnection();
    this.inFlight.set(conn, { pkt });
    if (conn.established) this.cluster.tcpSend(conn, [this.upstreamQuery(q)], pkt.tally);
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
        this.idle.push({ c: conn, lastUsed: this.cluster.sim.now });
        const ttl = m.rcode === "NOERROR" && m.ancount > 0 ? this.cfg.successTtlS : this.cfg.denialTtlS;
        this.store(`${m.qname}|${m.qtype}`, m.rcode, m.ancount, ttl);
        this.answer(w.pkt, m.rcode, m.ancount);
      },
    };
    if (this.nextPort > 60999) this.nextPort = 40000;
    this.cluster.tcpConnect(c, this.cfg.cpu);
    return c;
  }

  private store(key: string, rcode: DnsMessage["rcode"], ancount: number, ttlS: number): void {
    this.entries.set(key, { rcode, ancount, expiresAt: this.cluster.sim.now + ttlS * 1_000_000_000 });
  }

  /** The answer leaves from the address the pod asked (raw OUTPUT NOTRACK -s localIP --sport 53). */
  private answer(pkt: Packet, rcode: DnsMessage["rcode"], ancount: number): void {
    const reply = replyPacket(this.cluster.nextUid(), pkt, answerTo(pkt.dns!, rcode, ancount), "", this.cluster.sim.now);
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
