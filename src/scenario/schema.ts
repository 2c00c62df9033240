import { z } from "zod";
import { DNS_POLICIES, DNS_SPELLINGS, dnsFieldName, podDnsConfig, podDnsPolicy } from "./spellings.js";
import { DEFAULT_IPVS_SCHEDULE_NS } from "../kernel/ipvs.js";
import { CACHE_DEFAULT_CAPACITY, CACHE_MIN_TTL_S } from "../dns/cache.js";
import { DEFAULT_LINK_US } from "../model/endpointnode.js";
import { TC_INTERFACES } from "../kernel/qdisc.js";
import { RX_MODES, NODE_LOADS } from "../kernel/rx.js";
import { parseKernelVersion } from "../kernel/version.js";
import { RESOLVER_NAMES } from "../resolver/registry.js";
import { DIST_HELP, DIST_MAX, type DistSpec, checkDist } from "./dist.js";
import { KERNEL_RANGE, MAX_NAT_RULES, MAX_PODS, MAX_PATH_US, MAX_RULE_NS, MAX_THREADS, knownKernel } from "./limits.js";

/** A probability field. */
/** kernel_features: each declarable feature with the values the feature table uses (kernel/version.ts). */
const kernelFeatureOverrides = z.strictObject({
  clash_resolution: z.enum(["none", "nat-free-only", "identical"]).optional(),
  same_origin_skip: z.boolean().optional(),
  nat_clash_entry: z.enum(["none", "delete-on-reply", "fixed-timeout"]).optional(),
  nat_port_rover: z.boolean().optional(),
  clash_resolve_counter: z.boolean().optional(),
  ignore_counter: z.boolean().optional(),
  chain_too_long_counter: z.boolean().optional(),
  udp_stream_timeout_s: z.union([z.literal(120), z.literal(180)], { error: "expected 120 (5.0 and later) or 180" }).optional(),
  udp_stream_after_2s: z.boolean().optional(),
  assured_only_in_stream: z.boolean().optional(),
  ksoftirqd_defers: z.boolean().optional(),
  list_receive: z.boolean().optional(),
  gro_normal_list: z.boolean().optional(),
  threaded_napi: z.boolean().optional(),
  veth_gro: z.boolean().optional(),
  hotpath_stats: z.boolean().optional(),
});
/** rx-usecs as ethtool sets it: drivers take 0 to a few ms. */
const nicRxUsecs = z.number({ error: "expected microseconds from 0 to 10000" }).min(0, { error: "expected microseconds from 0 to 10000" }).max(10_000, { error: "expected microseconds from 0 to 10000" });
const probability = z.number({ error: "expected a probability from 0 to 1" }).min(0, { error: "expected a probability from 0 to 1" }).max(1, { error: "expected a probability from 0 to 1" });

/** A distribution field; its unit is in the field's name. */
const dist = z.custom<DistSpec>((v) => checkDist(v) === null, { error: (iss) => checkDist(iss.input) ?? "invalid distribution" }).meta(distJsonSchema());

/** A distribution as JSON Schema (schemas/, for editors): checkDist's forms, without its cross-field checks (max >= min, p99 > median). */
function distJsonSchema() {
  const value = { type: "number", minimum: 0, maximum: DIST_MAX };
  const one = (kind: string, body: object) => ({ type: "object", properties: { [kind]: body }, required: [kind], additionalProperties: false });
  const fields = (props: Record<string, object>, required: string[]) => ({ type: "object", properties: props, required, additionalProperties: false });
  return {
    id: "distribution",
    description: `A distribution: ${DIST_HELP}.`,
    anyOf: [
      value,
      one("fixed", value),
      one("uniform", fields({ min: value, max: value }, ["min", "max"])),
      one("exponential", fields({ mean: value }, ["mean"])),
      one("lognormal", fields({ median: value, p99: value }, ["median", "p99"])),
      one("empirical", fields({ values: { type: "array", items: value, minItems: 1 }, weights: { type: "array", items: value } }, ["values"])),
    ],
  };
}

