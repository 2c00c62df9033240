import { kubeletResolvConf } from "../scenario/kubelet.js";
import { kernelRangeProblem } from "../scenario/limits.js";
import type { OverlapInterval } from "../scenario/overlap.js";
import type { ClusterFacts } from "./facts.js";
import type { NodeLoad } from "./nodeload.js";
import type { NodeFacts } from "./nodes.js";
import type { PodFacts } from "./workloads.js";

/**
 * A scenario (the schema of src/scenario/schema.ts) for one workload's pod on one type of node,
 * with one of its containers' resolvers: what the objects say, and for what they do not say the
 * model's defaults, which the report names as assumed.
 */

/** Nodes that the model cannot tell apart: same kernel string, CPUs and NodeLocal DNSCache, and their own counters when given. */
export interface NodeType {
  key: string;
  label: string;
  nodes: NodeFacts[];
  /** The node whose endpoints count as local (the first by name). */
  node: NodeFacts;
  nodeLocal: boolean;
  /** The overlap per A+AAAA pair the run uses: calibrated from the node's counters, or the model's default. */
  overlap: { interval: OverlapInterval | null; from: string };
  /** The node's own load (--node-load; idle by default); with counters it is in the calibrated overlap and not run again. */
  load: NodeLoad;
  /** Every node's load, by name (the kube-dns endpoints' nodes take theirs). */
  loads: Map<string, NodeLoad>;
}

/** A change to the cluster that a mitigation makes, applied to the scenario. */
export type Change = { kind: "options"; options: { name: string; value?: string }[] } | { kind: "nodelocal" } | { kind: "kernel"; version: string };

/** What is not in the objects and the model takes as its default (said in the report). */
export const ASSUMED = [
  "the node's load, where --node-load does not give it: idle, the model's default (no softirq share or runnable tasks are in the objects); the kube-dns endpoints' nodes likewise",
  "the node's /etc/resolv.conf (the kubelet's --resolv-conf): no search domains, and nameservers that are not the cluster DNS (the cloud's resolver), so a pod with dnsPolicy Default, or a hostNetwork pod with ClusterFirst, does not reach kube-dns",
  "the kubelet's --cluster-dns: the kube-dns ClusterIP, or NodeLocal DNSCache's link-local address when the cache does not (or, in IPVS mode, cannot) bind the ClusterIP",
  "the names looked up: a Service of the pod's namespace by its short name, kubernetes.default, and the external www.example.com, equally often, each lookup in a fresh process (as curl in a loop)",
  "the kube-proxy nat backend in iptables mode: iptables-nft (the model's default; nftables mode is the nftables backend, as the objects say); the nat rules walked before the DNS Service's: none",
  "--random-fully on kube-proxy's MASQUERADE rule (it matters with masqueradeAll only): off; kube-proxy adds it from 1.16 (pkg/proxy/iptables/proxier.go) when the node's iptables supports it, which the objects do not say",
];

export const EXTERNAL_NAME = "www.example.com";
/** The NodeLocal DNSCache a "deploy NodeLocal DNSCache" change adds: the addon's addresses (nodelocaldns.yaml). */
export const NODELOCAL_IP = "169.254.20.10";

/** Why this pod on this node type cannot be run by the model, or null. */
export function notModelled(facts: ClusterFacts, type: NodeType | null, pod: PodFacts): string | null {
  if (type === null) return pod.node === null ? `the pod is not scheduled on a node (Pod/${pod.namespace}/${pod.name} has no spec.nodeName)` : `its node ${pod.node.value} (${pod.node.from}) is not among the objects`;
  const os = type.node.os;
  // Windows nodes (kube-proxy's winkernel, HNS): neither Linux's conntrack nor its resolvers, which the model is.
  if (os !== null && os.value !== "linux") return `Node/${type.node.name} runs ${os.value} (${os.from}): the model is Linux's conntrack and Linux resolvers`;
  const k = type.node.kernel;
  if (k === null) return `Node/${type.node.name} has no status.nodeInfo.kernelVersion`;
  if (type.node.kernelVersion === null) return `the kernel "${k.value}" (${k.from}) is not a kernel version the parser reads`;
  const range = kernelRangeProblem(type.node.kernelVersion);
  if (range !== null) return `the kernel "${k.value}" (${k.from}) is ${range}`;
  if (facts.dns.serviceIp === null) return "no kube-dns Service with an IPv4 ClusterIP among the objects";
  if (facts.dns.endpoints.length === 0) return `kube-dns has no ready IPv4 endpoint (${facts.dns.endpointsFrom})`;
  return null;
}

