import type { Dist } from "../engine/dist.js";
import type { Rng } from "../engine/random.js";
import { Streams } from "../engine/random.js";
import { Simulator } from "../engine/sim.js";
import { type FaultRule, RuleBook } from "../dns/rules.js";
import type { Endpoint } from "../dns/server.js";
import { Zone, type ZoneConfig } from "../dns/zone.js";
import { Netns } from "../kernel/netns.js";
import { NetemDelay, type TcDelayConfig } from "../kernel/qdisc.js";
import { AddressBook, MAX_ADDRESSES, addrPort } from "../net/addr.js";
import { type DnsMessage, type LookupTally, type Packet, type Rcode, answerTo, makePacket, replyPacket, turnAround } from "../net/packet.js";
import { type CoreDnsConfig, CoreDnsReplica, newServed, ruleWords, servedText } from "./coredns.js";
import { EndpointNode, type EndpointNodeConfig } from "./endpointnode.js";
import type { NodeHopConfig } from "./node.js";
import type { NodeLocalConfig } from "./nodelocal.js";
import { NodeLocalCache } from "./nodelocal.js";
import { PodEth0Netem } from "./podeth0.js";
import type { TcpConnection } from "./tcp.js";
import type { TraceCollector } from "./trace.js";
import type { CacheWiring, HostReceiver, LocalReceiver, NetworkStats, PodWiring } from "./wiring.js";

export interface ClusterConfig {
  seed: number;
  /** The client node's host network namespace (the race site with DNAT). */
  node: NodeHopConfig;
  /** kube-proxy --masquerade-all (and the MASQUERADE rule's --random-fully): Service traffic leaves with the node's address. */
  masquerade: { randomFully: boolean } | null;
  nodeIp: string;
  /** Rules walked in KUBE-SERVICES before the DNS Service's rule. */
  rulesBeforeDns: number;
  /** Delay from the node's reply hook to the pod's socket (veth). */
  podDeliverNs: number;
  dnsVip: string;
  /** `node`: the name of the endpoint's node in `endpointNodes`, or null for the client node. */
  endpoints: { addr: string; rttNs: Dist; serviceNs: Dist; node: string | null }[];
  /** The other nodes that run endpoints: each is a conntrack hop of its own (model/endpointnode.ts). */
  endpointNodes: { name: string; cfg: EndpointNodeConfig }[];
  zone: ZoneConfig;
  /** The replicas' cache, forward and capacity (kube_dns.cache, kube_dns.forward, kube_dns.capacity). */
  coredns: CoreDnsConfig;
  /** Answer rules of the kube-dns endpoints (kube_dns.rules), applied before the zone; [] for none. */
  rules: FaultRule[];
  nodelocal: NodeLocalConfig | null;
  /** A tc netem delay of one query type at a named interface (node.tc_delay), or null. */
  tcDelay: TcDelayConfig | null;
}

/**
 * The whole path: pods on one client node, the node's conntrack namespace with
 * kube-proxy's DNAT, the kube-dns endpoints (on the client node or on nodes of
 * their own, whose host namespaces are conntrack hops too), and optionally
 * NodeLocal DNSCache.
 * It routes packets between them with the network delays of the scenario.
 */