const positiveInt = z.number().int().min(1);
/** A whole number in [min, max], with one message for every way of missing it. */
const wholeIn = (min: number, max: number, what: string) => {
  const error = `expected a whole number from ${min} to ${max} (${what})`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
/** A number in [min, max], with one message for every way of missing it. */
const numberIn = (min: number, max: number, what: string) => {
  const error = `expected a number from ${min} to ${max} (${what})`;
  return z.number({ error }).min(min, { error }).max(max, { error });
};
/** node.other_connections_per_s's upper end: beyond, one simulated second would cost a second. */
export const MAX_OTHER_CONNECTIONS_PER_S = 100_000;
/** The other flows' live entries the model keeps (one number each): rate times lifetime at most this. */
export const MAX_OTHER_CONNECTIONS_LIVE = 1_048_576;
const ipv4 = z.string().regex(/^(\d{1,3})(\.\d{1,3}){3}$/, { error: "expected an IPv4 address such as 10.96.0.10" });
const dnsName = z.string().regex(/^[A-Za-z0-9_*]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/, { error: "expected a DNS name such as redis.default.svc.cluster.local" });

const record = z.union([dnsName, z.strictObject({ name: dnsName, a: z.boolean().optional(), aaaa: z.boolean().optional() })], {
  error: "expected a name, or {name, a: true|false, aaaa: true|false}",
});
/** A DNS TTL in whole seconds (RFC 2181: at most 2^31 - 1). */
const ttlSeconds = (what: string) => wholeIn(0, 2_147_483_647, what);
/** A name upstream may carry its own TTL. */
const externalRecord = z.union([dnsName, z.strictObject({ name: dnsName, a: z.boolean().optional(), aaaa: z.boolean().optional(), ttl_s: ttlSeconds("the TTL its answers carry, seconds").optional() })], {
  error: "expected a name, or {name, a: true|false, aaaa: true|false, ttl_s: seconds}",
});

/** One of the cache plugin's two caches: `success|denial CAPACITY [TTL [MINTTL]]`. */
const cacheClass = z.strictObject({
  capacity: wholeIn(1, 10_000_000, "entries; CoreDNS keeps max(capacity / 256, 4) per each of its 256 shards").default(CACHE_DEFAULT_CAPACITY),
  ttl_s: wholeIn(1, 2_147_483_647, "the most an answer is kept, seconds").optional(),
  min_ttl_s: ttlSeconds("the least an answer is kept, seconds").default(CACHE_MIN_TTL_S),
});
/** CoreDNS's cache plugin in each replica: the Kubernetes Corefiles' `cache 30`, or false for a Corefile without it. */
const cachePlugin = z.union(
  [
    z.literal(false),
    z.strictObject({
      ttl_s: wholeIn(1, 2_147_483_647, "cache [TTL]: the most a success or denial is kept, seconds").default(30),
      success: cacheClass.prefault({}),
      denial: cacheClass.prefault({}),
      servfail_s: numberIn(0, 300, "seconds a SERVFAIL is kept; RFC 2308 allows at most 5 minutes").default(CACHE_MIN_TTL_S),
      /** `disable success ZONES`, `disable denial ZONES` (kubeadm's Corefile since kubernetes#128359: the cluster domain). */
      disable: z.strictObject({ success: z.array(dnsName).default([]), denial: z.array(dnsName).default([]) }).prefault({}),
      /** `prefetch AMOUNT [DURATION] [PERCENTAGE%]`: refresh an entry hit often before it expires. */
      prefetch: z
        .strictObject({
          amount: wholeIn(0, 1_000_000, "hits before an entry is prefetched; 0: never"),
          duration_s: numberIn(0.001, 86_400, "seconds a hit may follow the one before and still count").default(60),
          percentage: wholeIn(10, 90, "the share of its TTL left, in %, below which it is prefetched").default(10),
        })
        .optional(),
    }),
  ],
  { error: "expected false (no cache plugin) or {ttl_s, success, denial, servfail_s, disable}" },
);

const KERNEL_HELP = 'expected a kernel version such as "5.4" or "4.14.173", or as uname -r prints it ("5.4.0-1103-aws"; quote it in YAML)';
const kernelVersion = z
  .string({ error: KERNEL_HELP })
  .refine((v) => parseKernelVersion(v) !== null, { error: KERNEL_HELP })
  .superRefine((v, ctx) => {
    const problem = knownKernel(v).problem;
    if (problem !== null) ctx.addIssue({ code: "custom", message: `expected a kernel version the model knows, ${KERNEL_RANGE}` });
  });

/** A node's name (a DNS label, as Kubernetes node names are). */
const nodeName = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { error: "expected a node name (lower-case letters, digits, dashes), such as node-1" });

