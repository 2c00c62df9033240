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
  /**
   * How a distribution's kernel string was read, for outputs to say ("5.4.0-1103-aws read as upstream
   * 5.4: no documented backport"); null for a plain upstream version ("5.4", "4.14.173").
   */
  note: string | null;
  /** The distribution's kernel string these features were read from, as written; null for a plain upstream version. */
  release: string | null;
}

/** A kernel version as written ("5.4", "4.14.173", or `uname -r`'s "5.4.0-1103-aws"), parsed once: the rest of the code passes this value. */
export interface KernelVersion {
  /** The upstream version: the shorthand reports and counters print ("5.4", "4.14.173"). */
  text: string;
  major: number;
  minor: number;
  patch: number;
  /** The string as a node prints it (`uname -r`, `kubectl get nodes -o wide`), when it had a distribution's suffix; else null. */
  release: string | null;
  /** The distribution the suffix names, when it is one this file knows; else null. */
  distribution: Distribution | null;
}

/** Distributions whose kernel strings are recognised (the rest are read as their upstream base). */
export type Distribution = "ubuntu" | "debian" | "rhel" | "oracle-uek" | "amazon";

/** major.minor[.patch], the upstream version without a distribution's suffix. */
const EXACT = /^(\d+)\.(\d+)(?:\.(\d+))?$/;
/**
 * `uname -r`: major.minor[.patch[.extra]] then a suffix starting with - + ~ or _ ("5.4.0-1103-aws",
 * "4.18.0-553.el8_10.x86_64", "5.10.205-195.807.amzn2.x86_64", "6.1.0-13-amd64", GKE COS's "5.15.133+").
 */
const RELEASE = /^(\d+)\.(\d+)(?:\.(\d+)(?:\.\d+)?)?([-~_][0-9A-Za-z][0-9A-Za-z._+~-]*|\+[0-9A-Za-z._+~-]*)$/;

/** Debian's flavours: 6.1.0-13-amd64, 5.10.0-26-cloud-amd64, 6.1.0-18-rt-arm64. */
const DEBIAN = /^-\d+-(?:(?:cloud|rt)-)?(?:amd64|arm64|armmp(?:-lpae)?|686(?:-pae)?|i386|ppc64el|s390x|powerpc64le|mips64r2el|marvell)$/;
/** Ubuntu's: 5.4.0-1103-aws, 5.15.0-1051-azure, 4.15.0-213-generic (the ABI number, then a flavour). */
const UBUNTU = /^-\d+(?:\.\d+)?-[a-z][a-z0-9-]*$/;

function distributionOf(patch: string | undefined, suffix: string): Distribution | null {
  if (/\.el\d+uek/.test(suffix)) return "oracle-uek";
  if (/\.el\d+(?:_\d+)?(?:\.|$)/.test(suffix)) return "rhel";
  if (/\.amzn(?:\d+)(?:\.|$)/.test(suffix)) return "amazon";
  // Debian and Ubuntu keep the upstream patch level at 0 and number their own builds after it.
  if (patch === "0" && DEBIAN.test(suffix)) return "debian";
  if (patch === "0" && UBUNTU.test(suffix)) return "ubuntu";
  return null;
}

/**
 * The version in `text`: an upstream version (exactly major.minor or major.minor.patch), or a
 * distribution's kernel string as `uname -r` prints it, read as its upstream base; null otherwise.
 * A distribution string whose patch level is 0 ("5.4.0-1103-aws", "4.18.0-553.el8_10.x86_64")
 * is read as major.minor: those distributions keep .0 and number their own builds, so the stable
 * level under it is not known. One with a patch level ("5.10.205-195.807.amzn2.x86_64") keeps it.
 */
export function parseKernelVersion(text: string): KernelVersion | null {
  const m = EXACT.exec(text);
  if (m) return { text, major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]), release: null, distribution: null };
  const r = RELEASE.exec(text);
  if (!r) return null;
  const [major, minor, patch] = [Number(r[1]), Number(r[2]), r[3] === undefined ? 0 : Number(r[3])];
  return {
    text: patch === 0 ? `${major}.${minor}` : `${major}.${minor}.${patch}`,
    major,
    minor,
    patch,
    release: text,
    distribution: distributionOf(r[3], r[4]!),
  };
}

