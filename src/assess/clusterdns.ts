import { type Cited, bool, cite, count, ref, source, str, stringMap, strings } from "./fields.js";
import type { KubeObject } from "./objects.js";

/** The cluster DNS as the objects describe it. */
export interface ClusterDns {
  /** The kube-dns Service's spec.clusterIP; null when the objects have no such Service. */
  serviceIp: Cited<string> | null;
  /** The ready IPv4 endpoints behind it, each with the node it runs on when the object says. */
  endpoints: { address: string; node: string | null; from: string }[];
  /** Where the endpoints were read, or why there are none. */
  endpointsFrom: string;
  /** The cluster domain (the CoreDNS Corefile's kubernetes zone), or the kubelet's default, assumed. */
  domain: Cited<string>;
  /** NodeLocal DNSCache, when a node-local-dns DaemonSet is among the objects. */
  nodeLocal: NodeLocalFacts | null;
}

export interface NodeLocalFacts {
  daemonSet: string;
  /** Its addresses (-localip): the link-local one and, when it binds it too, the kube-dns ClusterIP. */
  addresses: Cited<string[]>;
  /** The kube-dns-upstream Service's ClusterIP (-upstreamsvc), when it is among the objects. */
  upstreamIp: Cited<string> | null;
  /** The nodes it runs on: its pods' spec.nodeName; null when none of its pods is among the objects (every node assumed). */
  nodes: Set<string> | null;
  nodesFrom: string;
}

const IPV4 = /^(\d{1,3})(\.\d{1,3}){3}$/;

/** The kube-dns Service: kube-system/kube-dns (CoreDNS keeps kube-dns's Service name), else one labelled k8s-app=kube-dns. */
function kubeDnsService(objects: KubeObject[]): KubeObject | undefined {
  const svcs = objects.filter((o) => o.kind === "Service");
  return svcs.find((o) => o.namespace === "kube-system" && o.name === "kube-dns") ?? svcs.find((o) => stringMap(o, ["metadata", "labels"])["k8s-app"] === "kube-dns");
}

export function clusterDns(objects: KubeObject[]): ClusterDns {
  const svc = kubeDnsService(objects);
  let serviceIp: Cited<string> | null = null;
  if (svc !== undefined) {
    const ip = str(svc, ["spec", "clusterIP"]);
    if (ip !== undefined && IPV4.test(ip)) serviceIp = cite(ip, source(svc, ["spec", "clusterIP"]));
  }
  const { endpoints, endpointsFrom } = svc === undefined ? { endpoints: [], endpointsFrom: "no kube-dns Service among the objects" } : kubeDnsEndpoints(objects, svc);
  return { serviceIp, endpoints, endpointsFrom, domain: clusterDomain(objects), nodeLocal: nodeLocal(objects) };
}

/**
 * The Service's endpoints: its EndpointSlices (discovery.k8s.io/v1, labelled
 * kubernetes.io/service-name), IPv4 ones, endpoints whose conditions.ready is not false (nil
 * means ready, as the API documents), one per address; else the v1 Endpoints object's
 * subsets[].addresses (the ready ones).
 */
function kubeDnsEndpoints(objects: KubeObject[], svc: KubeObject): { endpoints: ClusterDns["endpoints"]; endpointsFrom: string } {
  const slices = objects.filter((o) => o.kind === "EndpointSlice" && o.namespace === svc.namespace && stringMap(o, ["metadata", "labels"])["kubernetes.io/service-name"] === svc.name);
  const seen = new Set<string>();
  const endpoints: ClusterDns["endpoints"] = [];
  for (const s of slices) {
    if ((str(s, ["addressType"]) ?? "IPv4") !== "IPv4") continue;
    const n = count(s, ["endpoints"]);
    for (let i = 0; i < n; i++) {
      if (bool(s, ["endpoints", i, "conditions", "ready"]) === false) continue;
      const addrs = strings(s, ["endpoints", i, "addresses"]);
      const addr = addrs[0];
      if (addr === undefined || seen.has(addr)) continue;
      seen.add(addr);
      endpoints.push({ address: addr, node: str(s, ["endpoints", i, "nodeName"]) ?? null, from: source(s, ["endpoints", i]) });
    }
  }
  if (slices.length > 0) return { endpoints, endpointsFrom: slices.map(ref).join(", ") };
  const ep = objects.find((o) => o.kind === "Endpoints" && o.namespace === svc.namespace && o.name === svc.name);
  if (ep === undefined) return { endpoints, endpointsFrom: `no EndpointSlice (or Endpoints) of ${ref(svc)} among the objects` };
  const subsets = count(ep, ["subsets"]);
  for (let i = 0; i < subsets; i++) {
    const n = count(ep, ["subsets", i, "addresses"]);
    for (let j = 0; j < n; j++) {
      const ip = str(ep, ["subsets", i, "addresses", j, "ip"]);
      if (ip === undefined || !IPV4.test(ip) || seen.has(ip)) continue;
      seen.add(ip);
      endpoints.push({ address: ip, node: str(ep, ["subsets", i, "addresses", j, "nodeName"]) ?? null, from: source(ep, ["subsets", i, "addresses", j]) });
    }
  }
  return { endpoints, endpointsFrom: ref(ep) };
}

/**
 * The cluster domain: the zone of the kubernetes plugin in CoreDNS's Corefile (ConfigMap
 * kube-system/coredns, data.Corefile: `kubernetes cluster.local in-addr.arpa ip6.arpa {`), which
 * must be the kubelet's --cluster-domain for Service names to resolve; or kube-dns's --domain.
 * Without either, the kubelet's usual cluster.local is assumed.
 */
