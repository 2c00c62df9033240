import type { Calibration } from "../calibrate/infer.js";
import { InputError } from "../scenario/load.js";
import { type CountersSpec, nodeCalibration } from "./counters.js";
export { type AssessOptions, HIGH_SHARE, LEVELS, type Level, type ResolverRisk } from "./levels.js";
import { type ClusterFacts, clusterFacts } from "./facts.js";
import { type Fix, findFix } from "./fixes.js";
import type { ImageMap, ImageResolver } from "./images.js";
import { IDLE_LOAD, type NodeLoad, loadWords, nodeLoads } from "./nodeload.js";
import type { NodeFacts } from "./nodes.js";
import type { KubeObject } from "./objects.js";
import { type Measure, Runner } from "./risk.js";
import { type NodeType, nameservers, notModelled, podResolvConf, scenarioData, servedAddresses } from "./scenario.js";
import { type AssessOptions, HIGH_SHARE, LEVELS, type Level, type ResolverRisk } from "./levels.js";
import { whyLines } from "./why.js";
import { type PodFacts, type Workload, workloadId } from "./workloads.js";

export interface CountersInput {
  node: string;
  spec: CountersSpec;
  texts: { before: string; after: string };
}

/** A workload on one type of node. */
export interface Row {
  id: string;
  workload: Workload;
  type: NodeType | null;
  pods: PodFacts[];
  /** The resolv.conf the kubelet writes for the first pod. */
  resolvConf: string | null;
  /** The resolvers of its containers (unknown as such). */
  containers: { name: string; image: string; resolver: ImageResolver; from: string }[];
  /** Why the model cannot assess it, or null. */
  notAssessed: string | null;
  resolvers: ResolverRisk[];
  /** The resolver whose figures the row shows (its worst). */
  worst: ResolverRisk | null;
  level: Level | "n/a";
  why: string[];
  fix: Fix | null;
}

export interface Assessment {
  facts: ClusterFacts;
  types: NodeType[];
  rows: Row[];
  runs: number;
  options: AssessOptions;
}

