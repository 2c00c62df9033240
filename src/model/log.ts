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
const MS = 1_000_000;
/** The thread column of a call no thread took. */
export const NO_THREAD = 0xffffffff;
const RESULTS: readonly LookupResult[] = [
  gaiResult("OK", true, true),
  gaiResult("OK", true, false),
  gaiResult("OK", false, true),
  ...(["EAI_NONAME", "EAI_AGAIN", "EAI_NODATA", "EAI_FAIL"] as GaiStatus[]).map((s) => gaiResult(s, false, false)),
];

/** Called with each lookup in lookup order, as soon as it and every lookup before it are recorded (read it through the log's accessors with index i). */
export type LookupSink = (log: LookupLog, i: number) => void;

/**
 * What a summary reads of every lookup, gathered in lookup order as rows are released: each
 * latency (ms, 8 bytes a lookup: the exact quantiles need them all) and counts.
 */
export interface LookupFigures {
  /** Lookups released. */
  n: number;
  /** The first n are every lookup's latency in ms, (end - start) / 1e6, in lookup order until sortedLatencies(). */
  latMs: Float64Array;
  sent: number;
  lost: number;
  pairs: number;
  pairsClashed: number;
  /** Lookups that did not return OK, those the run ended before included. */
  failed: number;
  unfinished: number;
  /** Lookups answered without an IPv6 address (outcome "OK v4"). */
  okV4: number;
}

export interface LookupLogOptions {
  /** Lookups the run will make, to size the columns (and the latencies) once. */
  expected?: number;
  /**
   * Keep only the lookups not yet released to the sink (those begun before a lookup that has not
   * finished): memory then grows with the lookups in flight, not with the run. Every row is
   * handed to `sink` in lookup order; afterwards only figures() and the counts can be read.
   */
  sink?: LookupSink;
}

/**
 * Every lookup of a run, by lookup number (those the run ended before marked so), in columns of typed arrays:
 * a run keeps hundreds of thousands of them, and one object per lookup that
 * lives to the end would cost more than the lookup's simulation. With a sink (LookupLogOptions) the
 * columns are a ring of the lookups in flight instead, and rows leave as soon as they can.
 */
export class LookupLog {
  private cap = 0;
  /** Ring mode (a sink): row i is in slot i & mask. */
  private mask = 0;
  private readonly sink: LookupSink | null;
  private size = 0;
  /** Rows 0..released-1 have been released (figures gathered, sink called). */
  private released = 0;
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
  private readonly fig: LookupFigures;
  private sorted = false;

  /** `expected` (a number, or in the options): lookups the run will make, to size the columns once. */
  constructor(opts: number | LookupLogOptions = {}) {
    const o = typeof opts === "number" ? { expected: opts } : opts;
    const expected = o.expected ?? 0;
    this.sink = o.sink ?? null;
    this.fig = { n: 0, latMs: new Float64Array(Math.max(expected, 16)), sent: 0, lost: 0, pairs: 0, pairsClashed: 0, failed: 0, unfinished: 0, okV4: 0 };
    if (this.sink !== null) this.grow(64);
    else if (expected > 0) this.grow(expected);
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
    this.write(lookup, pod, thread, name, startNs, endNs, thread === NO_THREAD ? NOT_STARTED : UNFINISHED, tally);
  }

  /** Records lookup number `lookup` (numbered from 1 as lookups begin). */
  put(lookup: number, pod: string, thread: number, name: string, startNs: number, endNs: number, result: LookupResult, tally: LookupTally): void {
    this.write(lookup, pod, thread, name, startNs, endNs, outcomeIndex(result), tally);
  }

  private write(lookup: number, pod: string, thread: number, name: string, startNs: number, endNs: number, outcome: number, tally: LookupTally): void {
    const i = lookup - 1;
    if (i < this.released) throw new Error(`lookup ${lookup} recorded after it was released`);
    if (this.sink !== null) {
      if (i - this.released >= this.cap) this.grow(i - this.released + 1);
    } else if (i >= this.cap) this.grow(i + 1);
    const s = this.slot(i);
    if (i >= this.size) this.size = i + 1;
    if (this.present[s] === 0) this.filled++;
    this.present[s] = 1;
    this.start[s] = startNs;
    this.end[s] = endNs;
    this.podIdx[s] = intern(pod, this.pods, this.podIds);
    this.thread[s] = thread;
    this.nameIdx[s] = intern(name, this.names, this.nameIds);
    this.outcomeIdx[s] = outcome;
    this.sent[s] = tally.queriesSent;
    this.lost[s] = tally.queriesLost;
    this.retrans[s] = tally.retransmits;
    this.clash[s] = tally.clashes;
    this.pairs[s] = tally.pairs;
    this.pairsClashed[s] = tally.pairsClashed;
    if (i === this.released) this.release(false);
  }

