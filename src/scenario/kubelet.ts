/**
 * What the kubelet writes as a pod's /etc/resolv.conf, from its dnsPolicy and
 * dnsConfig (kubernetes/kubernetes pkg/kubelet/network/dns/dns.go: GetPodDNS,
 * generateSearchesForDNSClusterFirst, appendDNSConfig, mergeDNSOptions).
 */
export interface PodDnsSpec {
  policy: "ClusterFirst" | "ClusterFirstWithHostNet" | "Default" | "None";
  /** The pod's hostNetwork: ClusterFirst then falls back to Default (getPodDNSType). */
  hostNetwork?: boolean;
  namespace: string;
  clusterDomain: string;
  /** kubelet --cluster-dns. */
  clusterDns: string[];
  /** The node's resolv.conf as the kubelet reads it (--resolv-conf): nameservers, searches, options. */
  host: { nameservers: string[]; searches: string[]; options: string[] };
  config?: { nameservers?: string[] | undefined; searches?: string[] | undefined; options?: { name: string; value?: string | undefined }[] | undefined } | undefined;
}

/** dns.go: MaxDNSSearchPaths with ExpandedDNSConfig (GA in 1.28); at most 3 nameservers (validation). */
const MAX_SEARCHES = 32;
const MAX_NAMESERVERS = 3;

export function kubeletResolvConf(p: PodDnsSpec): string {
  let nameservers: string[];
  let searches: string[];
  let options: string[];
  // getPodDNSType: ClusterFirstWithHostNet is podDNSCluster; ClusterFirst is too, unless the pod has
  // hostNetwork ("Fallback to DNSDefault for pod on hostnetwork"); Default is podDNSHost.
  const policy = p.policy === "ClusterFirst" && p.hostNetwork === true ? "Default" : p.policy;
  switch (policy) {
    case "ClusterFirst":
    case "ClusterFirstWithHostNet":
      // The cluster DNS, the namespace's search path then the node's, and defaultDNSOptions ("ndots:5"): the node's options are dropped.
      nameservers = [...p.clusterDns];
      searches = dedup([`${p.namespace}.svc.${p.clusterDomain}`, `svc.${p.clusterDomain}`, p.clusterDomain, ...p.host.searches]);
      options = ["ndots:5"];
      break;
    case "Default":
      nameservers = [...p.host.nameservers];
      searches = [...p.host.searches];
      options = [...p.host.options];
      break;
    case "None":
      nameservers = [];
      searches = [];
      options = [];
      break;
  }
  const c = p.config;
  if (c !== undefined) {
    // appendDNSConfig: nameservers and searches appended (duplicates dropped), options merged by name, the pod's winning.
    nameservers = dedup([...nameservers, ...(c.nameservers ?? [])]);
    searches = dedup([...searches, ...(c.searches ?? [])]);
    options = mergeOptions(options, (c.options ?? []).map((o) => (o.value === undefined ? o.name : `${o.name}:${o.value}`)));
  }
  const lines: string[] = [];
  if (searches.length > 0) lines.push(`search ${searches.slice(0, MAX_SEARCHES).join(" ")}`);
  for (const ns of nameservers.slice(0, MAX_NAMESERVERS)) lines.push(`nameserver ${ns}`);
  if (options.length > 0) lines.push(`options ${options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

function dedup(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** mergeDNSOptions: by name (the part before ':'), later ones replacing earlier ones in place. */
function mergeOptions(base: string[], extra: string[]): string[] {
  const byName = new Map<string, string>();
  for (const o of [...base, ...extra]) byName.set(o.split(":")[0]!, o);
  return [...byName.values()];
}
