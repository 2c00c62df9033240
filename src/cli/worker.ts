/** A worker thread of the pool (pool/pool.ts): runs the tasks of tasks.ts it is given, one at a time. */
import { parentPort } from "node:worker_threads";
import { type Task, runTask, taskFailure } from "./tasks.js";

const port = parentPort!;
/** Progress messages at most this often (ms of wall time: the display's, never the model's). */
const EVERY_MS = 100;

port.on("message", ({ id, task }: { id: number; task: Task }) => {
  let last = 0;
  const progress = (fraction: number) => {
    const now = Date.now();
    if (now - last < EVERY_MS) return;
    last = now;
    port.postMessage({ id, kind: "progress", fraction });
  };
  try {
    const { result, transfer } = runTask(task, progress);
    port.postMessage({ id, kind: "done", result }, transfer);
  } catch (e) {
    port.postMessage({ id, kind: "error", error: taskFailure(e) });
  }
});
