import type { Simulator } from "./sim.js";

/** Something a timer calls when its deadline passes. */
export interface TimerTarget {
  fire(): void;
}

/**
 * A re-armable deadline that touches the event queue only when it must.
 * Resolvers arm a deadline for every wait and almost always disarm it when the
 * answer comes; instead of scheduling and cancelling an event each time, the
 * timer keeps at most one event queued, at or before its deadline: arming a
 * later deadline keeps that event, which re-arms itself when it fires early;
 * disarming leaves it to fire and find nothing due. The target is fired at
 * exactly the deadline.
 */
export class LazyTimer {
  private due = Infinity;
  private queuedAt = Infinity;
  private target: TimerTarget | null = null;

  constructor(private readonly sim: Simulator) {}

  arm(t: number, target: TimerTarget): void {
    this.due = t;
    this.target = target;
    if (t < this.queuedAt) {
      this.queuedAt = t;
      this.sim.at(t, fireTimer, this);
    }
  }

  disarm(): void {
    this.due = Infinity;
    this.target = null;
  }

  /** @internal */
  onEvent(): void {
    const now = this.sim.now;
    if (now === this.queuedAt) this.queuedAt = Infinity;
    if (this.due <= now) {
      const target = this.target!;
      this.due = Infinity;
      this.target = null;
      target.fire();
    } else if (this.due < this.queuedAt) {
      this.queuedAt = this.due;
      this.sim.at(this.due, fireTimer, this);
    }
  }
}

function fireTimer(t: LazyTimer): void {
  t.onEvent();
}
