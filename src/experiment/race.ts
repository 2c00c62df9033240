import { Streams } from "../engine/random.js";
import { Simulator } from "../engine/sim.js";
import type { CounterName } from "../kernel/conntrack.js";
import { type HopEvent, Netns } from "../kernel/netns.js";
import { MIGRATION_SPLIT_PROBABILITY, type NodeLoad, type RxMode } from "../kernel/rx.js";
import type { NatBackend } from "../kernel/timing.js";
import { type KernelFeatures, kernelFeatures } from "../kernel/version.js";
import { AddressBook } from "../net/addr.js";
import { type DnsMessage, type Packet, type QType, makePacket, replyPacket } from "../net/packet.js";
import { nodeHopConfig } from "../model/node.js";
import { type BurstOutcome, type BurstSpec, burstOutcome, scheduleBursts } from "./burst.js";

/** two-threads: the classic reproducer; sendmmsg: one thread, glibc; two-sends: one thread, a send() each (musl); two-sockets: the mitigation. */
export type SendMode = "two-threads" | "sendmmsg" | "two-sends" | "two-sockets";
/** kube-proxy --masquerade-all, with or without --random-fully on its MASQUERADE rule. */
export type MasqueradeMode = "none" | "plain" | "random-fully";
export const MASQUERADE_MODES: readonly MasqueradeMode[] = ["none", "plain", "random-fully"];

export interface RaceOptions {
  kernel: string | KernelFeatures;
  endpoints: number;
  /** AAAA send time minus A send time, microseconds (negative: AAAA first). */
  gapUs: number;
  send: SendMode;
  pairs: number;
  rules: number;
  backend: NatBackend;
  rx: RxMode;
  load: NodeLoad;
  cpus: number;
  seed: number;
  /** Extra time each endpoint takes to answer, ms (a slow server). */
  replyDelayMs: number;
  /** kube-proxy's IPVS mode with this schedule_ns (kernel/ipvs.ts), or null for the nat table's DNAT. */
  ipvsScheduleNs: number | null;
  /** The queries are MASQUERADEd to the node's address (kube-proxy --masquerade-all). */
  masquerade: MasqueradeMode;
  /** nf_conntrack_max (0: no limit), with nf_conntrack_buckets = max / 4 as kube-proxy sets it. */
  conntrackMax: number;
  /** The thread-migration split of a sendmmsg() pair, per pair (rx.ts). */
  migrationProbability: number;
  /** The node's own load (kernel/softirq.ts): softirq share of each CPU, runnable tasks per CPU. */
  softirqShare: number;
  runnablePerCpu: number;
  trace?: (e: HopEvent) => void;
  /**
   * N threads on one socket instead of the pair (experiment/burst.ts): `pairs`, `gapUs` and `send`
   * do not apply. Two threads with a point spread send exactly as `send: "two-threads"` at gap 0.
   */
  burst?: BurstSpec;
}

export interface RaceResult {
  pairs: number;
  clashes: number;
  /** Pairs in which at least one query got no reply. */
  lost_pairs: number;
  both_replied: number;
  insert_failed: number;
  drop: number;
  clash_resolve: number;
  found: number;
  /** Losers whose source port the null binding rewrote (race 2). */
  port_rewrites: number;
  different_endpoint_clashes: number;
  /** Clashes whose loser went to the winner's endpoint from another source port. */
  different_source_clashes: number;
  /** Losers inserted as reply-only NAT-clash entries (5.6+). */
  nat_clash_entries: number;
  /** Packets: sent, forwarded, dropped in the clash, replies delivered, replies orphaned. */
  conservation: { sent: number; forwarded: number; dropped: number; tableFull: number; untracked: number; repliesDelivered: number; repliesOrphaned: number };
  counters: Record<CounterName, number>;
  perCpu: Record<CounterName, number>[];
  /** With o.burst: the outcome burst by burst (pairs, lost_pairs and both_replied then count bursts). */
  bursts?: BurstOutcome;
}

export const RACE_DEFAULTS: Omit<RaceOptions, "kernel"> = {
  endpoints: 2,
  gapUs: 0,
  send: "two-threads",
  pairs: 10000,
  rules: 0,
  backend: "iptables-nft",
  rx: "inline",
  load: "idle",
  cpus: 2,
  seed: 1,
  replyDelayMs: 0,
  ipvsScheduleNs: null,
  masquerade: "none",
  conntrackMax: 0,
  migrationProbability: MIGRATION_SPLIT_PROBABILITY,
  softirqShare: 0,
  runnablePerCpu: 0,
};

