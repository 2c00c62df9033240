import type { EventHandle, Simulator } from "./sim.js";

/** The value a process is resumed with when its deadline passes first. */
export const TIMEOUT: unique symbol = Symbol("timeout");
export type Timeout = typeof TIMEOUT;

/**
 * A process written as a generator (the SimPy style): it arranges what it waits
 * for (a deadline, and whatever will call wake()), then `yield`s, and is resumed
 * with the value passed to wake(), or with TIMEOUT. At most one wait is armed at
 * a time; waking a process that is not waiting is a model bug and throws.
 */
export class Process<W> {
  private timer: EventHandle = -1;
  private waiting = false;
  private done = false;

  constructor(
    private readonly sim: Simulator,
    private readonly gen: Generator<void, void, W | Timeout>,
    private readonly onDone?: () => void,
  ) {}

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
    if (this.timer !== -1) this.sim.cancel(this.timer);
    this.timer = this.sim.at(t, onDeadline, this);
  }

  /** Resume the waiting process with v (cancels its deadline). */
  wake(v: W): void {
    if (!this.waiting) throw new Error("wake() on a process that is not waiting");
    this.step(v);
  }

  /** @internal */
  fire(): void {
    this.timer = -1;
    this.step(TIMEOUT);
  }

  private step(v: W | Timeout): void {
    if (this.timer !== -1) {
      this.sim.cancel(this.timer);
      this.timer = -1;
    }
    this.waiting = false;
    const r = this.gen.next(v);
    if (r.done) {
      this.done = true;
      this.onDone?.();
    } else {
      this.waiting = true;
    }
  }
}

function onDeadline(p: Process<unknown>): void {
  p.fire();
}
