import type { Simulator } from "./sim.js";
import { LazyTimer } from "./timer.js";

/** The value a process is resumed with when its deadline passes first. */
export const TIMEOUT: unique symbol = Symbol("timeout");
export type Timeout = typeof TIMEOUT;

/** What a blocked process offers to whoever will resume it. */
export interface Waiter {
  /** Resume with TIMEOUT at absolute time t unless woken before. */
  deadline(t: number): void;
  /** Resume the waiting process with v (cancels its deadline). */
  wake(v: unknown): void;
}

/**
 * A process written as a generator (the SimPy style): it arranges what it waits
 * for (a deadline, and whatever will call wake()), then `yield`s, and is resumed
 * with the value passed to wake(), or with TIMEOUT. At most one wait is armed at
 * a time; waking a process that is not waiting is a model bug and throws.
 */
export class Process<W, R = void> implements Waiter {
  private waiting = false;
  private done = false;
  private readonly timer: LazyTimer;

  /** `timer`: the thread's deadline timer, shared by the processes it runs one after another. */
  constructor(
    sim: Simulator,
    private readonly gen: Generator<void, R, W | Timeout>,
    private readonly onDone?: (result: R) => void,
    timer?: LazyTimer,
  ) {
    this.timer = timer ?? new LazyTimer(sim);
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
    const r = this.gen.next(v);
    if (r.done) {
      this.done = true;
      this.onDone?.(r.value);
    } else {
      this.waiting = true;
    }
  }
}
