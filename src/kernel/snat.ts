import type { Rng } from "../engine/random.js";
import { tupleKey } from "../net/addr.js";
import type { Packet } from "../net/packet.js";
import type { ConntrackTable, Counters, Entry } from "./conntrack.js";
import type { HopStats, NetnsConfig } from "./hop.js";
import type { HopTracer } from "./hoptrace.js";

/**
 * POSTROUTING's source NAT for a new entry (nf_nat_ipv4_out, nf_nat_core.c), as it
 * runs snatLeadNs before the confirm: KUBE-POSTROUTING's MASQUERADE, or the null
 * binding, and get_unique_tuple's search for a source port whose reply tuple no
 * confirmed entry owns.
 */
export class SourceNat {
  /** udp_port_rover and tcp_port_rover of nf_nat_proto_udp.c / _tcp.c (before 6ed5943f8735). */
  private readonly rovers = [0, 0];

  constructor(
    private readonly cfg: NetnsConfig,
    private readonly table: ConntrackTable,
    private readonly counters: Counters,
    private readonly stats: HopStats,
    private readonly rng: Rng,
    private readonly tracer: HopTracer,
  ) {}

  /** nf_nat_ipv4_out for a new entry: MASQUERADE if KUBE-MARK-MASQ marked it, else the null binding. */
  bind(e: Entry, pkt: Packet, cpu: number, now: number): void {
    if (e.masq) {
      this.masquerade(e, pkt, cpu, now);
    } else if (this.cfg.natTable && !this.cfg.features.sameOriginSkip) {
      this.nullBinding(e, pkt, cpu, now);
    }
  }

  /**
   * get_unique_tuple for the SRC null binding (nf_nat_alloc_null_binding), snatLeadNs before the
   * confirm: before 4e35c1cb9460 nf_nat_used_tuple sees a confirmed entry owning our REPLY tuple
   * (race 2). It is asked twice, for "the original tuple first" and for "already in range and
   * unique" (found++ each time); then nf_nat_l4proto_unique_tuple picks another source port.
   */
  private nullBinding(e: Entry, pkt: Packet, cpu: number, now: number): void {
    if (this.taken(e, e.replyKey, now) === null) return;
    this.counters.bump(cpu, "found");
    this.counters.bump(cpu, "found");
    this.rewriteSource(e, pkt, pkt.src, this.uniquePort(e, pkt.proto === "tcp", pkt.src, false, cpu, now), cpu, "port-realloc");
  }

  /**
   * KUBE-POSTROUTING's MASQUERADE (nf_nat_masquerade_ipv4): the source becomes the node's address,
   * with the flags of the rule, and get_unique_tuple (nf_nat_core.c) picks the source port.
   */
  private masquerade(e: Entry, pkt: Packet, cpu: number, now: number): void {
    const m = this.cfg.masquerade!;
    const tcp = pkt.proto === "tcp";
    let port = pkt.sport;
    if (m.randomFully) {
      // NF_NAT_RANGE_PROTO_RANDOM_FULLY is in NF_NAT_RANGE_PROTO_RANDOM_ALL: get_unique_tuple skips "try
      // the original tuple first" (find_appropriate_src) and "only bother mapping if it's not already in
      // range and unique", and nf_nat_l4proto_unique_tuple starts from prandom_u32() in every version.
      // Each new entry gets a port of its own: the two entries of a same-tuple pair get different REPLY
      // tuples even when DNAT picked the same endpoint.
      port = this.uniquePort(e, tcp, m.addr, true, cpu, now);
    } else {
      // The original port if (node address, port) is free. Step 1 offers it through find_appropriate_src
      // (the mapping of an entry with our original source: the pair's winner), step 3 asks again: each
      // asks nf_nat_used_tuple, found++ when taken. A winner whose own port was rewritten would offer
      // that port instead; the model offers the original port.
      const owner = this.taken(e, tupleKey(tcp, e.natDst, e.natDport, m.addr, port), now);
      if (owner !== null) {
        this.counters.bump(cpu, "found");
        if (owner.origKey === e.origKey) this.counters.bump(cpu, "found");
        port = this.uniquePort(e, tcp, m.addr, false, cpu, now);
      }
    }
    this.rewriteSource(e, pkt, m.addr, port, cpu, "masquerade");
  }

  /**
   * nf_nat_used_tuple -> nf_conntrack_tuple_taken, as the SRC binding sees it snatLeadNs before the
   * confirm: a confirmed entry owns the reply tuple `replyKey`. From 4e35c1cb9460 (5.0) an entry with
   * our own ORIGINAL tuple does not count ("Let nf_ct_resolve_clash() deal with this later").
   */
  private taken(e: Entry, replyKey: number, now: number): Entry | null {
    const owner = this.table.findReply(replyKey, now);
    if (owner === undefined || owner.confirmedAt > now - this.cfg.timing.snatLeadNs) return null;
    return this.cfg.features.sameOriginSkip && owner.origKey === e.origKey ? null : owner;
  }

  /**
   * nf_nat_l4proto_unique_tuple for a source port of 1024 or more and no --to-ports: the first port
   * of 1024-65535 whose reply tuple is not taken (found++ for each taken one), searching from a random
   * offset (prandom_u32), or before 6ed5943f8735 from the protocol's rover, which then keeps the
   * offset chosen (udp_port_rover starts at 0: the port 1024 of the brb/conntrack-race logs).
   * The later cap of 128 attempts ("netfilter: nat: limit port clash resolution attempts") is not
   * modelled: the search here goes on to a free port.
   */
  private uniquePort(e: Entry, tcp: boolean, addr: number, random: boolean, cpu: number, now: number): number {
    const size = 65536 - 1024;
    const rover = !random && this.cfg.features.natPortRover;
    let off = rover ? this.rovers[tcp ? 1 : 0]! : Math.floor(this.rng() * size);
    for (let i = 0; i < size; i++, off++) {
      const port = 1024 + (off % size);
      if (!this.taken(e, tupleKey(tcp, e.natDst, e.natDport, addr, port), now)) break;
      this.counters.bump(cpu, "found");
    }
    off %= size;
    if (rover) this.rovers[tcp ? 1 : 0] = off;
    return 1024 + off;
  }

  /** nf_nat_setup_info -> nf_conntrack_alter_reply: the new source in the REPLY tuple and (nf_nat_packet) in the packet. */
  private rewriteSource(e: Entry, pkt: Packet, addr: number, port: number, cpu: number, kind: "port-realloc" | "masquerade"): void {
    if (port !== pkt.sport) this.stats.portRewrites++;
    e.natSrc = addr;
    e.natSport = port;
    e.replyKey = tupleKey(pkt.proto === "tcp", e.natDst, e.natDport, addr, port);
    pkt.src = addr;
    pkt.sport = port;
    if (this.tracer.sink !== null) this.tracer.emit(kind, pkt, cpu, e);
  }
}
