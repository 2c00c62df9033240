import { fqdn } from "../net/packet.js";
import type { CounterName } from "../kernel/conntrack.js";
import type { TcInterface } from "../kernel/qdisc.js";
import { type NodeLoad, type RxMode, defaultRx } from "../kernel/rx.js";
import { type HopTiming, type NatBackend, type SendTiming, defaultHopTiming, defaultSendTiming } from "../kernel/timing.js";
import { DEFAULT_IPVS_SCHEDULE_NS } from "../kernel/ipvs.js";
import { type KernelFeatures, kernelFeatures } from "../kernel/version.js";
import type { HopEvent, HopStats, Netns } from "../kernel/netns.js";
import type { RecordSpec } from "../dns/zone.js";
import { Cluster, type ClusterConfig } from "../model/cluster.js";
import type { NetworkStats } from "../model/wiring.js";
import { DEFAULT_LINK_US, type EndpointNodeConfig } from "../model/endpointnode.js";
import { LookupLog } from "../model/log.js";
import { Pod } from "../model/pod.js";
import { buildDist } from "./dist.js";
import type { LoadedScenario } from "./load.js";
import type { TraceCollector } from "../model/trace.js";

const MS = 1_000_000;
const SEC = 1_000_000_000;

/** One node's conntrack hop after the run. */
export interface NodeResult {
  name: string;
  kernel: string;
  features: KernelFeatures;
  counters: Record<CounterName, number>;
  perCpuCounters: Record<CounterName, number>[];
  /** The node's table size at the end of the run (net->ct.count: /proc's `entries`). */
  conntrackEntries: number;
  hop: HopStats;
}

export interface RunResult {
  name: string;
  file: string;
  seed: number;
  /** The client node's kernel version, as the scenario spells it (client.kernel). */
  kernel: string;
  /** Every finished lookup, by number (lookups still running when the run stopped are missing). */
  log: LookupLog;
  /** The client node's hop. */
  client: NodeResult;
  /** The hops of the other nodes that run endpoints (kube_dns.placement), in the order first named. */
  endpointNodes: NodeResult[];
  net: NetworkStats;
  events: number;
  simulatedNs: number;
}

export interface RunOptions {
  seed?: number;
  /** Called now and then with the share of lookups done (0..1). */
  progress?: (done: number) => void;
  /** Collects every lookup's story (dnsrace trace). */
  collector?: TraceCollector;
  /** Stop the simulation at this simulated time (safety net), ns. */
  maxSimNs?: number;
  /** Called with the assembled model just before it runs (tests add events here). */
  beforeRun?: (cluster: Cluster) => void;
}

