import type { KernelFeatures } from "../kernel/version.js";
import { type Proportion, proportion } from "../stats/proportion.js";
import { CounterError, type CounterDelta } from "./counters.js";

/** What the user tells about the interval between the two snapshots. */
export interface CalibrateInput {
  counters: CounterDelta;
  kernel: KernelFeatures;
  /** Seconds between the snapshots. */
  seconds: number;
  /** A+AAAA pairs the node's pods sent in that time, and where the number came from. */
  pairs: number;
  pairsFrom: string;
  /** kube-dns endpoints behind the Service (needed on 5.6-5.9, whose clash entries count nowhere). */
  endpoints: number | undefined;
}

export interface Calibration {
  /** The upstream version (KernelFeatures.version). */
  kernel: string;
  /** The kernel string as given when it was a distribution's (`uname -r`), and how it was read; else null. */
  kernelRelease: string | null;
  kernelNote: string | null;
  format: CounterDelta["format"];
  cpus: number;
  seconds: number;
  pairs: number;
  pairsFrom: string;
  /** The counters' changes the estimate was read from. */
  counted: Record<string, number>;
  /** How this kernel counts a clash, in one sentence. */
  reading: string;
  /** Clashes seen in the counters, and the factor that makes them all clashes (N on 5.6-5.9, else 1). */
  clashesSeen: number;
  scale: number;
  /** Overlap probability per A+AAAA pair: the share of pairs whose two inserts clashed. */
  overlap: Proportion;
  /** insert_failed / insert, as users read it; null where the kernel does not count insert. */
  insertFailedPerInsert: Proportion | null;
}

/**
 * A clash is what the counters record when the two packets of a pair overlap
 * in conntrack's critical section (__nf_conntrack_confirm finds the other's
 * entry). Which counter moves depends on the kernel (MODEL.md section 4):
 * before 5.6 every clash moves insert_failed, merged or dropped; 5.6-5.9
 * (6a757c07e51f) count the merges and drops in insert_failed but a clash
 * entry nowhere; from 5.10 (bc92470413f3) clash_resolve counts merges and
 * clash entries, insert_failed only the clashes left unresolved.
 */
export function calibrate(input: CalibrateInput): Calibration {
  const { counters: c, kernel: f } = input;
  const d = (n: "insert_failed" | "clash_resolve" | "drop" | "insert") => c.delta.get(n) ?? 0;
  checkShown(c, f);
  let seen: number;
  let scale = 1;
  let reading: string;
  const counted: Record<string, number> = { insert_failed: d("insert_failed"), drop: d("drop") };
  if (f.clashResolveCounter) {
    seen = d("clash_resolve") + d("insert_failed");
    counted.clash_resolve = d("clash_resolve");
    reading = `kernel ${f.version} counts a resolved clash (merged, or a clash entry to its own endpoint) in clash_resolve and an unresolved one in insert_failed: clashes = clash_resolve + insert_failed`;
  } else if (f.natClashEntry !== "none") {
    seen = d("insert_failed");
    if (input.endpoints === undefined) {
      throw new CounterError(
        `--endpoints: kernel ${f.version} (5.6 to 5.9) counts the clashes it merges (both queries to one endpoint) in insert_failed, but a clash entry (two endpoints) in no counter; ` +
          `give the kube-dns endpoints behind the Service, so that the merges seen (1 clash in N, as kube-proxy picks each endpoint with probability 1/N) can be scaled to all clashes.`,
      );
    }
    scale = input.endpoints;
    reading = `kernel ${f.version} counts only the merged clashes (insert_failed; a clash entry counts nowhere); with ${scale} endpoint${scale === 1 ? "" : "s"} 1 clash in ${scale} is merged: clashes = ${scale} x insert_failed`;
  } else {
    seen = d("insert_failed");
    reading = `kernel ${f.version} counts every clash in insert_failed, merged or dropped (drop counts the dropped ones): clashes = insert_failed`;
  }
  if (seen > input.pairs) {
    throw new CounterError(
      `the counters show ${seen} clashes but the DNS rate gives only ${input.pairs} A+AAAA pairs in ${input.seconds} s: the rate is too low for this node, or other flows than DNS clash here (give the node's own pods' queries).`,
    );
  }
  const visible = proportion(seen, input.pairs);
  const overlap: Proportion = scale === 1 ? visible : { k: seen * scale, n: input.pairs, estimate: Math.min(1, visible.estimate * scale), low: Math.min(1, visible.low * scale), high: Math.min(1, visible.high * scale) };
  const inserts = d("insert");
  return {
    kernel: f.version,
    kernelRelease: f.release,
    kernelNote: f.note,
    format: c.format,
    cpus: c.cpus,
    seconds: input.seconds,
    pairs: input.pairs,
    pairsFrom: input.pairsFrom,
    counted,
    reading,
    clashesSeen: seen,
    scale,
    overlap,
    insertFailedPerInsert: c.shown.has("insert") && inserts > 0 && d("insert_failed") <= inserts ? proportion(d("insert_failed"), inserts) : null,
  };
}

/** The counters a kernel prints must be the ones the snapshot shows: a mismatch means the wrong --kernel or tool. */
function checkShown(c: CounterDelta, f: KernelFeatures): void {
  if (!c.shown.has("insert_failed")) throw new CounterError(`the snapshots have no insert_failed counter, which every kernel prints.`);
  const has = c.shown.has("clash_resolve");
  if (has && !f.clashResolveCounter) {
    throw new CounterError(`--kernel ${f.version}: the snapshots show clash_resolve (${c.format === "conntrack -S" ? "clash_resolve=" : "the clashres column"}), which kernels print from 5.10 on (bc92470413f3): give the node's kernel as it runs (uname -r).`);
  }
  if (!has && f.clashResolveCounter) {
    const why =
      c.format === "node-exporter"
        ? "node-exporter exports no clash_resolve, and from 5.10 on the clashes the kernel resolves are counted only there (insert_failed keeps the unresolved ones): give `conntrack -S` output or /proc/net/stat/nf_conntrack instead"
        : c.format === "conntrack -S"
          ? "these conntrack -S lines have no clash_resolve=, which 5.10 and later count (an older conntrack-tools does not print it): give /proc/net/stat/nf_conntrack (its clashres column), or check the kernel"
          : "this /proc/net/stat/nf_conntrack has the column searched, not clashres, so the kernel is older than 5.10";
    throw new CounterError(`--kernel ${f.version}: ${why}.`);
  }
}

/** A scenario fragment whose inline node overlaps one thread's pair with the probability measured. */
export function nodeBlock(cal: Calibration): string {
  const p = cal.overlap;
  const g = (x: number) => (x === 0 ? "0" : Number(x.toPrecision(3)).toExponential());
  return [
    `# dnsrace calibrate: ${cal.clashesSeen}${cal.scale > 1 ? ` x ${cal.scale}` : ""} clashes in ${cal.pairs} A+AAAA pairs over ${cal.seconds} s (${cal.format}).`,
    `# Overlap per pair ${g(p.estimate)}, 95% interval ${g(p.low)} to ${g(p.high)}: migration_probability is the`,
    `# share of one thread's pairs that meet in conntrack on this node; dnsrace run reports the slow share at both ends.`,
    `kernel: "${cal.kernelRelease ?? cal.kernel}"`,
    `node:`,
    `  cpus: ${Math.max(2, cal.cpus)}`,
    `  rx: inline`,
    `  migration_probability: { estimate: ${g(p.estimate)}, low: ${g(p.low)}, high: ${g(p.high)} }`,
    "",
  ].join("\n");
}
