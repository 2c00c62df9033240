import { type ClusterDns, clusterDns } from "./clusterdns.js";
import type { ImageMap } from "./images.js";
import { type KubeProxyFacts, kubeProxyFacts } from "./kubeproxy.js";
import { type NodeFacts, nodeFacts } from "./nodes.js";
import { str } from "./fields.js";
import type { KubeObject } from "./objects.js";
import { type Workload, workloads } from "./workloads.js";

/** Everything assess reads from the objects, each value with the object and field it came from. */
export interface ClusterFacts {
  nodes: Map<string, NodeFacts>;
  dns: ClusterDns;
  kubeProxy: KubeProxyFacts;
  workloads: Workload[];
  /** Objects read, by kind (for the report's first lines). */
  kinds: Record<string, number>;
  /** The Services' names by namespace, in name order (the names a workload looks up). */
  serviceNamesByNamespace: Map<string, string[]>;
}

export function clusterFacts(objects: KubeObject[], images: ImageMap | null): ClusterFacts {
  const nodes = new Map<string, NodeFacts>();
  for (const o of objects.filter((x) => x.kind === "Node").sort((a, b) => a.name.localeCompare(b.name))) nodes.set(o.name, nodeFacts(o));
  const kinds: Record<string, number> = {};
  for (const o of objects) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
  const serviceNamesByNamespace = new Map<string, string[]>();
  // An ExternalName Service is answered with a CNAME to its spec.externalName (CoreDNS kubernetes plugin), not an A record: not one of the names looked up.
  const named = (x: KubeObject) => x.kind === "Service" && str(x, ["spec", "type"]) !== "ExternalName" && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(x.name) && !(x.namespace === "kube-system" && x.name === "kube-dns");
  for (const o of objects.filter(named)) {
    const ns = o.namespace === "" ? "default" : o.namespace;
    serviceNamesByNamespace.set(ns, [...(serviceNamesByNamespace.get(ns) ?? []), o.name].sort());
  }
  return { nodes, dns: clusterDns(objects), kubeProxy: kubeProxyFacts(objects), workloads: workloads(objects, images), kinds, serviceNamesByNamespace: new Map([...serviceNamesByNamespace].sort(([a], [b]) => a.localeCompare(b))) };
}
