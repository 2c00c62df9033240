import assert from "node:assert/strict";
import { bareHop, inputError, traceText } from "./helpers.js";
import { Simulator } from "../src/engine/sim.js";
import { featuresOf, parseKernelVersion } from "../src/kernel/version.js";
import { type DnsMessage, type Packet, makePacket } from "../src/net/packet.js";
import { kubeletResolvConf } from "../src/scenario/kubelet.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";

/** One pod of `lookups` lookups of redis; `node` and `pod` add lines to those blocks. */
const scenario = (pod: string, node = "", opts: { kernel?: string; kubeDns?: string; lookups?: number } = {}) => `name: hostnet
description: host-network pods
kernel: "${opts.kernel ?? "5.4"}"
node:
  cpus: 2
${node}kube_dns:
  endpoints: 2
  records: [redis.shop.svc.cluster.local]
${opts.kubeDns ?? ""}pods:
  - name: agent
    libc: glibc
    namespace: shop
    lookups: ${opts.lookups ?? 1}
    names: [redis]
${pod}`;

const HOST = "    hostNetwork: true\n    dnsPolicy: ClusterFirstWithHostNet\n";

const run = (text: string) => runScenario(loadScenarioText(text, "t.yaml"));

describe("host-network pods: hostNetwork, ClusterFirstWithHostNet", () => {
  it("the kubelet gives ClusterFirstWithHostNet the cluster's DNS, and ClusterFirst on hostNetwork the node's (getPodDNSType)", () => {
    const base = { namespace: "shop", clusterDomain: "cluster.local", clusterDns: ["10.96.0.10"], host: { nameservers: ["10.0.0.2"], searches: ["ec2.internal"], options: ["timeout:2"] } };
    const cluster = "search shop.svc.cluster.local svc.cluster.local cluster.local ec2.internal\nnameserver 10.96.0.10\noptions ndots:5\n";
    const node = "search ec2.internal\nnameserver 10.0.0.2\noptions timeout:2\n";
    assert.equal(kubeletResolvConf({ ...base, policy: "ClusterFirstWithHostNet", hostNetwork: true }), cluster);
    assert.equal(kubeletResolvConf({ ...base, policy: "ClusterFirst", hostNetwork: true }), node);
    assert.equal(kubeletResolvConf({ ...base, policy: "ClusterFirst", hostNetwork: false }), cluster);
  });

  it("host_network and the pod spec's hostNetwork are one field: both at once are refused", () => {
    assert.match(inputError(scenario(`${HOST}    host_network: true\n`)), /hostNetwork.*give host_network .* or hostNetwork .*not both/);
    assert.match(inputError(scenario("    hostNetwork: yes\n    dnsPolicy: ClusterFirstWithHostNet\n")), /hostNetwork/);
  });

  it("ClusterFirst on a host-network pod gets the node's resolv.conf, whose nameserver this cluster does not serve: refused, naming it", () => {
    assert.match(inputError(scenario("    hostNetwork: true\n    dnsPolicy: ClusterFirst\n")), /nameserver 10\.0\.0\.2 is not served/);
  });

  it("a host-network pod's queries go through OUTPUT and POSTROUTING in its send call, and the trace names the hooks", () => {
    const t = traceText(scenario(HOST));
    assert.match(t, /node cpu0 +A OUTPUT: locally generated .*__ip_local_out/);
    assert.match(t, /A OUTPUT: no confirmed entry for this tuple: a new unconfirmed entry/);
    assert.match(t, /A OUTPUT: DNAT 10\.96\.0\.10:53 -> 10\.244\.\d\.10:53/);
    assert.match(t, /A POSTROUTING: entry confirmed/);
    // The A is confirmed before the AAAA of the same sendmmsg() reaches OUTPUT: it finds the A's entry.
    assert.match(t, /AAAA OUTPUT: found a confirmed entry: reusing its DNAT/);
    assert.ok(t.indexOf("A POSTROUTING: entry confirmed") < t.indexOf("AAAA OUTPUT: locally generated"));
    assert.doesNotMatch(t, /PREROUTING|into the veth|ksoftirqd|GRO/, "no veth and no backlog on the way out");
  });

  it("a pod's one-thread pairs clash in bulk with GRO and threaded NAPI on its veth; a host-network pod's never do", () => {
    const node = "  rx: gro-threaded\n  load: idle\n";
    const pod = run(scenario("    dnsPolicy: ClusterFirst\n", node, { kernel: "5.15", lookups: 200 }));
    const host = run(scenario(HOST, node, { kernel: "5.15", lookups: 200 }));
    assert.ok(pod.client.hop.clashes > 100, `veth pod: ${pod.client.hop.clashes}`);
    assert.equal(host.client.hop.clashes, 0);
    assert.equal(host.client.hop.localOut, host.client.hop.packetsIn);
  });

  it("nor when the node splits pod pairs over two CPUs (migration_probability 1): that is a receive path, OUTPUT has none", () => {
    const node = "  migration_probability: 1\n";
    // Each lookup a fresh process: glibc's single-request fallback after a lost query would end the pairs.
    const pod = run(scenario("    dnsPolicy: ClusterFirst\n    lookups_per_process: 1\n", node, { lookups: 50 }));
    const host = run(scenario(`${HOST}    lookups_per_process: 1\n`, node, { lookups: 50 }));
    assert.ok(pod.client.hop.clashes > 25, `veth pod: ${pod.client.hop.clashes}`);
    assert.equal(host.client.hop.clashes, 0);
    assert.equal(host.log.records().filter((l) => l.endNs - l.startNs >= 1e9).length, 0);
  });

  it("its queries reach remote endpoints through their nodes' hops, and their answers come back to its socket", () => {
    const r = run(scenario(HOST, "", { kubeDns: "  placement: remote\n", lookups: 20 }));
    assert.equal(r.endpointNodes.reduce((s, n) => s + n.hop.forwarded, 0), r.client.hop.forwarded);
    assert.ok(r.log.records().every((l) => l.outcome.startsWith("OK")));
  });

  it("two host-network pods share the node's port table and each gets its own answers", () => {
    const text = scenario(HOST, "", { lookups: 30 }) + `  - name: agent2\n    libc: musl\n    namespace: shop\n    lookups: 30\n    names: [redis]\n${HOST}`;
    const r = run(text);
    assert.equal(r.log.count, 60);
    assert.ok(r.log.records().every((l) => l.outcome.startsWith("OK")), "every lookup answered");
    assert.equal(r.net.ignoredBySocket, 0);
  });

  it("OUTPUT: two threads on two CPUs sending one tuple at the same instant clash at POSTROUTING (the kernel's clash rules: merged on 5.4)", () => {
    const sim = new Simulator();
    const forwarded: Packet[] = [];
    const net = bareHop(sim, featuresOf(parseKernelVersion("5.4")!), 3, (p) => forwarded.push(p));
    const q = (qtype: "A" | "AAAA"): DnsMessage => ({ id: 1, qname: "redis.", qtype, response: false, rcode: "NOERROR", ancount: 0, tc: false, from: "", sends: 0 });
    net.localOut([makePacket(1, "udp", 0, 40000, 1, 53, q("A"), "", null, 0)], 0);
    net.localOut([makePacket(2, "udp", 0, 40000, 1, 53, q("AAAA"), "", null, 0)], 1);
    sim.run();
    assert.equal(net.stats.clashes, 1);
    assert.equal(net.stats.droppedClash, 0);
    assert.equal(forwarded.length, 2);
    assert.ok(forwarded.every((p) => p.dst === 2), "both DNATed to the endpoint");
    assert.equal(net.counters.sum().insert_failed, 1, "5.4 counts the merge as insert_failed");
  });
});
