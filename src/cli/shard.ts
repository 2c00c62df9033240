import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Summary } from "../stats/summary.js";
import { InputError } from "../scenario/load.js";

/**
 * Sweeps split into shards: `sweep FILE --shard I/N` runs the I-th of N slices of the sweep's
 * (grid point, seed) list and writes its summaries to DIR/shard.json; `dnsrace merge` reads the N
 * shard folders and writes what the unsharded sweep writes, byte for byte (each replication
 * depends on its grid point and seed alone, and JSON numbers read back as the same doubles).
 */

/** The file each shard folder holds. */
export const SHARD_FILE = "shard.json";
const FORMAT = "dnsrace-sweep-shard/1";

export interface ShardSpec {
  index: number;
  count: number;
}

/** What a shard folder's shard.json holds. */
export interface ShardData {
  format: typeof FORMAT;
  /** The sweep file as given, its absolute path, and the SHA-256 of its bytes. */
  file: string;
  path: string;
  sha256: string;
  /** Seeds per grid point (--seeds, or the file's). */
  seeds: number;
  index: number;
  count: number;
  /** The slice of the (grid point, seed) list this shard ran: from <= i < to, out of total. */
  from: number;
  to: number;
  total: number;
  /** Each run's seed and summary, in list order. */
  runs: { seed: number; summary: Summary }[];
}

/**
 * --shard I/N (I from 0 to N-1), or --shard N with I from JOB_COMPLETION_INDEX (what a Kubernetes
 * Indexed Job sets in each of its pods).
 */
export function parseShard(text: string | undefined, env: NodeJS.ProcessEnv = process.env): ShardSpec | null {
  if (text === undefined) return null;
  const whole = (v: string) => /^(0|[1-9][0-9]{0,5})$/.test(v.trim()) && v.trim() !== "";
  const m = /^([^/]*)\/(.*)$/.exec(text);
  const countText = m === null ? text : m[2]!;
  if (!whole(countText) || Number(countText) < 1 || Number(countText) > 100_000) throw new InputError(`--shard: expected I/N (the I-th of N shards, I from 0 to N-1, N from 1 to 100,000), or N with I in JOB_COMPLETION_INDEX; found "${text}".`);
  const count = Number(countText);
  let indexText: string;
  let where: string;
  if (m !== null) {
    indexText = m[1]!;
    where = `--shard ${text}`;
  } else {
    if (env.JOB_COMPLETION_INDEX === undefined) throw new InputError(`--shard ${text}: no shard index: give --shard I/${count}, or set JOB_COMPLETION_INDEX (a Kubernetes Indexed Job sets it in each pod).`);
    indexText = env.JOB_COMPLETION_INDEX;
    where = `JOB_COMPLETION_INDEX "${indexText}" (with --shard ${text})`;
  }
  if (!whole(indexText) || Number(indexText) >= count) throw new InputError(`${where}: the shard index must be a whole number from 0 to ${count - 1}.`);
  return { index: Number(indexText), count };
}

/** The slice of `total` runs shard `index` of `count` takes: [from, to), contiguous, sizes differing by at most one. */
export function shardRange(total: number, s: ShardSpec): { from: number; to: number } {
  return { from: Math.floor((s.index * total) / s.count), to: Math.floor(((s.index + 1) * total) / s.count) };
}

export function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** A number JSON cannot hold (NaN, an infinity) as text, and back. */
const replacer = (_k: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? { nonFinite: String(v) } : v);
const reviver = (_k: string, v: unknown) => (v !== null && typeof v === "object" && "nonFinite" in v && Object.keys(v).length === 1 ? Number((v as { nonFinite: string }).nonFinite) : v);

export function shardText(d: Omit<ShardData, "format">): string {
  return `${JSON.stringify({ format: FORMAT, ...d }, replacer, 1)}\n`;
}

/** Reads DIR/shard.json, refusing (InputError, naming it) a folder without one or a file that is not a shard. */
export function readShard(dir: string): ShardData {
  const f = join(dir, SHARD_FILE);
  if (!existsSync(f)) throw new InputError(`${dir}: no ${SHARD_FILE}; name the folders that dnsrace sweep --shard wrote.`);
  let d: ShardData;
  try {
    d = JSON.parse(readFileSync(f, "utf8"), reviver) as ShardData;
  } catch (e) {
    throw new InputError(`${f}: not a shard file (${(e as Error).message}).`);
  }
  const ok =
    d !== null &&
    typeof d === "object" &&
    d.format === FORMAT &&
    typeof d.path === "string" &&
    typeof d.sha256 === "string" &&
    [d.seeds, d.index, d.count, d.from, d.to, d.total].every((n) => Number.isInteger(n) && n >= 0) &&
    Array.isArray(d.runs) &&
    d.runs.length === d.to - d.from;
  if (!ok) throw new InputError(`${f}: not a shard file of this version of dnsrace (format ${FORMAT}, as dnsrace sweep --shard writes it).`);
  return d;
}

/**
 * The shards' runs in list order, once each shard 0..N-1 of one sweep (the same file, bytes and
 * seeds) is there exactly once; an InputError naming what is missing or does not match otherwise.
 */
export function mergeShards(dirs: string[]): { first: ShardData; runs: ShardData["runs"] } {
  const shards = dirs.map((d) => ({ dir: d, data: readShard(d) }));
  const first = shards[0]!.data;
  for (const { dir, data } of shards) {
    for (const k of ["path", "sha256", "seeds", "count", "total"] as const) {
      if (data[k] !== first[k]) throw new InputError(`${dir}: a shard of another run (its ${k} is ${String(data[k])}, that of ${shards[0]!.dir} ${String(first[k])}); merge the shards of one sweep.`);
    }
  }
  const byIndex = new Map<number, string>();
  for (const { dir, data } of shards) {
    if (byIndex.has(data.index)) throw new InputError(`${dir}: shard ${data.index} of ${data.count} again (also ${byIndex.get(data.index)}).`);
    byIndex.set(data.index, dir);
  }
  const missing = Array.from({ length: first.count }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length > 0) throw new InputError(`shard${missing.length === 1 ? "" : "s"} ${missing.join(", ")} of ${first.count} missing: name every shard folder.`);
  const ordered = shards.sort((a, b) => a.data.index - b.data.index);
  for (const { dir, data } of ordered) {
    const r = shardRange(data.total, data);
    if (data.from !== r.from || data.to !== r.to) throw new InputError(`${join(dir, SHARD_FILE)}: runs ${data.from} to ${data.to} are not shard ${data.index} of ${data.count}'s slice.`);
  }
  return { first, runs: ordered.flatMap((s) => s.data.runs) };
}

/** The sweep file the shards ran: `file` if given (the same bytes, elsewhere), else the path they recorded. */
export function shardSweepFile(first: ShardData, file: string | undefined): string {
  const f = file ?? first.path;
  if (!existsSync(f)) throw new InputError(`${f}: the sweep file the shards ran is not there; give it with --file.`);
  if (sha256(f) !== first.sha256) throw new InputError(`${f}: not the sweep file the shards ran (its bytes differ: SHA-256 ${first.sha256.slice(0, 12)}... expected).`);
  return resolve(f);
}
