import { readFileSync } from "node:fs";
import { type Document, LineCounter, type Node, isMap, isScalar, isSeq, parseDocument, visit } from "yaml";
import { type FaultRule, RuleError, parseRule, ruleFromObject, showValue } from "../dns/rules.js";
import { type RxMode, rxProblem } from "../kernel/rx.js";
import { type KernelFeatures, featuresOf, parseKernelVersion, withDeclared } from "../kernel/version.js";
import { RESOLVER_SETTINGS, resolverNamed } from "../resolver/registry.js";
import { type Resolver, ResolverRefusal } from "../resolver/resolver.js";
import { type ResolvConf, ResolvConfError, parseResolvConf } from "../resolver/resolvconf.js";
import { shareChannelProblem } from "./channel.js";
import { kubeletResolvConf } from "./kubelet.js";
import { describeIssue } from "./issue.js";
import { DEFAULT_OTHER_CONNECTION_LIFETIME_S } from "../kernel/otherflows.js";
import { MAX_OTHER_CONNECTIONS_LIVE, type Scenario, dnsFieldName, podDnsConfig, podDnsPolicy, podHostNetwork, scenarioSchema } from "./schema.js";
import { costProblem } from "./cost.js";
import { InputError } from "./inputerror.js";
import { checkWorkload } from "./workload.js";

export { InputError } from "./inputerror.js";

export interface LoadedScenario {
  file: string;
  scenario: Scenario;
  /** Parsed resolv.conf per pod, in pod order. */
  resolvConfs: ResolvConf[];
  /** kube_dns.rules, checked. */
  rules: FaultRule[];
  /** The client node's kernel (the scenario's `kernel`), parsed once. */
  kernel: KernelFeatures;
  /** The kernel of the endpoints' nodes: endpoint_nodes.kernel, or the client node's. */
  endpointKernel: KernelFeatures;
}

export type PathKey = string | number;

/** Reads, parses and validates a scenario file; throws InputError on anything wrong. */
export function loadScenarioFile(file: string): LoadedScenario {
  return loadScenarioText(readScenarioFile(file), file);
}

/** A file's text; an unreadable file is bad input. */
export function readScenarioFile(file: string, what = "scenario"): string {
  try {
    // Standard input by its descriptor: opening /dev/stdin fails when it is a socket (ENXIO), as a spawning Node gives.
    return readFileSync(file === "/dev/stdin" ? 0 : file, "utf8");
  } catch (e) {
    throw new InputError(`${file}: cannot read the ${what} file (${(e as NodeJS.ErrnoException).code ?? String(e)}).`);
  }
}

/** A scenario from its text (or its already parsed YAML). */
export function loadScenarioText(text: string | YamlFile, file: string): LoadedScenario {
  const { doc, lineCounter, data } = typeof text === "string" ? parseYaml(text, file) : text;
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new InputError(`${file}: a scenario is a YAML mapping with at least name, description, kernel, kube_dns and pods; found ${data === null ? "an empty file" : typeof data}.`);
  }
  return loadScenarioData(data, docSource(doc, lineCounter, file));
}

/** A parsed YAML file, with what is needed to point at its lines. */
export interface YamlFile {
  doc: Document;
  lineCounter: LineCounter;
  data: unknown;
}

/** Parses YAML (duplicate keys refused); a syntax error is an InputError with line and column. */
export function parseYaml(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = lineCounter.linePos(err.pos[0]);
    const where = `line ${pos.line}, column ${pos.col}`;
    throw new InputError(`${file}: ${where}: this is not valid YAML: ${firstLine(err.message)}.`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The yaml library refuses documents whose aliases expand too far (a resource exhaustion guard).
    if (!(e instanceof Error) || !/alias/i.test(e.message)) throw e;
    let line = "";
    visit(doc, {
      Alias(_, node) {
        if (node.range) line = `line ${lineCounter.linePos(node.range[0]).line}: `;
        return visit.BREAK;
      },
    });
    throw new InputError(`${file}: ${line}the YAML aliases (*name) expand too far (${firstLine(e.message)}); write the values out, or use fewer aliases of large anchors (at most ${MAX_ALIAS_COUNT} uses of an alias to a collection).`);
  }
  return { doc, lineCounter, data };
}

