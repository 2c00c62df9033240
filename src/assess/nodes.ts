import { type KernelVersion, parseKernelVersion } from "../kernel/version.js";
import { type Cited, cite, source, str, stringMap } from "./fields.js";
import type { KubeObject } from "./objects.js";

/** What a Node object says of the node (core/v1 Node: status.nodeInfo, status.capacity, metadata.labels). */
export interface NodeFacts {
  name: string;
  /** status.nodeInfo.kernelVersion, as `uname -r` prints it; null when the object has none. */
  kernel: Cited<string> | null;
  /** The kernel string read by the project's parser (kernel/version.ts); null when it is not a kernel version. */
  kernelVersion: KernelVersion | null;
  /** status.capacity.cpu, as a whole number of CPUs; null when absent or not a CPU quantity. */
  cpus: Cited<number> | null;
  /** status.nodeInfo.containerRuntimeVersion ("containerd://1.7.11"). */
  runtime: Cited<string> | null;
  /** status.nodeInfo.operatingSystem ("linux", "windows"). */
  os: Cited<string> | null;
  /** status.nodeInfo.osImage ("Amazon Linux 2"). */
  osImage: Cited<string> | null;
  /** The node pool, from the label the cloud or installer sets, if any. */
  pool: Cited<string> | null;
}

/** Labels that name a node's pool: EKS managed node groups, GKE, AKS, kops, Karpenter. */
const POOL_LABELS = ["eks.amazonaws.com/nodegroup", "cloud.google.com/gke-nodepool", "kubernetes.azure.com/agentpool", "agentpool", "kops.k8s.io/instancegroup", "karpenter.sh/nodepool"];

export function nodeFacts(o: KubeObject): NodeFacts {
  const info = (f: string) => {
    const v = str(o, ["status", "nodeInfo", f]);
    return v === undefined || v === "" ? null : cite(v, source(o, ["status", "nodeInfo", f]));
  };
  const kernel = info("kernelVersion");
  const labels = stringMap(o, ["metadata", "labels"]);
  const poolLabel = POOL_LABELS.find((l) => labels[l] !== undefined);
  return {
    name: o.name,
    kernel,
    kernelVersion: kernel === null ? null : parseKernelVersion(kernel.value.trim()),
    cpus: cpuCapacity(o),
    runtime: info("containerRuntimeVersion"),
    os: info("operatingSystem"),
    osImage: info("osImage"),
    pool: poolLabel === undefined ? null : cite(labels[poolLabel]!, source(o, ["metadata", "labels", poolLabel])),
  };
}

/**
 * status.capacity.cpu is a resource.Quantity: "4", or "3500m" in millicores (apimachinery
 * pkg/api/resource). A node's capacity is whole CPUs; a fraction is rounded up.
 */
function cpuCapacity(o: KubeObject): Cited<number> | null {
  const path = ["status", "capacity", "cpu"];
  const raw = (o.data.status as Record<string, unknown> | undefined)?.capacity as Record<string, unknown> | undefined;
  const v = raw?.cpu;
  let n: number | null = null;
  if (typeof v === "number" && Number.isFinite(v)) n = v;
  else if (typeof v === "string") {
    const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(v.trim());
    if (m) n = m[2] === "m" ? Number(m[1]) / 1000 : Number(m[1]);
  }
  if (n === null || !(n > 0)) return null;
  return cite(Math.min(256, Math.ceil(n)), source(o, path));
}