export function assess(objects: KubeObject[], images: ImageMap | null, counters: CountersInput[], options: AssessOptions): Assessment {
  const facts = clusterFacts(objects, images);
  const cal = new Map<string, Calibration & { file: string }>();
  for (const c of counters) {
    const node = facts.nodes.get(c.node);
    if (node === undefined) throw new InputError(`--counters ${c.node}=${c.spec.file}: no Node/${c.node} among the objects (nodes: ${[...facts.nodes.keys()].join(", ") || "none"}).`);
    if (cal.has(c.node)) throw new InputError(`--counters ${c.node}=${c.spec.file}: node ${c.node} is given twice.`);
    cal.set(c.node, { ...nodeCalibration(c.spec, c.texts, node, Math.max(1, facts.dns.endpoints.length)), file: c.spec.file });
  }
  const loads = nodeLoads(options.nodeLoads ?? [], facts.nodes);
  for (const s of options.nodeLoads ?? []) {
    if (cal.has(s.name)) throw new InputError(`--node-load ${s.text}: node ${s.name} has --counters too, whose calibrated overlap is already its load's: give one of them.`);
  }
  const types = nodeTypes(facts, cal, loads);
  const typeOf = new Map<string, NodeType>();
  for (const t of types) for (const n of t.nodes) typeOf.set(n.name, t);
  const runner = new Runner();
  const rows: Row[] = [];
  for (const w of facts.workloads) {
    const groups = new Map<string, { type: NodeType | null; pods: PodFacts[] }>();
    for (const p of w.pods) {
      const t = p.node === null ? null : (typeOf.get(p.node.value) ?? null);
      const key = t?.key ?? "";
      const g = groups.get(key) ?? { type: t, pods: [] };
      g.pods.push(p);
      groups.set(key, g);
    }
    for (const [, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) rows.push(assessRow(facts, w, g.type, g.pods, runner, options));
  }
  rows.sort(compareRows);
  return { facts, types, rows, runs: runner.runs, options };
}

/** Worst first: level, then the share over 1 s at the node's rate, then when pairs meet, then the name. */
function compareRows(a: Row, b: Row): number {
  const lv = (r: Row) => (r.level === "n/a" ? -1 : LEVELS.indexOf(r.level));
  return lv(b) - lv(a) || (b.worst?.atRate.over1s.estimate ?? 0) - (a.worst?.atRate.over1s.estimate ?? 0) || (b.worst?.exposure.over1s.estimate ?? 0) - (a.worst?.exposure.over1s.estimate ?? 0) || a.id.localeCompare(b.id);
}

/** Nodes grouped into the types the model tells apart. */
function nodeTypes(facts: ClusterFacts, cal: Map<string, Calibration & { file: string }>, loads: Map<string, NodeLoad>): NodeType[] {
  // A node with counters runs at its calibrated overlap, which is its load's: its --node-load (by pool) is not run again.
  const loadOf = (n: NodeFacts) => (cal.has(n.name) ? IDLE_LOAD : (loads.get(n.name) ?? IDLE_LOAD));
  const byKey = new Map<string, NodeFacts[]>();
  const nl = facts.dns.nodeLocal;
  const nlOn = (n: NodeFacts) => nl !== null && (nl.nodes === null || nl.nodes.has(n.name));
  for (const n of facts.nodes.values()) {
    const l = loadOf(n);
    const key = [n.kernel?.value ?? "?", n.cpus?.value ?? "?", nlOn(n) ? "nodelocal" : "", cal.has(n.name) ? n.name : "", l.softirqShare === 0 && l.runnablePerCpu === 0 ? "" : `${l.softirqShare}/${l.runnablePerCpu}`].join("|");
    byKey.set(key, [...(byKey.get(key) ?? []), n]);
  }
  return [...byKey]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, nodes]) => {
      const node = nodes[0]!;
      const c = cal.get(node.name);
      const pools = [...new Set(nodes.map((n) => n.pool?.value ?? ""))];
      const poolText = pools.length === 1 && pools[0] !== "" ? `pool ${pools[0]}, ` : "";
      const load = loadOf(node);
      const loadText = loadWords(load) === "idle" ? "" : `, ${loadWords(load)}`;
      const label = `${poolText}kernel ${node.kernel?.value ?? "unknown"}, ${node.cpus?.value ?? "?"} CPUs${nlOn(node) ? ", NodeLocal DNSCache" : ""}${loadText} (${nodes.length === 1 ? node.name : `${nodes.length} nodes`})`;
      const overlap = c === undefined
        ? { interval: null, from: `the model's default for this node type, at ${loadWords(load)} (${load.from}; no counters given: --counters NODE=FILE)` }
        : { interval: { estimate: c.overlap.estimate, low: c.overlap.low, high: c.overlap.high }, from: `calibrated from ${c.file}: ${c.overlap.k} clashes in ${c.pairs} pairs (${c.reading.split(":")[0]})` };
      return { key, label, nodes, node, nodeLocal: nlOn(node), overlap, load, loads };
    });
}

const RESOLVERS_FOR: Record<ImageResolver, ("glibc" | "musl" | "go")[]> = { glibc: ["glibc"], musl: ["musl"], go: ["go"], unknown: ["glibc", "musl", "go"] };

