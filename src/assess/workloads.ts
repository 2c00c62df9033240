import { InputError } from "../scenario/load.js";
import { type Cited, bool, cite, count, ref, source, str, stringMap, strings } from "./fields.js";
import { type ImageMap, type ImageResolver, containerResolver } from "./images.js";
import type { KubeObject } from "./objects.js";

/** A pod's spec.dnsConfig (core/v1 PodDNSConfig). */
export interface DnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: { name: string; value?: string }[];
}

export interface ContainerFacts {
  name: string;
  image: string;
  resolver: Cited<ImageResolver>;
}

/** What a pod's object says that decides its lookups' path. */
export interface PodFacts {
  name: string;
  namespace: string;
  node: Cited<string> | null;
  dnsPolicy: Cited<"ClusterFirst" | "ClusterFirstWithHostNet" | "Default" | "None">;
  dnsConfig: Cited<DnsConfig> | null;
  hostNetwork: Cited<boolean>;
  containers: ContainerFacts[];
}

/** Pods grouped by the object that owns them. */
export interface Workload {
  /** Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, ... or Pod for a bare pod. */
  kind: string;
  namespace: string;
  name: string;
  /** How the owner was found. */
  ownerFrom: string;
  pods: PodFacts[];
}

export function workloadId(w: { kind: string; namespace: string; name: string }): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

const POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"] as const;

/** The pods of the objects, grouped by owner (in name order, pods in name order). */
export function workloads(objects: KubeObject[], images: ImageMap | null): Workload[] {
  const byId = new Map<string, Workload>();
  const pods = objects.filter((o) => o.kind === "Pod").sort((a, b) => ref(a).localeCompare(ref(b)));
  for (const p of pods) {
    const owner = ownerOf(p, objects);
    const id = workloadId({ ...owner, namespace: p.namespace });
    let w = byId.get(id);
    if (w === undefined) {
      w = { kind: owner.kind, namespace: p.namespace, name: owner.name, ownerFrom: owner.from, pods: [] };
      byId.set(id, w);
    }
    w.pods.push(podFacts(p, images));
  }
  return [...byId.values()].sort((a, b) => workloadId(a).localeCompare(workloadId(b)));
}

/** The controller among metadata.ownerReferences (controller: true), else the first. */
function controllerRef(o: KubeObject): { kind: string; name: string; index: number } | null {
  const n = count(o, ["metadata", "ownerReferences"]);
  let first: { kind: string; name: string; index: number } | null = null;
  for (let i = 0; i < n; i++) {
    const kind = str(o, ["metadata", "ownerReferences", i, "kind"]);
    const name = str(o, ["metadata", "ownerReferences", i, "name"]);
    if (kind === undefined || name === undefined) continue;
    const r = { kind, name, index: i };
    if (bool(o, ["metadata", "ownerReferences", i, "controller"]) === true) return r;
    first ??= r;
  }
  return first;
}

/**
 * A pod's workload: a ReplicaSet's Deployment (the ReplicaSet's own ownerReferences when it is
 * among the objects, else the Deployment whose name plus "-" plus the pod's pod-template-hash
 * label is the ReplicaSet's name, as the Deployment controller names them), a Job's CronJob
 * likewise, else the owner itself; a pod with no owner is its own workload.
 */
