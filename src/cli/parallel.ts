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
 * A pool of `jobs` worker threads, started now (they load while the command reads its files), and
 * stopped by SIGINT and SIGTERM (output.ts handleSignals). Give it its tasks (run()), or stop() it.
 */
export class CommandPool {
  private readonly pool: WorkerPool;
  private readonly unregister: () => void;

  constructor(
    jobs: number,
    /** The command's one progress bar (the pool moves it; the command begins it). */
    readonly progress: Progress,
  ) {
    this.pool = new WorkerPool({ jobs, script: new URL("./worker.js", import.meta.url), progress: (f) => progress.update(f) });
    const pool = this.pool;
    this.unregister = onSignalStop(() => pool.terminate());
  }

  /**
   * Runs the tasks, results in task order, with one progress bar for all of them. A task's failure
   * to write into `set` (a full disk) aborts the set and is an OutputError naming the file.
   */
  async run<R extends TaskResult>(tasks: readonly Task[], set?: OutputSet): Promise<R[]> {
    try {
      return await this.pool.run<Task, R>(tasks, tasks.map(taskWeight));
    } catch (e) {
      if (!(e instanceof PoolTaskError)) throw e;
      const f = e.failure;
      if (f.name === "OutputError" && set !== undefined) throw set.fail(join(set.dir, basename(f.file ?? "")), { code: f.code ?? f.message });
      set?.abort();
      if (f.name === "InputError") throw new InputError(f.message);
      throw new Error(f.message);
    } finally {
      await this.stop();
      this.progress.end();
    }
  }

  /** Stops the workers (a command that ends before running its tasks: bad input). */
  async stop(): Promise<void> {
    this.unregister();
    await this.pool.terminate();
  }
}

/** Runs the tasks on a pool of `jobs` worker threads started now (CommandPool.run). */
export async function runTasks<R extends TaskResult>(tasks: readonly Task[], jobs: number, progress: Progress, set?: OutputSet): Promise<R[]> {
  return new CommandPool(jobs, progress).run<R>(tasks, set);
}

/** Starts the pool, then runs `body` with it; the pool is stopped however `body` ends. */
export async function withPool<T>(jobs: number, progress: Progress, body: (pool: CommandPool) => Promise<T>): Promise<T> {
  const pool = new CommandPool(jobs, progress);
  try {
    return await body(pool);
  } finally {
    await pool.stop();
  }
}