export class Cluster implements PodWiring, CacheWiring {
  readonly sim = new Simulator();
  readonly streams: Streams;
  readonly node: Netns;
  readonly endpoints: Endpoint[];
  readonly endpointNodes: EndpointNode[];
  readonly zone: Zone;
  /** The endpoints' answer rules (one arrival count for the Service), or null when there are none. */
  readonly rules: RuleBook | null;
  readonly cache: NodeLocalCache | null;
  readonly net: NetworkStats = { blackholed: 0, toClosedPort: 0, ignoredBySocket: 0, droppedByRule: 0, droppedByCapacity: 0, answersDelivered: 0 };
  /** Set (before the run) to collect every lookup's story. */
  tracer: TraceCollector | null = null;
  readonly addrs = new AddressBook();
  readonly nodeIp: number;
  readonly dnsVip: number;
  readonly cpus: number;
  /** By address id (ids are small integers, net/addr.ts). */
  private readonly endpointByAddr: (Endpoint | undefined)[] = new Array<Endpoint | undefined>(MAX_ADDRESSES).fill(undefined);
  /** By endpoint index: its node, or null when it runs on the client node. */
  private readonly nodeOf: (EndpointNode | null)[];
  private readonly receivers: (LocalReceiver | undefined)[] = new Array<LocalReceiver | undefined>(MAX_ADDRESSES).fill(undefined);
  /** The host-network pods' sockets on the node's address, or null when there are none. */
  private host: HostReceiver | null = null;
  private readonly tcpByKey = new Map<number, TcpConnection>();
  /** SYNs on their way to an endpoint, by packet uid. */
  private readonly synOwner = new Map<number, TcpConnection>();
  private readonly netRng: Rng;
  private readonly serverRng: Rng;
  private uid = 1;
  private readonly endpointArriveFn = (p: Packet) => this.endpointArrive(p);
  private readonly replyArriveFn = (p: Packet) => this.replyArrive(p);
  private readonly nodeAnswerFn = (p: Packet) => this.nodeOf[this.endpointByAddr[p.src]!.index]!.answer(p);
  private readonly toLocalFn = (p: Packet) => this.toLocal(p);
  /** The netem qdisc on every pod's eth0 (before the node's conntrack), or on the node's uplink (after it). */
  private readonly podTc: PodEth0Netem | null;
  private readonly uplinkTc: NetemDelay | null;
  private readonly served = newServed();
  /** The CoreDNS process of each endpoint, by index: its cache, forward and capacity. */
  readonly replicas: CoreDnsReplica[];

  constructor(readonly cfg: ClusterConfig) {
    this.streams = new Streams(cfg.seed);
    this.netRng = this.streams.get("network");
    this.serverRng = this.streams.get("kube-dns");
    this.nodeIp = this.addrs.id(cfg.nodeIp);
    this.dnsVip = this.addrs.id(cfg.dnsVip);
    this.cpus = cfg.node.cpus;
    this.endpoints = cfg.endpoints.map((e, index) => ({ index, addr: this.addrs.id(e.addr), rttNs: e.rttNs, serviceNs: e.serviceNs, queries: 0 }));
    for (const e of this.endpoints) this.endpointByAddr[e.addr] = e;
    this.endpointNodes = cfg.endpointNodes.map(
      (n) =>
        new EndpointNode(this.sim, n.name, n.cfg, this.streams, {
          toEndpoint: (pkt, t) => this.sim.at(t + this.oneWay(this.endpointByAddr[pkt.dst]!), this.endpointArriveFn, pkt),
          toClient: this.replyArriveFn,
          addrName: (id) => this.addrs.name(id),
        }),
    );
    this.nodeOf = cfg.endpoints.map((e) => (e.node === null ? null : this.endpointNodes[cfg.endpointNodes.findIndex((n) => n.name === e.node)]!));
    this.zone = new Zone(cfg.zone);
    this.replicas = this.endpoints.map((e) => new CoreDnsReplica(e, cfg.coredns, this.zone, this.serverRng, this.streams.get(`kube-dns/${e.index}/coredns`)));
    this.rules = cfg.rules.length > 0 ? new RuleBook(cfg.rules) : null;
    const eps = this.endpoints.map((e) => ({ addr: e.addr, port: 53 }));
    const services = [{ name: "kube-system/kube-dns:dns", vip: this.dnsVip, port: 53, endpoints: eps, rulesBefore: cfg.rulesBeforeDns }];
    const notrack = new Set<number>();
    if (cfg.nodelocal !== null) {
      // kube-dns-upstream: the same endpoints behind another ClusterIP, for the cache's TCP misses.
      services.push({ name: "kube-system/kube-dns-upstream:dns-tcp", vip: this.addrs.id(cfg.nodelocal.upstreamVip), port: 53, endpoints: eps, rulesBefore: cfg.rulesBeforeDns });
      // cmd/node-cache/app/cache_app.go initIptables: raw NOTRACK for every local IP, port 53.
      for (const ip of cfg.nodelocal.localIps) notrack.add(addrPort(this.addrs.id(ip), 53));
    }
    this.node = new Netns(
      this.sim,
      { ...cfg.node, services, notrack, masquerade: cfg.masquerade === null ? null : { addr: this.nodeIp, randomFully: cfg.masquerade.randomFully } },
      {
        dnat: this.streams.get("node/dnat"),
        timing: this.streams.get("node/timing"),
        rx: this.streams.get("node/rx"),
        snat: this.streams.get("node/snat"),
        migrate: this.streams.get("node/migrate"),
        softirq: this.streams.get("node/softirq"),
        nic: this.streams.get("node/nic"),
        others: this.streams.get("node/other-flows"),
      },
      {
        forward: (pkt, t) => this.forward(pkt, t),
        toPod: (pkt, t) => this.sim.at(this.toHost(pkt) ? t - this.cfg.podDeliverNs : t, this.toLocalFn, pkt),
        addrName: (id) => this.addrs.name(id),
      },
    );
    const tc = cfg.tcDelay === null ? null : new NetemDelay(cfg.tcDelay, this.streams.get("node/tc-delay"));
    this.podTc = tc?.cfg.iface === "pod-eth0" ? new PodEth0Netem(tc, this.sim, this.node, () => this.tracer) : null;
    this.uplinkTc = tc?.cfg.iface === "uplink" ? tc : null;
    this.cache = cfg.nodelocal === null ? null : new NodeLocalCache(this, cfg.nodelocal, this.streams.get("nodelocal"), this.streams.get("nodelocal/coredns"));
    if (this.cache !== null) this.receivers[this.nodeIp] = this.cache;
  }

