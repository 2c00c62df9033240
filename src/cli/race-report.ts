import type { RxMode } from "../kernel/rx.js";
import type { NatBackend } from "../kernel/timing.js";
import type { KernelFeatures } from "../kernel/version.js";
import type { MasqueradeMode, RaceOptions, RaceResult } from "../experiment/race.js";
import { conntrackStatLine, statLineNames, statValue } from "../report/conntrack.js";
import { burstJson, burstPhrase, burstReportLines } from "./race-bursts.js";

/** How the report and --json name a receive path: the veth as created is "default" there, as it always was. */
export function rxFlag(m: RxMode): string {
  return m === "inline" ? "default" : m;
}

/** What this kernel does with the entry confirmed second, and the counters it moves (from its features). */
export function loserFate(f: KernelFeatures): string {
  // Before 4e35c1cb9460 (5.0) the null binding can rewrite the loser's source port (race 2): never identical, dropped.
  const race2 = "a loser whose reply tuple the winner already owns gets a new source port (found += 2)";
  if (f.clashResolution === "none") {
    return [`${f.version}: there is no clash resolution before 4.7, every loser is dropped (insert_failed++; drop does not move)`, ...(f.sameOriginSkip ? [] : [race2])].join("; ");
  }
  if (f.clashResolution === "nat-free-only") {
    return [
      `${f.version}: every loser is dropped (insert_failed++, drop++), because a clash is resolved only when the winner has no NAT, and on a node with a nat table every entry has at least a null binding`,
      ...(f.sameOriginSkip ? [] : [race2]),
    ].join("; ");
  }
  const parts = [`${f.version}: identical tuples are merged (${f.clashResolveCounter ? "clash_resolve++" : "insert_failed++"})`];
  if (!f.sameOriginSkip) parts.push(`${race2} and is dropped (insert_failed++, drop++)`);
  if (f.natClashEntry === "none") {
    parts.push("a loser that went to another endpoint is dropped (insert_failed++, drop++)");
    return parts.join(", ");
  }
  const life = f.natClashEntry === "delete-on-reply" ? "that its first reply deletes" : "that lives 1 s";
  parts.push(`a loser that went to another endpoint goes on as a reply-only NAT-clash entry ${life} (${f.clashResolveCounter ? "clash_resolve++" : "no counter moves"})`);
  return `${parts.join(", ")}; a clash it cannot resolve is dropped (insert_failed++, drop++)`;
}

const RX_PHRASE: Record<RxMode, string> = {
  inline: "each datagram processed to completion in the sender's softirq",
  rps: "RPS queues each datagram to the CPU of its flow hash",
  gro: "GRO on the veth's NAPI, polled inline in the sender's softirq",
  "gro-threaded": "GRO with threaded NAPI, a queued burst handed on as one list",
  "rps-gro-threaded": "threaded NAPI, RPS re-queues the datagrams one by one",
};

const MASQUERADE_PHRASE: Record<MasqueradeMode, string> = {
  none: "",
  plain: ", and MASQUERADEd to the node's address (kube-proxy --masquerade-all)",
  "random-fully": ", and MASQUERADEd to the node's address with --random-fully (a random source port per new entry)",
};

