import type { LookupTally } from "../net/packet.js";
import type { GaiStatus, LookupResult } from "../resolver/host.js";
import { gaiResult } from "../resolver/host.js";

/** One getaddrinfo() call, as the lookups CSV reports it. */
export interface LookupRecord {
  pod: string;
  lookup: number;
  thread: number;
  name: string;
  startNs: number;
  endNs: number;
  outcome: string;
  /** What getaddrinfo() returned; null for a lookup the run ended before (UNFINISHED, NOT_STARTED). */
  result: LookupResult | null;
  tally: LookupTally;
}

/** The outcomes a lookup can have, as the lookups CSV spells them. */
export const OUTCOMES = ["OK v4+v6", "OK v4", "OK v6", "EAI_NONAME", "EAI_AGAIN", "EAI_NODATA", "EAI_FAIL", "UNFINISHED", "NOT_STARTED"] as const;
/**
 * The outcomes of lookups the run ended before: getaddrinfo() was called and never returned
 * (UNFINISHED: nothing was left to happen, e.g. a query nobody answers with no timer), or the call
 * was waiting for a free thread, or not yet made by one (NOT_STARTED). Their latency runs to the end.
 */
const UNFINISHED = 7;
const NOT_STARTED = 8;
/** The thread column of a call no thread took. */
export const NO_THREAD = 0xffffffff;
const RESULTS: readonly LookupResult[] = [
  gaiResult("OK", true, true),
  gaiResult("OK", true, false),
  gaiResult("OK", false, true),
  ...(["EAI_NONAME", "EAI_AGAIN", "EAI_NODATA", "EAI_FAIL"] as GaiStatus[]).map((s) => gaiResult(s, false, false)),
];

/**
 * Every lookup of a run, by lookup number (those the run ended before marked so), in columns of typed arrays:
 * a run keeps hundreds of thousands of them, and one object per lookup that
 * lives to the end would cost more than the lookup's simulation.
 */
export class LookupLog {
  private cap = 0;
  private size = 0;
  private present = new Uint8Array(0);
  private start = new Float64Array(0);
  private end = new Float64Array(0);
  private podIdx = new Uint16Array(0);
  private thread = new Uint32Array(0);
  private nameIdx = new Uint32Array(0);
  private outcomeIdx = new Uint8Array(0);
  private sent = new Uint32Array(0);
  private lost = new Uint32Array(0);
  private retrans = new Uint32Array(0);
  private clash = new Uint32Array(0);
  private pairs = new Uint32Array(0);
  private pairsClashed = new Uint32Array(0);
  private readonly pods: string[] = [];
  private readonly podIds = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly nameIds = new Map<string, number>();
  private filled = 0;

  /** `expected`: lookups the run will make, to size the columns once. */
  constructor(expected = 0) {
    if (expected > 0) this.grow(expected);
  }

  /** Lookups recorded so far (those the run ended before included, once recorded). */
  get count(): number {
    return this.filled;
  }

  /** Highest lookup number recorded (rows are 1..length, some may be missing if the run stopped early). */
  get length(): number {
    return this.size;
  }

  /** Records lookup number `lookup` as one the run ended before: begun on `thread`, or NO_THREAD for one no thread took. */
  putUnfinished(lookup: number, pod: string, thread: number, name: string, startNs: number, endNs: number, tally: LookupTally): void {
    const i = lookup - 1;
    this.put(lookup, pod, thread, name, startNs, endNs, RESULTS[0]!, tally);
    this.outcomeIdx[i] = thread === NO_THREAD ? NOT_STARTED : UNFINISHED;
  }

  /** Records lookup number `lookup` (numbered from 1 as lookups begin). */
  put(lookup: number, pod: string, thread: number, name: string, startNs: number, endNs: number, result: LookupResult, tally: LookupTally): void {
    const i = lookup - 1;
    if (i >= this.cap) this.grow(i + 1);
    if (i >= this.size) this.size = i + 1;
    if (this.present[i] === 0) this.filled++;
    this.present[i] = 1;
    this.start[i] = startNs;
    this.end[i] = endNs;
    this.podIdx[i] = intern(pod, this.pods, this.podIds);
    this.thread[i] = thread;
    this.nameIdx[i] = intern(name, this.names, this.nameIds);
    this.outcomeIdx[i] = outcomeIndex(result);
    this.sent[i] = tally.queriesSent;
    this.lost[i] = tally.queriesLost;
    this.retrans[i] = tally.retransmits;
    this.clash[i] = tally.clashes;
    this.pairs[i] = tally.pairs;
    this.pairsClashed[i] = tally.pairsClashed;
  }