  nextUid(): number {
    return this.uid++;
  }

  registerReceiver(addr: number, r: LocalReceiver): void {
    this.receivers[addr] = r;
  }

  registerHostReceiver(r: HostReceiver): void {
    // The host-network pods share one port table: any of them delivers to its sockets.
    this.host ??= r;
  }

  localEgress(burst: Packet[], cpu: number, calls: "sendmmsg" | "send" = "sendmmsg"): void {
    this.node.localOut(burst, cpu, calls);
  }

  /** An answer for a host-network pod's socket: on the node's own stack, no veth to cross. */
  private toHost(pkt: Packet): boolean {
    return this.host !== null && pkt.dst === this.nodeIp && this.host.owns(pkt.dport);
  }

  /** A UDP packet sent from a local receiver (pod or node) into the node's netfilter path. */
  udpPacket(src: number, sport: number, dst: number, dport: number, dns: DnsMessage, tally: LookupTally | null): Packet {
    return makePacket(this.uid++, "udp", src, sport, dst, dport, dns, "", tally, this.sim.now);
  }

  /** A burst of datagrams leaves a pod through its eth0 (model/podeth0.ts: node.tc_delay there), into the node's receive path. */
  podEgress(burst: Packet[], cpu: number, where: string, calls: "sendmmsg" | "send" = "sendmmsg"): void {
    if (this.podTc === null) this.node.ingress(burst, cpu, calls);
    else this.podTc.send(burst, cpu, where, calls);
  }

  /** A packet leaves the client node's conntrack hop at time t. */
  private forward(pkt: Packet, t: number): void {
    const ep = this.endpointByAddr[pkt.dst];
    if (ep !== undefined) {
      const node = this.nodeOf[ep.index]!;
      if (node === null) {
        // An endpoint on this node: the packet goes out through the endpoint pod's veth, not the uplink.
        this.sim.at(t + this.oneWay(ep), this.endpointArriveFn, pkt);
        return;
      }
      // The uplink's qdisc runs after POSTROUTING (ip_finish_output2 -> dev_queue_xmit): the client node's entry is already confirmed.
      const hold = this.uplinkTc !== null && this.uplinkTc.matches(pkt) ? this.uplinkHold(pkt) : 0;
      // The qdisc holds the packet before the link: it joins the link's order when netem releases it.
      if (hold > 0) this.sim.at(t + hold, (p: Packet) => node.fromClient(p, this.sim.now), pkt);
      else node.fromClient(pkt, t);
      return;
    }
    if (this.cache !== null && this.cache.serves(pkt.dst)) {
      this.cache.query(pkt, t);
      return;
    }
    this.net.blackholed++;
    if (pkt.tally !== null && pkt.dns !== null) pkt.tally.queriesLost++;
  }

  private uplinkHold(pkt: Packet): number {
    const d = this.uplinkTc!.delayNs();
    if (this.tracer !== null) {
      this.tracer.add(pkt.tally, this.sim.now, "node uplink", `tc netem holds ${pkt.dns!.qtype} for ${(d / 1e6).toFixed(3)} ms on its way out; it passed the node's conntrack first (the confirm is POSTROUTING's last hook, the qdisc comes after), so this delay protects only the hops after the node`);
    }
    return d;
  }