/** Turns a validated scenario into the model of section 2 of MODEL.md. */
/** `log` receives each finished lookup under its number (lookups are numbered as they begin). */
export function buildCluster(loaded: LoadedScenario, seed: number): { cluster: Cluster; pods: Pod[]; log: LookupLog; expected: number } {
  const s = loaded.scenario;
  const features = kernelFeatures(s.kernel)!;
  const rx = defaultRx(s.node.rx as RxMode, s.node.load as NodeLoad);
  if (s.node.batch_probability !== undefined) rx.batchProbability = s.node.batch_probability;
  if (s.node.migration_probability !== undefined) rx.migrationProbability = s.node.migration_probability;
  const record = (r: string | { name: string; a?: boolean | undefined; aaaa?: boolean | undefined }, ipv6: boolean): RecordSpec =>
    typeof r === "string" ? { name: fqdn(r), a: true, aaaa: ipv6 } : { name: fqdn(r.name), a: r.a ?? true, aaaa: r.aaaa ?? ipv6 };
  const nl = s.nodelocal?.enabled ? s.nodelocal : null;
  const ipvs = s.node.proxy_mode === "ipvs";
  const placement = endpointPlacement(s);
  const tc = s.node.tc_delay;
  const cfg: ClusterConfig = {
    seed,
    node: {
      name: CLIENT_NODE,
      cpus: s.node.cpus,
      features,
      natTable: true,
      // IPVS mode: KUBE-SERVICES matches an ipset, no rule per Service (the load check refuses rules_before_dns).
      totalRules: ipvs ? 0 : s.node.rules_before_dns,
      rx,
      timing: hopTiming(s, s.node.nat_backend as NatBackend),
      send: sendTiming(s),
      ...(ipvs ? { ipvs: { scheduleNs: s.node.ipvs?.schedule_ns ?? DEFAULT_IPVS_SCHEDULE_NS } } : {}),
      // kube-proxy's realConntracker.SetMax writes hashsize = max/4 (pkg/proxy/conntrack.go).
      tableLimits: s.node.conntrack_max === undefined ? null : { max: s.node.conntrack_max, buckets: s.node.conntrack_buckets ?? Math.max(1, Math.floor(s.node.conntrack_max / 4)) },
    },
    nodeIp: s.cluster.node_ip,
    rulesBeforeDns: ipvs ? 0 : s.node.rules_before_dns,
    podDeliverNs: Math.round((s.node.timing?.pod_veth_us ?? 2) * US),
    dnsVip: s.cluster.dns_service_ip,
    endpoints: Array.from({ length: s.kube_dns.endpoints }, (_, i) => ({
      addr: `10.244.${1 + i}.10`,
      rttNs: buildDist(s.kube_dns.rtt_ms, MS),
      serviceNs: buildDist(s.kube_dns.service_ms, MS),
      node: placement[i] === CLIENT_NODE ? null : placement[i]!,
    })),
    endpointNodes: [...new Set(placement.filter((n) => n !== CLIENT_NODE))].map((name) => ({ name, cfg: endpointNodeConfig(s, name) })),
    zone: {
      clusterDomain: s.cluster.domain,
      records: s.kube_dns.records.map((r) => record(r, s.kube_dns.ipv6)),
      externalRecords: s.kube_dns.external_records.map((r) => record(r, true)),
      upstreamNs: buildDist(s.kube_dns.upstream_ms, MS),
      clusterTtlS: 5,
      externalTtlS: 30,
    },
    rules: loaded.rules,
    nodelocal:
      nl === null
        ? null
        : {
            localIps: nl.listen_on_cluster_ip ? [nl.ip, s.cluster.dns_service_ip] : [nl.ip],
            upstreamVip: nl.upstream_service_ip,
            cacheNs: buildDist(nl.cache_ms, MS),
            successTtlS: 30,
            denialTtlS: 5,
            externalTtlS: 30,
            connExpireNs: 10 * SEC,
            cpu: 0,
          },
    masquerade: s.node.masquerade_all ? { randomFully: s.node.masquerade_random_fully } : null,
    tcDelay: tc === undefined ? null : { iface: tc.interface as TcInterface, qtype: tc.qtype, delay: buildDist(tc.delay_ms, MS) },
  };
  const cluster = new Cluster(cfg);
  let lookupNo = 0;
  let expected = 0;
  for (const p of s.pods) expected += p.lookups ?? Math.round(p.rate_per_s! * p.duration_s!);
  const log = new LookupLog(expected);
  const pods = s.pods.map((p, i) => {
    const workload =
      p.lookups !== undefined
        ? { kind: "closed" as const, lookups: p.lookups, thinkNs: buildDist(p.think_ms, MS) }
        : { kind: "open" as const, ratePerS: p.rate_per_s!, durationNs: Math.round(p.duration_s! * SEC) };
    return new Pod(
      cluster,
      {
        name: p.name,
        ip: `10.244.0.${10 + i}`,
        libc: p.libc,
        musl: { version: p.musl_version, sameIdProbability: p.musl_same_id_probability },
        resolvConf: loaded.resolvConfs[i]!,
        family: p.family,
        threads: p.threads,
        firstCpu: i,
        workload,
        names: p.names.map((n) => (typeof n === "string" ? { name: n, weight: 1 } : n)),
        lookupsPerProcess: p.lookups_per_process ?? Infinity,
      },
      log,
      () => ++lookupNo,
    );
  });
  return { cluster, pods, log, expected };
}

const US = 1000;

/** The client node's name, in traces, counters and kube_dns.placement lists. */
export const CLIENT_NODE = "client-node";

/** The node of each endpoint, by index: kube_dns.placement spelled out (remote: endpoint i on node-<i+1>). */
export function endpointPlacement(s: LoadedScenario["scenario"]): string[] {
  const p = s.kube_dns.placement;
  return Array.from({ length: s.kube_dns.endpoints }, (_, i) => (p === "local" ? CLIENT_NODE : p === "remote" ? `node-${i + 1}` : p[i]!));
}

