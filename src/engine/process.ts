import type { Simulator } from "./sim.js";
import { LazyTimer } from "./timer.js";

/** The value a process is resumed with when its deadline passes first. */
export const TIMEOUT: unique symbol = Symbol("timeout");
export type Timeout = typeof TIMEOUT;

/**
 * %GeneratorPrototype%.next, called directly on the (native) generators a process
 * runs: they come from a dozen generator functions, each with a prototype of its
 * own, so looking `gen.next` up would be a megamorphic property access on every resume.
 */
const resume = Object.getPrototypeOf(function* () {}).prototype.next as (this: Generator<unknown, unknown, unknown>, v: unknown) => IteratorResult<unknown, unknown>;

/** What a blocked process offers to whoever will resume it. */
export interface Waiter {
  /** Resume with TIMEOUT at absolute time t unless woken before. */
  deadline(t: number): void;
  /** Resume the waiting process with v (cancels its deadline). */
  wake(v: unknown): void;
}

/**
 * A process written as a generator (the SimPy style): it arranges what it waits
 * for (a deadline, and whatever will call wake()), then `yield`s undefined, and
 * is resumed with the value passed to wake(), or with TIMEOUT. At most one wait
 * is armed at a time; waking a process that is not waiting is a model bug.
 *
 * A generator may also yield another generator: a call. The process runs the
 * callee (keeping a stack) and resumes the caller with the callee's return
 * value, so a wake goes straight to the innermost generator instead of through
 * every `yield*` level (resolvers nest five deep, like the libc functions they imitate).
 */
export class Process<W, R = void> implements Waiter {
  private waiting = false;
  private done = false;
  private readonly timer: LazyTimer;
  /** Callers of the running generator, innermost last. */
  private readonly stack: Generator<unknown, unknown, unknown>[] = [];
  private top: Generator<unknown, unknown, unknown>;

  /** `timer`: the thread's deadline timer, shared by the processes it runs one after another. */
  constructor(
    sim: Simulator,
    gen: Generator<unknown, R, unknown>,
    private readonly onDone?: (result: R) => void,
    timer?: LazyTimer,
  ) {
    this.timer = timer ?? new LazyTimer(sim);
    this.top = gen as Generator<unknown, unknown, unknown>;
  }

  /**
   * Runs another generator in this finished process (a thread's next lookup
   * reuses its process), to its first yield now.
   */
  restart(gen: Generator<unknown, R, unknown>): void {
    if (!this.done || this.waiting) throw new Error("restart() of a process that has not finished");
    this.done = false; // the stack is empty: the outermost generator returned
    this.top = gen as Generator<unknown, unknown, unknown>;
    this.step(TIMEOUT);
  }

  /** Runs the generator to its first yield now (call from inside an event or before run()). */
  start(): void {
    this.step(TIMEOUT);
  }

  get isWaiting(): boolean {
    return this.waiting;
  }

  get isDone(): boolean {
    return this.done;
  }

  /** Resume with TIMEOUT at absolute time t unless woken before. */
  deadline(t: number): void {
    this.timer.arm(t, this);
  }

  /** Resume the waiting process with v (cancels its deadline). */
  wake(v: unknown): void {
    if (!this.waiting) throw new Error("wake() on a process that is not waiting");
    this.step(v as W);
  }

  /** @internal The deadline passed. */
  fire(): void {
    if (this.waiting) this.step(TIMEOUT);
  }

  private step(v: W | Timeout): void {
    this.timer.disarm();
    this.waiting = false;
    let r = resume.call(this.top, v);
    for (;;) {
      if (r.done) {
        const caller = this.stack.pop();
        if (caller === undefined) {
          this.done = true;
          this.onDone?.(r.value as R);
          return;
        }
        this.top = caller;
        r = resume.call(caller, r.value);
      } else if (r.value !== undefined) {
        // A call: run the callee until it waits or returns.
        this.stack.push(this.top);
        this.top = r.value as Generator<unknown, unknown, unknown>;
        r = resume.call(this.top, undefined);
      } else {
        this.waiting = true;
        return;
      }
    }
  }
}