  oneWay(ep: Endpoint): number {
    return Math.round(ep.rttNs.sample(this.netRng) / 2);
  }

  /** A query (or SYN) reaches a kube-dns endpoint; its answer leaves after the service time. */
  private endpointArrive(pkt: Packet): void {
    const ep = this.endpointByAddr[pkt.dst]!;
    const now = this.sim.now;
    if (pkt.flags === "SYN") {
      // The SYN's DNAT chose this endpoint; the connection's data follows it. (Its source may have been
      // MASQUERADEd: the connection is found by the SYN, not by the source it arrives with.)
      const c = this.synOwner.get(pkt.uid);
      this.synOwner.delete(pkt.uid);
      if (c !== undefined) c.endpointAddr = ep.addr;
      const synAck = replyPacket(this.uid++, pkt, null, "SYN-ACK", now);
      this.answer(ep, synAck, now + this.oneWay(ep));
      return;
    }
    const q = pkt.dns!;
    ep.queries++;
    let ruleDelayNs = 0;
    if (this.rules !== null) {
      // kube_dns.rules: the first matching rule decides before the zone answers (an answer rule only delays it).
      const rule = this.rules.decide(q.qname, q.qtype, pkt.proto);
      if (rule !== null) {
        ruleDelayNs = Math.round((rule.delayMs ?? 0) * 1e6);
        if (rule.action !== "answer" && !(rule.action === "truncate" && pkt.proto === "tcp")) {
          this.ruleAnswer(pkt, ep, rule, ruleDelayNs);
          return;
        }
        this.tracer?.add(pkt.tally, now, `kube-dns ${this.addrs.name(ep.addr)}`, ruleWords(q.qname, q.qtype, rule, this.rules.nth, true));
      }
    }
    const r = this.replicas[ep.index]!.serve(q.qname, q.qtype, now, this.served, pkt.proto === "tcp");
    if (this.tracer !== null) this.tracer.add(pkt.tally, now, `kube-dns ${this.addrs.name(ep.addr)}`, servedText(q.qname, q.qtype, r, this.cfg.coredns));
    if (r.dropped) {
      // Past the replica's capacity, with its socket's queue full: the kernel drops the datagram.
      this.net.droppedByCapacity++;
      if (pkt.tally !== null) pkt.tally.queriesLost++;
      return;
    }
    // The query is consumed here: its packet object carries the answer back.
    const reply = turnAround(pkt, this.uid++, answerTo(q, r.rcode, r.ancount, false, r.ttlS), now);
    this.answer(ep, reply, now + r.delayNs + ruleDelayNs + this.oneWay(ep));
  }

  /** An answer leaves endpoint `ep` and reaches its node's host namespace at time t. */
  private answer(ep: Endpoint, pkt: Packet, t: number): void {
    const node = this.nodeOf[ep.index]!;
    if (node === null) {
      this.sim.at(t, this.replyArriveFn, pkt);
    } else if (pkt.proto === "tcp" && pkt.flags === "") {
      // TCP data skips the conntrack hops (see replyArrive): straight over the link.
      this.sim.at(node.linkOut(t), this.replyArriveFn, pkt);
    } else {
      this.sim.at(t, this.nodeAnswerFn, pkt);
    }
  }

  /** A rule's answer in place of the zone's: no answer at all, an error rcode, NODATA, or a truncated UDP answer (TC, no records). */
  private ruleAnswer(pkt: Packet, ep: Endpoint, rule: FaultRule, delayNs: number): void {
    const q = pkt.dns!;
    const now = this.sim.now;
    const action = rule.action;
    this.tracer?.add(pkt.tally, now, `kube-dns ${this.addrs.name(ep.addr)}`, ruleWords(q.qname, q.qtype, rule, this.rules!.nth, false));
    if (action === "drop") {
      this.net.droppedByRule++;
      if (pkt.tally !== null) pkt.tally.queriesLost++;
      return;
    }
    const rcode: Rcode = action === "nxdomain" ? "NXDOMAIN" : action === "servfail" ? "SERVFAIL" : action === "refused" ? "REFUSED" : "NOERROR";
    const reply = turnAround(pkt, this.uid++, answerTo(q, rcode, 0, action === "truncate"), now);
    const t = now + Math.round(ep.serviceNs.sample(this.serverRng)) + delayNs + this.oneWay(ep);
    this.answer(ep, reply, t);
  }

