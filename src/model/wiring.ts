import type { Streams } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import type { Zone } from "../dns/zone.js";
import type { AddressBook } from "../net/addr.js";
import type { DnsMessage, LookupTally, Packet } from "../net/packet.js";
import type { TcpConnection } from "./tcp.js";
import type { TraceCollector } from "./trace.js";

/**
 * What the model's parts on the client node see of it: a pod and the
 * NodeLocal cache are handed these few services (the cluster provides them),
 * as a hop is handed its HopWiring (kernel/netns.ts), not the whole cluster.
 */

/** Something on the node that receives packets addressed to it: a pod, or the node-local cache. */
export interface LocalReceiver {
  deliver(pkt: Packet, owned: boolean): void;
}

/** The host-network pods' sockets: they receive what reaches the node's address on a port they own. */
export interface HostReceiver extends LocalReceiver {
  owns(port: number): boolean;
}

export interface NetworkStats {
  /** Packets routed to an address nobody serves. */
  blackholed: number;
  /** Answers that reached a pod whose socket was already closed, or was never there. */
  toClosedPort: number;
  /** Answers a socket ignored (source not the peer it talks to). */
  ignoredBySocket: number;
  /** Queries a kube_dns rule dropped. */
  droppedByRule: number;
  /** Queries a kube-dns replica dropped past its capacity (kube_dns.capacity), its socket's queue full. */
  droppedByCapacity: number;
  answersDelivered: number;
}

/** The services both a pod and the cache use: the clock, addresses, the trace and TCP through the node. */
interface NodeServices {
  readonly sim: Simulator;
  readonly addrs: AddressBook;
  /** Set (before the run) to collect every lookup's story; null otherwise. */
  readonly tracer: TraceCollector | null;
  /** connect(): a SYN through the node's conntrack hop (OUTPUT when `local`); the connection's onEstablished when its SYN-ACK is back. */
  tcpConnect(c: TcpConnection, cpu: number, local?: boolean): void;
  /** Data on an established connection. */
  tcpSend(c: TcpConnection, msgs: DnsMessage[], tally: LookupTally | null): void;
  tcpClose(c: TcpConnection): void;
}

/** A pod's view of the node it runs on. */
export interface PodWiring extends NodeServices {
  readonly streams: Streams;
  /** The node's CPUs (thread k runs on CPU (firstCpu + k) mod cpus). */
  readonly cpus: number;
  readonly net: NetworkStats;
  /** Packets to `addr` that reach the node's veths go to `r`. */
  registerReceiver(addr: number, r: LocalReceiver): void;
  /** A UDP packet sent from a local receiver into the node's netfilter path. */
  udpPacket(src: number, sport: number, dst: number, dport: number, dns: DnsMessage, tally: LookupTally | null): Packet;
  /** A burst of datagrams leaves the pod through its eth0, sent from `cpu`; `where` names the pod in traces. */
  podEgress(burst: Packet[], cpu: number, where: string, calls?: "sendmmsg" | "send"): void;
  /** A host-network pod's burst: generated in the node's own namespace, through OUTPUT (Netns.localOut). */
  localEgress(burst: Packet[], cpu: number, calls?: "sendmmsg" | "send"): void;
  /** Packets to the node's address on a port `r` owns go to `r`. */
  registerHostReceiver(r: HostReceiver): void;
}

/** The NodeLocal cache's view of the node it runs on. */
export interface CacheWiring extends NodeServices {
  readonly zone: Zone;
  /** The node's own address: the cache's upstream connections come from it. */
  readonly nodeIp: number;
  nextUid(): number;
  /** The cache accepted a pod's connection (its SYN reached a NOTRACKed cache address). */
  tcpAccept(syn: Packet): void;
  /** An untracked UDP answer (or SYN-ACK) from the cache: through the node's reply path, then the veth to the pod. */
  replyToPod(pkt: Packet): void;
  /** A TCP answer from the cache reaches the pod's connection after the veth (untracked, as its UDP answers). */
  tcpAnswer(pkt: Packet): void;
}
