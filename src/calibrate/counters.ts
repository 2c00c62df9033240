import { COUNTER_NAMES, type CounterName } from "../kernel/conntrack.js";

/** The three ways a node shows its conntrack counters. */
export type CounterFormat = "conntrack -S" | "/proc/net/stat/nf_conntrack" | "node-exporter";

/** One snapshot of a node's counters, per CPU (node-exporter sums the CPUs: one row, cpu -1). */
export interface CounterSnapshot {
  file: string;
  format: CounterFormat;
  /** CPU number -> counter -> value. */
  perCpu: Map<number, Map<CounterName, number>>;
  /** The counters the snapshot shows (a kernel or tool that does not print one leaves it out). */
  shown: Set<CounterName>;
}

/** A counter snapshot the user gave that cannot be read; the CLI names the file. */
export class CounterError extends Error {}

/**
 * /proc/net/stat/nf_conntrack's column names (ct_cpu_seq_show, nf_conntrack_standalone.c) as
 * the counters `conntrack -S` names: `clashres` (5.10, was `searched`) is clash_resolve,
 * `chainlength` (5.15, was `delete_list`) is chaintoolong, `icmp_error` is error.
 */
const PROC_NAMES: Record<string, CounterName> = {
  found: "found",
  invalid: "invalid",
  ignore: "ignore",
  insert: "insert",
  insert_failed: "insert_failed",
  drop: "drop",
  early_drop: "early_drop",
  icmp_error: "error",
  search_restart: "search_restart",
  clashres: "clash_resolve",
  chainlength: "chaintoolong",
};

/**
 * node-exporter's conntrack collector (collector/conntrack_linux.go) exports
 * node_nf_conntrack_stat_{found,invalid,ignore,insert,insert_failed,drop,early_drop,search_restart},
 * summed over CPUs; it has no clash_resolve.
 */
const EXPORTER_PREFIX = "node_nf_conntrack_stat_";

const isCounter = (s: string): s is CounterName => (COUNTER_NAMES as readonly string[]).includes(s);

/** Reads a snapshot in whichever of the three formats it is. */
export function parseCounterSnapshot(text: string, file: string): CounterSnapshot {
  const lines = text.split(/\r?\n/);
  const first = lines.find((l) => l.trim() !== "" && !l.startsWith("#"))?.trim() ?? "";
  if (first.startsWith("cpu=")) return parseConntrackS(lines, file);
  if (first.startsWith("entries")) return parseProcStat(lines, file);
  if (text.includes(EXPORTER_PREFIX)) return parseExporter(lines, file);
  throw new CounterError(
    `${file}: not a counter snapshot: expected the output of \`conntrack -S\` (lines "cpu=0 found=... insert_failed=..."), ` +
      `the contents of /proc/net/stat/nf_conntrack (a header "entries ..." and one hex row per CPU), ` +
      `or node-exporter's metrics (node_nf_conntrack_stat_insert_failed ...); found ${first === "" ? "an empty file" : `"${clip(first)}"`}.`,
  );
}

/** `conntrack -S`: one line per CPU, "cpu=N key=value ..." (conntrack-tools over ctnetlink). */
function parseConntrackS(lines: string[], file: string): CounterSnapshot {
  const snap = empty(file, "conntrack -S");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const fields = line.split(/\s+/);
    const cpu = /^cpu=(\d+)$/.exec(fields[0]!);
    if (cpu === null) throw new CounterError(`${file}: line ${i + 1}: expected "cpu=N key=value ...", as conntrack -S prints, found "${clip(line)}".`);
    const n = Number(cpu[1]);
    if (snap.perCpu.has(n)) throw new CounterError(`${file}: line ${i + 1}: cpu=${n} appears twice.`);
    const row = new Map<CounterName, number>();
    for (const f of fields.slice(1)) {
      const kv = /^([a-z_]+)=(\d+)$/.exec(f);
      if (kv === null) throw new CounterError(`${file}: line ${i + 1}: expected key=value with a whole number, found "${clip(f)}".`);
      const key = kv[1]!;
      if (!isCounter(key)) continue; // searched=, delete=, delete_list= of pre-4.9 kernels: not used
      row.set(key, Number(kv[2]));
      snap.shown.add(key);
    }
    snap.perCpu.set(n, row);
  });
  return snap;
}

