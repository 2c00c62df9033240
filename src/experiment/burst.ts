import type { Dist } from "../engine/dist.js";
import type { Streams } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import type { Netns } from "../kernel/netns.js";
import { type DnsMessage, type LookupTally, type Packet, type QType, makePacket } from "../net/packet.js";

/** Which queries a burst's threads send: A and AAAA in turn (thread 0 A, thread 1 AAAA, ...), or all of one type. */
export type BurstQTypes = "alternate" | "A" | "AAAA";
export const BURST_QTYPES: readonly BurstQTypes[] = ["alternate", "A", "AAAA"];

/**
 * N threads sharing one connected UDP socket, each sending one query per burst,
 * as the multi-thread reproducers do: udpclash.c of the kernel's selftest
 * (tools/testing/selftests/net/netfilter/conntrack_clash.sh: THREAD_COUNT 128
 * threads spinning on one flag, then one sendto() each on one socket) and the
 * classic 10-thread client of the 2018 insertion-race reports (brb/conntrack-race
 * src/client.c: THREAD_COUNT 10, the same pattern through a 2-endpoint DNAT).
 */
export interface BurstSpec {
  /** Senders, at least 2; thread k runs on CPU k mod cpus. */
  threads: number;
  /** Each thread's start time within its burst, ns after the burst's start (drawn per thread and burst). */
  spread: Dist;
  /** The spread as the user wrote it (microseconds), for reports. */
  spreadText: string;
  qtypes: BurstQTypes;
  bursts: number;
}

/** What the bursts came to, burst by burst. */
export interface BurstOutcome {
  threads: number;
  bursts: number;
  queries: number;
  /** clashesPerBurst[k]: the bursts with exactly k insert clashes (the array ends at the largest k seen). */
  clashesPerBurst: number[];
  /** lostPerBurst[k]: the bursts in which exactly k queries got no reply. */
  lostPerBurst: number[];
  /** Bursts with at least one clash, and with at least one query unanswered. */
  burstsClashed: number;
  burstsLost: number;
  /** The first few bursts (by index, from 0) that lost at least one query. */
  firstLost: number[];
}

/** How many lossy burst indices the outcome lists. */
const FIRST_LOST = 20;

/** The race's per-query bookkeeping: the burst of each query by packet uid, and the replies each burst received. */
export interface BurstBook {
  ofUid: Int32Array;
  replied: Uint16Array;
}

const PORTS = 28232;

function qtypeOf(q: BurstQTypes, k: number): QType {
  return q === "alternate" ? (k % 2 === 0 ? "A" : "AAAA") : q;
}

/**
 * Every burst's sends: thread k's query leaves at the burst's start plus its drawn offset, from CPU
 * k mod cpus (each a send() of its own: Netns.ingress with one datagram). A fresh source port per
 * burst, taken in turn; a burst starts `spacingNs` after the previous burst's last send, so that
 * with a point spread bursts are exactly `spacingNs` apart (the pair experiment's spacing) and a
 * port comes back only after 28,232 spacings, when its entry has expired (experiment/race.ts).
 * Offsets come from the stream "client/spread", so the other streams draw as they would without it.
 * Returns the tally of each burst: its packets' clashes and losses (kernel/confirm.ts counts them).
 */
export function scheduleBursts(b: BurstSpec, cpus: number, sim: Simulator, net: Netns, streams: Streams, client: number, vip: number, book: BurstBook, spacingNs: number): LookupTally[] {
  const firstPort = Math.floor(streams.get("client/ports")() * PORTS);
  const spreadRng = streams.get("client/spread");
  const offsets = new Array<number>(b.threads);
  const tallies: LookupTally[] = [];
  let uid = 1;
  let t0 = 0;
  for (let i = 0; i < b.bursts; i++) {
    const sport = 32768 + ((firstPort + i) % PORTS);
    const tally: LookupTally = { queriesSent: b.threads, retransmits: 0, queriesLost: 0, clashes: 0, pairs: 0, pairsClashed: 0 };
    tallies.push(tally);
    let last = 0;
    for (let k = 0; k < b.threads; k++) {
      offsets[k] = Math.round(b.spread.sample(spreadRng));
      if (offsets[k]! > last) last = offsets[k]!;
    }
    for (let k = 0; k < b.threads; k++) {
      const dns: DnsMessage = { id: uid, qname: "kube-dns.kube-system.svc.cluster.local.", qtype: qtypeOf(b.qtypes, k), response: false, rcode: "NOERROR", ancount: 0, tc: false, from: "", sends: 1 };
      book.ofUid[uid] = i;
      const pkt: Packet = makePacket(uid++, "udp", client, sport, vip, 53, dns, "", tally, 0);
      const cpu = k % cpus;
      sim.at(t0 + offsets[k]!, () => net.ingress([pkt], cpu), undefined);
    }
    t0 += last + spacingNs;
  }
  return tallies;
}

/** The per-burst outcome, from the tallies and the replies counted at the socket. */
export function burstOutcome(b: BurstSpec, tallies: LookupTally[], book: BurstBook): BurstOutcome {
  const clashesPerBurst: number[] = [];
  const lostPerBurst: number[] = [];
  const bump = (h: number[], k: number) => {
    while (h.length <= k) h.push(0);
    h[k]!++;
  };
  let burstsClashed = 0;
  let burstsLost = 0;
  const firstLost: number[] = [];
  tallies.forEach((t, i) => {
    const lost = b.threads - book.replied[i]!;
    bump(clashesPerBurst, t.clashes);
    bump(lostPerBurst, lost);
    if (t.clashes > 0) burstsClashed++;
    if (lost > 0) {
      burstsLost++;
      if (firstLost.length < FIRST_LOST) firstLost.push(i);
    }
  });
  return { threads: b.threads, bursts: b.bursts, queries: b.threads * b.bursts, clashesPerBurst, lostPerBurst, burstsClashed, burstsLost, firstLost };
}
