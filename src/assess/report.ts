import { type CsvCell, type CsvTable, csvRecords, csvText } from "../report/csv.js";
import { compactProportion } from "../stats/proportion.js";
import type { Assessment, Row } from "./assess.js";
import { ASSUMED } from "./scenario.js";

/** The columns of assess.csv: one row per workload and node type, worst first. */
export const ASSESS_COLUMNS = [
  "rank",
  "workload",
  "namespace",
  "kind",
  "name",
  "pods",
  "node_type",
  "kernel",
  "resolvers",
  "level",
  "resolver_shown",
  "over_1s",
  "over_1s_low",
  "over_1s_high",
  "timer_step_ms",
  "at_step",
  "at_step_low",
  "at_step_high",
  "over_1s_if_pairs_meet",
  "over_1s_if_pairs_meet_low",
  "over_1s_if_pairs_meet_high",
  "overlap_from",
  "fix",
  "fix_scope",
  "fix_effort",
  "not_assessed",
] as const;

const TEXT = new Set(["workload", "namespace", "kind", "name", "node_type", "kernel", "resolvers", "level", "resolver_shown", "overlap_from", "fix", "fix_scope", "fix_effort", "not_assessed"]);

const g = (x: number) => Number(x.toPrecision(4));

export function assessTable(a: Assessment): CsvTable {
  const rows: CsvCell[][] = a.rows.map((r, i) => {
    const w = r.worst;
    const cells: Record<(typeof ASSESS_COLUMNS)[number], CsvCell> = {
      rank: i + 1,
      workload: r.id,
      namespace: r.workload.namespace,
      kind: r.workload.kind,
      name: r.workload.name,
      pods: r.pods.length,
      node_type: r.type?.label ?? "",
      kernel: r.type?.node.kernel?.value ?? "",
      resolvers: r.containers.map((c) => `${c.name}=${c.resolver}`).join(" "),
      level: r.level,
      resolver_shown: w?.resolver ?? "",
      over_1s: w === null ? "" : g(w.atRate.over1s.estimate),
      over_1s_low: w === null ? "" : g(w.atRate.over1s.low),
      over_1s_high: w === null ? "" : g(w.atRate.over1s.high),
      timer_step_ms: w === null ? "" : w.atRate.stepMs,
      at_step: w === null ? "" : g(w.atRate.atStep.estimate),
      at_step_low: w === null ? "" : g(w.atRate.atStep.low),
      at_step_high: w === null ? "" : g(w.atRate.atStep.high),
      over_1s_if_pairs_meet: w === null ? "" : g(w.exposure.over1s.estimate),
      over_1s_if_pairs_meet_low: w === null ? "" : g(w.exposure.over1s.low),
      over_1s_if_pairs_meet_high: w === null ? "" : g(w.exposure.over1s.high),
      overlap_from: r.type === null || r.notAssessed !== null ? "" : r.type.overlap.from,
      fix: r.fix?.name ?? (r.level === "none" || r.level === "n/a" ? "" : "none found"),
      fix_scope: r.fix?.scope ?? "",
      fix_effort: r.fix?.effort ?? "",
      not_assessed: r.notAssessed ?? "",
    };
    return ASSESS_COLUMNS.map((c) => cells[c]);
  });
  return { columns: ASSESS_COLUMNS, text: TEXT, quoted: new Set(["kernel"]), rows };
}

export function assessCsv(a: Assessment): string {
  return csvText(assessTable(a));
}

