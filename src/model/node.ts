import { DEFAULT_IPVS_SCHEDULE_NS } from "../kernel/ipvs.js";
import type { NetnsConfig } from "../kernel/netns.js";
import { type NodeLoad, type RxMode, defaultRx } from "../kernel/rx.js";
import { defaultNic } from "../kernel/nic.js";
import { defaultSoftirqLoad } from "../kernel/softirq.js";
import { type HopTiming, type NatBackend, type SendTiming, defaultHopTiming, defaultSendTiming } from "../kernel/timing.js";
import type { KernelFeatures } from "../kernel/version.js";
import { DEFAULT_OTHER_CONNECTION_LIFETIME_S } from "../kernel/otherflows.js";

/**
 * A node's host namespace as a scenario's node block (or `dnsrace race`'s
 * flags) describes it; nodeHopConfig() fills in the measured defaults.
 */
export interface NodeSpec {
  name: string;
  cpus: number;
  kernel: KernelFeatures;
  backend: NatBackend;
  rx: RxMode;
  load: NodeLoad;
  /** Overrides of the receive path's measured probabilities (kernel/rx.ts). */
  batchProbability?: number | undefined;
  migrationProbability?: number | undefined;
  /** The node's own load (kernel/softirq.ts): each CPU's softirq share from other traffic, and the runnable tasks per CPU. */
  softirqShare?: number | undefined;
  runnablePerCpu?: number | undefined;
  /** The NIC's receive interrupt moderation, us (kernel/nic.ts); default 0. */
  nicRxUsecs?: number | undefined;
  /** kube-proxy's mode: the nat table's KUBE-SERVICES walk, or IPVS (an ipset match: no rule walk). */
  proxyMode: "iptables" | "ipvs";
  /** iptables mode: the rules a packet walks in KUBE-SERVICES (before the DNS Service's, or all of them). */
  rules: number;
  /**
   * IPVS mode on the node that DNATs the DNS Service: its schedule_ns (kernel/ipvs.ts), undefined for
   * the default. null: the node runs no IPVS service for this traffic (an endpoint's node).
   */
  ipvsScheduleNs?: number | null | undefined;
  /** nf_conntrack_max, or null for no limit. */
  conntrackMax: number | null;
  /** nf_conntrack_buckets; by default max / 4, as kube-proxy's realConntracker.SetMax writes hashsize (pkg/proxy/conntrack.go). */
  conntrackBuckets?: number | undefined;
  /** New conntrack entries per second from the node's other flows (kernel/otherflows.ts); default 0. */
  otherConnectionsPerS?: number | undefined;
  /** How long each of them holds its slot, s; default DEFAULT_OTHER_CONNECTION_LIFETIME_S. */
  otherConnectionLifetimeS?: number | undefined;
  /** Overrides of the backend's calibrated hop timings and of the send path's. */
  hopTiming?: Partial<HopTiming>;
  sendTiming?: Partial<SendTiming>;
}

/** A node's conntrack hop without what the cluster adds (Services, NOTRACK rules, MASQUERADE). */
export type NodeHopConfig = Omit<NetnsConfig, "services" | "notrack" | "masquerade">;

/** The one place a node's hop configuration gets its defaults. */
export function nodeHopConfig(spec: NodeSpec): NodeHopConfig {
  const rx = defaultRx(spec.rx, spec.load);
  if (spec.batchProbability !== undefined) rx.batchProbability = spec.batchProbability;
  if (spec.migrationProbability !== undefined) rx.migrationProbability = spec.migrationProbability;
  rx.nic = defaultNic(spec.nicRxUsecs ?? 0);
  if ((spec.softirqShare ?? 0) > 0) rx.softirq = defaultSoftirqLoad(spec.cpus, spec.softirqShare, spec.runnablePerCpu ?? 0);
  const ipvs = spec.proxyMode === "ipvs";
  const max = spec.conntrackMax;
  const scheduleNs = spec.ipvsScheduleNs === undefined ? DEFAULT_IPVS_SCHEDULE_NS : spec.ipvsScheduleNs;
  return {
    name: spec.name,
    cpus: spec.cpus,
    features: spec.kernel,
    // kube-proxy's nat table is there on every node: a packet to a pod IP matches no rule and gets a null binding.
    natTable: true,
    totalRules: ipvs ? 0 : spec.rules,
    rx,
    timing: { ...defaultHopTiming(spec.backend), ...spec.hopTiming },
    send: { ...defaultSendTiming(), ...spec.sendTiming },
    ...(ipvs && scheduleNs !== null ? { ipvs: { scheduleNs } } : {}),
    tableLimits: max === null ? null : { max, buckets: spec.conntrackBuckets ?? Math.max(1, Math.floor(max / 4)) },
    otherFlows: (spec.otherConnectionsPerS ?? 0) > 0 ? { ratePerS: spec.otherConnectionsPerS!, lifetimeNs: Math.round((spec.otherConnectionLifetimeS ?? DEFAULT_OTHER_CONNECTION_LIFETIME_S) * 1e9) } : null,
  };
}
