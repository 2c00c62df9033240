import { featuresOf } from "../kernel/version.js";
import { compactProportion } from "../stats/proportion.js";
import type { ResolverRisk } from "./levels.js";
import type { ClusterFacts } from "./facts.js";
import { EXTERNAL_NAME, type NodeType } from "./scenario.js";
import type { PodFacts } from "./workloads.js";

/** What the kernel does with the loser of a one-socket clash (MODEL.md section 4; kernel/version.ts). */
export function kernelGeneration(type: NodeType): string {
  const f = featuresOf(type.node.kernelVersion!);
  if (f.natClashEntry !== "none") return "5.6 and later resolve every clash of one socket's pair: merged when both queries went to one endpoint, a clash entry to its own endpoint when not (6a757c07e51f)";
  if (f.clashResolution === "identical") return "a clash whose two queries went to one endpoint is merged (ed07d9a021df); one whose queries went to two endpoints drops the loser (the clash entry came in 5.6)";
  return "every clash drops the loser on a node with NAT (clash resolution under NAT, ed07d9a021df, came in 4.19 and 4.14.173)";
}

const BEHAVIOUR: Record<string, string> = {
  glibc: "glibc sends A and AAAA in one sendmmsg() from one socket; a lost query costs its timeout (5 s by default)",
  musl: "musl sends A and AAAA as two sendto() on one socket and resends after timeout/attempts (2.5 s by default); it ignores single-request, single-request-reopen and use-vc",
  go: "Go's resolver sends A and AAAA from separate sockets: never one tuple, so never this race",
};

/** The reasons of a row's figures, each with the objects they came from. */
export function whyLines(facts: ClusterFacts, type: NodeType, pod: PodFacts, risks: ResolverRisk[], resolvConf: string): string[] {
  const k = type.node.kernel!;
  const f = featuresOf(type.node.kernelVersion!);
  const lines = [`kernel ${k.value} (${k.from}) read as ${f.version}${f.note === null ? "" : ` (${f.note})`}: ${kernelGeneration(type)}`];
  const eps = facts.dns.endpoints;
  const local = eps.filter((e) => e.node === type.node.name).length;
  lines.push(
    `${eps.length} ready kube-dns endpoint${eps.length === 1 ? "" : "s"} (${facts.dns.endpointsFrom}) on ${[...new Set(eps.map((e) => e.node ?? "an unnamed node"))].join(", ")}${local > 0 ? `, ${local} on this node` : ""}: given a clash, the two queries go to different endpoints ${eps.length - 1} time${eps.length - 1 === 1 ? "" : "s"} in ${eps.length}`,
  );
  lines.push(`kube-proxy ${facts.kubeProxy.mode.value} mode (${facts.kubeProxy.mode.from})${facts.kubeProxy.masqueradeAll.value ? `, masqueradeAll (${facts.kubeProxy.masqueradeAll.from})` : ""}`);
  if (type.nodeLocal) {
    const nl = facts.dns.nodeLocal!;
    lines.push(`NodeLocal DNSCache on this node (${nl.daemonSet}, ${nl.addresses.value.join(", ")} from ${nl.addresses.from}; nodes: ${nl.nodesFrom}): queries to it are NOTRACK, no conntrack entry, no DNAT`);
  }
  if (pod.hostNetwork.value) {
    lines.push(
      `hostNetwork (${pod.hostNetwork.from}): the pod sends from the node's own network namespace, no veth and no backlog; udp_sendmsg -> __ip_local_out (net/ipv4/ip_output.c) runs conntrack, OUTPUT's DNAT and POSTROUTING's confirm inside the send call, so each query of a pair is confirmed before the next reaches OUTPUT and one socket's pair does not meet in this node's conntrack, whatever its load`,
    );
  }
  for (const c of pod.containers) lines.push(`container ${c.name}: ${c.resolver.value} (${c.resolver.from})`);
  for (const r of [...new Set(risks.map((x) => x.resolver))]) lines.push(BEHAVIOUR[r]!);
  const opts = /^options\s+(.*)$/m.exec(resolvConf)?.[1]?.split(/\s+/) ?? [];
  const ndots = Number(opts.find((o) => o.startsWith("ndots:"))?.slice(6) ?? "1");
  const search = (/^search\s+(.*)$/m.exec(resolvConf)?.[1]?.split(/\s+/) ?? []).length;
  const dots = EXTERNAL_NAME.split(".").length - 1;
  lines.push(
    `ndots:${ndots} and ${search} search domain${search === 1 ? "" : "s"} (${pod.dnsPolicy.value}, ${pod.dnsPolicy.from}${pod.dnsConfig === null ? "" : `; ${pod.dnsConfig.from}`}): ` +
      (dots < ndots ? `an external name such as ${EXTERNAL_NAME} (${dots} dots) takes ${search + 1} search steps, one A+AAAA pair each; a Service's short name is found at the first` : `an external name such as ${EXTERNAL_NAME} is tried as written first, one pair`),
  );
  lines.push(`overlap per pair: ${type.overlap.from}`);
  for (const r of risks) {
    const step = `${r.exposure.stepMs / 1000} s`;
    const atRate = r.atRate.pairsClashed === null ? "" : `, pairs clashed ${compactProportion(r.atRate.pairsClashed, "exp")}`;
    lines.push(
      `${r.resolver}: with every pair meeting, ${compactProportion(r.exposure.over1s)} of lookups over 1 s and ${compactProportion(r.exposure.atStep)} at its ${step} step; at the node's rate ${compactProportion(r.atRate.over1s)} over 1 s${atRate}` +
        (r.atLow !== null && r.atHigh !== null ? ` (${compactProportion(r.atLow.over1s)} to ${compactProportion(r.atHigh.over1s)} at the interval's ends)` : ""),
    );
    if (r.atRate.over1s.k > 0 && r.atRate.pairsClashed !== null && r.atRate.pairsClashed.k === 0) {
      lines.push(`${r.resolver}: at the node's load (${type.load.from}) ${r.atRate.over1s.k} of ${r.atRate.lookups} lookups take over 1 s with no pair clashed in conntrack: the node's CPUs, not the race, hold them, and no DNS change removes that`);
    }
  }
  return lines;
}
