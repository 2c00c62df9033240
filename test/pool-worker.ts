/** A worker for the pool's tests: squares {n, work}, after `work` rounds of a loop; fails for n < 0. */
import { parentPort } from "node:worker_threads";

parentPort!.on("message", ({ id, task }: { id: number; task: { n: number; work: number } }) => {
  let x = 0;
  for (let i = 0; i < task.work; i++) x = (x + i) % 1000;
  parentPort!.postMessage({ id, kind: "progress", fraction: 0.5 });
  if (task.n < 0) parentPort!.postMessage({ id, kind: "error", error: { name: "RangeError", message: `n ${task.n} below 0` } });
  else parentPort!.postMessage({ id, kind: "done", result: { square: task.n * task.n, spun: x >= 0 } });
});