/** The kubelet's --cluster-dns as assumed (ASSUMED), given whether the node runs the cache and its addresses. */
function clusterDnsFor(facts: ClusterFacts, nodeLocal: boolean): string {
  const svc = facts.dns.serviceIp!.value;
  if (!nodeLocal) return svc;
  const addrs = facts.dns.nodeLocal?.addresses.value ?? [NODELOCAL_IP, svc];
  // In IPVS mode the ClusterIP is bound to kube-ipvs0 and the cache cannot take it (the addon's README).
  if (addrs.includes(svc) && facts.kubeProxy.mode.value !== "ipvs") return svc;
  return addrs.find((a) => a !== svc) ?? NODELOCAL_IP;
}

/** The resolv.conf the kubelet writes for the pod (src/scenario/kubelet.ts), with the change's options. */
export function podResolvConf(facts: ClusterFacts, pod: PodFacts, nodeLocal: boolean, change: Change | null): string {
  const cfg = pod.dnsConfig?.value;
  const options = [...(cfg?.options ?? [])];
  if (change?.kind === "options") {
    for (const o of change.options) {
      const i = options.findIndex((x) => x.name === o.name);
      if (i >= 0) options[i] = o;
      else options.push(o);
    }
  }
  return kubeletResolvConf({
    policy: pod.dnsPolicy.value,
    hostNetwork: pod.hostNetwork.value,
    namespace: pod.namespace,
    clusterDomain: facts.dns.domain.value,
    clusterDns: [clusterDnsFor(facts, nodeLocal || change?.kind === "nodelocal")],
    host: { nameservers: ["10.0.0.2"], searches: [], options: [] },
    config: { nameservers: cfg?.nameservers, searches: cfg?.searches, options: options.length > 0 ? options : undefined },
  });
}

/** The cluster DNS addresses a pod's nameserver may be on this node type. */
export function servedAddresses(facts: ClusterFacts, nodeLocal: boolean): Set<string> {
  const s = new Set([facts.dns.serviceIp!.value]);
  if (nodeLocal) for (const a of facts.dns.nodeLocal?.addresses.value ?? [NODELOCAL_IP]) s.add(a);
  return s;
}