  /** Releases the rows from `released` on: while present, or (at the end) every recorded row, skipping numbers never recorded. */
  private release(all: boolean): void {
    while (this.released < this.size) {
      const i = this.released;
      const s = this.slot(i);
      if (this.present[s] === 1) this.gather(i);
      else if (!all) return;
      this.released++;
      if (this.sink !== null) this.present[s] = 0;
    }
  }

  private gather(i: number): void {
    const f = this.fig;
    const s = this.slot(i);
    if (f.n === f.latMs.length) {
      const more = new Float64Array(f.latMs.length * 2);
      more.set(f.latMs);
      f.latMs = more;
    }
    f.latMs[f.n++] = (this.end[s]! - this.start[s]!) / MS;
    f.sent += this.sent[s]!;
    f.lost += this.lost[s]!;
    f.pairs += this.pairs[s]!;
    f.pairsClashed += this.pairsClashed[s]!;
    const o = this.outcomeIdx[s]!;
    if (o >= UNFINISHED) f.unfinished++;
    if (o > 2) f.failed++;
    if (o === 1) f.okV4++;
    this.sink?.(this, i);
  }

  /** At the end of the run: releases every row still held (those after a number never recorded included). */
  finish(): void {
    this.release(true);
  }

  /** The figures of the rows released so far (every row after finish()). */
  figures(): LookupFigures {
    return this.fig;
  }

  /** The latencies (ms) of every released row, ascending (sorted once, in place). */
  sortedLatencies(): Float64Array {
    const f = this.fig;
    if (!this.sorted) {
      if (f.n < f.latMs.length) f.latMs = f.latMs.slice(0, f.n);
      f.latMs.sort();
      this.sorted = true;
    }
    return f.latMs;
  }

  private slot(i: number): number {
    return this.sink === null ? i : i & this.mask;
  }

  /** Whether row i is recorded (and, with a sink, still held: not yet released, or being released now). */
  has(i: number): boolean {
    if (i >= this.size) return false;
    if (this.sink !== null && (i < this.released || i - this.released >= this.cap)) return false;
    return this.present[this.slot(i)] === 1;
  }
  startNs(i: number): number {
    return this.start[this.slot(i)]!;
  }
  endNs(i: number): number {
    return this.end[this.slot(i)]!;
  }
  latencyNs(i: number): number {
    const s = this.slot(i);
    return this.end[s]! - this.start[s]!;
  }
  pod(i: number): string {
    return this.pods[this.podIdx[this.slot(i)]!]!;
  }
  threadOf(i: number): number {
    return this.thread[this.slot(i)]!;
  }
  name(i: number): string {
    return this.names[this.nameIdx[this.slot(i)]!]!;
  }
  outcome(i: number): string {
    return OUTCOMES[this.outcomeIdx[this.slot(i)]!]!;
  }
  /** What getaddrinfo() returned (a finished lookup only: see finished()). */
  result(i: number): LookupResult {
    return RESULTS[this.outcomeIdx[this.slot(i)]!]!;
  }
  /** False for a lookup the run ended before (UNFINISHED, NOT_STARTED). */
  finished(i: number): boolean {
    return this.outcomeIdx[this.slot(i)]! < UNFINISHED;
  }
  tally(i: number): LookupTally {
    const s = this.slot(i);
    return { queriesSent: this.sent[s]!, queriesLost: this.lost[s]!, retransmits: this.retrans[s]!, clashes: this.clash[s]!, pairs: this.pairs[s]!, pairsClashed: this.pairsClashed[s]! };
  }
  /** Retransmits and clashes of row i (the lookups CSV's last columns) without a tally object. */
  retransmits(i: number): number {
    return this.retrans[this.slot(i)]!;
  }
  clashes(i: number): number {
    return this.clash[this.slot(i)]!;
  }
  queriesSent(i: number): number {
    return this.sent[this.slot(i)]!;
  }
  queriesLost(i: number): number {
    return this.lost[this.slot(i)]!;
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

  /** Every recorded lookup as an object, in lookup order (a log without a sink). */
  records(): LookupRecord[] {
    const out: LookupRecord[] = [];
    for (let i = 0; i < this.size; i++) if (this.has(i)) out.push(this.record(i));
    return out;
  }

  /** Room for `min` rows: the whole run without a sink, the rows in flight (a ring, a power of two) with one. */
  private grow(min: number): void {
    let cap = Math.max(this.sink === null ? 1024 : 64, this.cap * 2);
    while (cap < min) cap *= 2;
    const old = this.cap;
    const oldMask = this.mask;
    // Row i of the old layout moves to its slot in the new one (the same index without a sink).
    const from = this.sink === null ? 0 : this.released;
    const to = this.sink === null ? old : Math.min(this.size, this.released + old);
    const more = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      if (this.sink === null) b.set(a);
      else for (let i = from; i < to; i++) b[i & (cap - 1)] = a[i & oldMask]!;
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
    this.mask = cap - 1;
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
