import { type KernelVersion, parseKernelVersion } from "../kernel/version.js";

/**
 * The ranges the model can honour, checked where inputs are read (scenarios, comparison and
 * sweep files, the commands' flags). README.md, "Limits", lists them.
 */

/** A workload must be able to end within this much simulated time (100 days), leaving the rest of the clock to the lookups in flight. */
export const MAX_WORKLOAD_S = 8_640_000;
/**
 * Lookups one scenario may ask for, over all its pods. Rows leave for the lookups CSV as they finish;
 * each keeps its latency (8 bytes: the summary's quantiles are exact), 160 MB at this limit.
 */
export const MAX_LOOKUPS = 20_000_000;
/** Application threads per pod (each holds ephemeral ports out of 28,232, and its own resolver state). */
export const MAX_THREADS = 4096;
/** Pods of one scenario (all on the client node): its /24 pod CIDR, 10.244.0.10 to 10.244.0.254; each keeps a table of its 65,536 ports. */
export const MAX_PODS = 245;
/** Application threads over all pods. */
export const MAX_THREADS_TOTAL = 16_384;
/** A per-packet time (node.timing.hit_us, xmit_us, pod_veth_us), us: one second. */
export const MAX_PATH_US = 1_000_000;
/** node.timing.rule_ns and snat_lead_ns, ns: one millisecond per rule. */
export const MAX_RULE_NS = 1_000_000;
/** node.rules_before_dns and endpoint_nodes.nat_rules: nat rules walked before a match. */
export const MAX_NAT_RULES = 1_000_000;

/** The kernels the model knows: from 3.10 (the oldest nf_conntrack it describes) to the 6.x series (6.18 measured). */
export const EARLIEST_KERNEL = { major: 3, minor: 10 };
export const LATEST_KERNEL_MAJOR = 6;
const MAX_MINOR = 99;
const MAX_PATCH = 999;
export const KERNEL_RANGE = `from ${EARLIEST_KERNEL.major}.${EARLIEST_KERNEL.minor} to ${LATEST_KERNEL_MAJOR}.x (minor up to ${MAX_MINOR}, patch up to ${MAX_PATCH})`;

/** Why a parsed kernel version is outside the kernels the model knows, or null. */
export function kernelRangeProblem(v: KernelVersion): string | null {
  const before = v.major < EARLIEST_KERNEL.major || (v.major === EARLIEST_KERNEL.major && v.minor < EARLIEST_KERNEL.minor);
  if (before || v.major > LATEST_KERNEL_MAJOR || v.minor > MAX_MINOR || v.patch > MAX_PATCH) {
    return `outside the kernels the model knows, ${KERNEL_RANGE}`;
  }
  return null;
}

/** A kernel version as written, within the model's range; null if it is not a version (the caller words that). */
export function knownKernel(text: string): { version: KernelVersion | null; problem: string | null } {
  const v = parseKernelVersion(text);
  return { version: v, problem: v === null ? null : kernelRangeProblem(v) };
}

/** A number for a message: as written when short, else to 3 significant digits. */
export function showCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) < 1e7 && Number.isInteger(n)) return n.toLocaleString("en-US");
  return n.toPrecision(3);
}
