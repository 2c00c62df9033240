import assert from "node:assert/strict";
import { Simulator } from "../src/engine/sim.js";
import { LazyTimer } from "../src/engine/timer.js";

describe("engine: LazyTimer (the per-thread poll() deadline)", () => {
  const target = (sim: Simulator, fired: number[]) => ({ fire: () => fired.push(sim.now) });

  it("fires its target exactly at the deadline", () => {
    const sim = new Simulator();
    const fired: number[] = [];
    new LazyTimer(sim).arm(5000, target(sim, fired));
    sim.run();
    assert.deepEqual(fired, [5000]);
  });

  it("a disarmed timer does not fire", () => {
    const sim = new Simulator();
    const fired: number[] = [];
    const t = new LazyTimer(sim);
    t.arm(5000, target(sim, fired));
    sim.at(100, () => t.disarm(), undefined);
    sim.run();
    assert.deepEqual(fired, []);
  });

  it("re-armed later, it fires at the new deadline only, with one event queued at a time", () => {
    const sim = new Simulator();
    const fired: number[] = [];
    const t = new LazyTimer(sim);
    const tg = target(sim, fired);
    t.arm(1000, tg);
    sim.at(500, () => {
      t.disarm();
      t.arm(3000, tg); // later: no new event, the queued one re-arms itself at 1000
      assert.equal(sim.pending, 1);
    }, undefined);
    sim.run();
    assert.deepEqual(fired, [3000]);
  });

  it("re-armed earlier, it fires at the earlier deadline, once", () => {
    const sim = new Simulator();
    const fired: number[] = [];
    const t = new LazyTimer(sim);
    const tg = target(sim, fired);
    t.arm(3000, tg);
    sim.at(500, () => t.arm(1000, tg), undefined);
    sim.run();
    assert.deepEqual(fired, [1000]);
  });

  it("serves many waits in a row with few events (most deadlines are disarmed by an answer)", () => {
    const sim = new Simulator();
    const fired: number[] = [];
    const t = new LazyTimer(sim);
    const tg = target(sim, fired);
    // 1000 waits of 5 s, each answered after 1 ms: a wait is armed and disarmed every millisecond.
    let n = 0;
    const step = () => {
      t.disarm();
      if (++n > 1000) return;
      t.arm(sim.now + 5_000_000_000, tg);
      sim.at(sim.now + 1_000_000, step, undefined);
    };
    sim.at(0, step, undefined);
    sim.run();
    assert.deepEqual(fired, []);
    assert.ok(sim.executed < 1010, `${sim.executed} events for 1000 waits`);
  });
});