/** The yaml library's limit on alias expansion (its default): a scenario needs few aliases, if any. */
const MAX_ALIAS_COUNT = 100;

/**
 * Where a scenario's fields were written, for error messages: a scenario file,
 * or a scenario assembled from parts of a comparison file.
 */
export interface ScenarioSource {
  file: string;
  /** Said after the file name, before the line: 'variant "use-vc": '. */
  context: string;
  /** "line N: " of the field at this path of the scenario, or "". */
  at(path: PathKey[]): string;
  /** The file line just before resolv.conf line 1 of the block scalar at this path, or null. */
  blockLine(path: PathKey[]): number | null;
}

/** The scenario is the document itself, or the mapping found at `prefix` in it. */
export function docSource(doc: Document, lc: LineCounter, file: string, prefix: PathKey[] = [], context = ""): ScenarioSource {
  return {
    file,
    context,
    at: (path) => locate(doc, lc, [...prefix, ...path]),
    blockLine: (path) => resolvConfLineOffset(doc, lc, [...prefix, ...path]),
  };
}

/** Validates a scenario given as data (from a file, or assembled); throws InputError on anything wrong. */
export function loadScenarioData(data: unknown, src: ScenarioSource): LoadedScenario {
  const file = src.file;
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) throw new InputError(describeIssue(parsed.error.issues[0]!, data, `${src.file}: ${src.context}`, src.at));
  const scenario = parsed.data;
  // "file: context line N: " before each message.
  const at = (path: PathKey[]) => `${src.context}${src.at(path)}`;

  const kernel = withDeclared(kernelAt(scenario.kernel, "kernel", file, at), scenario.kernel_features);
  checkProxyAndPlacement(scenario, file, at);
  const en = scenario.endpoint_nodes;
  // The endpoints' nodes run the client node's kernel (and its declared features) unless they name their own.
  const endpointKernel = en?.kernel === undefined ? withDeclared(kernel, en?.kernel_features) : withDeclared(kernelAt(en.kernel, "endpoint_nodes.kernel", file, at), en.kernel_features);

  // A receive path the node's kernel cannot have (kernel/rx.ts).
  const rxBad = rxProblem(scenario.node.rx as RxMode, kernel);
  if (rxBad !== null) throw new InputError(`${file}: ${at(["node", "rx"])}field "node.rx": ${rxBad}. Use rx: inline (the veth as created) or rps on this kernel, or a newer kernel (or, if its vendor backported it, declare it under kernel_features).`);
  const enRx = (scenario.endpoint_nodes?.rx ?? scenario.node.rx) as RxMode;
  const enBad = rxProblem(enRx, endpointKernel);
  if (enBad !== null) {
    const field = scenario.endpoint_nodes?.rx !== undefined ? "endpoint_nodes.rx" : scenario.endpoint_nodes?.kernel !== undefined ? "endpoint_nodes.kernel" : "node.rx";
    throw new InputError(`${file}: ${at(field.split("."))}field "${field}": the endpoints' nodes: ${enBad}.`);
  }

  if (scenario.node.conntrack_buckets !== undefined && scenario.node.conntrack_max === undefined) {
    throw new InputError(`${file}: ${at(["node", "conntrack_buckets"])}field "node.conntrack_buckets": the hash size only matters for early_drop() when the table has a limit; set node.conntrack_max too.`);
  }

  checkOtherFlows(scenario, file, at);
  checkWorkload(scenario, file, at);

  const known = nameserverAddresses(scenario, file, at);
  const rules = scenario.kube_dns.rules.map((r, i) => kubeDnsRule(r, `${file}: ${at(["kube_dns", "rules", i])}field "kube_dns.rules[${i}]"`));
  const names = new Set<string>();
  const resolvConfs = scenario.pods.map((pod, i) => {
    if (names.has(pod.name)) throw new InputError(`${file}: ${at(["pods", i, "name"])}field "pods[${i}].name": pod name "${pod.name}" is used twice.`);
    names.add(pod.name);
    const built = pod.resolv_conf === undefined;
    // Named as written: dns_config, or dnsConfig as a pod spec spells it.
    const configName = dnsFieldName(pod, "config");
    const field = built ? `pods[${i}].${configName}` : `pods[${i}].resolv_conf`;
    const base = built ? null : src.blockLine(["pods", i, "resolv_conf"]);
    let rc: ResolvConf;
    try {
      rc = parseResolvConf(built ? kubeletText(scenario, pod, src) : pod.resolv_conf!);
    } catch (e) {
      if (!(e instanceof ResolvConfError)) throw e;
      if (built) throw new InputError(`${file}: ${at(["pods", i, configName])}field "${field}": the resolv.conf the kubelet builds from it is not valid: line ${e.line}: ${e.reason}.`);
      const fileLine = base === null ? "" : ` (file line ${base + e.line})`;
      // Without a block to count lines in (options added by a comparison variant), name where the text came from.
      const where = base === null ? src.at(["pods", i, "resolv_conf"]) : "";
      throw new InputError(`${file}: ${src.context}${where}field "${field}", resolv.conf line ${e.line}${fileLine}: ${e.reason}.`);
    }
    if (rc.nameservers.length === 0) throw new InputError(`${file}: ${at(["pods", i, "resolv_conf"])}field "${field}": the resolv.conf has no "nameserver" line.`);
    for (const ns of rc.nameservers.slice(0, 3)) {
      if (!known.has(ns)) {
        throw new InputError(
          `${file}: ${at(["pods", i, "resolv_conf"])}field "${field}": nameserver ${ns} is not served in this cluster; use the kube-dns ClusterIP ${scenario.cluster.dns_service_ip}` +
            (scenario.nodelocal?.enabled ? ` or the NodeLocal DNSCache address ${scenario.nodelocal.ip}` : "") +
            ".",
        );
      }
    }
    // The resolver checks its settings and its resolv.conf, and reads its environment into it.
    const resolver = resolverNamed(pod.libc);
    const fields = pod as Record<string, unknown>;
    checkResolverFields(fields, resolver, i, file, at);
    if (shareChannelProblem(pod) !== null) throw new InputError(`${file}: ${at(["pods", i, "share_channel"])}field "pods[${i}].share_channel": ${shareChannelProblem(pod)}`);
    try {
      return resolver.prepare(rc, pod.env, resolver.readSettings((key) => fields[key], "scenario"), "scenario");
    } catch (e) {
      if (!(e instanceof ResolverRefusal)) throw e;
      if (e.at === "resolv_conf" && e.line !== undefined) {
        const fileLine = base === null ? "" : ` (file line ${base + e.line})`;
        throw new InputError(`${file}: ${src.context}field "${field}", resolv.conf line ${e.line}${fileLine}: ${e.reason}.`);
      }
      if (e.at === "resolv_conf") throw new InputError(`${file}: ${at(["pods", i, "resolv_conf"])}field "${field}": ${e.reason}.`);
      // A variable of the environment (env.RES_OPTIONS) is named without a line, as the mapping's keys have none of their own.
      if (e.at.startsWith("env.")) throw new InputError(`${file}: ${src.context}field "pods[${i}].${e.at}": ${e.reason}.`);
      throw new InputError(`${file}: ${at(["pods", i, e.at])}field "pods[${i}].${e.at}": ${e.reason}.`);
    }
  });
  const cost = costProblem(scenario, resolvConfs);
  if (cost !== null) throw new InputError(`${file}: ${at(["pods", cost.pod])}field "pods[${cost.pod}]": ${cost.text}`);
  return { file, scenario, resolvConfs, rules, kernel, endpointKernel };
}