/** --json: the rows of assess.csv, typed, and each row's reasons, resolv.conf and fix in full. */
export function assessJson(a: Assessment): object {
  const records = csvRecords(assessTable(a));
  return {
    assess: records,
    details: a.rows.map((r) => ({
      workload: r.id,
      node_type: r.type?.label ?? null,
      level: r.level,
      why: r.why,
      resolv_conf: r.resolvConf,
      containers: r.containers,
      not_assessed: r.notAssessed,
      fix: r.fix === null ? null : { name: r.fix.name, scope: r.fix.scope, effort: r.fix.effort, how: r.fix.how, change: r.fix.change, rejected: r.fix.rejected, also_removes: r.fix.alsoRemoves },
    })),
    nodes: [...a.facts.nodes.values()].map((n) => {
      const t = a.types.find((x) => x.nodes.includes(n));
      return { name: n.name, kernel: n.kernel, cpus: n.cpus, runtime: n.runtime, os: n.os, os_image: n.osImage, pool: n.pool, load: t === undefined ? null : { softirq_share: t.load.softirqShare, runnable_per_cpu: t.load.runnablePerCpu, from: t.load.from } };
    }),
    cluster_dns: {
      service_ip: a.facts.dns.serviceIp,
      endpoints: a.facts.dns.endpoints,
      domain: a.facts.dns.domain,
      node_local: a.facts.dns.nodeLocal === null ? null : { ...a.facts.dns.nodeLocal, nodes: a.facts.dns.nodeLocal.nodes === null ? null : [...a.facts.dns.nodeLocal.nodes].sort() },
    },
    kube_proxy: a.facts.kubeProxy,
    lookups_per_run: a.options.lookups,
    seed: a.options.seed,
    runs: a.runs,
  };
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The console's table: one line per row. */
export function assessConsole(a: Assessment): string {
  const head = ["rank", "level", "workload", "node type", ">1s at node's rate", "at step", ">1s if pairs meet", "fix"];
  const body = a.rows.map((r, i) => [
    String(i + 1),
    r.level,
    r.id,
    r.type?.label ?? "-",
    r.worst === null ? (r.notAssessed === null ? "-" : "not assessed") : compactProportion(r.worst.atRate.over1s),
    r.worst === null ? "-" : `${compactProportion(r.worst.atRate.atStep)} (${r.worst.atRate.stepMs / 1000} s)`,
    r.worst === null ? "-" : compactProportion(r.worst.exposure.over1s),
    r.fix?.name ?? (r.level === "none" ? "-" : r.level === "n/a" ? (r.notAssessed ?? "-").split(":")[0]! : "none found"),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (xs: string[]) => xs.map((x, c) => x.padEnd(widths[c]!)).join("  ").trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n") + "\n";
}

/** report.md: the ranked table, then each workload's reasons and fix, then what was read and assumed. */
export function assessReport(a: Assessment): string {
  const out: string[] = ["# DNS race assessment", ""];
  const counted = Object.entries(a.facts.kinds).sort(([x], [y]) => x.localeCompare(y)).map(([k, n]) => `${n} ${k}`).join(", ");
  out.push(`Objects read: ${counted}. Each workload's pods were run through the model on their node type, ${a.options.lookups} lookups per run, seed ${a.options.seed} (${a.runs} runs).`, "");
  out.push("Risk is the share of lookups over 1 s (and at the resolver's timer step) at the node's overlap rate, with 95% intervals; *if pairs meet* is the same share when every A+AAAA pair meets in conntrack, which says whether the race can slow the workload at all.", "");
  out.push("| rank | level | workload | node type | >1 s at node's rate | at timer step | >1 s if pairs meet | cheapest fix | scope | effort |", "|---|---|---|---|---|---|---|---|---|---|");
  a.rows.forEach((r, i) => {
    const w = r.worst;
    out.push(
      `| ${i + 1} | ${r.level} | ${cell(r.id)} | ${cell(r.type?.label ?? "-")} | ${w === null ? "-" : compactProportion(w.atRate.over1s)} | ${w === null ? "-" : `${compactProportion(w.atRate.atStep)} (${w.atRate.stepMs / 1000} s)`} | ${w === null ? "-" : compactProportion(w.exposure.over1s)} | ${cell(r.fix?.name ?? (r.level === "none" || r.level === "n/a" ? "-" : "none found"))} | ${cell(r.fix?.scope ?? "")} | ${r.fix?.effort ?? ""} |`,
    );
  });
  out.push("");
  for (const r of a.rows) out.push(...rowSection(r));
  out.push("## What was read", "");
  for (const n of a.facts.nodes.values()) {
    const parts = [n.kernel === null ? "kernel: not in the object" : `kernel ${n.kernel.value} (${n.kernel.from})`, n.cpus === null ? "CPUs: not in the object" : `${n.cpus.value} CPUs (${n.cpus.from})`, n.runtime === null ? "" : `runtime ${n.runtime.value} (${n.runtime.from})`, n.osImage === null ? "" : `${n.osImage.value} (${n.osImage.from})`, n.pool === null ? "" : `pool ${n.pool.value} (${n.pool.from})`];
    out.push(`- Node/${n.name}: ${parts.filter((p) => p !== "").join("; ")}`);
  }
  const d = a.facts.dns;
  out.push(`- kube-dns: ${d.serviceIp === null ? "no Service found" : `${d.serviceIp.value} (${d.serviceIp.from})`}; ${d.endpoints.length} ready endpoints (${d.endpointsFrom})${d.endpoints.map((e) => `: ${e.address} on ${e.node ?? "an unnamed node"} (${e.from})`).join("")}`);
  out.push(`- cluster domain: ${d.domain.value} (${d.domain.from})`);
  out.push(`- NodeLocal DNSCache: ${d.nodeLocal === null ? "no node-local-dns DaemonSet among the objects" : `${d.nodeLocal.daemonSet}, ${d.nodeLocal.addresses.value.join(", ")} (${d.nodeLocal.addresses.from}); on ${d.nodeLocal.nodesFrom}`}`);
  out.push(`- kube-proxy: ${a.facts.kubeProxy.mode.value} (${a.facts.kubeProxy.mode.from}); masqueradeAll ${a.facts.kubeProxy.masqueradeAll.value} (${a.facts.kubeProxy.masqueradeAll.from})`);
  out.push("", "## Assumed (not in the objects)", "", ...ASSUMED.map((s) => `- ${s}`), "");
  return out.join("\n");
}

function rowSection(r: Row): string[] {
  const out = [`## ${r.id}${r.type === null ? "" : ` on ${r.type.label}`}: ${r.level}`, ""];
  out.push(`${r.pods.length} pod${r.pods.length === 1 ? "" : "s"} (${r.workload.ownerFrom}): ${r.pods.map((p) => `${p.name}${p.node === null ? "" : ` on ${p.node.value}`}`).join(", ")}.`, "");
  if (r.notAssessed !== null) {
    out.push(`Not assessed: ${r.notAssessed}.`, "");
    return out;
  }
  out.push("Why:", "", ...r.why.map((w) => `- ${w}`), "");
  if (r.level === "low" && r.type !== null && r.type.overlap.interval === null) {
    out.push(`Exposed, at a rate the objects cannot tell: give the counters of a node of this type (--counters ${r.type.node.name}=FILE, two conntrack -S snapshots as dnsrace calibrate reads them) for its own overlap rate${r.type.load.from.startsWith("--node-load") ? "" : `, or its load (--node-load ${r.type.node.pool?.value ?? r.type.node.name}=softirq_share:S,runnable_per_cpu:N) for the model's rate at that load`}.`, "");
  }
  if (r.resolvConf !== null) out.push("The resolv.conf the kubelet writes for it:", "", "```", r.resolvConf.trimEnd(), "```", "");
  if (r.fix !== null) {
    out.push(`Cheapest fix: **${r.fix.name}** (scope: ${r.fix.scope}; effort: ${r.fix.effort}).`, "", `    ${r.fix.how}`, "");
    out.push(`With it, every pair meeting: ${r.fix.checked.map((c) => `${c.resolver} ${compactProportion(c.exposure.over1s)} over 1 s`).join(", ")}.`);
    if (r.fix.rejected.length > 0) out.push(`Cheaper, but not enough: ${r.fix.rejected.map((x) => `${x.name} (${x.left})`).join("; ")}.`);
    if (r.fix.alsoRemoves.length > 0) out.push(`Also removes it: ${r.fix.alsoRemoves.map((x) => `${x.name} (scope: ${x.scope}; effort: ${x.effort})`).join("; ")}.`);
    out.push("");
  } else if (r.level !== "none") {
    out.push("No single change among the candidates (dnsConfig options, NodeLocal DNSCache, a 5.10 kernel) removes the risk in the model.", "");
  }
  return out;
}