const BACKEND_PHRASE: Record<NatBackend, string> = {
  nftables: "a native nftables ruleset",
  "iptables-nft": "kube-proxy's iptables rules through iptables-nft",
  "iptables-legacy": "kube-proxy's iptables rules through iptables-legacy",
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`;
}

function sendPhrase(o: RaceOptions): string {
  if (o.send === "sendmmsg") {
    return `A and AAAA in one sendmmsg() from one thread on one connected UDP socket${o.gapUs !== 0 ? " (--gap-us does not apply)" : ""}`;
  }
  if (o.send === "two-sends") {
    return `A and AAAA in two send() calls from one thread on one connected UDP socket, as musl sends them${o.gapUs !== 0 ? " (--gap-us does not apply)" : ""}`;
  }
  const g = o.gapUs;
  const when = g === 0 ? "sent at the same time" : g > 0 ? `AAAA sent ${g} us after A` : `AAAA sent ${-g} us before A`;
  const cpus = `A from CPU 0, AAAA from CPU ${1 % o.cpus}`;
  return o.send === "two-threads"
    ? `A and AAAA from two threads sharing one connected UDP socket (${cpus}), ${when}`
    : `A and AAAA from two threads with a socket each (${cpus}, different source ports), ${when}`;
}

/** Greedy word wrap, so the report fits a terminal. */
function wrap(text: string, indent = "", width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines;
}

/** The readable report: what was run, the clashes and losses, the kernel's rule for losers, `conntrack -S`. */
export function formatRaceReport(r: RaceResult, o: RaceOptions, f: KernelFeatures): string {
  const dropped = r.conservation.dropped;
  const merged = r.clashes - r.nat_clash_entries - dropped;
  const out: string[] = [
    ...wrap(
      `dnsrace race on kernel ${f.version}: ${o.burst === undefined ? `${plural(r.pairs, "pair")} of queries, ${sendPhrase(o)}, a fresh source port per pair` : burstPhrase(o.burst, o.cpus)}, ` +
        `through one node hop (${plural(o.cpus, "CPU")}; receive path ${rxFlag(o.rx)}: ${RX_PHRASE[o.rx]}; load ${o.load}${o.softirqShare > 0 ? `, the node's own softirq ${(100 * o.softirqShare).toFixed(0)}% of each CPU and ${o.runnablePerCpu} runnable task(s) per CPU` : ""}), ` +
        (o.ipvsScheduleNs === null
          ? `where the DNS Service is DNATed to ${plural(o.endpoints, "endpoint")} by ${BACKEND_PHRASE[o.backend]}, ${plural(o.rules, "nat rule")} walked before its rule${MASQUERADE_PHRASE[o.masquerade]}; `
          : `where IPVS (rr) sends the DNS Service to ${plural(o.endpoints, "endpoint")}, two first packets splitting only when their IPVS steps on two CPUs are less than ${o.ipvsScheduleNs} ns apart${MASQUERADE_PHRASE[o.masquerade]}; `) +
        `seed ${o.seed}.`,
    ),
    ...(f.note === null ? [] : wrap(`kernel: ${f.note}.`)),
    "",
    ...(r.bursts === undefined ? pairLines(r) : burstReportLines(r, r.bursts, f)),
    "",
    "what the kernel does with the loser of a clash (the entry confirmed second):",
    ...wrap(loserFate(f), "  "),
  ];
  const here: string[] = [];
  if (merged > 0) here.push(`${merged} merged`);
  if (r.nat_clash_entries > 0) here.push(`${r.nat_clash_entries} kept as NAT-clash entries`);
  if (dropped > 0) here.push(`${dropped} dropped`);
  const other = r.different_source_clashes;
  const why = other > 0 ? `; ${other} of the clashes went to the winner's endpoint from another source port` : "";
  out.push(...wrap(`in this run: ${here.length > 0 ? here.join(", ") : "no clash, nothing to resolve"}${why}`, "  "), "", "conntrack -S");
  r.perCpu.forEach((c, cpu) => out.push(conntrackStatLine(cpu, c, f)));
  return `${out.join("\n")}\n`;
}

/** The clash and loss lines of the pair experiment. */
function pairLines(r: RaceResult): string[] {
  return [
    `clashes        ${r.clashes} of ${r.pairs} pairs (${percent(r.clashes, r.pairs)})${r.clashes === 0 ? "" : `; to different endpoints: ${r.different_endpoint_clashes} (${percent(r.different_endpoint_clashes, r.clashes)} of them)`}`,
    r.lost_pairs === 0
      ? `lost a query   0 pairs: every query was answered`
      : `lost a query   ${r.lost_pairs} pairs (${percent(r.lost_pairs, r.pairs)}): unanswered, retried after 5 s (glibc) or 2.5 s (musl)`,
  ];
}

/** One JSON object: the flags as run (their CLI names), the outcome, and the per-CPU counters. */
export function raceJson(r: RaceResult, o: RaceOptions, f: KernelFeatures): string {
  return JSON.stringify({
    kernel: f.version,
    ...(f.note === null ? {} : { kernel_note: f.note }),
    endpoints: o.endpoints,
    ...(o.burst === undefined ? { gap_us: o.gapUs, send: o.send } : {}),
    rules: o.rules,
    backend: o.backend,
    rx: rxFlag(o.rx),
    load: o.load,
    softirq_share: o.softirqShare,
    runnable_per_cpu: o.runnablePerCpu,
    cpus: o.cpus,
    seed: o.seed,
    proxy_mode: o.ipvsScheduleNs === null ? "iptables" : "ipvs",
    ipvs_schedule_ns: o.ipvsScheduleNs,
    masquerade: o.masquerade,
    ...(o.burst === undefined || r.bursts === undefined
      ? { pairs: r.pairs, clashes: r.clashes, lost_pairs: r.lost_pairs, both_replied: r.both_replied }
      : burstJson(r, o.burst, r.bursts, f)),
    insert_failed: r.insert_failed,
    drop: r.drop,
    clash_resolve: r.clash_resolve,
    found: r.found,
    port_rewrites: r.port_rewrites,
    different_endpoint_clashes: r.different_endpoint_clashes,
    different_source_clashes: r.different_source_clashes,
    nat_clash_entries: r.nat_clash_entries,
    merged: r.clashes - r.nat_clash_entries - r.conservation.dropped,
    dropped: r.conservation.dropped,
    // The counters of `conntrack -S` on this kernel, and no others.
    per_cpu: r.perCpu.map((c, cpu) => Object.fromEntries([["cpu", cpu], ...statLineNames(f).map((n) => [n, statValue(c, n)])])),
  });
}
