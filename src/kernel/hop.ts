import type { Packet } from "../net/packet.js";
import type { TableLimits } from "./conntrack.js";
import type { IpvsConfig } from "./ipvs.js";
import type { OtherFlowsConfig } from "./otherflows.js";
import type { NatService } from "./kubeproxy.js";
import type { RxConfig } from "./rx.js";
import type { HopTiming, SendTiming } from "./timing.js";
import type { KernelFeatures } from "./version.js";

/** What the hop did, for traces and teaching (see trace events in the README). */
export type HopEventKind =
  | "gro-list"
  | "nic-list"
  | "migration-split"
  | "ksoftirqd-deferred"
  | "ksoftirqd-migrated"
  | "backlog-run"
  | "notrack"
  | "local-out"
  | "lookup-hit"
  | "lookup-miss"
  | "dnat"
  | "port-realloc"
  | "masquerade"
  | "confirm"
  | "clash-merge"
  | "clash-nat-entry"
  | "clash-drop"
  | "reply-denat"
  | "reply-orphan"
  | "clash-entry-killed"
  | "early-drop"
  | "table-full";

export interface HopEvent {
  t: number;
  hop: string;
  cpu: number;
  kind: HopEventKind;
  /** The packet as it is at this moment: valid only during the callback (packets are rewritten and reused). */
  pkt: Packet;
  /** Endpoint chosen, counter moved, etc. */
  detail: string;
}

/** Where packets go when they leave the hop. */
export interface HopWiring {
  /** A forward-direction packet (post-NAT) leaves the node at time t. */
  forward(pkt: Packet, t: number): void;
  /** A reply (post reverse NAT, or untouched if no entry owned it: pkt.owned) reaches the pod at time t. */
  toPod(pkt: Packet, t: number): void;
  /** The printable address of an address id (for traces). */
  addrName(id: number): string;
}

export interface NetnsConfig {
  name: string;
  cpus: number;
  features: KernelFeatures;
  /** The namespace has a nat table (kube-proxy): every entry gets NAT done, at least a null binding. */
  natTable: boolean;
  services: NatService[];
  /** Rules walked by a packet that matches no Service (the whole KUBE-SERVICES chain). */
  totalRules: number;
  /** raw-table NOTRACK: addrPort(addr, port) of the destinations (NodeLocal DNSCache's rules). */
  notrack: Set<number>;
  rx: RxConfig;
  timing: HopTiming;
  send: SendTiming;
  /** kube-proxy's IPVS mode: IPVS, not the nat table, picks the endpoint (kernel/ipvs.ts); absent or null: the nat table does. */
  ipvs?: IpvsConfig | null;
  /**
   * kube-proxy --masquerade-all: KUBE-MARK-MASQ on every new connection to a Service, so
   * KUBE-POSTROUTING's MASQUERADE rewrites its source to the node's address `addr`, with
   * `--random-fully` (NF_NAT_RANGE_PROTO_RANDOM_FULLY) or without. null: pods' Service traffic
   * keeps its source (a null binding), which --random-fully does not touch.
   */
  masquerade: { addr: number; randomFully: boolean } | null;
  /** nf_conntrack_max and the hash size; null: no limit (nf_conntrack_max = 0). */
  tableLimits: TableLimits | null;
  /** The node's other (non-DNS) flows, counted in the table and the counters (kernel/otherflows.ts); absent or null: none. */
  otherFlows?: OtherFlowsConfig | null;
}

/**
 * The configuration with every field present, in one order, whatever built it (a scenario's client
 * node, an endpoint's node, \`dnsrace race\`). The hop's hot paths read \`cfg\`, \`cfg.features\`,
 * \`cfg.rx\` and \`cfg.timing\` for every packet; built by one object literal each, they have one
 * hidden class in every variant of a comparison, so V8 keeps its optimized code for them instead
 * of throwing it away at each new variant (its "wrong map" deoptimizations) and compiling again.
 * Only the objects' layout changes, never a value.
 */
