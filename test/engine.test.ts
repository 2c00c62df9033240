import assert from "node:assert/strict";
import fc from "fast-check";
import { quantile } from "d3-array";
import { Empirical, Exponential, Fixed, LogNormal, Uniform, normal } from "../src/engine/dist.js";
import { EventHeap } from "../src/engine/heap.js";
import { Process, TIMEOUT } from "../src/engine/process.js";
import { Streams, stream } from "../src/engine/random.js";
import { Simulator } from "../src/engine/sim.js";

describe("engine: Simulator", () => {
  it("runs events at equal times in the order they were scheduled (FIFO)", () => {
    const sim = new Simulator();
    const order: number[] = [];
    for (let i = 0; i < 50; i++) sim.at(1000, (k: number) => order.push(k), i);
    sim.at(500, (k: number) => order.push(k), -1);
    sim.run();
    assert.deepEqual(order, [-1, ...Array.from({ length: 50 }, (_, i) => i)]);
  });

  it("an event scheduled for now from a handler runs after those already queued for now", () => {
    const sim = new Simulator();
    const order: string[] = [];
    sim.at(10, () => {
      order.push("a");
      sim.at(10, () => order.push("c"), undefined);
    }, undefined);
    sim.at(10, () => order.push("b"), undefined);
    sim.run();
    assert.deepEqual(order, ["a", "b", "c"]);
  });

  it("cancel() removes a pending event, and is false once it ran or was cancelled", () => {
    const sim = new Simulator();
    const ran: number[] = [];
    const h1 = sim.atCancellable(10, (k: number) => ran.push(k), 1);
    const h2 = sim.atCancellable(20, (k: number) => ran.push(k), 2);
    assert.equal(sim.cancel(h1), true);
    assert.equal(sim.cancel(h1), false);
    sim.run();
    assert.deepEqual(ran, [2]);
    assert.equal(sim.cancel(h2), false);
    assert.equal(sim.executed, 1);
  });

  it("a handle of a recycled slot does not cancel the slot's new event", () => {
    const sim = new Simulator();
    const ran: string[] = [];
    const old = sim.atCancellable(1, () => ran.push("old"), undefined);
    sim.run();
    sim.at(2, () => ran.push("new"), undefined); // reuses the slot
    assert.equal(sim.cancel(old), false);
    sim.run();
    assert.deepEqual(ran, ["old", "new"]);
  });

  it("sweeping out many cancelled events keeps (time, seq) order", () => {
    const sim = new Simulator();
    const rng = stream(3, "t");
    const ran: [number, number][] = [];
    const expected: [number, number][] = [];
    for (let i = 0; i < 5000; i++) {
      const t = Math.floor(rng() * 100);
      const h = sim.atCancellable(t, (x: [number, number]) => ran.push(x), [t, i] as [number, number]);
      if (rng() < 0.8) sim.cancel(h);
      else expected.push([t, i]);
    }
    sim.run();
    expected.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    assert.deepEqual(ran, expected);
  });

  it("run(until) stops before later events and sets the clock to until; run() resumes", () => {
    const sim = new Simulator();
    const ran: number[] = [];
    sim.at(5, (k: number) => ran.push(k), 5);
    sim.at(15, (k: number) => ran.push(k), 15);
    sim.run(10);
    assert.deepEqual(ran, [5]);
    assert.equal(sim.now, 10);
    sim.run();
    assert.deepEqual(ran, [5, 15]);
    assert.equal(sim.now, 15);
  });

  it("refuses events in the past and non-integer times", () => {
    const sim = new Simulator();
    sim.at(10, () => assert.throws(() => sim.at(5, () => {}, undefined), RangeError), undefined);
    sim.run();
    assert.throws(() => sim.at(10.5, () => {}, undefined), RangeError);
  });
});

describe("engine: EventHeap", () => {
  it("pops in (time, seq) order for any input (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }), (times) => {
        const h = new EventHeap(4);
        times.forEach((t, i) => h.push(t, i, i));
        const out: number[] = [];
        for (let s = h.pop(); s !== -1; s = h.pop()) out.push(s);
        const expected = times.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[1]);
        assert.deepEqual(out, expected);
      }),
    );
  });
});

