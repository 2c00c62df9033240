import { overlapEstimate } from "./overlap.js";
import { fqdn } from "../net/packet.js";
import type { TcInterface } from "../kernel/qdisc.js";
import type { NodeLoad, RxMode } from "../kernel/rx.js";
import type { HopTiming, NatBackend, SendTiming } from "../kernel/timing.js";
import type { KernelFeatures } from "../kernel/version.js";
import { type CacheConfig, cacheOf } from "../dns/cache.js";
import type { RecordSpec, ZoneConfig } from "../dns/zone.js";
import type { CoreDnsConfig } from "../model/coredns.js";
import type { ClusterConfig } from "../model/cluster.js";
import { DEFAULT_LINK_US, type EndpointNodeConfig } from "../model/endpointnode.js";
import { type NodeSpec, nodeHopConfig } from "../model/node.js";
import { type NodeLocalConfig, nodeLocalClusterCache } from "../model/nodelocal.js";
import { buildDist } from "./dist.js";
import type { LoadedScenario } from "./load.js";

type Scenario = LoadedScenario["scenario"];

const US = 1000;
const MS = 1_000_000;
const SEC = 1_000_000_000;

/** The client node's name, in traces, counters and kube_dns.placement lists. */
export const CLIENT_NODE = "client-node";

/** Turns a validated scenario into the configuration of the model of section 2 of MODEL.md. */
/** `overlap`: run the client node at this migration_probability instead of the scenario's (an end of its calibrated interval). */
export function clusterConfig(loaded: LoadedScenario, seed: number, overlap?: number): ClusterConfig {
  const s = loaded.scenario;
  const placement = endpointPlacement(s);
  const node = nodeHopConfig(clientNodeSpec(s, loaded.kernel, overlap));
  const tc = s.node.tc_delay;
  return {
    seed,
    node,
    nodeIp: s.cluster.node_ip,
    rulesBeforeDns: node.totalRules,
    podDeliverNs: Math.round((s.node.timing?.pod_veth_us ?? 2) * US),
    dnsVip: s.cluster.dns_service_ip,
    endpoints: Array.from({ length: s.kube_dns.endpoints }, (_, i) => ({
      addr: `10.244.${1 + i}.10`,
      rttNs: buildDist(s.kube_dns.rtt_ms, MS),
      serviceNs: buildDist(s.kube_dns.service_ms, MS),
      node: placement[i] === CLIENT_NODE ? null : placement[i]!,
    })),
    endpointNodes: [...new Set(placement.filter((n) => n !== CLIENT_NODE))].map((name) => ({ name, cfg: endpointNodeConfig(s, name, loaded.endpointKernel) })),
    zone: zoneConfig(s),
    coredns: coreDnsConfig(s),
    rules: loaded.rules,
    nodelocal: nodeLocalConfig(s, coreDnsConfig(s)),
    masquerade: s.node.masquerade_all ? { randomFully: s.node.masquerade_random_fully } : null,
    tcDelay: tc === undefined ? null : { iface: tc.interface as TcInterface, qtype: tc.qtype, delay: buildDist(tc.delay_ms, MS) },
  };
}

/** The node of each endpoint, by index: kube_dns.placement spelled out (remote: endpoint i on node-<i+1>). */
export function endpointPlacement(s: Scenario): string[] {
  const p = s.kube_dns.placement;
  return Array.from({ length: s.kube_dns.endpoints }, (_, i) => (p === "local" ? CLIENT_NODE : p === "remote" ? `node-${i + 1}` : p[i]!));
}

