import { Worker } from "node:worker_threads";

/**
 * A pool of worker threads running independent tasks (replications) given as plain data.
 *
 * Each task goes to the next free worker (the heaviest first); its result is stored under the task's index, so the
 * results come back in task order whatever the number of workers and whichever finishes first.
 * A task is deterministic on its own input (its seed among it), so the results, and every byte
 * made of them, are the same for every pool size. The main thread only waits: it stays free to
 * draw progress and to act on SIGINT and SIGTERM (terminate()).
 *
 * The worker script (`script`) answers messages {id, task} with {id, kind: "progress", fraction},
 * then {id, kind: "done", result} (transferring what `transfer` lists) or {id, kind: "error", error}.
 */

/** A task's failure as the worker saw it: the error's name, message and errno code. */
export interface TaskFailure {
  name: string;
  message: string;
  code?: string;
  /** What the task was writing, when the failure was the file system's. */
  file?: string;
}

/** Raised by run() for a task that failed in its worker (or a worker that died). */
export class PoolTaskError extends Error {
  constructor(
    readonly task: number,
    readonly failure: TaskFailure,
  ) {
    super(failure.message);
    this.name = "PoolTaskError";
  }
}

export type WorkerMessage<R> = { id: number; kind: "progress"; fraction: number } | { id: number; kind: "done"; result: R } | { id: number; kind: "error"; error: TaskFailure };

export interface PoolOptions {
  /** Worker threads to start (at most one per task). */
  jobs: number;
  /** The worker script (a module). */
  script: URL;
  /** Called now and then with the share of all the work done (0..1), each task counting by its weight. */
  progress?: (fraction: number) => void;
}

/** Runs `tasks` on the pool; `weights` (default 1 each): each task's share of the work, for progress. */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private stopped = false;
  private used = false;
  /** A worker that failed before run() attached its listeners. */
  private early: Error | null = null;

  /** Starts the workers at once, so that they load while the caller prepares the tasks. */
  constructor(private readonly opts: PoolOptions) {
    for (let k = 0; k < Math.max(1, opts.jobs); k++) {
      const w = new Worker(opts.script);
      w.on("error", (e) => (this.early ??= e));
      this.workers.push(w);
    }
  }

  /** Runs the tasks (once per pool), then stops the workers. */
  run<T, R>(tasks: readonly T[], weights?: readonly number[]): Promise<R[]> {
    if (this.used) throw new Error("WorkerPool.run: a pool runs once");
    this.used = true;
    if (this.early !== null) {
      const e = this.early;
      return this.terminate().then(() => Promise.reject(new PoolTaskError(-1, { name: e.name, message: e.message })));
    }
    const n = tasks.length;
    const results = new Array<R>(n);
    if (n === 0) return this.terminate().then(() => results);
    const w = weights ?? tasks.map(() => 1);
    const totalWeight = w.reduce((a, b) => a + b, 0) || 1;
    const fraction = new Float64Array(n);
    let doneWeight = 0;
    const report = () => {
      if (this.opts.progress === undefined) return;
      let running = 0;
      for (let i = 0; i < n; i++) if (fraction[i]! < 1) running += fraction[i]! * w[i]!;
      this.opts.progress(Math.min(1, (doneWeight + running) / totalWeight));
    };
    // The heaviest tasks go first (the longest-processing-time rule: the last to finish is then
    // a short one); only the dispatch order changes, never where a result is stored.
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => w[b]! - w[a]! || a - b);
    return new Promise<R[]>((resolve, reject) => {
      let next = 0;
      let finished = 0;
      let failed = false;
      const retired = new Set<Worker>();
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        void this.terminate().then(() => reject(e));
      };
      const give = (worker: Worker) => {
        if (failed || this.stopped) return;
        if (next >= n) {
          retired.add(worker);
          void worker.terminate();
          return;
        }
        const id = order[next++]!;
        worker.postMessage({ id, task: tasks[id] });
      };
      // More workers than tasks: the extra ones stop now.
      for (const worker of this.workers.slice(n)) {
        retired.add(worker);
        void worker.terminate();
      }
      for (const worker of this.workers.slice(0, n)) {
        worker.on("message", (m: WorkerMessage<R>) => {
          if (m.kind === "progress") {
            fraction[m.id] = m.fraction;
            report();
          } else if (m.kind === "done") {
            results[m.id] = m.result;
            fraction[m.id] = 1;
            doneWeight += w[m.id]!;
            report();
            if (++finished === n) {
              resolve(results);
              void this.terminate();
            } else give(worker);
          } else fail(new PoolTaskError(m.id, m.error));
        });
        worker.on("error", (e) => fail(new PoolTaskError(-1, { name: e.name, message: e.message })));
        worker.on("exit", (code) => {
          if (code !== 0 && !this.stopped && !retired.has(worker) && finished < n) fail(new PoolTaskError(-1, { name: "Error", message: `a worker thread exited with code ${code}` }));
        });
        give(worker);
      }
    });
  }

  /** Stops every worker (their tasks are abandoned); resolves once they have exited. */
  async terminate(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
  }
}