/** A kernel field's version, parsed once into its features (the schema has checked its form). */
function kernelAt(text: string, field: string, file: string, at: (path: PathKey[]) => string): KernelFeatures {
  const v = parseKernelVersion(text);
  if (v === null) throw new InputError(`${file}: ${at(field.split("."))}field "${field}": "${text}" is not a kernel version such as "5.4".`);
  return featuresOf(v);
}

/** The addresses a pod's nameserver may be: the kube-dns ClusterIP and, with NodeLocal DNSCache, the cache's (checked against the others). */
function nameserverAddresses(scenario: Scenario, file: string, at: (path: PathKey[]) => string): Set<string> {
  const known = new Set([scenario.cluster.dns_service_ip]);
  const nl = scenario.nodelocal;
  if (nl?.enabled) {
    known.add(nl.ip);
    // kube-dns-upstream is a Service of its own: its ClusterIP cannot be one the cache answers on.
    const taken: [string, string][] = [
      [scenario.cluster.dns_service_ip, "the kube-dns ClusterIP (cluster.dns_service_ip)"],
      [nl.ip, "the cache's own address (nodelocal.ip)"],
      [scenario.cluster.node_ip, "the node's address (cluster.node_ip)"],
    ];
    for (const [addr, what] of taken) {
      if (nl.upstream_service_ip === addr) {
        throw new InputError(`${file}: ${at(["nodelocal", "upstream_service_ip"])}field "nodelocal.upstream_service_ip": ${addr} is ${what}; the kube-dns-upstream Service needs a ClusterIP of its own.`);
      }
    }
    if (nl.ip === scenario.cluster.node_ip) throw new InputError(`${file}: ${at(["nodelocal", "ip"])}field "nodelocal.ip": ${nl.ip} is the node's address (cluster.node_ip); NodeLocal DNSCache listens on a link-local address such as 169.254.20.10.`);
  }
  return known;
}