/** An endpoint node's hop: endpoint_nodes' fields, each defaulting to the client node's. */
function endpointNodeConfig(s: LoadedScenario["scenario"], name: string): EndpointNodeConfig {
  const en = s.endpoint_nodes;
  const load = (en?.load ?? s.node.load) as NodeLoad;
  const rx = defaultRx((en?.rx ?? s.node.rx) as RxMode, load);
  // The client node's batch_probability goes with its load: another load brings its own measured value.
  const batch = en?.batch_probability ?? (en?.load === undefined ? s.node.batch_probability : undefined);
  if (batch !== undefined) rx.batchProbability = batch;
  const ipvs = (en?.proxy_mode ?? s.node.proxy_mode) === "ipvs";
  return {
    hop: {
      name,
      cpus: en?.cpus ?? s.node.cpus,
      features: kernelFeatures(en?.kernel ?? s.kernel)!,
      // kube-proxy's nat table is there on every node: a packet to a pod IP matches no rule and gets a null binding.
      natTable: true,
      // Traffic to a pod IP is no Service traffic: KUBE-MARK-MASQ never marks it.
      masquerade: null,
      // The endpoints' nodes have no table limit (node.conntrack_max is the client node's).
      tableLimits: null,
      // iptables mode: it walks the whole KUBE-SERVICES chain without a match; IPVS mode: an ipset match.
      totalRules: ipvs ? 0 : (en?.nat_rules ?? s.node.rules_before_dns),
      rx,
      timing: hopTiming(s, (en?.nat_backend ?? s.node.nat_backend) as NatBackend),
      send: sendTiming(s),
    },
    linkNs: buildDist(en?.link_us ?? DEFAULT_LINK_US, US),
  };
}

/** The backend's calibrated timings, with the scenario's overrides (node.timing). */
function hopTiming(s: LoadedScenario["scenario"], backend: NatBackend): HopTiming {
  const t = defaultHopTiming(backend);
  const o = s.node.timing;
  if (o === undefined) return t;
  if (o.window_us !== undefined) t.window = buildDist(o.window_us, US);
  if (o.rule_ns !== undefined) t.ruleNs = o.rule_ns;
  if (o.snat_lead_ns !== undefined) t.snatLeadNs = o.snat_lead_ns;
  if (o.hit_us !== undefined) t.hitNs = o.hit_us * US;
  if (o.xmit_us !== undefined) t.xmitNs = Math.round(o.xmit_us * US);
  return t;
}

function sendTiming(s: LoadedScenario["scenario"]): SendTiming {
  const t = defaultSendTiming();
  const o = s.node.timing;
  if (o === undefined) return t;
  if (o.send_path_us !== undefined) t.txNs = buildDist(o.send_path_us, US);
  if (o.datagram_gap_us !== undefined) t.datagramGapNs = buildDist(o.datagram_gap_us, US);
  if (o.stall_probability !== undefined) t.stallProbability = o.stall_probability;
  if (o.stall_us !== undefined) t.stallNs = buildDist(o.stall_us, US);
  return t;
}

/** Runs one scenario to completion. Deterministic: the same scenario and seed give the same result. */
export function runScenario(loaded: LoadedScenario, opts: RunOptions = {}): RunResult {
  const seed = opts.seed ?? loaded.scenario.seed;
  const { cluster, pods, log, expected } = buildCluster(loaded, seed);
  const collector = opts.collector;
  if (collector !== undefined) {
    cluster.tracer = collector;
    const hopTrace = (where: string) => (e: HopEvent) => {
      const q = e.pkt.dns;
      const what = e.kind === "gro-list" ? "" : `${q === null ? e.pkt.flags : q.qtype} `;
      collector.add(e.pkt.tally, e.t, `${where} cpu${e.cpu}`, `${what}${e.detail}`);
    };
    cluster.node.trace = hopTrace("node");
    for (const n of cluster.endpointNodes) n.hop.trace = hopTrace(n.name);
  }
  for (const p of pods) p.start();
  opts.beforeRun?.(cluster);
  const sim = cluster.sim;
  const maxSim = opts.maxSimNs ?? 24 * 3600 * SEC;
  // Run in slices of simulated time so progress can be reported.
  const slice = 1 * SEC;
  let t = 0;
  while (sim.pending > 0 && t < maxSim) {
    t += slice;
    sim.run(t);
    if (opts.progress) opts.progress(expected > 0 ? Math.min(1, log.count / expected) : 1);
  }
  return {
    name: loaded.scenario.name,
    file: loaded.file,
    seed,
    kernel: loaded.scenario.kernel,
    log,
    client: nodeResult(CLIENT_NODE, cluster.node, sim.now),
    endpointNodes: cluster.endpointNodes.map((n) => nodeResult(n.name, n.hop, sim.now)),
    net: cluster.net,
    events: sim.executed,
    simulatedNs: sim.now,
  };
}

/** A node's hop as the run leaves it. */
function nodeResult(name: string, hop: Netns, now: number): NodeResult {
  return {
    name,
    kernel: hop.cfg.features.version,
    features: hop.cfg.features,
    counters: hop.counters.sum(),
    perCpuCounters: hop.counters.perCpu,
    conntrackEntries: hop.table.liveCount(now),
    hop: hop.stats,
  };
}
