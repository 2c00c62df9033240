import type { LookupTally, Packet } from "../net/packet.js";

/** The queries of a burst that go to the same server from its one socket form a pair (the tuples that can clash). */
export function markPairs(burst: Packet[], tally: LookupTally): void {
  for (let i = 0; i < burst.length; i++) {
    const p = burst[i]!;
    if (p.pair !== null) continue;
    for (let j = i + 1; j < burst.length; j++) {
      const q = burst[j]!;
      if (q.dst !== p.dst) continue;
      if (p.pair === null) {
        p.pair = { clashed: false };
        tally.pairs++;
      }
      q.pair = p.pair;
    }
  }
}

/** A lookup's accounting at its start. */
export function newTally(): LookupTally {
  return { queriesSent: 0, retransmits: 0, queriesLost: 0, clashes: 0, pairs: 0, pairsClashed: 0 };
}