/** One of kube_dns.rules: a string in the `lookup --rule` language, or the same as a mapping. */
function kubeDnsRule(r: unknown, where: string): FaultRule {
  const example = `a string such as "drop qtype=AAAA nth=1" or a mapping such as {action: drop, qtype: AAAA, nth: 1}`;
  try {
    if (typeof r === "string") return parseRule(r);
    if (typeof r === "object" && r !== null && !Array.isArray(r)) return ruleFromObject(r as Record<string, unknown>);
  } catch (e) {
    if (!(e instanceof RuleError)) throw e;
    throw new InputError(`${where} (${typeof r === "string" ? `"${r}"` : showValue(r)}): ${e.reason}.`);
  }
  throw new InputError(`${where}: a rule is ${example}, found ${JSON.stringify(r)}.`);
}

/** A resolver's own pod fields (musl_version, musl_same_id_probability) on a pod with another resolver are refused. */
function checkResolverFields(pod: Record<string, unknown>, own: Resolver, i: number, file: string, at: (path: PathKey[]) => string): void {
  for (const { resolver, setting } of RESOLVER_SETTINGS) {
    const key = setting.field;
    if (pod[key] !== undefined && resolver !== own) {
      throw new InputError(`${file}: ${at(["pods", i, key])}field "pods[${i}].${key}": applies to libc: ${resolver.name} only (this pod has libc: ${own.name}).`);
    }
  }
}

/** node.proxy_mode, node.ipvs, kube_dns.placement and endpoint_nodes: what the schema alone cannot check. */
function checkProxyAndPlacement(s: Scenario, file: string, at: (path: PathKey[]) => string): void {
  const ipvs = s.node.proxy_mode === "ipvs";
  if (s.node.ipvs !== undefined && !ipvs) throw new InputError(`${file}: ${at(["node", "ipvs"])}field "node.ipvs": applies only with node.proxy_mode: ipvs (found ${s.node.proxy_mode}).`);
  if (ipvs && s.node.rules_before_dns > 0) {
    throw new InputError(`${file}: ${at(["node", "rules_before_dns"])}field "node.rules_before_dns": kube-proxy's IPVS mode matches Services with an ipset, not one nat rule per Service, so no rule walk applies; remove it or use proxy_mode: iptables.`);
  }
  if (ipvs && s.nodelocal?.enabled && s.nodelocal.listen_on_cluster_ip) {
    throw new InputError(`${file}: ${at(["nodelocal", "listen_on_cluster_ip"])}field "nodelocal.listen_on_cluster_ip": in IPVS mode the kube-dns ClusterIP is bound to kube-ipvs0 and NodeLocal DNSCache cannot listen on it; set it to false (pods then use nodelocal.ip).`);
  }
  const p = s.kube_dns.placement;
  if (Array.isArray(p) && p.length !== s.kube_dns.endpoints) {
    throw new InputError(`${file}: ${at(["kube_dns", "placement"])}field "kube_dns.placement": ${p.length} node name${p.length === 1 ? "" : "s"} for ${s.kube_dns.endpoints} endpoint${s.kube_dns.endpoints === 1 ? "" : "s"}; give one per endpoint (client-node for the client node).`);
  }
  const remote = p === "remote" || (Array.isArray(p) && p.some((n) => n !== "client-node"));
  const en = s.endpoint_nodes;
  if (en === undefined) return;
  if (!remote) throw new InputError(`${file}: ${at(["endpoint_nodes"])}field "endpoint_nodes": describes the nodes of remote endpoints, but kube_dns.placement puts every endpoint on the client node.`);
  if (en.nat_rules !== undefined && (en.proxy_mode ?? s.node.proxy_mode) === "ipvs") {
    throw new InputError(`${file}: ${at(["endpoint_nodes", "nat_rules"])}field "endpoint_nodes.nat_rules": in IPVS mode KUBE-SERVICES matches an ipset, so no rule walk applies; remove it or use proxy_mode: iptables.`);
  }
}