const WEIGHT = "expected a weight above 0, at most 1e9 (names are picked in proportion to their weights)";
const name = z.union([dnsName, z.strictObject({ name: dnsName, weight: z.number({ error: WEIGHT }).positive({ error: WEIGHT }).max(1e9, { error: WEIGHT }) })], { error: "expected a name, or {name, weight} with a weight above 0, at most 1e9" });

/**
 * A pod spec's dnsPolicy. The kubelet gives ClusterFirstWithHostNet the cluster's DNS,
 * and ClusterFirst too unless the pod has hostNetwork, where it falls back to Default
 * (pkg/kubelet/network/dns/dns.go, getPodDNSType).
 */
const dnsPolicy = z.enum(DNS_POLICIES);
/** A pod spec's dnsConfig (PodDNSConfig): option values are strings there, as in `value: "2"`. */
const dnsConfig = z.strictObject({
  nameservers: z.array(z.string()).optional(),
  searches: z.array(z.string()).optional(),
  options: z.array(z.strictObject({ name: z.string().min(1), value: z.string({ error: 'expected text (quote a number, value: "2", as a pod spec does)' }).optional() })).optional(),
});

export { DNS_POLICIES, DNS_SPELLINGS, dnsFieldName, podDnsConfig, podDnsPolicy, podHostNetwork } from "./spellings.js";

export const podSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { error: "expected a lower-case pod name (letters, digits, dashes)" }),
    /** The resolver, by its name in the registry (src/resolver/registry.ts). */
    libc: z.enum(RESOLVER_NAMES),
    /** The musl release (libc: musl only), default 1.2.3: the pair rule (1.2.1), TCP fallback and EAI_NODATA (1.2.4). */
    musl_version: z.string().optional(),
    /** Before musl 1.2.4: the share of pairs whose A and AAAA get the same query ID (res_mkquery's clock), default 0. */
    musl_same_id_probability: z.number().min(0).max(1).optional(),
    /** The pod's /etc/resolv.conf as written; or let the kubelet build it from dns_policy (and dns_config). */
    resolv_conf: z.string().optional(),
    dns_policy: dnsPolicy.optional(),
    dns_config: dnsConfig.optional(),
    /** dns_policy and dns_config as a pod spec spells them, so a block pasted from one works; one spelling per field. */
    dnsPolicy: dnsPolicy.optional(),
    dnsConfig: dnsConfig.optional(),
    /** The pod shares the node's network namespace (the pod spec's hostNetwork): its packets are the node's own. */
    host_network: z.boolean().optional(),
    hostNetwork: z.boolean().optional(),
    namespace: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { error: "expected a namespace name (lower-case letters, digits, dashes)" }).default("default"),
    family: z.enum(["unspec", "inet", "inet6"]).default("unspec"),
    threads: wholeIn(1, MAX_THREADS, "application threads").default(1),
    lookups_per_process: positiveInt.optional(),
    /** c-ares only: the process's threads share one ares channel, and so its UDP socket (scenario/channel.ts). */
    share_channel: z.boolean().optional(),
    /** The process environment the resolver reads (glibc res_init: RES_OPTIONS, LOCALDOMAIN). */
    env: z.strictObject({ RES_OPTIONS: z.string().optional(), LOCALDOMAIN: z.string().optional() }).optional(),
    lookups: positiveInt.optional(),
    think_ms: dist.default(0),
    rate_per_s: z.number().positive().optional(),
    duration_s: z.number().positive().optional(),
    names: z.array(name).min(1),
  })
  .superRefine((p, ctx) => {
    for (const [snake, camel] of Object.values(DNS_SPELLINGS)) {
      if (p[snake] !== undefined && p[camel] !== undefined) {
        ctx.addIssue({ code: "custom", message: `the same field as ${snake}, as a pod spec spells it; give ${snake} (the scenario's spelling) or ${camel} (the pod spec's), not both`, path: [camel] });
        return;
      }
    }
    const policy = podDnsPolicy(p);
    const policyName = dnsFieldName(p, "policy");
    const configName = dnsFieldName(p, "config");
    if ((p.resolv_conf === undefined) === (policy === undefined)) {
      ctx.addIssue({
        code: "custom",
        message: `give either resolv_conf (the file as written) or ${policyName} (ClusterFirst, ClusterFirstWithHostNet, Default or None, with an optional ${configName}) for the kubelet to build it`,
        path: [],
      });
    }
    if (policy === "None" && (podDnsConfig(p)?.nameservers ?? []).length === 0) {
      ctx.addIssue({ code: "custom", message: `${policyName} None needs ${configName}.nameservers (the kubelet writes nothing else)`, path: [configName] });
    }
    const closed = p.lookups !== undefined;
    const open = p.rate_per_s !== undefined || p.duration_s !== undefined;
    if (closed === open) {
      ctx.addIssue({ code: "custom", message: "give either lookups (each thread looks up back to back) or rate_per_s with duration_s (Poisson arrivals)", path: closed ? ["rate_per_s"] : [] });
    } else if (open && (p.rate_per_s === undefined || p.duration_s === undefined)) {
      ctx.addIssue({ code: "custom", message: "rate_per_s and duration_s go together", path: [p.rate_per_s === undefined ? "duration_s" : "rate_per_s"] });
    }
  });