  has(i: number): boolean {
    return i < this.size && this.present[i] === 1;
  }
  startNs(i: number): number {
    return this.start[i]!;
  }
  endNs(i: number): number {
    return this.end[i]!;
  }
  latencyNs(i: number): number {
    return this.end[i]! - this.start[i]!;
  }
  pod(i: number): string {
    return this.pods[this.podIdx[i]!]!;
  }
  threadOf(i: number): number {
    return this.thread[i]!;
  }
  name(i: number): string {
    return this.names[this.nameIdx[i]!]!;
  }
  outcome(i: number): string {
    return OUTCOMES[this.outcomeIdx[i]!]!;
  }
  /** What getaddrinfo() returned (a finished lookup only: see finished()). */
  result(i: number): LookupResult {
    return RESULTS[this.outcomeIdx[i]!]!;
  }
  /** False for a lookup the run ended before (UNFINISHED, NOT_STARTED). */
  finished(i: number): boolean {
    return this.outcomeIdx[i]! < UNFINISHED;
  }
  tally(i: number): LookupTally {
    return { queriesSent: this.sent[i]!, queriesLost: this.lost[i]!, retransmits: this.retrans[i]!, clashes: this.clash[i]!, pairs: this.pairs[i]!, pairsClashed: this.pairsClashed[i]! };
  }

  /** Row i as an object (for tests and reports that want one). */
  record(i: number): LookupRecord {
    return {
      pod: this.pod(i),
      lookup: i + 1,
      thread: this.threadOf(i),
      name: this.name(i),
      startNs: this.startNs(i),
      endNs: this.endNs(i),
      outcome: this.outcome(i),
      result: this.finished(i) ? this.result(i) : null,
      tally: this.tally(i),
    };
  }

  /** Every recorded lookup as an object, in lookup order. */
  records(): LookupRecord[] {
    const out: LookupRecord[] = [];
    for (let i = 0; i < this.size; i++) if (this.present[i] === 1) out.push(this.record(i));
    return out;
  }

  private grow(min: number): void {
    let cap = Math.max(1024, this.cap * 2);
    while (cap < min) cap *= 2;
    const more = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.present = more(this.present, (n) => new Uint8Array(n));
    this.start = more(this.start, (n) => new Float64Array(n));
    this.end = more(this.end, (n) => new Float64Array(n));
    this.podIdx = more(this.podIdx, (n) => new Uint16Array(n));
    this.thread = more(this.thread, (n) => new Uint32Array(n));
    this.nameIdx = more(this.nameIdx, (n) => new Uint32Array(n));
    this.outcomeIdx = more(this.outcomeIdx, (n) => new Uint8Array(n));
    this.sent = more(this.sent, (n) => new Uint32Array(n));
    this.lost = more(this.lost, (n) => new Uint32Array(n));
    this.retrans = more(this.retrans, (n) => new Uint32Array(n));
    this.clash = more(this.clash, (n) => new Uint32Array(n));
    this.pairs = more(this.pairs, (n) => new Uint32Array(n));
    this.pairsClashed = more(this.pairsClashed, (n) => new Uint32Array(n));
    this.cap = cap;
  }
}

/** The index in OUTCOMES of a result (the same as OUTCOMES.indexOf(outcomeLabel(r))). */
function outcomeIndex(r: LookupResult): number {
  switch (r.status) {
    case "OK":
      return r.v4 && r.v6 ? 0 : r.v4 ? 1 : 2;
    case "EAI_NONAME":
      return 3;
    case "EAI_AGAIN":
      return 4;
    case "EAI_NODATA":
      return 5;
    case "EAI_FAIL":
      return 6;
  }
}

function intern(s: string, list: string[], ids: Map<string, number>): number {
  let id = ids.get(s);
  if (id === undefined) {
    id = list.length;
    list.push(s);
    ids.set(s, id);
  }
  return id;
}