describe("engine: Process", () => {
  it("a deadline resumes the process with TIMEOUT; wake() first cancels it", () => {
    const sim = new Simulator();
    const seen: unknown[] = [];
    const self: { p?: Process<string> } = {};
    const p = new Process<string>(sim, (function* () {
      self.p!.deadline(100);
      seen.push(yield);
      self.p!.deadline(sim.now + 100);
      seen.push(yield);
    })());
    self.p = p;
    p.start();
    sim.at(50, () => p.wake("hello"), undefined);
    sim.run();
    assert.deepEqual(seen, ["hello", TIMEOUT]);
    assert.equal(sim.now, 150);
    assert.equal(p.isDone, true);
  });
});

describe("engine: random streams", () => {
  it("the same seed and name give the same numbers; another name gives others", () => {
    const a = new Streams(42).get("x");
    const b = new Streams(42).get("x");
    const c = new Streams(42).get("y");
    const xs = [a(), a(), a()];
    assert.deepEqual(xs, [b(), b(), b()]);
    assert.notDeepEqual(xs, [c(), c(), c()]);
  });

  it("drawing from one stream does not shift another", () => {
    const s1 = new Streams(1);
    const s2 = new Streams(1);
    for (let i = 0; i < 100; i++) s1.get("noise")();
    assert.equal(s1.get("signal")(), s2.get("signal")());
  });

  it("stream(1, 'x') is seedrandom's xor4096 seeded with '1/x' (pinned first draw)", () => {
    assert.equal(stream(1, "x")(), 0.5998274190351367);
  });
});

describe("engine: distributions", () => {
  const rng = stream(7, "dist");
  const sample = (d: { sample(r: () => number): number }, n = 40000) => Array.from({ length: n }, () => d.sample(rng)).sort((a, b) => a - b);

  it("fixed(v) always gives v", () => {
    assert.deepEqual(sample(new Fixed(3), 10), Array(10).fill(3));
  });

  it("uniform(a, b) has mean (a+b)/2 and stays in [a, b)", () => {
    const xs = sample(new Uniform(2, 6));
    assert.ok(xs[0]! >= 2 && xs[xs.length - 1]! < 6);
    assert.ok(Math.abs(xs.reduce((s, x) => s + x, 0) / xs.length - 4) < 0.03);
  });

  it("exponential(mean) has that mean and median mean*ln2", () => {
    const xs = sample(new Exponential(5));
    assert.ok(Math.abs(xs.reduce((s, x) => s + x, 0) / xs.length - 5) < 0.1);
    assert.ok(Math.abs(quantile(xs, 0.5)! - 5 * Math.LN2) < 0.1);
  });

  it("lognormal(median, p99) has that median and p99 within 3%", () => {
    const xs = sample(new LogNormal(2, 5), 80000);
    assert.ok(Math.abs(quantile(xs, 0.5)! / 2 - 1) < 0.03);
    assert.ok(Math.abs(quantile(xs, 0.99)! / 5 - 1) < 0.03);
  });

  it("empirical(values, weights) draws each value in proportion to its weight", () => {
    const xs = sample(new Empirical([1, 2, 3], [1, 2, 1]));
    const share = (v: number) => xs.filter((x) => x === v).length / xs.length;
    assert.ok(Math.abs(share(2) - 0.5) < 0.01);
    assert.ok(Math.abs(share(1) - 0.25) < 0.01);
  });

  it("normal() has mean 0 and variance 1", () => {
    const xs = Array.from({ length: 100000 }, () => normal(rng));
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length;
    assert.ok(Math.abs(m) < 0.01 && Math.abs(v - 1) < 0.02);
  });
});

describe("model: LookupLog", () => {
  it("keeps each lookup under its number and gives back the same record", async () => {
    const { LookupLog } = await import("../src/model/log.js");
    const { gaiResult } = await import("../src/resolver/host.js");
    const log = new LookupLog(2);
    const tally = { queriesSent: 4, retransmits: 2, queriesLost: 1, clashes: 1, pairs: 2, pairsClashed: 1 };
    log.put(3, "app", 1, "redis", 10, 5_000_010, gaiResult("OK", true, false), tally);
    log.put(1, "app", 0, "api.example.com", 0, 700, gaiResult("EAI_AGAIN", false, false), { queriesSent: 2, retransmits: 0, queriesLost: 0, clashes: 0, pairs: 1, pairsClashed: 0 });
    assert.equal(log.count, 2);
    assert.equal(log.length, 3);
    assert.equal(log.has(1), false);
    assert.deepEqual(log.record(2), { pod: "app", lookup: 3, thread: 1, name: "redis", startNs: 10, endNs: 5_000_010, outcome: "OK v4", result: { status: "OK", v4: true, v6: false }, tally });
    assert.deepEqual(log.records().map((r) => r.outcome), ["EAI_AGAIN", "OK v4"]);
  });
});