function atLeast(v: KernelVersion, major: number, minor: number, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

/** Features of a kernel version (upstream, or a distribution's `uname -r` string); null if the string is not a version. */
export function kernelFeatures(version: string): KernelFeatures | null {
  const v = parseKernelVersion(version);
  return v === null ? null : featuresOf(v);
}

/**
 * Fixes a distribution is documented to have backported into its kernels, beyond the upstream
 * (stable) version they are based on. Each names its source; a kernel string not matched here is
 * read as its upstream base, and its note says so.
 */
interface Backport {
  applies(v: KernelVersion): boolean;
  /** What the distribution's kernel has that the upstream base does not. */
  features: Partial<Pick<KernelFeatures, "clashResolution" | "sameOriginSkip">>;
  /** For the note: what was backported, and the source. */
  what: string;
}

const BACKPORTS: Backport[] = [
  {
    // Ubuntu SRU "Fix nf_conntrack races when dealing with same origin requests in NAT environments"
    // (BugLink https://bugs.launchpad.net/bugs/1836816; https://lists.ubuntu.com/archives/kernel-team/2019-July/102291.html):
    // both upstream fixes applied to Bionic's 4.15 kernels in the SRU cycle of July 2019.
    applies: (v) => v.distribution === "ubuntu" && v.major === 4 && v.minor === 15,
    features: { clashResolution: "identical", sameOriginSkip: true },
    what: "ed07d9a021df and 4e35c1cb9460 backported by Ubuntu (SRU LP#1836816, July 2019; a 4.15 build older than that lacks them)",
  },
];

/** The note for a distribution's kernel string: which version and which backports were assumed. */
function noteOf(v: KernelVersion, backport: Backport | undefined): string | null {
  if (v.release === null) return null;
  const base = `${v.release} read as upstream ${v.text}`;
  if (backport !== undefined) return `${base} with ${backport.what}`;
  switch (v.distribution) {
    case "rhel":
      // RHEL 8 backports netfilter changes into its 4.18 (e.g. nf_conntrack_ipv4 merged into nf_conntrack
      // in 8.3, a 4.19 change: kubernetes-sigs/kubespray#6934), but no source found documents which
      // clash-resolution commits (ed07d9a021df, 4e35c1cb9460, 6a757c07e51f) its kernels carry.
      return `${base}: RHEL backports netfilter changes into its kernels, but none documented for clash resolution; the upstream base may understate what this node resolves (read its counters with dnsrace calibrate)`;
    case "amazon":
      return `${base}: Amazon Linux builds follow the upstream stable series${v.major === 4 && v.minor === 14 && v.patch >= 173 ? ", with 4.14.173's stable backport of ed07d9a021df" : ""}; no further backport documented`;
    default:
      return `${base}: no documented backport`;
  }
}

/** Features of a parsed version (a distribution's backports included where documented; see BACKPORTS). */
export function featuresOf(v: KernelVersion): KernelFeatures {
  // ed07d9a021df was backported to 4.14.173 (stable).
  const identical = atLeast(v, 4, 19) || (v.major === 4 && v.minor === 14 && v.patch >= 173);
  const backport = BACKPORTS.find((b) => b.applies(v));
  return {
    ...upstreamFeatures(v, identical),
    ...backport?.features,
    note: noteOf(v, backport),
    release: v.release,
  };
}

function upstreamFeatures(v: KernelVersion, identical: boolean): Omit<KernelFeatures, "note" | "release"> {
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

/**
 * The features a scenario may declare for a kernel whose vendor backported (or reverted) a change
 * the version shorthand does not show: the scenario's snake_case name, and the feature it sets.
 */
export const DECLARABLE_FEATURES = {
  clash_resolution: "clashResolution",
  same_origin_skip: "sameOriginSkip",
  nat_clash_entry: "natClashEntry",
  nat_port_rover: "natPortRover",
  clash_resolve_counter: "clashResolveCounter",
  ignore_counter: "ignoreCounter",
  chain_too_long_counter: "chainTooLongCounter",
  udp_stream_timeout_s: "udpStreamTimeoutS",
  udp_stream_after_2s: "udpStreamAfter2s",
  assured_only_in_stream: "assuredOnlyInStream",
  ksoftirqd_defers: "ksoftirqdDefers",
  list_receive: "listReceive",
  gro_normal_list: "groNormalList",
  threaded_napi: "threadedNapi",
  veth_gro: "vethGro",
  hotpath_stats: "hotpathStats",
} as const satisfies Record<string, keyof KernelFeatures>;

export type DeclaredFeatures = { [K in keyof typeof DECLARABLE_FEATURES]?: KernelFeatures[(typeof DECLARABLE_FEATURES)[K]] | undefined };

/** The features with a scenario's declared ones in place of the version's, and a note that says which. */
export function withDeclared(f: KernelFeatures, declared: DeclaredFeatures | undefined): KernelFeatures {
  const names = Object.keys(declared ?? {}) as (keyof typeof DECLARABLE_FEATURES)[];
  if (names.length === 0) return f;
  const out: KernelFeatures = { ...f };
  const changed: string[] = [];
  for (const n of names) {
    const key = DECLARABLE_FEATURES[n];
    const value = declared![n];
    if (value === undefined) continue;
    if (out[key] !== value) changed.push(`${n}: ${String(value)}`);
    (out as unknown as Record<string, unknown>)[key] = value;
  }
  if (changed.length === 0) return out;
  const declaredNote = `declared by the scenario (kernel_features), not ${f.version}'s own: ${changed.join(", ")}`;
  out.note = f.note === null ? declaredNote : `${f.note}; ${declaredNote}`;
  return out;
}
