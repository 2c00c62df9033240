/**
 * Kernel behaviour keyed on features, not on `uname -r`, because distributions
 * backport: a version string is only a shorthand that fills in the features.
 * Sources: net/netfilter/nf_conntrack_core.c (__nf_conntrack_confirm,
 * nf_ct_resolve_clash, nf_ct_resolve_clash_harder), nf_nat_core.c
 * (nf_nat_used_tuple), nf_conntrack_proto_udp.c (nf_conntrack_udp_packet);
 * commits named per field.
 */
export interface KernelFeatures {
  /** The version shorthand these features came from, e.g. "5.4". */
  version: string;
  /**
   * What __nf_conntrack_confirm does with a clashing UDP entry:
   * - "none": no clash resolution (< 4.7): drop, insert_failed++ only;
   * - "nat-free-only": 71d8c47fc653 (4.7) then 590b52e10d41: merge only if the
   *   winner has no NAT done; on a node with a nat table (every k8s node) never;
   * - "identical": ed07d9a021df (4.19, 4.14.173): also merge when ORIGINAL and
   *   REPLY tuples are identical (nf_ct_match).
   */
  clashResolution: "none" | "nat-free-only" | "identical";
  /**
   * 4e35c1cb9460 (5.0): nf_conntrack_tuple_taken ignores an entry with the same
   * ORIGINAL tuple, so the loser keeps its source port (race 2 cannot happen).
   */
  sameOriginSkip: boolean;
  /**
   * 6a757c07e51f (5.6): an unresolvable clash whose REPLY tuple is unique is
   * inserted reply-only with IPS_NAT_CLASH and a 1 s fixed timeout.
   * "delete-on-reply": 5.6-5.8, the first reply kills it;
   * "fixed-timeout": c46172147ebb (5.9), it lives out its 1 s.
   */
  natClashEntry: "none" | "delete-on-reply" | "fixed-timeout";
  /**
   * Before 6ed5943f8735 (5.0; stable 4.9/4.14/4.19 in 2022): nf_nat_l4proto_unique_tuple starts its
   * search for a free source port at a per-protocol rover (the last port it chose), not at a random
   * offset. Only NF_NAT_RANGE_PROTO_RANDOM(_FULLY) drew a random start.
   */
  natPortRover: boolean;
  /**
   * The `ignore` counter: nf_conntrack_in counts a packet that is untracked (raw NOTRACK) or
   * already has its entry. "netfilter: conntrack: remove ignore stats" (5.10) dropped it from
   * ctnetlink (conntrack -S) and prints 0 in /proc.
   */
  ignoreCounter: boolean;
  /** bc92470413f3 (5.10): clash_resolve counter; insert_failed only for unresolved clashes. */
  clashResolveCounter: boolean;
  /**
   * "netfilter: refuse insertion if chain has grown too large" (5.15, net pull of 2021-09-03): the
   * chaintoolong counter, in ctnetlink (conntrack -S) and in /proc as the column `chainlength`
   * (formerly `delete_list`). The chain limit itself (64) is not modelled: the counter stays 0.
   */
  chainTooLongCounter: boolean;
  /** UDP stream timeout: 180 s before 294304e4c522 (5.0), 120 s after. */
  udpStreamTimeoutS: number;
  /** d535c8a69c19 (5.0): a reply within 2 s of creation keeps the 30 s timeout. */
  udpStreamAfter2s: boolean;
  /** b7b1d02fc439 (5.16): ASSURED only once in stream mode. */
  assuredOnlyInStream: boolean;
  // The receive path: what can make one thread's two datagrams overlap (kernel/rxpath.ts, kernel/softirq.ts).
  /**
   * 4cd13c21b207 "softirq: Let ksoftirqd do its job" (4.9) until its revert d15121be7485 (6.5):
   * while this CPU's ksoftirqd is runnable, do_softirq() at local_bh_enable() (the end of a
   * send's dev_queue_xmit) and invoke_softirq() at irq exit run nothing; a NET_RX raised by a
   * veth send waits in the backlog for ksoftirqd. Before and after, the sender's own
   * local_bh_enable() runs the pending softirqs (up to MAX_SOFTIRQ_TIME) before it goes on.
   */
  ksoftirqdDefers: boolean;
  /** List receive, netif_receive_skb_list -> ip_list_rcv (Edward Cree's series, 4.19). */
  listReceive: boolean;
  /** 6570bc79c0df (5.5): napi_gro_receive() hands GRO_NORMAL packets on as a list (gro_normal_batch), as veth_poll and most NIC drivers use it. */
  groNormalList: boolean;
  /** Threaded NAPI, /sys/class/net/<dev>/threaded (29863d41bb6e, 5fdd2f0e5c64: 5.12). */
  threadedNapi: boolean;
  /** d3256efd8e8b "veth: allow enabling NAPI even without XDP" (5.13): GRO on a veth without an XDP program. */
  vethGro: boolean;
  /**
   * Before "netfilter: conntrack: remove packet hotpath stats" (4.9): the packet path counts
   * `insert` (__nf_conntrack_confirm) and `new` (init_conntrack), and ctnetlink sends searched,
   * new, delete and delete_list too. From 4.9 ct_cpu_seq_show prints 0 for them and `insert`
   * moves only for entries made over ctnetlink (nf_conntrack_hash_check_insert).
   */
  hotpathStats: boolean;
}

