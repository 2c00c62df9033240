import assert from "node:assert/strict";
import { PoolTaskError, WorkerPool } from "../src/pool/pool.js";

const script = new URL("./pool-worker.js", import.meta.url);

describe("pool: worker threads, results in task order", () => {
  it("results come back in task order whichever worker finishes first (the first task is the longest)", async () => {
    const tasks = Array.from({ length: 12 }, (_, n) => ({ n, work: n === 0 ? 50_000_000 : 1000 }));
    for (const jobs of [1, 2, 5]) {
      const seen: number[] = [];
      const pool = new WorkerPool({ jobs, script, progress: (f) => seen.push(f) });
      const out = await pool.run<{ n: number; work: number }, { square: number }>(tasks);
      assert.deepEqual(
        out.map((r) => r.square),
        tasks.map((t) => t.n * t.n),
        `jobs ${jobs}`,
      );
      assert.equal(seen.at(-1), 1, "progress ends at 1");
      assert.ok(seen.every((f, i) => f >= 0 && f <= 1 && (i === 0 || f >= seen[i - 1]! - 1e-12)), "progress only grows");
    }
  });

  it("more workers than tasks, and no tasks at all", async () => {
    assert.deepEqual(await new WorkerPool({ jobs: 4, script }).run([{ n: 3, work: 1 }]), [{ square: 9, spun: true }]);
    assert.deepEqual(await new WorkerPool({ jobs: 2, script }).run([]), []);
  });

  it("a task that fails rejects the run with its index and error, and the workers stop", async () => {
    const pool = new WorkerPool({ jobs: 2, script });
    await assert.rejects(
      pool.run([{ n: 1, work: 1 }, { n: -2, work: 1 }, { n: 3, work: 1 }]),
      (e: unknown) => e instanceof PoolTaskError && e.task === 1 && e.failure.name === "RangeError" && e.message === "n -2 below 0",
    );
    assert.throws(() => void pool.run([]), /runs once/);
  });
});