/** The nameservers of a resolv.conf text. */
export function nameservers(resolvConf: string): string[] {
  return resolvConf
    .split("\n")
    .map((l) => /^nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

function label(i: number): string {
  return `dns-node-${i + 1}`;
}

export interface ScenarioOptions {
  resolver: "glibc" | "musl" | "go";
  lookups: number;
  seed: number;
  /** node.migration_probability: every pair split (1), a calibrated interval, or the model's default (undefined). */
  overlap: number | OverlapInterval | undefined;
  change: Change | null;
}

/** The scenario's data, for loadScenarioData (which checks it like any scenario file). */
export function scenarioData(facts: ClusterFacts, type: NodeType, pod: PodFacts, o: ScenarioOptions): Record<string, unknown> {
  const dns = facts.dns;
  const kernel = o.change?.kind === "kernel" ? o.change.version : type.node.kernel!.value.trim();
  const nodeLocal = type.nodeLocal || o.change?.kind === "nodelocal";
  const remote = [...new Set(dns.endpoints.map((e) => e.node).filter((n) => n !== type.node.name))];
  const placement = dns.endpoints.slice(0, 250).map((e) => (e.node === type.node.name ? "client-node" : label(remote.indexOf(e.node))));
  const dnsNode = remote.map((n) => (n === null ? undefined : facts.nodes.get(n))).find((n) => n?.kernelVersion != null && kernelRangeProblem(n.kernelVersion) === null);
  const proxy = facts.kubeProxy;
  const services = [...new Set([`kubernetes.default.svc.${dns.domain.value}`, ...serviceNames(facts)])];
  const own = facts.serviceNamesByNamespace.get(pod.namespace)?.[0];
  const names = [...(own === undefined ? [] : [own]), "kubernetes.default", EXTERNAL_NAME];
  const nl = dns.nodeLocal;
  const svcIp = dns.serviceIp!.value;
  const nlAddrs = nl?.addresses.value ?? [NODELOCAL_IP, svcIp];
  const nlIp = nlAddrs.find((a) => a !== svcIp) ?? NODELOCAL_IP;
  const upstream = nl?.upstreamIp?.value;
  const endpointNodes =
    remote.length > 0 && dnsNode?.kernel != null ? { ...(o.change?.kind === "kernel" ? {} : { kernel: dnsNode.kernel.value.trim() }), ...(o.overlap === undefined ? endpointLoad(type, type.loads.get(dnsNode.name)) : {}) } : {};
  return {
    name: "assess",
    description: "A workload of the cluster's objects on one type of its nodes (dnsrace assess).",
    seed: o.seed,
    kernel,
    node: {
      cpus: type.node.cpus?.value ?? 2,
      rx: "inline",
      proxy_mode: proxy.mode.value === "ipvs" ? "ipvs" : "iptables",
      ...(proxy.mode.value === "nftables" ? { nat_backend: "nftables" } : {}),
      masquerade_all: proxy.masqueradeAll.value,
      ...(o.overlap === undefined ? {} : { migration_probability: o.overlap }),
      // The node's load is run where the model's own rate is asked (no overlap given); with every pair meeting, the path's exposure is the idle node's.
      ...(o.overlap === undefined ? loadFields(type.load) : {}),
    },
    cluster: { domain: dns.domain.value, dns_service_ip: svcIp },
    kube_dns: {
      endpoints: placement.length,
      placement,
      records: services,
      external_records: [EXTERNAL_NAME],
    },
    ...(Object.keys(endpointNodes).length > 0 ? { endpoint_nodes: endpointNodes } : {}),
    ...(nodeLocal
      ? {
          nodelocal: {
            enabled: true,
            ip: nlIp,
            listen_on_cluster_ip: proxy.mode.value !== "ipvs" && nlAddrs.includes(svcIp),
            ...(upstream === undefined || upstream === svcIp ? {} : { upstream_service_ip: upstream }),
          },
        }
      : {}),
    pods: [
      {
        name: "app",
        libc: o.resolver,
        namespace: pod.namespace,
        threads: 4,
        lookups_per_process: 1,
        lookups: o.lookups,
        think_ms: { exponential: { mean: 20 } },
        names,
        // The pod spec's hostNetwork: the model sends its queries from the node's namespace, through OUTPUT (README, host-network pods).
        ...(pod.hostNetwork.value ? { host_network: true } : {}),
        resolv_conf: servedOnly(podResolvConf(facts, pod, nodeLocal, o.change), servedAddresses(facts, nodeLocal)),
      },
    ],
  };
}

/** The scenario's node.softirq_share and node.runnable_per_cpu; nothing for an idle node (the schema's defaults). */
function loadFields(l: NodeLoad): Record<string, number> {
  return { ...(l.softirqShare === 0 ? {} : { softirq_share: l.softirqShare }), ...(l.runnablePerCpu === 0 ? {} : { runnable_per_cpu: l.runnablePerCpu }) };
}

/** The endpoints' node's own load where it differs from the client node's (endpoint_nodes fields default to the client node's). */
function endpointLoad(type: NodeType, l: NodeLoad | undefined): Record<string, number> {
  const e = l ?? type.load;
  if (e.softirqShare === type.load.softirqShare && e.runnablePerCpu === type.load.runnablePerCpu) return {};
  return { softirq_share: e.softirqShare, runnable_per_cpu: e.runnablePerCpu };
}

/** Every Service of the objects as its cluster name. */
function serviceNames(facts: ClusterFacts): string[] {
  const out: string[] = [];
  for (const [ns, names] of facts.serviceNamesByNamespace) for (const n of names) out.push(`${n}.${ns}.svc.${facts.dns.domain.value}`);
  return out.slice(0, 1000);
}

/**
 * The resolv.conf without the nameservers that are not the cluster DNS (a dnsConfig may append
 * some after it): the model has only the cluster DNS to send to, and the resolvers ask the first
 * nameserver first (glibc res_send, musl res_msend send to all: the row says which were dropped).
 */
export function servedOnly(resolvConf: string, served: Set<string>): string {
  return resolvConf
    .split("\n")
    .filter((l) => {
      const ns = /^nameserver\s+(\S+)/.exec(l)?.[1];
      return ns === undefined || served.has(ns);
    })
    .join("\n");
}
