import type { Packet } from "../net/packet.js";
import type { ConntrackTable, Counters, Entry } from "./conntrack.js";
import type { HopStats } from "./hop.js";
import type { HopTracer } from "./hoptrace.js";
import type { KernelFeatures } from "./version.js";

/**
 * What __nf_conntrack_confirm does with an entry that lost the insertion race:
 * - "merge": the packet goes on with the winner's entry (nf_ct_resolve_clash);
 * - "nat-clash": inserted reply-only, the packet goes on (nf_ct_resolve_clash_harder, 5.6+);
 * - "drop": NF_DROP.
 */
export type ClashVerdict = "merge" | "nat-clash" | "drop";

/**
 * nf_confirm -> __nf_conntrack_confirm for a new entry at the end of POSTROUTING:
 * it is inserted in the hash table, or, when another entry with its ORIGINAL or
 * REPLY tuple was confirmed first, the clash is resolved as the kernel
 * generation does (kernel/version.ts: clashResolution, natClashEntry,
 * clashResolveCounter).
 */
export class Confirm {
  constructor(
    private readonly features: KernelFeatures,
    /** The namespace has a nat table: every entry has NAT done (at least a null binding). */
    private readonly natTable: boolean,
    private readonly table: ConntrackTable,
    private readonly counters: Counters,
    private readonly stats: HopStats,
    private readonly tracer: HopTracer,
  ) {}

  /** __nf_conntrack_confirm: true if the packet goes on (NF_ACCEPT), false if it is dropped. */
  confirm(e: Entry, pkt: Packet, cpu: number, now: number): boolean {
    const winner = this.table.findOrig(e.origKey, now) ?? this.table.findReply(e.replyKey, now);
    if (winner === undefined) {
      this.table.insert(e, now);
      // __nf_conntrack_confirm: NF_CT_STAT_INC(net, insert) after __nf_conntrack_hash_insert, up to 4.8
      // (removed from the packet path by "netfilter: conntrack: remove packet hotpath stats", 4.9).
      if (this.features.hotpathStats) this.counters.bump(cpu, "insert");
      if (this.tracer.sink !== null) this.tracer.emit("confirm", pkt, cpu, e);
      return true;
    }
    // The clash: another entry with our ORIGINAL or REPLY tuple was confirmed first.
    this.countClash(e, winner, pkt);
    switch (this.verdict(e, winner, pkt, now)) {
      case "merge":
        this.merge(e, winner, pkt, cpu, now);
        return true;
      case "nat-clash":
        this.insertNatClash(e, pkt, cpu, now);
        return true;
      case "drop":
        this.drop(e, pkt, cpu);
        return false;
    }
  }

  private countClash(e: Entry, winner: Entry, pkt: Packet): void {
    this.stats.clashes++;
    if (pkt.tally !== null) pkt.tally.clashes++;
    const pair = pkt.pair;
    if (pair !== null && !pair.clashed) {
      pair.clashed = true;
      if (pkt.tally !== null) pkt.tally.pairsClashed++;
    }
    if (winner.natDst !== e.natDst || winner.natDport !== e.natDport) this.stats.clashesDifferentEndpoint++;
    else if (winner.natSrc !== e.natSrc || winner.natSport !== e.natSport) this.stats.clashesDifferentSource++;
  }

  /** nf_ct_resolve_clash, by kernel generation: what becomes of the loser `e`. */
  private verdict(e: Entry, winner: Entry, pkt: Packet, now: number): ClashVerdict {
    const f = this.features;
    // nf_ct_resolve_clash: only l4protos with allow_clash (UDP, UDPLITE) are resolved; a TCP clash drops.
    if (f.clashResolution === "none" || pkt.proto === "tcp") return "drop";
    // __nf_ct_resolve_clash: merged when no NAT was done (4.7), or when the tuples are identical (nf_ct_match, 4.19).
    if (!this.natTable || (f.clashResolution === "identical" && winner.origKey === e.origKey && winner.replyKey === e.replyKey)) return "merge";
    // nf_ct_resolve_clash_harder: our REPLY tuple is unique, insert reply-only.
    if (f.clashResolution === "identical" && f.natClashEntry !== "none" && this.table.findReply(e.replyKey, now) === undefined) return "nat-clash";
    return "drop";
  }

  /** __nf_ct_resolve_clash: the skb is attached to the winner (nf_ct_set); its NAT is identical. The loser is freed. */
  private merge(e: Entry, winner: Entry, pkt: Packet, cpu: number, now: number): void {
    this.table.free(e);
    this.table.udpPacket(winner, false, now);
    this.counters.bump(cpu, this.features.clashResolveCounter ? "clash_resolve" : "insert_failed");
    if (this.tracer.sink !== null) this.tracer.emit("clash-merge", pkt, cpu, e);
  }

  /**
   * nf_ct_resolve_clash_harder: the loser is inserted reply-only, with IPS_NAT_CLASH and a 1 s fixed timeout.
   * It links the REPLY node itself (hlist_nulls_add_head_rcu, no __nf_conntrack_hash_insert) and counts
   * clash_resolve only, never insert (5.10.13 nf_conntrack_core.c); it exists from 5.6, after insert left the packet path.
   */
  private insertNatClash(e: Entry, pkt: Packet, cpu: number, now: number): void {
    this.table.insertNatClash(e, now);
    this.stats.natClashEntries++;
    if (this.tracer.sink !== null) this.tracer.emit("clash-nat-entry", pkt, cpu, e);
    if (this.features.clashResolveCounter) this.counters.bump(cpu, "clash_resolve");
  }

  /** NF_DROP. Before 4.7 only insert_failed moves; from 4.7 the drop counter too (71d8c47fc653). */
  private drop(e: Entry, pkt: Packet, cpu: number): void {
    this.table.free(e);
    this.counters.bump(cpu, "insert_failed");
    if (this.features.clashResolution !== "none") this.counters.bump(cpu, "drop");
    if (this.tracer.sink !== null) this.tracer.emit("clash-drop", pkt, cpu, e);
    this.stats.droppedClash++;
    if (pkt.tally !== null) pkt.tally.queriesLost++;
  }
}