/** The scenario's node block. */
function clientNodeSpec(s: Scenario, kernel: KernelFeatures, overlap?: number): NodeSpec {
  const n = s.node;
  return {
    name: CLIENT_NODE,
    cpus: n.cpus,
    kernel,
    backend: n.nat_backend as NatBackend,
    rx: n.rx as RxMode,
    load: n.load as NodeLoad,
    batchProbability: n.batch_probability,
    migrationProbability: overlap ?? overlapEstimate(s),
    softirqShare: n.softirq_share,
    runnablePerCpu: n.runnable_per_cpu,
    nicRxUsecs: n.nic_rx_usecs,
    proxyMode: n.proxy_mode,
    rules: n.rules_before_dns,
    ipvsScheduleNs: n.ipvs?.schedule_ns,
    conntrackMax: n.conntrack_max ?? null,
    conntrackBuckets: n.conntrack_buckets,
    otherConnectionsPerS: n.other_connections_per_s,
    otherConnectionLifetimeS: n.other_connection_lifetime_s,
    hopTiming: hopTimingOverrides(s),
    sendTiming: sendTimingOverrides(s),
  };
}

/** An endpoint node's hop: endpoint_nodes' fields, each defaulting to the client node's. */
function endpointNodeConfig(s: Scenario, name: string, kernel: KernelFeatures): EndpointNodeConfig {
  const en = s.endpoint_nodes;
  const load = (en?.load ?? s.node.load) as NodeLoad;
  const hop = nodeHopConfig({
    name,
    cpus: en?.cpus ?? s.node.cpus,
    kernel,
    backend: (en?.nat_backend ?? s.node.nat_backend) as NatBackend,
    rx: (en?.rx ?? s.node.rx) as RxMode,
    load,
    // The client node's batch_probability goes with its load: another load brings its own measured value.
    batchProbability: en?.batch_probability ?? (en?.load === undefined ? s.node.batch_probability : undefined),
    // The node type's own load and NIC, unless the endpoints' nodes declare theirs.
    softirqShare: en?.softirq_share ?? s.node.softirq_share,
    runnablePerCpu: en?.runnable_per_cpu ?? s.node.runnable_per_cpu,
    nicRxUsecs: en?.nic_rx_usecs ?? s.node.nic_rx_usecs,
    // iptables mode: it walks the whole KUBE-SERVICES chain without a match; IPVS mode: an ipset match.
    proxyMode: en?.proxy_mode ?? s.node.proxy_mode,
    rules: en?.nat_rules ?? s.node.rules_before_dns,
    // No Service matches a packet to a pod IP: nothing for IPVS to schedule.
    ipvsScheduleNs: null,
    // The endpoints' nodes have no table limit (node.conntrack_max is the client node's).
    conntrackMax: null,
    hopTiming: hopTimingOverrides(s),
    sendTiming: sendTimingOverrides(s),
  });
  // Traffic to a pod IP is no Service traffic: KUBE-MARK-MASQ never marks it.
  return { hop: { ...hop, masquerade: null }, linkNs: buildDist(en?.link_us ?? DEFAULT_LINK_US, US) };
}

/** node.timing's overrides of the backend's calibrated hop timings. */
function hopTimingOverrides(s: Scenario): Partial<HopTiming> {
  const t: Partial<HopTiming> = {};
  const o = s.node.timing;
  if (o === undefined) return t;
  if (o.window_us !== undefined) t.window = buildDist(o.window_us, US);
  if (o.rule_ns !== undefined) t.ruleNs = o.rule_ns;
  if (o.snat_lead_ns !== undefined) t.snatLeadNs = o.snat_lead_ns;
  if (o.hit_us !== undefined) t.hitNs = o.hit_us * US;
  if (o.xmit_us !== undefined) t.xmitNs = Math.round(o.xmit_us * US);
  return t;
}

/** node.timing's overrides of the send path's timings. */
function sendTimingOverrides(s: Scenario): Partial<SendTiming> {
  const t: Partial<SendTiming> = {};
  const o = s.node.timing;
  if (o === undefined) return t;
  if (o.send_path_us !== undefined) t.txNs = buildDist(o.send_path_us, US);
  if (o.datagram_gap_us !== undefined) t.datagramGapNs = buildDist(o.datagram_gap_us, US);
  if (o.stall_probability !== undefined) t.stallProbability = o.stall_probability;
  if (o.stall_us !== undefined) t.stallNs = buildDist(o.stall_us, US);
  return t;
}

