import { EventHeap } from "./heap.js";

/** An event callback: a plain function and one argument, so scheduling allocates no closure. */
export type Handler<A> = (arg: A) => void;

/** Opaque handle of a scheduled event, for cancel(). */
export type EventHandle = number;

const SLOT_BITS = 2 ** 24; // at most 16.7 million events pending at once
/** The latest time an event may have: integer ns stay exact in a JS number up to 2^53 - 1 (about 104.2 days). */
export const MAX_TIME = Number.MAX_SAFE_INTEGER;

function badTime(t: number, now: number): never {
  if (!(t >= now)) throw new RangeError(`event time ${t} is before now (${now})`);
  throw new RangeError(`event time ${t} is not an integer number of ns below 2^53`);
}

/**
 * The discrete-event core: an integer-nanosecond clock and a (time, seq) event queue.
 *
 * Knows nothing of the model. Time is a JS number holding integer nanoseconds
 * (exact up to 2^53 ns, about 104 days). `seq` is drawn when an event is
 * scheduled, so events at equal times run in the order they were scheduled.
 */
export class Simulator {
  /** Current simulated time, integer nanoseconds. */
  now = 0;
  /** Events executed so far (cancelled events are not counted). */
  executed = 0;

  private readonly heap = new EventHeap();
  private seq = 0;
  private fns: (Handler<any> | null)[] = [];
  private args: unknown[] = [];
  private gens: number[] = [];
  private free: number[] = [];
  private stopped = false;
  /** Cancelled entries still in the heap. */
  private cancelled = 0;
  private readonly keepFn = (slot: number) => this.fns[slot] !== null;
  private readonly dropFn = (slot: number) => this.retire(slot);

  /** Schedules fn(arg) at absolute time t (integer ns, not in the past). */
  at<A>(t: number, fn: Handler<A>, arg: A): void {
    this.insert(t, fn, arg);
  }

  /** Like at(), and returns a handle for cancel(). */
  atCancellable<A>(t: number, fn: Handler<A>, arg: A): EventHandle {
    const slot = this.insert(t, fn, arg);
    return this.gens[slot]! * SLOT_BITS + slot;
  }

  private insert<A>(t: number, fn: Handler<A>, arg: A): number {
    // Integer ns, not in the past (the message is built in a cold function, so this one stays small).
    if (!(t >= this.now && t <= MAX_TIME) || Math.floor(t) !== t) badTime(t, this.now);
    let slot: number;
    if (this.free.length > 0) {
      slot = this.free.pop()!;
    } else {
      slot = this.fns.length;
      if (slot >= SLOT_BITS) throw new RangeError("too many pending events");
      this.fns.push(null);
      this.args.push(undefined);
      this.gens.push(0);
    }
    this.fns[slot] = fn;
    this.args[slot] = arg;
    this.heap.push(t, this.seq++, slot);
    return slot;
  }

  /** Cancels a pending event; returns false if it already ran or was cancelled. */
  cancel(h: EventHandle): boolean {
    const slot = h % SLOT_BITS;
    const gen = Math.floor(h / SLOT_BITS);
    if (this.gens[slot] !== gen || this.fns[slot] === null) return false;
    // The heap entry stays; pop() sees the empty slot and skips it.
    this.fns[slot] = null;
    this.args[slot] = undefined;
    // Most resolver timeouts are cancelled: once they are half the heap, sweep them
    // out so the heap stays as small as the live events (amortised O(1) per cancel).
    if (++this.cancelled > 256 && this.cancelled * 2 > this.heap.size) {
      this.heap.compact(this.keepFn, this.dropFn);
      this.cancelled = 0;
    }
    return true;
  }

  private retire(slot: number): void {
    this.fns[slot] = null;
    this.args[slot] = undefined;
    this.gens[slot] = this.gens[slot]! + 1;
    this.free.push(slot);
  }

  /** Stops run() after the current event. */
  stop(): void {
    this.stopped = true;
  }

  /** Time of the next entry in the queue (a cancelled one included); Infinity when empty. */
  get nextTime(): number {
    return this.heap.peekTime();
  }

  /** Number of entries in the queue, cancelled ones included. */
  get pending(): number {
    return this.heap.size;
  }

  /**
   * Runs events in (time, seq) order until the queue is empty, stop() is called,
   * or the next event is later than `until` (the clock is then set to `until`).
   */
  run(until = Infinity): void {
    this.stopped = false;
    const heap = this.heap;
    const fns = this.fns;
    const args = this.args;
    const gens = this.gens;
    const free = this.free;
    while (!this.stopped) {
      const t = heap.peekTime();
      if (t > until || t === Infinity) break;
      const slot = heap.pop();
      const fn = fns[slot]!;
      const arg = args[slot];
      // Retire the slot before running, so the handler can reuse it.
      fns[slot] = null;
      args[slot] = undefined;
      gens[slot] = gens[slot]! + 1;
      free.push(slot);
      if (fn === null) {
        this.cancelled--;
        continue;
      }
      this.now = t;
      this.executed++;
      fn(arg);
    }
    // The clock advances to `until` only if something is still pending after it.
    if (until !== Infinity && !this.stopped && heap.peekTime() !== Infinity && this.now < until) this.now = until;
  }
}