function clusterDomain(objects: KubeObject[]): Cited<string> {
  // kubeadm's kube-system/coredns, else a kube-system ConfigMap holding a Corefile (Helm charts name theirs after the release: rke2-coredns-rke2-coredns).
  const cms = objects.filter((o) => o.kind === "ConfigMap" && o.namespace === "kube-system" && stringMap(o, ["data"]).Corefile !== undefined).sort((a, b) => Number(b.name === "coredns") - Number(a.name === "coredns") || a.name.localeCompare(b.name));
  const cm = cms[0];
  if (cm !== undefined) {
    const corefile = stringMap(cm, ["data"]).Corefile;
    const m = corefile === undefined ? null : /^\s*kubernetes\s+([A-Za-z0-9.-]+?)\.?(?:\s|\{|$)/m.exec(corefile);
    if (m) return cite(m[1]!, `${source(cm, ["data", "Corefile"])} (kubernetes plugin zone)`);
  }
  // kube-dns (GKE's): the kubedns container's --domain flag (kubernetes/dns cmd/kube-dns).
  const kd = objects.find((o) => o.kind === "Deployment" && o.namespace === "kube-system" && o.name === "kube-dns");
  if (kd !== undefined) {
    const n = count(kd, ["spec", "template", "spec", "containers"]);
    for (let i = 0; i < n; i++) {
      const path = ["spec", "template", "spec", "containers", i, "args"];
      const d = flagValue(strings(kd, path), "domain");
      if (d !== undefined && /^[A-Za-z0-9.-]+$/.test(d)) return cite(d.replace(/\.$/, ""), `${source(kd, path)} (--domain)`);
    }
  }
  return cite("cluster.local", "assumed: the kubelet's usual --cluster-domain (no CoreDNS Corefile or kube-dns --domain among the objects)");
}

/** A container's value of a flag, as `-flag value`, `-flag=value`, `--flag value` or `--flag=value`. */
export function flagValue(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    for (const dash of ["-", "--"]) {
      if (a === `${dash}${flag}`) return args[i + 1];
      if (a.startsWith(`${dash}${flag}=`)) return a.slice(dash.length + flag.length + 1);
    }
  }
  return undefined;
}

/**
 * NodeLocal DNSCache (kubernetes/dns cmd/node-cache; the addon's nodelocaldns.yaml): a DaemonSet
 * node-local-dns whose node-cache container takes `-localip 169.254.20.10,<kube-dns IP>` and
 * `-upstreamsvc kube-dns-upstream`.
 */
function nodeLocal(objects: KubeObject[]): NodeLocalFacts | null {
  const ds = objects.find(
    (o) =>
      o.kind === "DaemonSet" &&
      (o.name === "node-local-dns" || Array.from({ length: count(o, ["spec", "template", "spec", "containers"]) }, (_, i) => str(o, ["spec", "template", "spec", "containers", i, "image"]) ?? "").some((img) => /\/k8s-dns-node-cache[:@]/.test(img))),
  );
  if (ds === undefined) return null;
  const containers = count(ds, ["spec", "template", "spec", "containers"]);
  let addresses: Cited<string[]> | null = null;
  let upstream = "kube-dns-upstream";
  for (let i = 0; i < containers && addresses === null; i++) {
    for (const field of ["args", "command"]) {
      const args = strings(ds, ["spec", "template", "spec", "containers", i, field]);
      const local = flagValue(args, "localip");
      if (local !== undefined) {
        addresses = cite(local.split(",").map((s) => s.trim()).filter((s) => IPV4.test(s)), `${source(ds, ["spec", "template", "spec", "containers", i, field])} (-localip)`);
        upstream = flagValue(args, "upstreamsvc") ?? upstream;
        break;
      }
    }
  }
  addresses ??= cite(["169.254.20.10"], `assumed: ${ref(ds)} gives no -localip; the addon's default 169.254.20.10`);
  const upSvc = objects.find((o) => o.kind === "Service" && o.namespace === ds.namespace && o.name === upstream);
  const upIp = upSvc === undefined ? undefined : str(upSvc, ["spec", "clusterIP"]);
  const pods = objects.filter((o) => o.kind === "Pod" && o.namespace === ds.namespace && ownedBy(o, "DaemonSet", ds.name));
  const nodes = new Set(pods.map((p) => str(p, ["spec", "nodeName"])).filter((n): n is string => n !== undefined));
  return {
    daemonSet: ref(ds),
    addresses,
    upstreamIp: upSvc !== undefined && upIp !== undefined && IPV4.test(upIp) ? cite(upIp, source(upSvc, ["spec", "clusterIP"])) : null,
    nodes: nodes.size === 0 ? null : nodes,
    nodesFrom: nodes.size === 0 ? `assumed: every node (none of ${ref(ds)}'s pods is among the objects)` : `the spec.nodeName of ${ref(ds)}'s pods`,
  };
}

/** Whether the object's metadata.ownerReferences name this owner. */
export function ownedBy(o: KubeObject, kind: string, name: string): boolean {
  const n = count(o, ["metadata", "ownerReferences"]);
  for (let i = 0; i < n; i++) {
    if (str(o, ["metadata", "ownerReferences", i, "kind"]) === kind && str(o, ["metadata", "ownerReferences", i, "name"]) === name) return true;
  }
  return false;
}