function zoneConfig(s: Scenario): ZoneConfig {
  const record = (r: string | { name: string; a?: boolean | undefined; aaaa?: boolean | undefined; ttl_s?: number | undefined }, ipv6: boolean): RecordSpec => {
    if (typeof r === "string") return { name: fqdn(r), a: true, aaaa: ipv6 };
    const spec: RecordSpec = { name: fqdn(r.name), a: r.a ?? true, aaaa: r.aaaa ?? ipv6 };
    if (r.ttl_s !== undefined) spec.ttlS = r.ttl_s;
    return spec;
  };
  return {
    clusterDomain: s.cluster.domain,
    records: s.kube_dns.records.map((r) => record(r, s.kube_dns.ipv6)),
    externalRecords: s.kube_dns.external_records.map((r) => record(r, true)),
    upstreamNs: buildDist(s.kube_dns.upstream_ms, MS),
    clusterTtlS: s.kube_dns.ttl_s,
    externalTtlS: s.kube_dns.upstream_ttl_s,
  };
}

/**
 * The replicas' Corefile plugins: `cache` (absent: `cache 30`, as kubeadm's and the addon's
 * Corefiles have it), `forward . /etc/resolv.conf` and the replica's capacity.
 */
function coreDnsConfig(s: Scenario): CoreDnsConfig {
  const k = s.kube_dns;
  const c = k.cache;
  const cache: CacheConfig | null =
    c === false
      ? null
      : {
          success: { capacity: c.success.capacity, maxTtlS: c.success.ttl_s ?? c.ttl_s, minTtlS: c.success.min_ttl_s },
          denial: { capacity: c.denial.capacity, maxTtlS: c.denial.ttl_s ?? c.ttl_s, minTtlS: c.denial.min_ttl_s },
          servfailS: c.servfail_s,
          disableSuccess: c.disable.success.map(fqdn),
          disableDenial: c.disable.denial.map(fqdn),
          prefetch: c.prefetch === undefined ? null : { amount: c.prefetch.amount, durationNs: Math.round(c.prefetch.duration_s * SEC), percentage: c.prefetch.percentage },
        };
  return {
    cache,
    forward: {
      upstreams: upstreamCount(s.node.resolv_conf),
      readTimeoutNs: Math.round(k.forward.read_timeout_ms * MS),
      maxConnectAttempts: k.forward.max_connect_attempts ?? null,
      maxConcurrent: k.forward.max_concurrent,
    },
    capacity: k.capacity === undefined ? null : { qps: k.capacity.qps, queue: k.capacity.queue },
    upstreamLoss: k.upstream_loss,
  };
}

/**
 * The upstreams of `forward . /etc/resolv.conf`: every nameserver line of the CoreDNS pod's
 * resolv.conf (miekg/dns ClientConfigFromReader), which is the node's (the CoreDNS Deployment
 * has dnsPolicy: Default); at least one.
 */
function upstreamCount(resolvConf: string): number {
  return Math.max(1, (resolvConf.match(/^[ \t]*nameserver[ \t]+\S/gm) ?? []).length);
}

/** NodeLocal DNSCache: its Corefile's caches, and forward with kube_dns.forward's settings (one upstream: kube-dns-upstream). */
function nodeLocalConfig(s: Scenario, kubeDns: CoreDnsConfig): NodeLocalConfig | null {
  const nl = s.nodelocal?.enabled ? s.nodelocal : null;
  if (nl === null) return null;
  return {
    localIps: nl.listen_on_cluster_ip ? [nl.ip, s.cluster.dns_service_ip] : [nl.ip],
    upstreamVip: nl.upstream_service_ip,
    cacheNs: buildDist(nl.cache_ms, MS),
    clusterCache: nodeLocalClusterCache(),
    otherCache: cacheOf(30),
    // No max_concurrent in node-local-dns's Corefile.
    forward: { ...kubeDns.forward, maxConcurrent: 0 },
    upstreamLoss: kubeDns.upstreamLoss,
    connExpireNs: 10 * SEC,
    cpu: 0,
  };
}