function assessRow(facts: ClusterFacts, w: Workload, type: NodeType | null, pods: PodFacts[], runner: Runner, o: AssessOptions): Row {
  const pod = pods[0]!;
  const containers = pod.containers.map((c) => ({ name: c.name, image: c.image, resolver: c.resolver.value, from: c.resolver.from }));
  const row: Row = { id: workloadId(w), workload: w, type, pods, resolvConf: null, containers, notAssessed: null, resolvers: [], worst: null, level: "n/a", why: [], fix: null };
  const problem = notModelled(facts, type, pod);
  if (problem !== null || type === null) {
    row.notAssessed = problem;
    return row;
  }
  const rc = podResolvConf(facts, pod, type.nodeLocal, null);
  row.resolvConf = rc;
  const served = servedAddresses(facts, type.nodeLocal);
  const listed = nameservers(rc).slice(0, 3);
  const outside = listed.filter((n) => !served.has(n));
  if (listed.length === 0 || !served.has(listed[0]!)) {
    const policy = pod.dnsPolicy.value;
    row.notAssessed =
      outside.length === 0
        ? "its resolv.conf has no nameserver"
        : policy === "Default"
          ? `dnsPolicy Default (${pod.dnsPolicy.from}): its lookups go to the node's own nameservers (the kubelet's --resolv-conf), not through kube-dns's ClusterIP, so the race at its DNAT does not apply`
          : policy === "ClusterFirst" && pod.hostNetwork.value
            ? `hostNetwork with dnsPolicy ClusterFirst (${pod.hostNetwork.from}; ${pod.dnsPolicy.from}): the kubelet falls back to Default for a host-network pod (getPodDNSType, pkg/kubelet/network/dns/dns.go), so its lookups go to the node's own nameservers (the kubelet's --resolv-conf), not through kube-dns's ClusterIP, and the race at its DNAT does not apply; with ClusterFirstWithHostNet they would`
          : `its lookups go to ${outside.join(", ")} (${pod.dnsConfig?.from ?? pod.dnsPolicy.from}), not the cluster DNS: the race at kube-dns's DNAT does not apply`;
    return row;
  }
  const kinds = [...new Set(containers.flatMap((c) => RESOLVERS_FOR[c.resolver]))].sort();
  for (const resolver of kinds) {
    const build = (overlap: number | undefined) => scenarioData(facts, type, pod, { resolver, lookups: o.lookups, seed: o.seed, overlap, change: null });
    const exposure = runner.measure(build(1));
    const iv = type.overlap.interval;
    const atRate = runner.measure(build(iv?.estimate));
    if (typeof exposure === "string" || typeof atRate === "string") {
      row.notAssessed = `the model refuses the scenario built from the objects: ${typeof exposure === "string" ? exposure : atRate}`;
      return row;
    }
    const ends = iv === null ? null : [runner.measure(build(iv.low)), runner.measure(build(iv.high))];
    const m = (x: Measure | string | undefined) => (x === undefined || typeof x === "string" ? null : x);
    row.resolvers.push({ resolver, exposure, atRate, atLow: m(ends?.[0]), atHigh: m(ends?.[1]), level: levelOf(exposure, atRate) });
  }
  row.worst = [...row.resolvers].sort((a, b) => LEVELS.indexOf(b.level) - LEVELS.indexOf(a.level) || b.atRate.over1s.estimate - a.atRate.over1s.estimate || b.exposure.over1s.estimate - a.exposure.over1s.estimate)[0] ?? null;
  row.level = row.worst?.level ?? "n/a";
  row.why = whyLines(facts, type, pod, row.resolvers, rc);
  if (outside.length > 0) row.why.push(`nameserver ${outside.join(", ")} after the cluster DNS (${pod.dnsConfig?.from ?? pod.dnsPolicy.from}) is not modelled: the runs send to the cluster DNS only (glibc tries it first; musl queries every nameserver at once, so its figures are for the cluster DNS's share)`);
  if (row.level !== "none" && row.level !== "n/a") row.fix = findFix(facts, type, pod, row.resolvers, runner, o, w);
  return row;
}

export function levelOf(exposure: Measure, atRate: Measure): Level {
  if (exposure.over1s.k === 0 && exposure.atStep.k === 0) return "none";
  if (atRate.over1s.k === 0) return "low";
  return atRate.over1s.estimate >= HIGH_SHARE ? "high" : "medium";
}

/** Whether a level is at or above another (for --fail-on). */
export function atLeast(level: Level | "n/a", threshold: Level): boolean {
  return level !== "n/a" && LEVELS.indexOf(level) >= LEVELS.indexOf(threshold);
}
