import { type Dist, LogNormal } from "../engine/dist.js";
import { type NicConfig, defaultNic } from "./nic.js";
import type { SoftirqLoad } from "./softirq.js";
import type { KernelFeatures } from "./version.js";

/**
 * How datagrams from a pod's veth reach the node's PREROUTING hook: the named
 * mechanism that decides whether the two packets of one lookup can overlap in
 * the conntrack critical section.
 * - "inline": the veth as created: each datagram is processed to completion in
 *   the sender's softirq, on the sender's CPU (veth_xmit -> netif_rx ->
 *   process_backlog). One thread's pair is serialised: no clash.
 * - "rps": RPS re-queues each datagram to the CPU its flow hash picks; one
 *   flow, one CPU, one datagram at a time: no clash.
 * - "gro": GRO on the veth's NAPI, polled inline in the sender's softirq:
 *   still one datagram at a time.
 * - "gro-threaded": GRO with threaded NAPI: a kernel thread polls the veth
 *   later; when it finds both datagrams queued, GRO hands them on as one list
 *   (netif_receive_skb_list -> ip_list_rcv) and PREROUTING runs for both before
 *   either is confirmed, on ONE CPU: the second misses the first's entry.
 * - "rps-gro-threaded": the same poll, but RPS re-queues the datagrams one by one.
 */
export type RxMode = "inline" | "rps" | "gro" | "gro-threaded" | "rps-gro-threaded";
export const RX_MODES: readonly RxMode[] = ["inline", "rps", "gro", "gro-threaded", "rps-gro-threaded"];

/** Node load levels of the calibration (kernel-6.18-ruleset-and-load.json, one_thread_legend). */
export type NodeLoad = "idle" | "cpu-bound" | "udp-flood" | "cpu-bound+udp-flood" | "softirq-saturated";
export const NODE_LOADS: readonly NodeLoad[] = ["idle", "cpu-bound", "udp-flood", "cpu-bound+udp-flood", "softirq-saturated"];

/**
 * Probability that the threaded-NAPI poll runs only after the sender has queued
 * its whole burst (so the pair is handed on as one list), by load. Measured on
 * 6.18 as the share of one-thread pairs that clashed with GRO + threaded NAPI
 * (38103, 35467, 26264, 21714 and 7564 of 40,000): a busier node more often has
 * the poll thread already running, and it takes the first datagram alone.
 */
export const BATCH_PROBABILITY: Record<NodeLoad, number> = {
  idle: 38103 / 40000,
  "cpu-bound": 35467 / 40000,
  "udp-flood": 26264 / 40000,
  "cpu-bound+udp-flood": 21714 / 40000,
  "softirq-saturated": 7564 / 40000,
};

/**
 * The rare path that splits ONE thread's burst over two CPUs: between its sends
 * (sendmmsg's cond_resched() between datagrams, or two send() calls) the thread
 * is migrated to another CPU while its first datagram still waits for the
 * softirq of the CPU it was sent from (the backlog of netif_rx, or the veth's
 * scheduled NAPI). The next datagram is then processed on the new CPU while the
 * first is processed on the old one ("inline"), or joins the first in the
 * pending NAPI poll, which hands both on as one GRO list ("gro"). With RPS both
 * go to the backlog of their flow's CPU and with threaded NAPI to the poll
 * thread, one at a time, so the path cannot make them meet there.
 * Measured on 6.18 (kernel-6.18-ruleset-and-load.json, kernel-6.18-field.json): 0 clashes
 * in 12.2 M one-thread pairs at every load tried (95% bound 2.5e-7 per pair); the AAAA never
 * reached conntrack before its A was confirmed. So this free constant is 0 by default: the paths
 * by which a loaded node does split a pair are modelled from their source (kernel/softirq.ts).
 * A value here is a measured overlap rate (`dnsrace calibrate` writes one): when it fires, the
 * two datagrams meet in PREROUTING.
 */
export const MIGRATION_SPLIT_PROBABILITY = 0;

export interface RxConfig {
  mode: RxMode;
  load: NodeLoad;
  /** For gro-threaded modes: probability that a burst is polled as one list (default: BATCH_PROBABILITY[load]). */
  batchProbability: number;
  /** For inline and gro: probability per burst of the thread-migration split (MIGRATION_SPLIT_PROBABILITY). */
  migrationProbability: number;
  /** Delay from the sender blocking (or the datagram being queued) to the poll thread running. */
  pollWakeNs: Dist;
  /** RPS: enqueue to another CPU's backlog and the IPI that wakes it. */
  rpsNs: Dist;
  /** The node's own softirq and CPU load (kernel/softirq.ts), or null for an unloaded node. */
  softirq: SoftirqLoad | null;
  /** The NIC's receive queues, for packets from the wire (kernel/nic.ts). */
  nic: NicConfig;
}

export function defaultRx(mode: RxMode = "inline", load: NodeLoad = "idle"): RxConfig {
  return {
    mode,
    load,
    batchProbability: BATCH_PROBABILITY[load],
    migrationProbability: MIGRATION_SPLIT_PROBABILITY,
    pollWakeNs: new LogNormal(5000, 30000),
    rpsNs: new LogNormal(2000, 8000),
    softirq: null,
    nic: defaultNic(),
  };
}

/**
 * Why a kernel cannot have a receive path, or null. GRO on a veth needs its NAPI, which
 * without an XDP program arrived in 5.13 (d3256efd8e8b "veth: allow enabling NAPI even without
 * XDP"; an attached XDP program gives a veth NAPI from 4.19, 948d4f214fde, not modelled here);
 * threaded NAPI (the /sys/class/net/<dev>/threaded switch) in 5.12 (5fdd2f0e5c64); a GRO poll
 * hands its packets on as a list from 5.5 (6570bc79c0df). Distribution kernels that backport
 * them can be given as the first version that has them.
 */
export function rxProblem(mode: RxMode, f: KernelFeatures): string | null {
  const needs: string[] = [];
  if (mode === "gro" || mode === "gro-threaded" || mode === "rps-gro-threaded") {
    if (!f.vethGro) needs.push("GRO on a veth without an XDP program (5.13, d3256efd8e8b)");
  }
  if (mode === "gro-threaded" || mode === "rps-gro-threaded") {
    if (!f.threadedNapi) needs.push("threaded NAPI (5.12, 5fdd2f0e5c64)");
  }
  if (needs.length === 0) return null;
  return `${mode} needs ${needs.join(" and ")}, which kernel ${f.version} does not have; the first kernel with ${needs.length === 1 ? "it" : "both"} is 5.13`;
}