export function settledConfig(cfg: NetnsConfig): NetnsConfig {
  const f = cfg.features;
  const rx = cfg.rx;
  const t = cfg.timing;
  const s = cfg.send;
  return {
    name: cfg.name,
    cpus: cfg.cpus,
    features: {
      version: f.version,
      clashResolution: f.clashResolution,
      sameOriginSkip: f.sameOriginSkip,
      natPortRover: f.natPortRover,
      natClashEntry: f.natClashEntry,
      clashResolveCounter: f.clashResolveCounter,
      ignoreCounter: f.ignoreCounter,
      chainTooLongCounter: f.chainTooLongCounter,
      udpStreamTimeoutS: f.udpStreamTimeoutS,
      udpStreamAfter2s: f.udpStreamAfter2s,
      assuredOnlyInStream: f.assuredOnlyInStream,
      ksoftirqdDefers: f.ksoftirqdDefers,
      listReceive: f.listReceive,
      groNormalList: f.groNormalList,
      threadedNapi: f.threadedNapi,
      vethGro: f.vethGro,
      hotpathStats: f.hotpathStats,
      note: f.note,
      release: f.release,
    },
    natTable: cfg.natTable,
    services: cfg.services,
    totalRules: cfg.totalRules,
    notrack: cfg.notrack,
    rx: {
      mode: rx.mode,
      load: rx.load,
      batchProbability: rx.batchProbability,
      migrationProbability: rx.migrationProbability,
      pollWakeNs: rx.pollWakeNs,
      rpsNs: rx.rpsNs,
      softirq: rx.softirq,
      nic: { irqNs: rx.nic.irqNs, coalesceNs: rx.nic.coalesceNs, groNormalBatch: rx.nic.groNormalBatch },
    },
    timing: { window: t.window, preFraction: t.preFraction, ruleNs: t.ruleNs, ruleSpread: t.ruleSpread, hitNs: t.hitNs, snatLeadNs: t.snatLeadNs, xmitNs: t.xmitNs },
    send: { txNs: s.txNs, datagramGapNs: s.datagramGapNs, callGapNs: s.callGapNs, stallProbability: s.stallProbability, stallNs: s.stallNs },
    ipvs: cfg.ipvs ?? null,
    masquerade: cfg.masquerade ?? null,
    tableLimits: cfg.tableLimits,
    otherFlows: cfg.otherFlows ?? null,
  };
}

export interface HopStats {
  packetsIn: number;
  forwarded: number;
  droppedClash: number;
  untracked: number;
  /** Replies NOTRACKed at OUTPUT (NodeLocal DNSCache's answers). */
  untrackedReplies: number;
  clashes: number;
  clashesDifferentEndpoint: number;
  /** Clashes whose loser went to the winner's endpoint from another source port (race 2, or --random-fully). */
  clashesDifferentSource: number;
  /** Losers inserted reply-only as NAT-clash entries (5.6+). */
  natClashEntries: number;
  repliesIn: number;
  repliesDelivered: number;
  repliesOrphaned: number;
  /** New packets dropped because the table was full and early_drop found nothing to evict. */
  droppedTableFull: number;
  /** Packets whose source port the POSTROUTING nat binding rewrote (nf_nat_l4proto_unique_tuple). */
  portRewrites: number;
  /** Locally generated packets (host-network pods): through OUTPUT, not a backlog. */
  localOut: number;
}

export function newHopStats(): HopStats {
  return {
    packetsIn: 0,
    forwarded: 0,
    droppedClash: 0,
    untracked: 0,
    untrackedReplies: 0,
    clashes: 0,
    clashesDifferentEndpoint: 0,
    clashesDifferentSource: 0,
    natClashEntries: 0,
    repliesIn: 0,
    repliesDelivered: 0,
    repliesOrphaned: 0,
    droppedTableFull: 0,
    portRewrites: 0,
    localOut: 0,
  };
}

/**
 * pkt.ctState between the hooks (the skb's ctinfo): what PREROUTING left for POSTROUTING.
 * 0: no hop has the packet.
 */
export const CT_UNTRACKED = 1;
export const CT_ESTABLISHED = 2;
export const CT_NEW = 3;
/** Dropped at PREROUTING (table full): nothing more happens to it. */
export const CT_DROPPED = 4;
