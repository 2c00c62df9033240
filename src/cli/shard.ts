import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import type { Summary } from "../stats/summary.js";
import { InputError } from "../scenario/load.js";
import { DEFAULT_OUT } from "./run.js";

/**
 * Sweeps and comparisons split into shards: `sweep FILE --shard I/N` runs the I-th of N slices of
 * the sweep's (grid point, seed) list and writes its summaries to DIR/shard.json; `compare FILE
 * --shard I/N` the I-th slice of the comparison's replications (each variant on each seed, then
 * the calibrated overlap's ends), with each one's latencies, which the pooled quantiles and the
 * bootstrap read. `dnsrace merge` reads the N shard folders and writes what the unsharded command
 * writes, byte for byte (each replication depends on its task alone, JSON numbers read back as the
 * same doubles, and the latencies are kept as their 8 bytes).
 */

/** The file each shard folder holds. */
export const SHARD_FILE = "shard.json";
const FORMATS = { sweep: "dnsrace-sweep-shard/1", compare: "dnsrace-compare-shard/1" } as const;
export type ShardKind = keyof typeof FORMATS;

/** One run of a shard: its seed and summary; for a comparison also its IPv4-only answers and every latency (ms, ascending). */
export interface ShardRun {
  seed: number;
  summary: Summary;
  okV4?: number;
  latMs?: Float64Array;
}

export interface ShardSpec {
  index: number;
  count: number;
}

/** What a shard folder's shard.json holds. */
export interface ShardData {
  format: (typeof FORMATS)[ShardKind];
  /** From the format (not written). */
  kind: ShardKind;
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
  /** Each run, in list order. */
  runs: ShardRun[];
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
/** Where a command writes: --out, or DEFAULT_OUT/<file name>, with the shard's name when it runs one. */
export function outFolder(file: string, out: string | undefined, shard: ShardSpec | null): string {
  if (out !== undefined) return out;
  const stem = basename(file, extname(file));
  return join(DEFAULT_OUT, shard === null ? stem : `${stem}.shard-${shard.index}-of-${shard.count}`);
}

export function shardRange(total: number, s: ShardSpec): { from: number; to: number } {
  return { from: Math.floor((s.index * total) / s.count), to: Math.floor(((s.index + 1) * total) / s.count) };
}

export function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** A number JSON cannot hold (NaN, an infinity) as text, and back. */
const replacer = (_k: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? { nonFinite: String(v) } : v);
const reviver = (_k: string, v: unknown) => (v !== null && typeof v === "object" && "nonFinite" in v && Object.keys(v).length === 1 ? Number((v as { nonFinite: string }).nonFinite) : v);

/** A run's latencies as text: their IEEE 754 doubles, little-endian, in base64 (exact, 8 bytes each). */
function latText(lat: Float64Array): string {
  const b = Buffer.alloc(lat.length * 8);
  for (let i = 0; i < lat.length; i++) b.writeDoubleLE(lat[i]!, i * 8);
  return b.toString("base64");
}

function latFromText(text: string): Float64Array {
  const b = Buffer.from(text, "base64");
  const lat = new Float64Array(b.length / 8);
  for (let i = 0; i < lat.length; i++) lat[i] = b.readDoubleLE(i * 8);
  return lat;
}

export function shardText(d: Omit<ShardData, "format">): string {
  const { kind, ...rest } = d;
  const runs = d.runs.map((r) => (r.latMs === undefined ? r : { ...r, latMs: latText(r.latMs) }));
  return `${JSON.stringify({ format: FORMATS[kind], ...rest, runs }, replacer, 1)}\n`;
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
  const kind = d !== null && typeof d === "object" ? (Object.keys(FORMATS) as ShardKind[]).find((k) => FORMATS[k] === d.format) : undefined;
  const ok =
    kind !== undefined &&
    typeof d.path === "string" &&
    typeof d.sha256 === "string" &&
    [d.seeds, d.index, d.count, d.from, d.to, d.total].every((n) => Number.isInteger(n) && n >= 0) &&
    Array.isArray(d.runs) &&
    d.runs.length === d.to - d.from &&
    (kind === "sweep" || d.runs.every((r) => Number.isInteger(r.okV4) && typeof r.latMs === "string"));
  if (!ok) throw new InputError(`${f}: not a shard file of this version of dnsrace (format ${FORMATS.sweep} or ${FORMATS.compare}, as dnsrace sweep --shard and compare --shard write them).`);
  d.kind = kind;
  if (kind === "compare") for (const r of d.runs) r.latMs = latFromText(r.latMs as unknown as string);
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
    for (const k of ["kind", "path", "sha256", "seeds", "count", "total"] as const) {
      if (data[k] !== first[k]) throw new InputError(`${dir}: a shard of another run (its ${k} is ${String(data[k])}, that of ${shards[0]!.dir} ${String(first[k])}); merge the shards of one ${first.kind === "sweep" ? "sweep" : "comparison"}.`);
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

/** The sweep or comparison file the shards ran: `file` if given (the same bytes, elsewhere), else the path they recorded. */
export function shardSweepFile(first: ShardData, file: string | undefined): string {
  const f = file ?? first.path;
  const what = first.kind === "sweep" ? "sweep file" : "comparison file";
  if (!existsSync(f)) throw new InputError(`${f}: the ${what} the shards ran is not there; give it with --file.`);
  if (sha256(f) !== first.sha256) throw new InputError(`${f}: not the ${what} the shards ran (its bytes differ: SHA-256 ${first.sha256.slice(0, 12)}... expected).`);
  return resolve(f);
}