function ownerOf(p: KubeObject, objects: KubeObject[]): { kind: string; name: string; from: string } {
  const c = controllerRef(p);
  if (c === null) return { kind: "Pod", name: p.name, from: `${ref(p)} (no metadata.ownerReferences: a bare pod)` };
  const cFrom = source(p, ["metadata", "ownerReferences", c.index]);
  // A static pod's mirror names its Node as owner (kubelet pkg/kubelet/pod/mirror_client.go): the pod is its own workload.
  if (c.kind === "Node") return { kind: "Pod", name: p.name, from: `${cFrom} (a static pod's mirror, owned by Node/${c.name})` };
  if (c.kind === "ReplicaSet" || c.kind === "Job") {
    const rs = objects.find((o) => o.kind === c.kind && o.namespace === p.namespace && o.name === c.name);
    if (rs !== undefined) {
      const up = controllerRef(rs);
      // Its own controller, whatever its kind (a Deployment, a CronJob, or another controller's, such as an Argo Rollout).
      if (up !== null) return { kind: up.kind, name: up.name, from: `${cFrom} (${c.kind}/${c.name}), ${source(rs, ["metadata", "ownerReferences", up.index])}` };
    }
    if (c.kind === "ReplicaSet") {
      const hash = stringMap(p, ["metadata", "labels"])["pod-template-hash"];
      const dep = objects.find((o) => o.kind === "Deployment" && o.namespace === p.namespace && hash !== undefined && c.name === `${o.name}-${hash}`);
      if (dep !== undefined) return { kind: "Deployment", name: dep.name, from: `${cFrom} (ReplicaSet/${c.name}) = ${ref(dep)} + ${source(p, ["metadata", "labels", "pod-template-hash"])}` };
      // The Deployment controller names its ReplicaSets <deployment>-<pod-template-hash> (pkg/controller/deployment/sync.go).
      if (hash !== undefined && c.name.endsWith(`-${hash}`) && c.name.length > hash.length + 1) {
        return { kind: "Deployment", name: c.name.slice(0, -hash.length - 1), from: `${cFrom} (ReplicaSet/${c.name}) less ${source(p, ["metadata", "labels", "pod-template-hash"])}: the Deployment's name (neither object is among the objects)` };
      }
    }
  }
  return { kind: c.kind, name: c.name, from: cFrom };
}

function podFacts(p: KubeObject, images: ImageMap | null): PodFacts {
  const policyText = str(p, ["spec", "dnsPolicy"]);
  if (policyText !== undefined && !(POLICIES as readonly string[]).includes(policyText)) {
    throw new InputError(`${p.where} (${ref(p)}): field "spec.dnsPolicy": expected ClusterFirst, ClusterFirstWithHostNet, Default or None, found "${policyText}".`);
  }
  const dnsPolicy =
    policyText === undefined ? cite("ClusterFirst" as const, `${ref(p)} spec.dnsPolicy not set: ClusterFirst, the API's default`) : cite(policyText as PodFacts["dnsPolicy"]["value"], source(p, ["spec", "dnsPolicy"]));
  const hn = bool(p, ["spec", "hostNetwork"]);
  const node = str(p, ["spec", "nodeName"]);
  const annotations = stringMap(p, ["metadata", "annotations"]);
  const containers: ContainerFacts[] = [];
  const n = count(p, ["spec", "containers"]);
  for (let i = 0; i < n; i++) {
    const name = str(p, ["spec", "containers", i, "name"]) ?? `container-${i}`;
    const image = str(p, ["spec", "containers", i, "image"]);
    if (image === undefined) throw new InputError(`${p.where} (${ref(p)}): field "spec.containers[${i}].image": expected the container's image, found nothing.`);
    const r = containerResolver(image, name, annotations, ref(p), images);
    containers.push({ name, image, resolver: cite(r.value, r.from) });
  }
  if (containers.length === 0) throw new InputError(`${p.where} (${ref(p)}): field "spec.containers": expected at least one container, found none.`);
  return {
    name: p.name,
    namespace: p.namespace === "" ? "default" : p.namespace,
    node: node === undefined ? null : cite(node, source(p, ["spec", "nodeName"])),
    dnsPolicy,
    dnsConfig: dnsConfigOf(p),
    hostNetwork: hn === undefined ? cite(false, `${ref(p)} spec.hostNetwork not set: false`) : cite(hn, source(p, ["spec", "hostNetwork"])),
    containers,
  };
}

function dnsConfigOf(p: KubeObject): Cited<DnsConfig> | null {
  const path = ["spec", "dnsConfig"];
  if (p.data.spec === undefined || (p.data.spec as Record<string, unknown>).dnsConfig == null) return null;
  const c: DnsConfig = {};
  const ns = strings(p, [...path, "nameservers"]);
  const se = strings(p, [...path, "searches"]);
  if (ns.length > 0) c.nameservers = ns;
  if (se.length > 0) c.searches = se;
  const n = count(p, [...path, "options"]);
  if (n > 0) {
    c.options = [];
    for (let i = 0; i < n; i++) {
      const name = str(p, [...path, "options", i, "name"]);
      if (name === undefined || name === "") throw new InputError(`${p.where} (${ref(p)}): field "spec.dnsConfig.options[${i}].name": expected the option's name, found nothing.`);
      const value = str(p, [...path, "options", i, "value"]);
      c.options.push(value === undefined ? { name } : { name, value });
    }
  }
  return cite(c, source(p, path));
}