/** node.other_connection_lifetime_s needs a rate, and the live entries must stay within what the model keeps. */
function checkOtherFlows(s: Scenario, file: string, at: (path: PathKey[]) => string): void {
  const rate = s.node.other_connections_per_s;
  const life = s.node.other_connection_lifetime_s;
  if (life !== undefined && rate === 0) {
    throw new InputError(`${file}: ${at(["node", "other_connection_lifetime_s"])}field "node.other_connection_lifetime_s": the lifetime of the node's other connections only matters when they arrive; set node.other_connections_per_s too.`);
  }
  const live = rate * (life ?? DEFAULT_OTHER_CONNECTION_LIFETIME_S);
  if (live > MAX_OTHER_CONNECTIONS_LIVE) {
    const field = life === undefined ? "other_connections_per_s" : "other_connection_lifetime_s";
    throw new InputError(
      `${file}: ${at(["node", field])}field "node.${field}": ${rate} connections per second living ${life ?? DEFAULT_OTHER_CONNECTION_LIFETIME_S} s keep ${Math.round(live)} entries in the table, more than the ${MAX_OTHER_CONNECTIONS_LIVE} the model holds; lower the rate or the lifetime.`,
    );
  }
}

/** The pod's resolv.conf as the kubelet writes it from dnsPolicy and dnsConfig. */
function kubeletText(scenario: Scenario, pod: Scenario["pods"][number], src: ScenarioSource): string {
  let host: ResolvConf;
  try {
    host = parseResolvConf(scenario.node.resolv_conf);
  } catch (e) {
    if (!(e instanceof ResolvConfError)) throw e;
    throw new InputError(`${src.file}: ${src.context}${src.at(["node", "resolv_conf"])}field "node.resolv_conf", resolv.conf line ${e.line}: ${e.reason}.`);
  }
  const hostOptions = host.lines.filter((d) => d.key === "options").flatMap((d) => d.args);
  return kubeletResolvConf({
    policy: podDnsPolicy(pod)!,
    hostNetwork: podHostNetwork(pod),
    namespace: pod.namespace,
    clusterDomain: scenario.cluster.domain,
    clusterDns: [scenario.cluster.dns_service_ip],
    host: { nameservers: host.nameservers, searches: host.search, options: hostOptions },
    config: podDnsConfig(pod),
  });
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.replace(/\.$/, "");
}

/** "line N: " for a path in the document, or "" if it is not there. */
function locate(doc: Document, lc: LineCounter, path: PathKey[]): string {
  const node = nodeAt(doc, path);
  if (!node?.range) return "";
  return `line ${lc.linePos(node.range[0]).line}: `;
}

function nodeAt(doc: Document, path: PathKey[]): Node | null {
  let node: unknown = doc.contents;
  let lastKey: Node | null = null;
  for (const k of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === k);
      if (!pair) return lastKey ?? (node as Node);
      lastKey = pair.key as Node;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof k === "number") {
      const item = node.items[k];
      if (item === undefined) return node as Node;
      node = item;
      lastKey = null;
    } else {
      return (node as Node) ?? null;
    }
  }
  return (node as Node) ?? null;
}

/** The file line just before a block scalar's first content line (so resolv.conf line n is file line base+n). */
function resolvConfLineOffset(doc: Document, lc: LineCounter, path: PathKey[]): number | null {
  const node = nodeAt(doc, path);
  if (!node?.range || !isScalar(node)) return null;
  const line = lc.linePos(node.range[0]).line;
  return node.type === "BLOCK_LITERAL" || node.type === "BLOCK_FOLDED" ? line : line - 1;
}