  /** A reply reaches the client node: through conntrack (reverse NAT), then to the pod. */
  private replyArrive(pkt: Packet): void {
    if (pkt.proto === "tcp" && pkt.flags === "") {
      // Data of an established connection: delivered to it directly (see model/tcp.ts).
      const c = this.tcpByKey.get(addrPort(pkt.dst, pkt.dport));
      if (c !== undefined && !c.closed) c.onMessage(c, pkt.dns!);
      else this.net.toClosedPort++;
      return;
    }
    this.node.reply(pkt, this.cfg.podDeliverNs);
  }

  /** A reply reaches, through the veth, whatever lives at its destination address. */
  private toLocal(pkt: Packet): void {
    const owned = pkt.owned;
    if (pkt.proto === "tcp") {
      const c = this.tcpByKey.get(addrPort(pkt.dst, pkt.dport));
      if (c !== undefined && pkt.flags === "SYN-ACK" && owned && !c.established) {
        c.established = true;
        c.onEstablished(c);
      }
      return;
    }
    const r = this.toHost(pkt) ? this.host! : this.receivers[pkt.dst];
    if (r === undefined) {
      // E.g. a reply to a MASQUERADEd query that no entry reverse-NATed: it is addressed to the node.
      this.net.blackholed++;
      if (pkt.tally !== null && pkt.dns !== null) pkt.tally.queriesLost++;
      return;
    }
    r.deliver(pkt, owned);
  }

  /**
   * connect(): a SYN through the node's conntrack hop (DNAT picks the endpoint),
   * the SYN-ACK back through reverse NAT; then onEstablished.
   */
  tcpConnect(c: TcpConnection, cpu: number, local = false): void {
    this.tcpByKey.set(addrPort(c.localAddr, c.port), c);
    const syn = makePacket(this.uid++, "tcp", c.localAddr, c.port, this.addrs.id(c.peer), c.peerPort, null, "SYN", null, this.sim.now);
    this.synOwner.set(syn.uid, c);
    if (local) this.node.localOut([syn], cpu);
    else this.node.ingress([syn], cpu);
  }

  /** The node-local cache accepted a pod's connection: its SYN reached a NOTRACKed cache address, which answers the data too. */
  tcpAccept(syn: Packet): void {
    const c = this.tcpByKey.get(addrPort(syn.src, syn.sport));
    if (c !== undefined) c.endpointAddr = syn.dst;
  }

  /** A TCP answer from the node-local cache reaches the pod's connection after the veth (untracked, as its UDP answers). */
  tcpAnswer(pkt: Packet): void {
    this.sim.at(this.sim.now + this.cfg.podDeliverNs, this.replyArriveFn, pkt);
  }

  /** An answer (or SYN-ACK) of the node-local cache: through the node's reply path, then the veth to the pod. */
  replyToPod(pkt: Packet): void {
    this.node.reply(pkt, this.cfg.podDeliverNs);
  }

  /** Data on an established connection: each message reaches the endpoint (or the node-local cache) after the one-way delay. */
  tcpSend(c: TcpConnection, msgs: DnsMessage[], tally: LookupTally | null): void {
    if (this.cache !== null && this.cache.serves(c.endpointAddr)) {
      for (const m of msgs) this.cache.query(makePacket(this.uid++, "tcp", c.localAddr, c.port, c.endpointAddr, 53, m, "", tally, this.sim.now), this.sim.now + this.cfg.podDeliverNs);
      return;
    }
    const ep = this.endpointByAddr[c.endpointAddr]!;
    const node = this.nodeOf[ep.index]!;
    const t = (node === null ? this.sim.now : node.linkIn(this.sim.now)) + this.oneWay(ep);
    for (const m of msgs) {
      const pkt = makePacket(this.uid++, "tcp", c.localAddr, c.port, ep.addr, 53, m, "", tally, this.sim.now);
      this.sim.at(t, this.endpointArriveFn, pkt);
    }
  }

  tcpClose(c: TcpConnection): void {
    c.closed = true;
    this.tcpByKey.delete(addrPort(c.localAddr, c.port));
  }
}
