import type { Simulator } from "../engine/sim.js";
import type { Packet } from "../net/packet.js";
import type { Entry } from "./conntrack.js";
import type { HopEvent, HopEventKind, HopWiring, NetnsConfig } from "./hop.js";
import type { Ipvs, IpvsOutcome } from "./ipvs.js";

/**
 * The hop's trace: its events in words. The hooks test `sink !== null` before
 * they call emit(), and pass only the packet and the entry: the words are
 * made here, off the hot path, and only when someone listens.
 */
export class HopTracer {
  sink: ((e: HopEvent) => void) | null = null;
  /** Locally generated packets between their OUTPUT and POSTROUTING hooks (kept only while tracing). */
  private readonly local = new Set<Packet>();

  constructor(
    private readonly sim: Simulator,
    private readonly cfg: NetnsConfig,
    private readonly ipvs: Ipvs | null,
    private readonly wiring: HopWiring,
  ) {}

  emit(kind: HopEventKind, pkt: Packet, cpu: number, e: Entry | null, n = 0): void {
    const hook = this.local.has(pkt) ? (OUTPUT_KINDS.has(kind) ? "OUTPUT: " : "POSTROUTING: ") : "";
    this.sink!({ t: this.sim.now, hop: this.cfg.name, cpu, kind, pkt, detail: hook + this.describe(kind, pkt, e, n, cpu) });
  }

  /** A locally generated packet reaches OUTPUT (Netns.localOut): its hooks are named until its POSTROUTING is done. */
  localOut(pkt: Packet, cpu: number): void {
    this.local.add(pkt);
    this.emit("local-out", pkt, cpu, null);
  }

  localDone(pkt: Packet): void {
    this.local.delete(pkt);
  }