export const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().min(1),
  seed: wholeIn(0, Number.MAX_SAFE_INTEGER, "a seed; larger numbers are not exact in a double").default(1),
  kernel: kernelVersion,
  /** Features the kernel has beyond (or short of) its version's: a vendor's backport (kernel/version.ts DECLARABLE_FEATURES). */
  kernel_features: kernelFeatureOverrides.optional(),
  node: z
    .strictObject({
      cpus: positiveInt.max(256).default(2),
      rx: z.enum(RX_MODES as [string, ...string[]]).default("inline"),
      load: z.enum(NODE_LOADS as [string, ...string[]]).default("idle"),
      batch_probability: z.number().min(0).max(1).optional(),
      /** The thread-migration split of one thread's burst over two CPUs (inline and gro), per burst. */
      /** A measured overlap rate per burst (dnsrace calibrate writes it): a probability, or one with its 95% interval. */
      migration_probability: z
        .union(
          [
            probability,
            z
              .strictObject({ estimate: probability, low: probability, high: probability })
              .refine((o) => o.low <= o.estimate && o.estimate <= o.high, { error: "expected low <= estimate <= high" }),
          ],
          { error: "expected a probability from 0 to 1, or {estimate, low, high} (as dnsrace calibrate writes it)" },
        )
        .optional(),
      /** The node's own load (kernel/softirq.ts): the share of each CPU's time in softirq for other traffic (top's si, mpstat's %soft). */
      softirq_share: z.number({ error: "expected a share of CPU time from 0 to 0.95" }).min(0, { error: "expected a share of CPU time from 0 to 0.95" }).max(0.95, { error: "expected a share of CPU time from 0 to 0.95" }).default(0),
      /** CPU-bound tasks runnable per CPU besides the resolver (the load average per CPU). */
      runnable_per_cpu: z.number({ error: "expected a number of tasks from 0 to 64" }).min(0, { error: "expected a number of tasks from 0 to 64" }).max(64, { error: "expected a number of tasks from 0 to 64" }).default(0),
      /** The NIC's receive interrupt moderation (`ethtool -c`: rx-usecs), us (kernel/nic.ts). */
      nic_rx_usecs: nicRxUsecs.default(0),
      nat_backend: z.enum(["iptables-legacy", "iptables-nft", "nftables"]).default("iptables-nft"),
      rules_before_dns: wholeIn(0, MAX_NAT_RULES, "nat rules walked before the DNS Service's").default(0),
      /** kube-proxy's mode: the nat table's KUBE-SVC chains, or IPVS (kernel/ipvs.ts). */
      proxy_mode: z.enum(["iptables", "ipvs"]).default("iptables"),
      ipvs: z.strictObject({ schedule_ns: z.number().min(0).max(1e9).default(DEFAULT_IPVS_SCHEDULE_NS) }).optional(),
      /** The node's /etc/resolv.conf (the kubelet's --resolv-conf): dnsPolicy Default copies it, ClusterFirst appends its search domains. */
      resolv_conf: z.string().default("nameserver 10.0.0.2\n"),
      /** kube-proxy --masquerade-all: pods' Service traffic is MASQUERADEd to the node's address. */
      masquerade_all: z.boolean().default(false),
      /** --random-fully on kube-proxy's MASQUERADE rule (added when iptables supports it). */
      masquerade_random_fully: z.boolean().default(false),
      /** nf_conntrack_max; absent: no limit. */
      conntrack_max: wholeIn(1, 16_777_216, "nf_conntrack_max").optional(),
      /** nf_conntrack_buckets (the module's hashsize); default conntrack_max / 4, as kube-proxy sets it. */
      conntrack_buckets: wholeIn(1, 16_777_216, "nf_conntrack_buckets").optional(),
      /** New conntrack entries per second from the node's other flows (HTTP, databases...), spread over its CPUs (kernel/otherflows.ts). */
      other_connections_per_s: numberIn(0, MAX_OTHER_CONNECTIONS_PER_S, "new connections per second").default(0),
      /** How long each of them holds its conntrack entry; default 120 s, TCP's TIME_WAIT timeout. */
      other_connection_lifetime_s: numberIn(0.001, 86_400, "seconds").optional(),
      /** tc netem delay of one query type at a named interface (weave-tc, GKE netd's dns-delay). */
      tc_delay: z
        .strictObject(
          {
            interface: z.enum(TC_INTERFACES as [string, ...string[]]),
            qtype: z.enum(["A", "AAAA"]).default("AAAA"),
            delay_ms: dist,
          },
          { error: `expected {interface: ${TC_INTERFACES.join(" | ")}, delay_ms: a distribution, qtype: A | AAAA (default AAAA)}` },
        )
        .optional(),
      /** Overrides of the calibrated or assumed path timings (src/kernel/timing.ts); each is optional. */
      timing: z
        .strictObject({
          window_us: dist.optional(),
          rule_ns: numberIn(0, MAX_RULE_NS, "ns per rule").optional(),
          snat_lead_ns: numberIn(0, MAX_RULE_NS, "ns").optional(),
          hit_us: numberIn(0, MAX_PATH_US, "us").optional(),
          xmit_us: numberIn(0, MAX_PATH_US, "us").optional(),
          send_path_us: dist.optional(),
          datagram_gap_us: dist.optional(),
          stall_probability: z.number().min(0).max(1).optional(),
          stall_us: dist.optional(),
          pod_veth_us: numberIn(0, MAX_PATH_US, "us").optional(),
        })
        .optional(),
    })
    .prefault({}),
  cluster: z
    .strictObject({
      domain: dnsName.default("cluster.local"),
      dns_service_ip: ipv4.default("10.96.0.10"),
      node_ip: ipv4.default("10.0.0.1"),
    })
    .prefault({}),
  kube_dns: z.strictObject({
    endpoints: positiveInt.max(250),
    rtt_ms: dist.default({ lognormal: { median: 0.2, p99: 1 } }),
    service_ms: dist.default({ lognormal: { median: 0.05, p99: 0.5 } }),
    upstream_ms: dist.default({ lognormal: { median: 5, p99: 40 } }),
    ipv6: z.boolean().default(false),
    /** Where the endpoints run: all on the client node, each on a node of its own, or a node name per endpoint. */
    placement: z.union([z.enum(["local", "remote"]), z.array(nodeName).min(1)], { error: "expected local, remote, or a list of node names, one per endpoint (client-node for the client node)" }).default("local"),
    records: z.array(record).default([]),
    external_records: z.array(externalRecord).default([]),
    /** The kubernetes plugin's `ttl` (its default is 5; the Kubernetes Corefiles set 30). */
    ttl_s: wholeIn(0, 3600, "the kubernetes plugin's ttl, seconds").default(30),
    /** The TTL of upstream answers for names that give none (assumed). */
    upstream_ttl_s: ttlSeconds("the TTL of upstream answers, seconds").default(300),
    cache: cachePlugin.prefault({}),
    /** CoreDNS's forward plugin (`forward . /etc/resolv.conf`). */
    forward: z
      .strictObject({
        read_timeout_ms: numberIn(1, 60_000, "ms one attempt waits for the upstream").default(2000),
        /** Absent: two per upstream (1.14.7 and later); 0: no cap, until the 5 s deadline (earlier releases). */
        max_connect_attempts: wholeIn(0, 1000, "attempts per query; 0: until the 5 s deadline").optional(),
        max_concurrent: wholeIn(0, 10_000_000, "queries forwarded at once before REFUSED; 0: no limit").default(1000),
      })
      .prefault({}),
    /** The share of forward attempts the upstream never answers. */
    upstream_loss: probability.default(0),
    /** A replica's capacity: queries per second, and how many may wait (its socket's queue) before more are dropped. */
    capacity: z
      .strictObject({
        qps: numberIn(1, 10_000_000, "queries per second a replica processes"),
        queue: wholeIn(0, 10_000_000, "queries that may wait").default(256),
      })
      .optional(),
    /** Answer rules (the `dnsrace lookup --rule` language), as strings or mappings; checked by the loader (src/dns/rules.ts). */
    rules: z.array(z.unknown()).default([]),
  }),
  /** The nodes of remote endpoints (kube_dns.placement): each field defaults to the client node's. */
  endpoint_nodes: z
    .strictObject({
      kernel: kernelVersion.optional(),
      kernel_features: kernelFeatureOverrides.optional(),
      cpus: positiveInt.max(256).optional(),
      rx: z.enum(RX_MODES as [string, ...string[]]).optional(),
      load: z.enum(NODE_LOADS as [string, ...string[]]).optional(),
      batch_probability: z.number().min(0).max(1).optional(),
      softirq_share: z.number({ error: "expected a share of CPU time from 0 to 0.95" }).min(0, { error: "expected a share of CPU time from 0 to 0.95" }).max(0.95, { error: "expected a share of CPU time from 0 to 0.95" }).optional(),
      runnable_per_cpu: z.number({ error: "expected a number of tasks from 0 to 64" }).min(0, { error: "expected a number of tasks from 0 to 64" }).max(64, { error: "expected a number of tasks from 0 to 64" }).optional(),
      nic_rx_usecs: nicRxUsecs.optional(),
      nat_backend: z.enum(["iptables-legacy", "iptables-nft", "nftables"]).optional(),
      proxy_mode: z.enum(["iptables", "ipvs"]).optional(),
      /** KUBE-SERVICES rules a packet to a pod IP walks without a match (iptables mode). */
      nat_rules: wholeIn(0, MAX_NAT_RULES, "nat rules walked without a match").optional(),
      /** One way between the client node and the endpoint's node. */
      link_us: dist.default(DEFAULT_LINK_US),
    })
    .optional(),
  nodelocal: z
    .strictObject({
      enabled: z.boolean().default(true),
      ip: ipv4.default("169.254.20.10"),
      listen_on_cluster_ip: z.boolean().default(true),
      upstream_service_ip: ipv4.default("10.96.0.11"),
      cache_ms: dist.default({ lognormal: { median: 0.03, p99: 0.2 } }),
    })
    .optional(),
  pods: z.array(podSchema).min(1).max(MAX_PODS, { error: `expected at most ${MAX_PODS} pods (the client node's /24 pod CIDR, 10.244.0.10 to 10.244.0.254)` }),
});

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.output<typeof scenarioSchema>;
