import type { AssessOptions, ResolverRisk } from "./levels.js";
import type { ClusterFacts } from "./facts.js";
import type { Measure, Runner } from "./risk.js";
import { type Change, NODELOCAL_IP, type NodeType, scenarioData } from "./scenario.js";
import type { PodFacts } from "./workloads.js";

/** A mitigation, checked with the model: with it, no lookup of the workload is over 1 s even when every pair meets. */
export interface Fix {
  name: string;
  change: Change;
  scope: string;
  effort: "low" | "medium" | "high";
  /** What to do, as commands or steps. */
  how: string;
  /** The model's check: each resolver's figures with the change, every pair meeting. */
  checked: { resolver: string; exposure: Measure }[];
  /** Cheaper candidates that did not remove the risk, and what they left. */
  rejected: { name: string; left: string }[];
  /** Dearer candidates that remove it too. */
  alsoRemoves: { name: string; scope: string; effort: Fix["effort"] }[];
}

interface Candidate {
  name: string;
  change: Change;
  scope: string;
  effort: Fix["effort"];
  how: string;
}

/**
 * The candidates, cheapest first (MODEL.md section 6): a pod-level resolv.conf option (a change to
 * the workload's pod template, rolled out with it), NodeLocal DNSCache (a DaemonSet for the whole
 * cluster), a kernel that resolves every clash (new node images, nodes replaced). Whether one
 * removes the risk is not assumed: each is run through the model, and the first that leaves no
 * lookup over 1 s (and none at the timer step) with every pair meeting is the fix.
 */
function candidates(facts: ClusterFacts, type: NodeType, pod: PodFacts, workload: { kind: string; namespace: string; name: string }): Candidate[] {
  const out: Candidate[] = [];
  const has = new Set((pod.dnsConfig?.value.options ?? []).map((o) => o.name));
  for (const opt of ["single-request-reopen", "use-vc"]) {
    if (has.has(opt)) continue;
    out.push({ name: `dnsConfig option ${opt}`, change: { kind: "options", options: [{ name: opt }] }, scope: `this workload (${workload.kind}/${workload.namespace}/${workload.name})`, effort: "low", how: optionPatch(pod, workload, opt) });
  }
  if (!type.nodeLocal) {
    const svc = facts.dns.serviceIp!.value;
    out.push({
      name: "NodeLocal DNSCache",
      change: { kind: "nodelocal" },
      scope: "the cluster (a DaemonSet on every node)",
      effort: "medium",
      how: `deploy the node-local-dns DaemonSet (kubernetes/kubernetes cluster/addons/dns/nodelocaldns) with -localip ${NODELOCAL_IP},${svc}, so that it binds the kube-dns ClusterIP and pods keep their resolv.conf${facts.kubeProxy.mode.value === "ipvs" ? "; in IPVS mode it cannot bind the ClusterIP: set the kubelet's --cluster-dns to " + NODELOCAL_IP : ""}`,
    });
  }
  const v = type.node.kernelVersion;
  if (v !== null && (v.major < 5 || (v.major === 5 && v.minor < 10))) {
    out.push({
      name: "kernel 5.10 or later",
      change: { kind: "kernel", version: "5.10" },
      scope: `the nodes on kernels before 5.10 (${type.label}), and those running kube-dns`,
      effort: "high",
      how: "move the node pool to an image whose kernel is 5.10 or later (clash resolution of 6a757c07e51f, 5.6, and its counters, 5.10), then drain and replace the nodes",
    });
  }
  return out;
}

export function findFix(facts: ClusterFacts, type: NodeType, pod: PodFacts, resolvers: ResolverRisk[], runner: Runner, o: AssessOptions, w: { kind: string; namespace: string; name: string }): Fix | null {
  const rejected: Fix["rejected"] = [];
  let fix: Fix | null = null;
  for (const c of candidates(facts, type, pod, w)) {
    const t = tryCandidate(facts, type, pod, resolvers, runner, o, c);
    if (fix !== null) {
      if (t.left === null) fix.alsoRemoves.push({ name: c.name, scope: c.scope, effort: c.effort });
    } else if (t.left === null) fix = { ...c, checked: t.checked, rejected, alsoRemoves: [] };
    else rejected.push({ name: c.name, left: t.left });
  }
  return fix;
}

/** The candidate's figures for each resolver with every pair meeting; left is null when none is slow, else what is left. */
function tryCandidate(facts: ClusterFacts, type: NodeType, pod: PodFacts, resolvers: ResolverRisk[], runner: Runner, o: AssessOptions, c: Candidate): { checked: Fix["checked"]; left: string | null } {
  const checked: Fix["checked"] = [];
  for (const r of resolvers) {
    const m = runner.measure(scenarioData(facts, type, pod, { resolver: r.resolver, lookups: o.lookups, seed: o.seed, overlap: 1, change: c.change }));
    if (typeof m === "string") return { checked, left: `not applicable here: ${m}` };
    checked.push({ resolver: r.resolver, exposure: m });
    if (m.over1s.k > 0 || m.atStep.k > 0) return { checked, left: `${r.resolver}: ${m.over1s.k} of ${m.lookups} lookups still over 1 s with every pair meeting` };
    // A node whose load was given (--node-load) is run at that load too: no lookup may wait for the
    // resolver's timer step there (a lost query's cost); lookups over 1 s that a busy CPU holds are
    // the load's, which no DNS change removes (the row's why says so).
    if (type.load.softirqShare > 0 || type.load.runnablePerCpu > 0) {
      const l = runner.measure(scenarioData(facts, type, pod, { resolver: r.resolver, lookups: o.lookups, seed: o.seed, overlap: undefined, change: c.change }));
      if (typeof l === "string") return { checked, left: `not applicable here: ${l}` };
      if (l.atStep.k > 0) return { checked, left: `${r.resolver}: ${l.atStep.k} of ${l.lookups} lookups still at its ${l.stepMs / 1000} s step at the node's load` };
    }
  }
  return { checked, left: null };
}

/** The kubectl patch that adds a dnsConfig option to the workload's pod template (its options kept: the list is replaced whole). */
function optionPatch(pod: PodFacts, w: { kind: string; namespace: string; name: string }, opt: string): string {
  const options = [...(pod.dnsConfig?.value.options ?? []), { name: opt }];
  const dnsConfig = { ...(pod.dnsConfig?.value ?? {}), options };
  const spec = { dnsConfig };
  switch (w.kind) {
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
      return `kubectl -n ${w.namespace} patch ${w.kind.toLowerCase()} ${w.name} --type merge -p '${JSON.stringify({ spec: { template: { spec } } })}'`;
    case "CronJob":
      return `kubectl -n ${w.namespace} patch cronjob ${w.name} --type merge -p '${JSON.stringify({ spec: { jobTemplate: { spec: { template: { spec } } } } })}'`;
    default:
      return `add to the pod spec (${w.kind}/${w.namespace}/${w.name}; a pod's dnsConfig cannot be changed in place, recreate it): ${JSON.stringify(spec)}`;
  }
}
