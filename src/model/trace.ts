import type { LookupTally } from "../net/packet.js";

/** One line of a lookup's story: when, where, what. */
export interface TraceLine {
  /** Simulated time, ns. */
  t: number;
  /** Where it happened: "pod/thread 0", "node cpu1", "kube-dns 10.244.1.10", "glibc", "musl". */
  where: string;
  text: string;
}

export interface LookupTrace {
  lookup: number;
  pod: string;
  thread: number;
  name: string;
  startNs: number;
  endNs: number;
  outcome: string;
  lines: TraceLine[];
  /** The pod's resolver on why a lost query costs what it does, from the conf its lookups ran with. */
  explainLoss: () => string;
}

/**
 * Collects what every part of the model says about each lookup (its packets
 * carry the lookup's tally, which names it). Only built when a trace is asked
 * for: the hooks cost nothing otherwise.
 */
export class TraceCollector {
  private readonly byTally = new Map<LookupTally, LookupTrace>();
  readonly lookups: LookupTrace[] = [];

  begin(tally: LookupTally, lookup: number, pod: string, thread: number, name: string, t: number, explainLoss: () => string): void {
    const tr: LookupTrace = { lookup, pod, thread, name, startNs: t, endNs: -1, outcome: "", lines: [], explainLoss };
    this.byTally.set(tally, tr);
    this.lookups.push(tr);
  }

  add(tally: LookupTally | null, t: number, where: string, text: string): void {
    if (tally === null) return;
    this.byTally.get(tally)?.lines.push({ t, where, text });
  }

  end(tally: LookupTally, t: number, outcome: string): void {
    const tr = this.byTally.get(tally);
    if (tr === undefined) return;
    tr.endNs = t;
    tr.outcome = outcome;
    this.byTally.delete(tally);
  }
}
