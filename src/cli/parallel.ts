import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import { PoolTaskError, WorkerPool } from "../pool/pool.js";
import { InputError } from "../scenario/load.js";
import { type OutputSet, onSignalStop } from "./output.js";
import type { Progress } from "./progress.js";
import { type Task, type TaskResult, taskWeight } from "./tasks.js";

/** --jobs: worker threads, as typed; the machine's cores (os.availableParallelism()) when not given. */
export function parseJobs(v: unknown): number {
  if (v === undefined) return availableParallelism();
  const text = String(v);
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < 1 || n > 1024) throw new InputError(`--jobs: expected a whole number of worker threads from 1 to 1024, found "${text}".`);
  return n;
}

export const JOBS_OPTION = { type: "string", describe: "worker threads running the replications at once (default: the machine's cores); the output is the same for every value" } as const;

/**
 * Runs the tasks on `jobs` worker threads, results in task order, with one progress bar for all of
 * them. A task's failure to write into `set` (a full disk) aborts the set and is an OutputError
 * naming the file; SIGINT and SIGTERM stop the workers first (output.ts handleSignals).
 */
export async function runTasks<R extends TaskResult>(tasks: readonly Task[], jobs: number, progress: Progress, set?: OutputSet): Promise<R[]> {
  const pool = new WorkerPool({ jobs, script: new URL("./worker.js", import.meta.url), progress: (f) => progress.update(f) });
  const unregister = onSignalStop(() => pool.terminate());
  try {
    return await pool.run<Task, R>(tasks, tasks.map(taskWeight));
  } catch (e) {
    if (!(e instanceof PoolTaskError)) throw e;
    const f = e.failure;
    if (f.name === "OutputError" && set !== undefined) throw set.fail(join(set.dir, basename(f.file ?? "")), { code: f.code ?? f.message });
    set?.abort();
    if (f.name === "InputError") throw new InputError(f.message);
    throw new Error(f.message);
  } finally {
    unregister();
    progress.end();
  }
}
