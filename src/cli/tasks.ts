import { closeSync, openSync, writeSync } from "node:fs";
import { type Replication, replicate } from "../compare/run.js";
import { LookupsCsvStream } from "../report/lookups.js";
import type { LoadedScenario } from "../scenario/load.js";
import { type NodeResult, runScenario } from "../scenario/run.js";
import { type Summary, summarize } from "../stats/summary.js";
import type { TaskFailure } from "../pool/pool.js";

/**
 * The replications run, compare and sweep hand to their worker threads, as plain data (the
 * loaded scenario, structured-cloned): a replication's output depends on its task alone.
 */
export type Task =
  /** One seed of a variant or grid point: its summary and latencies. */
  | { kind: "replicate"; loaded: LoadedScenario; seed: number; overlap?: number }
  /** A scenario file of `dnsrace run`: its lookups CSV streamed to `lookupsFile`, its summary and nodes. */
  | { kind: "scenario"; loaded: LoadedScenario; seed?: number; lookupsFile: string }
  /** The summary alone (run's calibrated overlap ends). */
  | { kind: "summary"; loaded: LoadedScenario; seed?: number; overlap: number };

export interface ScenarioOutcome {
  summary: Summary;
  client: NodeResult;
  endpointNodes: NodeResult[];
}

export type TaskResult = Replication | ScenarioOutcome | Summary;

/** A file-system failure while a task wrote its file (a full disk): the pool passes the file on. */
class TaskWriteError extends Error {
  constructor(
    readonly file: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Lookups a task runs (its share of the work, for progress). */
export function taskWeight(t: Task): number {
  return t.loaded.scenario.pods.reduce((a, p) => a + (p.lookups ?? Math.round(p.rate_per_s! * p.duration_s!)), 0) || 1;
}

/** Runs one task; `progress` gets the share of its lookups done. */
export function runTask(t: Task, progress?: (f: number) => void): { result: TaskResult; transfer: ArrayBuffer[] } {
  const opt = <K extends string, V>(k: K, v: V | undefined) => (v === undefined ? {} : ({ [k]: v } as Record<K, V>));
  switch (t.kind) {
    case "replicate": {
      const r = replicate(t.loaded, t.seed, progress, t.overlap);
      return { result: r, transfer: [r.latMs.buffer as ArrayBuffer] };
    }
    case "summary":
      return { result: summarize(runScenario(t.loaded, { ...opt("seed", t.seed), overlap: t.overlap, sink: () => {} })), transfer: [] };
    case "scenario": {
      const fd = open(t.lookupsFile);
      const write = (text: string) => {
        try {
          writeSync(fd, text);
        } catch (e) {
          throw new TaskWriteError(t.lookupsFile, (e as NodeJS.ErrnoException).code, (e as Error).message);
        }
      };
      const seed = t.seed ?? t.loaded.scenario.seed;
      const csv = new LookupsCsvStream(t.loaded.scenario.name, seed, write);
      try {
        const res = runScenario(t.loaded, { seed, sink: csv.row, ...opt("progress", progress) });
        csv.end();
        return { result: { summary: summarize(res), client: res.client, endpointNodes: res.endpointNodes }, transfer: [] };
      } finally {
        closeSync(fd);
      }
    }
  }
}

function open(file: string): number {
  try {
    return openSync(file, "w");
  } catch (e) {
    throw new TaskWriteError(file, (e as NodeJS.ErrnoException).code, (e as Error).message);
  }
}

/** A task's error as plain data for the main thread. */
export function taskFailure(e: unknown): TaskFailure {
  if (e instanceof TaskWriteError) return { name: "OutputError", message: e.message, file: e.file, ...(e.code !== undefined ? { code: e.code } : {}) };
  const err = e instanceof Error ? e : new Error(String(e));
  return { name: err.name, message: err.message };
}