const US = 1000;
/**
 * Pairs are at least this far apart, so one pair's packets are long gone before the
 * next, and with ports taken in turn from the 28,232 of ip_local_port_range a
 * port comes back only after 31 s (two-sockets: 15.5 s for the second socket's port, which only
 * ever carries AAAA queries of its own pair), when its old entry (30 s unreplied, 30 s
 * after a reply within 2 s, from 5.0) has expired: every pair starts with no entry.
 */
const PAIR_SPACING_NS = 1100 * US;
const PORTS = 28232;

/**
 * The spacing that keeps every pair's port free of a live entry on this kernel: before 5.0 a
 * replied UDP entry is a stream at once (nf_conntrack_udp_packet, no 2 s rule before d535c8a69c19)
 * and lives udpStreamTimeoutS (180 s), so the pairs are spaced for a port to come back only after
 * that (6.4 ms apart); from 5.0 the 1.1 ms spacing's 31 s suffice.
 */
export function pairSpacingNs(f: KernelFeatures): number {
  if (f.udpStreamAfter2s) return PAIR_SPACING_NS; // 28,232 x 1.1 ms = 31 s > 30 s after the reply
  return Math.max(PAIR_SPACING_NS, Math.ceil(((f.udpStreamTimeoutS + 1) * 1e9) / PORTS));
}

/** A pair's queries carry no lookup of their own: the race finds a reply's pair by its packet uid. */
interface Pairs {
  /** The pair of each query, by packet uid (a reply's uid is minus its query's). */
  ofUid: Int32Array;
  /** Replies received, by pair. */
  replied: Uint16Array;
}

/**
 * The classic reproducer in simulation: a pair of queries (A then AAAA) on one
 * connected UDP socket, a fresh source port per pair, through one node hop that
 * DNATs a ClusterIP to N endpoints; replies come back through reverse NAT.
 */
export function runRace(o: RaceOptions): RaceResult {
  const features = typeof o.kernel === "string" ? kernelFeatures(o.kernel) : o.kernel;
  if (features === null) throw new RangeError(`not a kernel version: ${String(o.kernel)}`);
  const sim = new Simulator();
  const streams = new Streams(o.seed);
  const addrs = new AddressBook();
  const client = addrs.id("10.244.0.10");
  const vip = addrs.id("10.96.0.10");
  const b = o.burst;
  const n = b === undefined ? o.pairs : b.bursts;
  const pairs: Pairs = { ofUid: new Int32Array((b === undefined ? 2 : b.threads) * n + 1), replied: new Uint16Array(n) };
  const net = raceHop(o, features, sim, streams, addrs, vip, pairs);
  if (o.trace) net.trace = o.trace;
  if (b === undefined) {
    schedulePairs(o, sim, net, streams, client, vip, pairs, pairSpacingNs(features));
    sim.run();
    return raceResult(net, pairs, n, 2);
  }
  const tallies = scheduleBursts(b, o.cpus, sim, net, streams, client, vip, pairs, pairSpacingNs(features));
  sim.run();
  return { ...raceResult(net, pairs, n, b.threads), bursts: burstOutcome(b, tallies, pairs) };
}

