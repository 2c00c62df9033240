import type { CounterName } from "../kernel/conntrack.js";
import type { KernelFeatures } from "../kernel/version.js";
import type { HopEvent, HopStats, Netns } from "../kernel/netns.js";
import { MAX_TIME } from "../engine/sim.js";
import { Cluster } from "../model/cluster.js";
import { LookupLog, type LookupSink } from "../model/log.js";
import { Pod, type PodConfig, type Workload } from "../model/pod.js";
import type { TraceCollector } from "../model/trace.js";
import type { NetworkStats } from "../model/wiring.js";
import { CLIENT_NODE, clusterConfig } from "./config.js";
import { buildDist } from "./dist.js";
import type { LoadedScenario } from "./load.js";
import { podHostNetwork } from "./spellings.js";

const MS = 1_000_000;
const SEC = 1_000_000_000;

/** One node's conntrack hop after the run. */
export interface NodeResult {
  name: string;
  kernel: string;
  features: KernelFeatures;
  counters: Record<CounterName, number>;
  perCpuCounters: Record<CounterName, number>[];
  /** The node's table size at the end of the run (net->ct.count: /proc's `entries`), the other flows' included. */
  conntrackEntries: number;
  /** Entries the node's other flows made during the run (node.other_connections_per_s), and those dropped by a full table. */
  otherFlows: { inserted: number; dropped: number };
  hop: HopStats;
}

export interface RunResult {
  name: string;
  file: string;
  seed: number;
  /** The client node's kernel version, as the scenario spells it (client.kernel). */
  kernel: string;
  /**
   * Every lookup, by number; those the run ended before (nothing left to happen) are UNFINISHED or
   * NOT_STARTED. With RunOptions.sink the rows have left through it, and the log holds their figures only.
   */
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
  /** Called with the assembled model just before it runs (tests add events here). */
  beforeRun?: (cluster: Cluster) => void;
  /** Run the client node at this overlap (node.migration_probability) instead of the scenario's: an end of its calibrated interval. */
  overlap?: number;
  /**
   * Hands each lookup to `sink` in lookup order as soon as it and those before it are done, and
   * keeps only the lookups in flight: the result's log then holds figures only (LookupLog's sink).
   */
  sink?: LookupSink;
}

/** Turns a validated scenario into the model of section 2 of MODEL.md. */
/** `log` receives each finished lookup under its number (lookups are numbered as they begin). */
export function buildCluster(loaded: LoadedScenario, seed: number, overlap?: number, sink?: LookupSink): { cluster: Cluster; pods: Pod[]; log: LookupLog; expected: number } {
  const s = loaded.scenario;
  const cluster = new Cluster(clusterConfig(loaded, seed, overlap));
  let lookupNo = 0;
  let expected = 0;
  for (const p of s.pods) expected += p.lookups ?? Math.round(p.rate_per_s! * p.duration_s!);
  const log = new LookupLog(sink === undefined ? { expected } : { expected, sink });
  const pods = s.pods.map((_, i) => new Pod(cluster, podConfig(loaded, i), log, () => ++lookupNo));
  return { cluster, pods, log, expected };
}

/** Pod i of the scenario. */
function podConfig(loaded: LoadedScenario, i: number): PodConfig {
  const p = loaded.scenario.pods[i]!;
  const workload: Workload =
    p.lookups !== undefined
      ? { kind: "closed", lookups: p.lookups, thinkNs: buildDist(p.think_ms, MS) }
      : { kind: "open", ratePerS: p.rate_per_s!, durationNs: Math.round(p.duration_s! * SEC) };
  return {
    name: p.name,
    // A host-network pod has the node's address (and no veth).
    ip: podHostNetwork(p) ? loaded.scenario.cluster.node_ip : `10.244.0.${10 + i}`,
    hostNetwork: podHostNetwork(p),
    libc: p.libc,
    musl: { version: p.musl_version, sameIdProbability: p.musl_same_id_probability },
    cares: { shareChannel: p.share_channel === true },
    resolvConf: loaded.resolvConfs[i]!,
    family: p.family,
    threads: p.threads,
    firstCpu: i,
    workload,
    names: p.names.map((n) => (typeof n === "string" ? { name: n, weight: 1 } : n)),
    lookupsPerProcess: p.lookups_per_process ?? Infinity,
  };
}

/** Runs one scenario to completion. Deterministic: the same scenario and seed give the same result. */
export function runScenario(loaded: LoadedScenario, opts: RunOptions = {}): RunResult {
  const seed = opts.seed ?? loaded.scenario.seed;
  const { cluster, pods, log, expected } = buildCluster(loaded, seed, opts.overlap, opts.sink);
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
  // Run until nothing is left to happen, however long that is in simulated time (the loader has
  // refused workloads that cannot end within the clock: checkWorkload in load.ts), in slices of
  // simulated time so progress can be reported; empty slices are skipped.
  const slice = 1 * SEC;
  let t = 0;
  while (sim.pending > 0) {
    const next = sim.nextTime;
    if (next > t + slice) t = Math.floor(next / slice) * slice;
    t = Math.min(t + slice, MAX_TIME);
    sim.run(t);
    if (opts.progress) opts.progress(expected > 0 ? Math.min(1, log.count / expected) : 1);
  }
  // Lookups still running now wait for something that will never happen: they are written as such.
  for (const p of pods) p.recordUnfinished(sim.now);
  log.finish();
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
  hop.settle(now);
  return {
    name,
    kernel: hop.cfg.features.version,
    features: hop.cfg.features,
    counters: hop.counters.sum(),
    perCpuCounters: hop.counters.perCpu,
    conntrackEntries: hop.table.liveCount(now),
    otherFlows: { inserted: hop.otherFlows?.inserted ?? 0, dropped: hop.otherFlows?.dropped ?? 0 },
    hop: hop.stats,
  };
}
