import assert from "node:assert/strict";
import { parse } from "yaml";
import { type Assessment, type Row, assess } from "../src/assess/assess.js";
import { readObjects } from "../src/assess/objects.js";
import { scenarioData } from "../src/assess/scenario.js";
import { dump } from "./assess-helpers.js";

/**
 * Dumps in kubectl's own format with kinds and fields the other fixtures lack: a kubeadm 1.31
 * dual-stack cluster (nftables kube-proxy, a custom Corefile, StatefulSet, CronJob and its Jobs,
 * an ExternalName Service, tainted nodes, a host-network agent, an IPv6 EndpointSlice, a pending
 * pod) and an RKE2 cluster in -o yaml (RHEL 8 and Windows nodes, IPVS kube-proxy as static pods,
 * CoreDNS under its Helm release's name, a terminating endpoint, a Job of its own).
 */
type Obj = { apiVersion?: string; kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> };
type Dump = { kind: "List"; items: Obj[] };

const load = (name: string): Dump => (name.endsWith(".yaml") ? parse(dump(name)) : JSON.parse(dump(name))) as Dump;
const run = (d: Dump): Assessment => assess(readObjects([{ name: "dump", text: JSON.stringify(d) }]), null, [], { lookups: 1000, seed: 1 });
const rowsOf = (a: Assessment, id: string) => a.rows.filter((r) => r.id === id);
const one = (a: Assessment, id: string): Row => {
  const rs = rowsOf(a, id);
  assert.equal(rs.length, 1, `${id}: ${rs.length} rows`);
  return rs[0]!;
};
const resolvers = (r: Row) => r.containers.map((c) => `${c.name}=${c.resolver}`);

/** Every pod of the dump is in exactly one row, and the rows' workloads are these. */
function namesEvery(d: Dump, a: Assessment, ids: string[]): void {
  assert.deepEqual([...new Set(a.rows.map((r) => r.id))].sort(), [...ids].sort());
  const inRows = a.rows.flatMap((r) => r.pods.map((p) => `${p.namespace}/${p.name}`)).sort();
  assert.deepEqual(inRows, d.items.filter((o) => o.kind === "Pod").map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort());
}