/** The node's hop, wired to endpoints that answer at once and to the client's connected socket. */
function raceHop(o: RaceOptions, features: KernelFeatures, sim: Simulator, streams: Streams, addrs: AddressBook, vip: number, pairs: Pairs): Netns {
  const eps = Array.from({ length: o.endpoints }, (_, i) => addrs.id(`10.244.${1 + i}.10`));
  const oneWay = 50 * US;
  const hop = nodeHopConfig({
    name: "node",
    cpus: o.cpus,
    kernel: features,
    backend: o.backend,
    rx: o.rx,
    load: o.load,
    migrationProbability: o.migrationProbability,
    softirqShare: o.softirqShare,
    runnablePerCpu: o.runnablePerCpu,
    proxyMode: o.ipvsScheduleNs === null ? "iptables" : "ipvs",
    rules: o.rules,
    ipvsScheduleNs: o.ipvsScheduleNs,
    conntrackMax: o.conntrackMax > 0 ? o.conntrackMax : null,
  });
  const net: Netns = new Netns(
    sim,
    {
      ...hop,
      services: [{ name: "dns", vip, port: 53, endpoints: eps.map((addr) => ({ addr, port: 53 })), rulesBefore: hop.totalRules }],
      notrack: new Set(),
      masquerade: o.masquerade === "none" ? null : { addr: addrs.id("10.0.0.1"), randomFully: o.masquerade === "random-fully" },
    },
    { dnat: streams.get("node/dnat"), timing: streams.get("node/timing"), rx: streams.get("node/rx"), snat: streams.get("node/snat"), migrate: streams.get("node/migrate"), softirq: streams.get("node/softirq") },
    {
      forward: (pkt, t) => {
        // The endpoint answers at once; the reply comes back to the node.
        const reply = replyPacket(-pkt.uid, pkt, pkt.dns, "", t);
        sim.at(t + 2 * oneWay + Math.round(o.replyDelayMs * 1e6), (p: Packet) => net.reply(p, 0), reply);
      },
      toPod: (pkt) => {
        // The client's connected socket accepts only replies from the VIP on port 53 (and to its port).
        if (pkt.owned && pkt.src === vip && pkt.sport === 53) pairs.replied[pairs.ofUid[-pkt.uid]!]!++;
      },
      addrName: (id) => addrs.name(id),
    },
  );
  return net;
}

/** Every pair's sends: A from CPU 0 and AAAA from CPU 1 (gapUs apart), or both from one thread on CPU 0 (one sendmmsg(), or two send()). */
function schedulePairs(o: RaceOptions, sim: Simulator, net: Netns, streams: Streams, client: number, vip: number, pairs: Pairs, spacingNs: number): void {
  const firstPort = Math.floor(streams.get("client/ports")() * PORTS);
  let uid = 1;
  const mk = (sport: number, qtype: QType, pair: number): Packet => {
    const dns: DnsMessage = { id: uid, qname: "kube-dns.kube-system.svc.cluster.local.", qtype, response: false, rcode: "NOERROR", ancount: 0, tc: false, from: "", sends: 1 };
    pairs.ofUid[uid] = pair;
    // No lookup around it: the pair's outcome is read from the hop's counters and pairs.ofUid, not from a tally.
    return makePacket(uid++, "udp", client, sport, vip, 53, dns, "", null, 0);
  };
  const gapNs = Math.round(o.gapUs * US);
  const lead = Math.max(0, -gapNs);
  for (let i = 0; i < o.pairs; i++) {
    const t0 = i * spacingNs + lead;
    const sport = 32768 + ((firstPort + i) % PORTS);
    const a = mk(sport, "A", i);
    // two-sockets: the AAAA's socket has a port half the range away (free for the same 31 s).
    const aaaa = mk(o.send === "two-sockets" ? 32768 + ((firstPort + i + PORTS / 2) % PORTS) : sport, "AAAA", i);
    if (o.send === "sendmmsg" || o.send === "two-sends") {
      const calls = o.send === "sendmmsg" ? "sendmmsg" : "send";
      sim.at(t0, () => net.ingress([a, aaaa], 0, calls), undefined);
    } else {
      // Two threads pinned to CPU 0 (A) and CPU 1 (AAAA).
      sim.at(t0, () => net.ingress([a], 0), undefined);
      sim.at(t0 + gapNs, () => net.ingress([aaaa], 1 % o.cpus), undefined);
    }
  }
}

/** The outcome: clashes, losses and the hop's counters. */
function raceResult(net: Netns, pairs: Pairs, n: number, queries: number): RaceResult {
  let both = 0;
  for (let i = 0; i < n; i++) if (pairs.replied[i]! >= queries) both++;
  const c = net.counters.sum();
  const st = net.stats;
  return {
    pairs: n,
    clashes: st.clashes,
    lost_pairs: n - both,
    both_replied: both,
    insert_failed: c.insert_failed,
    drop: c.drop,
    clash_resolve: c.clash_resolve,
    found: c.found,
    port_rewrites: st.portRewrites,
    different_endpoint_clashes: st.clashesDifferentEndpoint,
    different_source_clashes: st.clashesDifferentSource,
    nat_clash_entries: st.natClashEntries,
    conservation: {
      sent: st.packetsIn,
      forwarded: st.forwarded,
      dropped: st.droppedClash,
      tableFull: st.droppedTableFull,
      untracked: st.untracked,
      repliesDelivered: st.repliesDelivered,
      repliesOrphaned: st.repliesOrphaned,
    },
    counters: c,
    perCpu: net.counters.perCpu,
  };
}