  private describe(kind: HopEventKind, pkt: Packet, e: Entry | null, n: number, cpu: number): string {
    const name = (id: number) => this.wiring.addrName(id);
    const f = this.cfg.features;
    switch (kind) {
      case "migration-split":
        return `the sending thread migrated to cpu${cpu} between its sends while its first datagram still waited for cpu${n}'s softirq: ${this.cfg.rx.mode === "gro" ? "both join the NAPI poll pending on cpu" + n + " and go on as one list" : "the two are processed at the same time on two CPUs"} (a rare path, p = ${this.cfg.rx.migrationProbability.toPrecision(3)} per burst)`;
      case "ksoftirqd-deferred":
        return `ksoftirqd is runnable on cpu${cpu} with ${us(n)} of softirq work queued ahead${f.ksoftirqdDefers ? " (4.9-6.4, \"softirq: Let ksoftirqd do its job\": the send's local_bh_enable runs nothing)" : ", more than the 2 ms budget the send's local_bh_enable runs"}: the datagrams wait in cpu${cpu}'s backlog for ksoftirqd, which shares the CPU with ${this.cfg.rx.softirq!.runnablePerCpu} runnable task${this.cfg.rx.softirq!.runnablePerCpu === 1 ? "" : "s"}`;
      case "ksoftirqd-migrated":
        return `the sending thread was preempted between its sends (ksoftirqd took cpu${n}) and an idle cpu${cpu} pulled it: its next datagram is processed there, while ksoftirqd works through cpu${n}'s backlog towards the first`;
      case "backlog-run":
        return `ksoftirqd is runnable on cpu${cpu}, but this kernel's local_bh_enable runs the pending softirqs first: the send waits ${us(n)} for them, then its datagram is processed at once`;
      case "gro-list":
        return "GRO + threaded NAPI: the poll thread hands the queued datagrams on as one list (netif_receive_skb_list): PREROUTING runs for all of them before any is confirmed";
      case "nic-list":
        return `the NIC's NAPI poll took ${n} packets from cpu${cpu}'s queue and hands them on as one list (gro_normal_list, 5.5): PREROUTING runs for all of them before any is confirmed`;
      case "notrack":
        return "raw table NOTRACK: no conntrack entry, no DNAT";
      case "local-out":
        return "locally generated (the node's own network namespace): no veth, no backlog; __ip_local_out runs LOCAL_OUT in the sender's send call, conntrack (ipv4_conntrack_local) then kube-proxy's nat OUTPUT jump to KUBE-SERVICES (nf_nat_ipv4_local_fn), and POSTROUTING's confirm, before the call returns";
      case "lookup-hit":
        if (nullBinding(e!)) return "found a confirmed entry (a null binding: nothing to rewrite)";
        return `found a confirmed entry: reusing its DNAT to ${name(e!.natDst)}:${e!.natDport}`;
      case "lookup-miss":
        return "no confirmed entry for this tuple: a new unconfirmed entry";
      case "dnat":
        if (this.ipvs !== null) return `IPVS ${IPVS_WORDS[this.ipvs.last]}: ${name(pkt.dst)}:${pkt.dport} -> ${name(e!.natDst)}:${e!.natDport}`;
        return `DNAT ${name(pkt.dst)}:${pkt.dport} -> ${name(e!.natDst)}:${e!.natDport}`;
      case "port-realloc":
        return `the reply tuple is taken by a confirmed entry: source port rewritten to ${pkt.sport} (found += 2)`;
      case "masquerade":
        return `MASQUERADE (kube-proxy --masquerade-all): source becomes ${name(pkt.src)}:${pkt.sport}${this.cfg.masquerade!.randomFully ? " (--random-fully: a random port)" : pkt.sport === e!.origSport ? " (the port kept)" : " (the port was taken: another one)"}`;
      case "confirm":
        return "entry confirmed (inserted in the hash table)";
      case "clash-merge":
        return `insert clash, identical tuples: attached to the winner's entry (${f.clashResolveCounter ? "clash_resolve" : "insert_failed"}++)`;
      case "clash-nat-entry":
        return `insert clash, different endpoint: reply-only NAT-clash entry for 1 s, the query goes on to ${name(e!.natDst)} (${f.clashResolveCounter ? "clash_resolve++" : "no counter moves"})`;
      case "clash-drop":
        return `insert clash, not resolvable on ${f.version}: packet dropped (${f.clashResolution !== "none" ? "insert_failed++, drop++" : "insert_failed++"})`;
      case "reply-denat":
        if (nullBinding(e!)) return "the reply matches the entry's reply tuple (a null binding: nothing to rewrite)";
        return `reverse NAT: source becomes ${name(e!.origDst)}:${e!.origDport}`;
      case "reply-orphan":
        return "no entry owns the reply tuple: not reverse-NATed";
      case "clash-entry-killed":
        return "NAT-clash entry deleted by its first reply";
      case "early-drop":
        return `the table is full (nf_conntrack_max ${this.cfg.tableLimits!.max}): early_drop evicts ${n} entr${n === 1 ? "y" : "ies"} that are not ASSURED (early_drop += ${n})`;
      case "table-full":
        return `the table is full (nf_conntrack_max ${this.cfg.tableLimits!.max}) and early_drop finds no entry that is not ASSURED: "nf_conntrack: table full, dropping packet" (drop++)`;
    }
  }
}

/** What happens at OUTPUT for a locally generated packet (the rest is POSTROUTING's). */
const OUTPUT_KINDS = new Set<HopEventKind>(["local-out", "notrack", "lookup-hit", "lookup-miss", "dnat", "early-drop", "table-full"]);

/** A span of ns in us, for the trace. */
function us(ns: number): string {
  return `${(ns / 1000).toFixed(1)} us`;
}

/** An entry whose NAT is only the null binding (nf_nat_alloc_null_binding: no rule matched, nothing rewritten). */
function nullBinding(e: Entry): boolean {
  return e.natDst === e.origDst && e.natDport === e.origDport;
}

const IPVS_WORDS: Record<IpvsOutcome, string> = {
  found: "finds the tuple's connection (ip_vs_conn_in_get)",
  scheduled: "schedules a new connection (rr)",
  "both-missed": "misses the connection another CPU is hashing at the same moment and schedules again (rr)",
};
