import { parseDocument } from "yaml";
import { InputError } from "../scenario/load.js";
import { type Cited, cite, count, source, str, stringMap, strings } from "./fields.js";
import { flagValue } from "./clusterdns.js";
import type { KubeObject } from "./objects.js";

/** kube-proxy's settings that change the DNS path. */
export interface KubeProxyFacts {
  /** iptables, ipvs or nftables (kube-proxy's --proxy-mode / KubeProxyConfiguration.mode; "" is iptables on Linux). */
  mode: Cited<"iptables" | "ipvs" | "nftables">;
  /** --masquerade-all / KubeProxyConfiguration.iptables.masqueradeAll. */
  masqueradeAll: Cited<boolean>;
}

/**
 * The KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) in a ConfigMap's data: kubeadm's
 * kube-system/kube-proxy `config.conf`, EKS's kube-system/kube-proxy-config `config`, or any key
 * of a kube-system ConfigMap whose YAML has kind KubeProxyConfiguration. Else the flags of the
 * kube-proxy DaemonSet's container. Else kube-proxy's defaults, said to be assumed.
 */
export function kubeProxyFacts(objects: KubeObject[]): KubeProxyFacts {
  const cms = objects.filter((o) => o.kind === "ConfigMap" && o.namespace === "kube-system").sort((a, b) => rank(a) - rank(b));
  for (const cm of cms) {
    const data = stringMap(cm, ["data"]);
    for (const key of Object.keys(data).sort()) {
      const text = data[key]!;
      if (!/kind:\s*KubeProxyConfiguration/.test(text)) continue;
      const doc = parseDocument(text, { prettyErrors: false });
      const cfg = doc.errors.length === 0 ? (doc.toJS() as unknown) : null;
      if (typeof cfg !== "object" || cfg === null) throw new InputError(`${cm.where} (${source(cm, ["data", key])}): the KubeProxyConfiguration is not valid YAML${doc.errors[0] ? `: ${doc.errors[0].message.split("\n")[0]}` : ""}.`);
      const c = cfg as { mode?: unknown; iptables?: { masqueradeAll?: unknown }; nftables?: { masqueradeAll?: unknown } };
      const from = source(cm, ["data", key]);
      const mode = c.mode === undefined || c.mode === null || c.mode === "" ? cite("iptables" as const, `${from} (mode "": iptables, kube-proxy's default on Linux)`) : cite(proxyMode(c.mode, `${cm.where} (${from}): mode`), `${from} (mode)`);
      // v1alpha1: nftables mode takes nftables.masqueradeAll, the others iptables.masqueradeAll (pkg/proxy/apis/config/v1alpha1/conversion.go).
      const field = mode.value === "nftables" ? "nftables" : "iptables";
      const ma = c[field]?.masqueradeAll;
      if (ma !== undefined && ma !== null && typeof ma !== "boolean") throw new InputError(`${cm.where} (${from}): ${field}.masqueradeAll: expected true or false, found ${JSON.stringify(ma)}.`);
      return { mode, masqueradeAll: cite(ma === true, `${from} (${field}.masqueradeAll${ma === undefined || ma === null ? " not set: false" : ""})`) };
    }
  }
  // The kube-proxy DaemonSet (kubeadm, EKS), else a static kube-proxy pod's mirror (kops, GKE: flags in its command, sometimes one `sh -c` string).
  const holders: { o: KubeObject; containers: (string | number)[] }[] = [
    ...objects.filter((o) => o.kind === "DaemonSet" && o.namespace === "kube-system" && o.name === "kube-proxy").map((o) => ({ o, containers: ["spec", "template", "spec", "containers"] })),
    ...objects.filter((o) => o.kind === "Pod" && o.namespace === "kube-system" && o.name.startsWith("kube-proxy")).sort((a, b) => a.name.localeCompare(b.name)).map((o) => ({ o, containers: ["spec", "containers"] })),
  ];
  for (const { o: ds, containers } of holders) {
    const n = count(ds, containers);
    for (let i = 0; i < n; i++) {
      const path = [...containers, i];
      const args = [...strings(ds, [...path, "command"]), ...strings(ds, [...path, "args"])].flatMap((a) => a.split(/\s+/)).filter((a) => a !== "");
      if (!args.some((a) => /kube-proxy/.test(a)) && str(ds, [...path, "name"]) !== "kube-proxy") continue;
      const m = flagValue(args, "proxy-mode");
      const ma = args.find((a) => a === "--masquerade-all" || a.startsWith("--masquerade-all="));
      const from = source(ds, [...path]);
      const config = flagValue(args, "config");
      if (m === undefined && config !== undefined) {
        const why = `assumed: ${from} reads its configuration from --config=${config}, and no ConfigMap among the objects holds a KubeProxyConfiguration`;
        return { mode: cite("iptables", `${why}; iptables, kube-proxy's default on Linux`), masqueradeAll: cite(false, `${why}; false, its default`) };
      }
      return {
        mode: m === undefined || m === "" ? cite("iptables" as const, `${from} (no --proxy-mode: iptables, kube-proxy's default on Linux)`) : cite(proxyMode(m, `${ds.where} (${from}): --proxy-mode`), `${from} (--proxy-mode)`),
        masqueradeAll: cite(ma !== undefined && ma !== "--masquerade-all=false", `${from} (${ma ?? "no --masquerade-all: false"})`),
      };
    }
  }
  return {
    mode: cite("iptables", "assumed: kube-proxy's default on Linux (no kube-proxy configuration among the objects)"),
    masqueradeAll: cite(false, "assumed: kube-proxy's default (no kube-proxy configuration among the objects)"),
  };
}

/** kubeadm's and EKS's ConfigMaps first, then the rest by name. */
function rank(o: KubeObject): number {
  return o.name === "kube-proxy" ? 0 : o.name === "kube-proxy-config" ? 1 : 2;
}

function proxyMode(v: unknown, where: string): "iptables" | "ipvs" | "nftables" {
  if (v === "iptables" || v === "ipvs" || v === "nftables") return v;
  throw new InputError(`${where}: expected iptables, ipvs or nftables (kube-proxy's modes on Linux), found ${JSON.stringify(v)}.`);
}