describe("assess on held-out dumps: kinds and fields the fixtures lack", () => {
  const dual = load("heldout/dualstack-nftables.json");
  const rke2 = load("heldout/rke2-windows.yaml");

  it("dual-stack kubeadm 1.31: names every workload (StatefulSet, CronJob through its Jobs, DaemonSets, a Deployment whose ReplicaSet is absent) and places every pod", () => {
    const a = run(dual);
    namesEvery(dual, a, ["CronJob/payments/nightly-reconcile", "DaemonSet/kube-system/kube-proxy", "DaemonSet/monitoring/datadog-agent", "Deployment/kube-system/coredns", "Deployment/ml/fraud-model", "Deployment/payments/ledger-api", "StatefulSet/payments/ledger-db"]);
    const cron = one(a, "CronJob/payments/nightly-reconcile");
    assert.equal(cron.pods.length, 2, "a finished and a running Job's pods");
    assert.match(cron.workload.ownerFrom, /\(Job\/nightly-reconcile-\d+\), Job\/payments\/nightly-reconcile-\d+ metadata\.ownerReferences\[0\]/);
    assert.match(one(a, "Deployment/ml/fraud-model").workload.ownerFrom, /pod-template-hash/);
    const pending = rowsOf(a, "Deployment/payments/ledger-api").find((r) => r.type === null)!;
    assert.match(pending.notAssessed!, /not scheduled on a node .*ledger-api-85f9d6c47b-r9d2c has no spec\.nodeName/);
  });

  it("dual-stack: kernel per node, nftables mode with nftables.masqueradeAll (not iptables'), the IPv4 endpoints and their nodes, the custom Corefile's zone", () => {
    const a = run(dual);
    assert.deepEqual([...a.facts.nodes.values()].map((n) => [n.name, n.kernel!.value, n.cpus!.value]), [["cp-1", "6.8.0-48-generic", 4], ["gpu-1", "5.15.0-1063-nvidia", 16], ["worker-1", "6.8.0-48-generic", 8], ["worker-2", "6.8.0-48-generic", 8]]);
    assert.equal(a.facts.kubeProxy.mode.value, "nftables");
    assert.equal(a.facts.kubeProxy.masqueradeAll.value, false);
    assert.match(a.facts.kubeProxy.masqueradeAll.from, /nftables\.masqueradeAll/);
    assert.equal(a.facts.dns.serviceIp!.value, "10.96.0.10", "the IPv4 of the dual-stack clusterIPs");
    assert.deepEqual(a.facts.dns.endpoints.map((e) => [e.address, e.node]), [["10.244.1.14", "worker-1"], ["10.244.2.9", "worker-2"]], "the IPv6 slice's endpoints are not the IPv4 path's");
    assert.equal(a.facts.dns.domain.value, "k8s.corp.example");
    const api = rowsOf(a, "Deployment/payments/ledger-api").find((r) => r.type !== null)!;
    assert.match(api.resolvConf!, /^search payments\.svc\.k8s\.corp\.example svc\.k8s\.corp\.example k8s\.corp\.example\nnameserver 10\.96\.0\.10\n/);
    const s = scenarioData(a.facts, api.type!, api.pods[0]!, { resolver: "musl", lookups: 100, seed: 1, overlap: undefined, change: null });
    assert.equal((s.node as Record<string, unknown>).nat_backend, "nftables");
  });

  it("dual-stack: resolvers as the images say, unknown where no rule names them; an ExternalName Service (a CNAME) is not a name looked up", () => {
    const a = run(dual);
    assert.deepEqual(resolvers(one(a, "StatefulSet/payments/ledger-db")), ["postgres=glibc", "exporter=unknown"]);
    assert.deepEqual(resolvers(rowsOf(a, "Deployment/payments/ledger-api")[0]!), ["api=musl"]);
    assert.deepEqual(resolvers(one(a, "CronJob/payments/nightly-reconcile")), ["reconcile=glibc"]);
    assert.deepEqual(resolvers(one(a, "Deployment/ml/fraud-model")), ["trainer=glibc"]);
    assert.deepEqual(resolvers(rowsOf(a, "DaemonSet/monitoring/datadog-agent")[0]!), ["agent=unknown", "process-agent=unknown"]);
    assert.deepEqual(a.facts.serviceNamesByNamespace.get("payments"), ["ledger-api", "ledger-db"]);
    const db = one(a, "StatefulSet/payments/ledger-db");
    const s = scenarioData(a.facts, db.type!, db.pods[0]!, { resolver: "glibc", lookups: 100, seed: 1, overlap: undefined, change: null });
    const pod = (s.pods as Record<string, unknown>[])[0]!;
    assert.deepEqual(pod.names, ["ledger-api", "kubernetes.default", "www.example.com"]);
    assert.doesNotMatch(JSON.stringify((s.kube_dns as Record<string, unknown>).records), /billing-smtp/);
    assert.match(db.resolvConf!, /options ndots:2 edns0\n$/);
  });

  it("dual-stack: on 6.8 and 5.15 nothing is at risk; the host-network agent (ClusterFirstWithHostNet) is assessed on both node types, kube-proxy (ClusterFirst) is not", () => {
    const a = run(dual);
    for (const r of a.rows.filter((x) => x.notAssessed === null)) assert.equal(r.level, "none", `${r.id} on ${r.type!.label}`);
    const agents = rowsOf(a, "DaemonSet/monitoring/datadog-agent");
    assert.deepEqual(agents.map((r) => [r.level, r.resolvers.map((x) => x.resolver).join(",")]), [["none", "glibc,go,musl"], ["none", "glibc,go,musl"]]);
    assert.ok(agents.every((r) => r.why.some((w) => /^hostNetwork /.test(w))));
    for (const r of rowsOf(a, "DaemonSet/kube-system/kube-proxy")) assert.match(r.notAssessed!, /^hostNetwork with dnsPolicy ClusterFirst/);
    assert.deepEqual(rowsOf(a, "DaemonSet/kube-system/kube-proxy").map((r) => r.type!.node.name).sort(), ["cp-1", "gpu-1", "worker-1"], "the tainted nodes are node types like the others");
  });

  it("RKE2 in -o yaml: names every workload (a Job with no CronJob, static kube-proxy pods, a Helm-named CoreDNS) and places every pod", () => {
    const a = run(rke2);
    namesEvery(rke2, a, [
      "DaemonSet/kube-system/rke2-canal", "DaemonSet/monitoring/node-exporter", "Deployment/kube-system/rke2-coredns-rke2-coredns", "Deployment/shop/storefront", "Deployment/win/legacy-portal",
      "Job/shop/db-migrate-v42", "Pod/kube-system/kube-proxy-rke2-agent-1", "Pod/kube-system/kube-proxy-rke2-agent-2", "Pod/kube-system/kube-proxy-rke2-server-1", "StatefulSet/shop/cache",
    ]);
  });

  it("RKE2: the kube-dns Service by its label, the terminating endpoint left out, the Corefile of the chart's ConfigMap, IPVS from the static pods' flags, RHEL 8's kernel", () => {
    const a = run(rke2);
    assert.deepEqual([a.facts.dns.serviceIp!.value, a.facts.dns.serviceIp!.from], ["10.43.0.10", "Service/kube-system/rke2-coredns-rke2-coredns spec.clusterIP"]);
    assert.deepEqual(a.facts.dns.endpoints.map((e) => e.node), ["rke2-agent-1", "rke2-agent-2"]);
    assert.deepEqual([a.facts.dns.domain.value, a.facts.dns.domain.from], ["cluster.local", "ConfigMap/kube-system/rke2-coredns-rke2-coredns data.Corefile (kubernetes plugin zone)"]);
    assert.deepEqual([a.facts.kubeProxy.mode.value, a.facts.kubeProxy.mode.from], ["ipvs", "Pod/kube-system/kube-proxy-rke2-agent-1 spec.containers[0] (--proxy-mode)"]);
    const sf = one(a, "Deployment/shop/storefront");
    assert.match(sf.why[0]!, /^kernel 4\.18\.0-553\.16\.1\.el8_10\.x86_64 .*read as 4\.18 .*RHEL/);
  });

  it("RKE2: a Windows node's workload is n/a, saying why; unknown images are run with all three resolvers and their fix holds for each; musl ignores the StatefulSet's option", () => {
    const a = run(rke2);
    assert.match(one(a, "Deployment/win/legacy-portal").notAssessed!, /^Node\/win-agent-1 runs windows \(Node\/win-agent-1 status\.nodeInfo\.operatingSystem\)/);
    const sf = one(a, "Deployment/shop/storefront");
    assert.deepEqual(resolvers(sf), ["web=unknown", "envoy=unknown"]);
    assert.deepEqual([sf.level, sf.resolvers.map((x) => x.resolver)], ["low", ["glibc", "go", "musl"]]);
    assert.equal(sf.fix!.name, "NodeLocal DNSCache");
    assert.deepEqual(sf.fix!.checked.map((c) => [c.resolver, c.exposure.over1s.k]), [["glibc", 0], ["go", 0], ["musl", 0]]);
    const cache = one(a, "StatefulSet/shop/cache");
    assert.match(cache.resolvConf!, /options ndots:5 single-request-reopen\n$/);
    assert.deepEqual([cache.level, cache.fix!.name], ["low", "NodeLocal DNSCache"]);
    assert.ok(cache.worst!.exposure.over1s.estimate > 0.9, String(cache.worst!.exposure.over1s.estimate));
    const ne = one(a, "DaemonSet/monitoring/node-exporter");
    assert.deepEqual([resolvers(ne), ne.level], [["node-exporter=go"], "none"]);
  });

  it("RKE2: the recommended fix, applied to the dump (a node-local-dns DaemonSet on the link-local address, IPVS binding the ClusterIP), takes the workloads' risk to none", () => {
    const fixed = structuredClone(rke2);
    fixed.items.push({
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "node-local-dns", namespace: "kube-system" },
      spec: { template: { spec: { hostNetwork: true, dnsPolicy: "Default", containers: [{ name: "node-cache", image: "rancher/hardened-dns-node-cache:1.22.28-build20240125", args: ["-localip", "169.254.20.10", "-conf", "/etc/Corefile", "-upstreamsvc", "rke2-coredns-rke2-coredns"] }] } } },
    });
    const a = run(fixed);
    for (const id of ["Deployment/shop/storefront", "StatefulSet/shop/cache", "Job/shop/db-migrate-v42"]) {
      const r = one(a, id);
      assert.equal(r.level, "none", `${id}: ${r.why.join("\n")}`);
      assert.match(r.resolvConf!, /nameserver 169\.254\.20\.10\n/);
      for (const x of r.resolvers) assert.equal(x.exposure.over1s.k, 0, `${id} ${x.resolver}`);
    }
  });
});