/** A kernel version as written ("5.4", "4.14.173"), parsed once: the rest of the code passes this value. */
export interface KernelVersion {
  /** As written: the shorthand reports and counters print. */
  text: string;
  major: number;
  minor: number;
  patch: number;
}

/** major.minor[.patch], the upstream version without a distribution's suffix. */
const VERSION = String.raw`(\d+)\.(\d+)(?:\.(\d+))?`;
const EXACT = new RegExp(`^${VERSION}$`);
const SUFFIXED = new RegExp(`^${VERSION}[-+~_]`);

/** The version in `text` (exactly major.minor or major.minor.patch), or null. */
export function parseKernelVersion(text: string): KernelVersion | null {
  const m = EXACT.exec(text);
  if (!m) return null;
  return { text, major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) };
}

/** `uname -r` style: an upstream version followed by a distribution's suffix ("5.4.0-generic"). */
export function hasDistributionSuffix(text: string): boolean {
  return SUFFIXED.test(text);
}

function atLeast(v: KernelVersion, major: number, minor: number, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

/** Features of a mainline (or stable) kernel version; null if the string is not a version. */
export function kernelFeatures(version: string): KernelFeatures | null {
  const v = parseKernelVersion(version);
  return v === null ? null : featuresOf(v);
}

/** Features of a parsed version. */
export function featuresOf(v: KernelVersion): KernelFeatures {
  // ed07d9a021df was backported to 4.14.173 (stable).
  const identical = atLeast(v, 4, 19) || (v.major === 4 && v.minor === 14 && v.patch >= 173);
  return {
    version: v.text,
    clashResolution: identical ? "identical" : atLeast(v, 4, 7) ? "nat-free-only" : "none",
    sameOriginSkip: atLeast(v, 5, 0),
    natPortRover: !atLeast(v, 5, 0),
    natClashEntry: atLeast(v, 5, 9) ? "fixed-timeout" : atLeast(v, 5, 6) ? "delete-on-reply" : "none",
    clashResolveCounter: atLeast(v, 5, 10),
    ignoreCounter: !atLeast(v, 5, 10),
    chainTooLongCounter: atLeast(v, 5, 15),
    udpStreamTimeoutS: atLeast(v, 5, 0) ? 120 : 180,
    udpStreamAfter2s: atLeast(v, 5, 0),
    assuredOnlyInStream: atLeast(v, 5, 16),
    ksoftirqdDefers: atLeast(v, 4, 9) && !atLeast(v, 6, 5),
    listReceive: atLeast(v, 4, 19),
    groNormalList: atLeast(v, 5, 5),
    threadedNapi: atLeast(v, 5, 12),
    vethGro: atLeast(v, 5, 13),
    hotpathStats: !atLeast(v, 4, 9),
  };
}