/** /proc/net/stat/nf_conntrack: the header, then one row of hex fields per possible CPU, in CPU order. */
function parseProcStat(lines: string[], file: string): CounterSnapshot {
  const snap = empty(file, "/proc/net/stat/nf_conntrack");
  const rows = lines.map((l, i) => ({ l: l.trim(), i })).filter((r) => r.l !== "");
  const header = rows[0]!.l.split(/\s+/);
  rows.slice(1).forEach(({ l, i }, cpu) => {
    const v = l.split(/\s+/);
    if (v.length !== header.length || !v.every((x) => /^[0-9a-f]{1,8}$/i.test(x))) {
      throw new CounterError(`${file}: line ${i + 1}: expected ${header.length} hex fields, one per header column, found "${clip(l)}".`);
    }
    const row = new Map<CounterName, number>();
    header.forEach((h, j) => {
      const name = PROC_NAMES[h];
      if (name === undefined) return;
      row.set(name, parseInt(v[j]!, 16));
      snap.shown.add(name);
    });
    snap.perCpu.set(cpu, row);
  });
  if (snap.perCpu.size === 0) throw new CounterError(`${file}: the header has no rows under it (one per CPU).`);
  return snap;
}

/** Prometheus text from node-exporter (one node's metrics: every series of a counter must be the same node). */
function parseExporter(lines: string[], file: string): CounterSnapshot {
  const snap = empty(file, "node-exporter");
  const row = new Map<CounterName, number>();
  const seen = new Map<string, number>();
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line.startsWith(EXPORTER_PREFIX)) return;
    const m = /^node_nf_conntrack_stat_([a-z_]+)(\{[^}]*\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (m === null) throw new CounterError(`${file}: line ${i + 1}: expected "node_nf_conntrack_stat_NAME{labels} VALUE", found "${clip(line)}".`);
    const key = m[1]!;
    const value = Number(m[3]);
    if (!Number.isFinite(value) || value < 0) throw new CounterError(`${file}: line ${i + 1}: expected a count, found "${m[3]}".`);
    if (seen.has(key)) {
      throw new CounterError(`${file}: line ${i + 1}: node_nf_conntrack_stat_${key} appears twice (lines ${seen.get(key)! + 1} and ${i + 1}): give the metrics of one node.`);
    }
    seen.set(key, i);
    if (!isCounter(key)) return;
    row.set(key, value);
    snap.shown.add(key);
  });
  snap.perCpu.set(-1, row);
  return snap;
}

function empty(file: string, format: CounterFormat): CounterSnapshot {
  return { file, format, perCpu: new Map(), shown: new Set() };
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The change of each counter from one snapshot to the next, summed over CPUs. */
export interface CounterDelta {
  format: CounterFormat;
  /** CPUs in the snapshots (0 for node-exporter, which sums them). */
  cpus: number;
  shown: Set<CounterName>;
  delta: Map<CounterName, number>;
}

/**
 * after - before per CPU. The kernel's per-CPU counters are unsigned ints that
 * only grow, so a counter that went down means the node rebooted or
 * nf_conntrack was reloaded between the snapshots: that interval cannot be read.
 */
export function counterDelta(before: CounterSnapshot, after: CounterSnapshot): CounterDelta {
  if (before.format !== after.format) {
    throw new CounterError(`${after.file}: is ${after.format} output, but ${before.file} is ${before.format} output: give two snapshots of the same kind.`);
  }
  const cpus = (s: CounterSnapshot) => [...s.perCpu.keys()].sort((a, b) => a - b).join(",");
  if (cpus(before) !== cpus(after)) {
    throw new CounterError(`${after.file}: shows CPUs ${cpus(after)}, but ${before.file} shows ${cpus(before)}: give two snapshots of the same node.`);
  }
  const delta = new Map<CounterName, number>();
  const shown = new Set([...before.shown].filter((n) => after.shown.has(n)));
  for (const name of shown) {
    let sum = 0;
    for (const [cpu, row] of after.perCpu) {
      const a = row.get(name) ?? 0;
      const b = before.perCpu.get(cpu)!.get(name) ?? 0;
      if (a < b) {
        const where = cpu < 0 ? "" : ` on cpu ${cpu}`;
        throw new CounterError(`${after.file}: ${name} went down${where} (from ${b} in ${before.file} to ${a}): the node rebooted or nf_conntrack was reloaded between the snapshots; take both within one boot.`);
      }
      sum += a - b;
    }
    delta.set(name, sum);
  }
  return { format: after.format, cpus: before.format === "node-exporter" ? 0 : before.perCpu.size, shown, delta };
}
