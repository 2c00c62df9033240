import assert from "node:assert/strict";
import { stringify } from "yaml";
import { clusterFacts } from "../src/assess/facts.js";
import { containerResolver, parseImageMap, resolverByRule } from "../src/assess/images.js";
import { readObjects } from "../src/assess/objects.js";
import { inputTexts, withStdin } from "../src/cli/assess.js";
import { inputError } from "./helpers.js";
import { CLUSTERS, dump } from "./assess-helpers.js";

const facts = (name: string) => clusterFacts(readObjects([{ name, text: dump(name) }]), null);

describe("assess: reading the objects as kubectl writes them", () => {
  it("a v1 List of -o json, the same as -o yaml, and a folder of both read the same objects", () => {
    const json = readObjects([{ name: "eks.json", text: dump("eks.json") }]);
    const yaml = readObjects([{ name: "eks.yaml", text: stringify(JSON.parse(dump("eks.json"))) }]);
    assert.equal(json.length, 26);
    assert.deepEqual(yaml.map((o) => [o.kind, o.namespace, o.name]), json.map((o) => [o.kind, o.namespace, o.name]));
    const folder = inputTexts([CLUSTERS]);
    assert.deepEqual(folder.map((t) => t.name.slice(CLUSTERS.length + 1)), ["eks.json", "gke-nodelocal.json", "kops-old.json", "mid-upgrade.yaml"]);
  });

  it("an object in two files (overlapping dumps) counts once", () => {
    const text = dump("eks.json");
    assert.equal(readObjects([{ name: "a.json", text }, { name: "b.json", text }]).length, 26);
  });

  it("several YAML documents, lists inside lists, and - for standard input", () => {
    const text = "kind: Node\napiVersion: v1\nmetadata: {name: a}\n---\nkind: PodList\napiVersion: v1\nitems:\n- kind: Pod\n  apiVersion: v1\n  metadata: {name: p, namespace: x}\n";
    const objs = readObjects(inputTexts(["-"], () => text));
    assert.deepEqual(objs.map((o) => `${o.kind}/${o.name}`), ["Node/a", "Pod/p"]);
    assert.equal(objs[1]!.where, "(standard input): document 2: items[0]");
  });

  it("withStdin(): a lone - (which yargs drops) is put back in its place among the paths", () => {
    assert.deepEqual(withStdin(["a.json", "b.json"], ["node", "dnsrace", "assess", "a.json", "-", "b.json", "--out", "x"]), ["a.json", "-", "b.json"]);
    assert.deepEqual(withStdin([], ["node", "kubectl-dnsrace", "assess", "-"]), ["-"]);
    assert.deepEqual(withStdin(["a.json"], ["node", "dnsrace", "assess", "a.json"]), ["a.json"]);
  });

  it("kinds and fields the reader does not know are passed over", () => {
    const d = JSON.parse(dump("eks.json")) as { items: Record<string, unknown>[] };
    d.items.push({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" }, spec: { anything: [1, 2] } });
    (d.items[0] as { status: Record<string, unknown> }).status.futureField = { nested: true };
    const f = clusterFacts(readObjects([{ name: "x.json", text: JSON.stringify(d) }]), null);
    assert.equal(f.kinds.Widget, 1);
    assert.equal(f.nodes.size, 2);
  });

  it("malformed input: a located error, never a stack trace", () => {
    assert.match(inputError(() => readObjects([{ name: "c.json", text: '{"kind": "List",\n  "items": [ {,] }' }])), /^c\.json: line 2, column 15: this is not valid JSON/);
    assert.match(inputError(() => readObjects([{ name: "c.yaml", text: "kind: List\nitems:\n  - kind: Pod\n   metadata: x\n" }])), /^c\.yaml: line \d+, column \d+: this is not valid YAML/);
    assert.equal(inputError(() => readObjects([{ name: "c.json", text: '{"kind":"List","items":[{"kind":"Pod","apiVersion":"v1"}]}' }])), 'c.json: items[0] (Pod): field "metadata": expected a mapping with the object\'s name, found nothing.');
    assert.equal(inputError(() => readObjects([{ name: "c.json", text: '{"kind":"List","items":7}' }])), 'c.json: field "items": expected the list\'s objects, found number 7.');
    const badField = '{"kind":"List","items":[{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"n"},"spec":{"containers":[{"name":"c","image":3}]}}]}';
    assert.equal(inputError(() => clusterFacts(readObjects([{ name: "c.json", text: badField }]), null)), 'c.json: items[0] (Pod/n/p): field "spec.containers[0].image": expected text, found number 3.');
    assert.match(inputError(() => readObjects([{ name: "e.json", text: "  \n" }])), /^e\.json: empty/);
  });
});

describe("assess: what the objects say, and where it came from", () => {
  it("EKS-like: each node's kernel, CPUs and runtime from its Node object, kube-proxy from its ConfigMap", () => {
    const f = facts("eks.json");
    const n = f.nodes.get("ip-10-0-1-5.ec2.internal")!;
    assert.deepEqual(n.kernel, { value: "5.10.205-195.807.amzn2.x86_64", from: "Node/ip-10-0-1-5.ec2.internal status.nodeInfo.kernelVersion" });
    assert.equal(n.kernelVersion?.text, "5.10.205");
    assert.equal(n.kernelVersion?.distribution, "amazon");
    assert.deepEqual(n.cpus, { value: 4, from: "Node/ip-10-0-1-5.ec2.internal status.capacity.cpu" });
    assert.equal(n.runtime?.value, "containerd://1.7.11");
    assert.deepEqual(n.pool, { value: "ng-default", from: 'Node/ip-10-0-1-5.ec2.internal metadata.labels["eks.amazonaws.com/nodegroup"]' });
    assert.equal(f.kubeProxy.mode.value, "iptables");
    assert.match(f.kubeProxy.mode.from, /^ConfigMap\/kube-system\/kube-proxy-config data\.config \(mode\)$/);
    assert.equal(f.kubeProxy.masqueradeAll.value, false);
  });

  it("EKS-like: the kube-dns Service's ClusterIP, its EndpointSlice's endpoints and their nodes, the Corefile's domain", () => {
    const d = facts("eks.json").dns;
    assert.deepEqual(d.serviceIp, { value: "10.100.0.10", from: "Service/kube-system/kube-dns spec.clusterIP" });
    assert.deepEqual(d.endpoints.map((e) => [e.address, e.node]), [["10.0.1.71", "ip-10-0-1-5.ec2.internal"], ["10.0.2.112", "ip-10-0-2-7.ec2.internal"]]);
    assert.equal(d.endpoints[0]!.from, "EndpointSlice/kube-system/kube-dns-q8zvk endpoints[0]");
    assert.equal(d.domain.value, "cluster.local");
    assert.match(d.domain.from, /ConfigMap\/kube-system\/coredns data\.Corefile/);
    assert.equal(d.nodeLocal, null);
  });

  it("an endpoint whose conditions.ready is false is not counted (a terminating CoreDNS pod)", () => {
    const d = facts("mid-upgrade.yaml").dns;
    assert.deepEqual(d.endpoints.map((e) => e.address), ["10.1.20.40", "10.1.20.77"]);
  });

  it("GKE-like: NodeLocal DNSCache from the node-local-dns DaemonSet's -localip, its nodes from its pods; kube-proxy's mode from its static pod's command", () => {
    const f = facts("gke-nodelocal.json");
    const nl = f.dns.nodeLocal!;
    assert.equal(nl.daemonSet, "DaemonSet/kube-system/node-local-dns");
    assert.deepEqual(nl.addresses.value, ["169.254.20.10", "10.8.0.10"]);
    assert.match(nl.addresses.from, /^DaemonSet\/kube-system\/node-local-dns spec\.template\.spec\.containers\[0\]\.args \(-localip\)$/);
    assert.equal(nl.upstreamIp?.value, "10.8.12.201");
    assert.equal(nl.nodes?.size, 3);
    assert.equal(f.kubeProxy.mode.value, "iptables");
    assert.match(f.kubeProxy.mode.from, /^Pod\/kube-system\/kube-proxy-gke-prod-default-pool-3f2a1b7c-9xkq spec\.containers\[0\] \(no --proxy-mode: iptables/, "from the static pod's command line");
    assert.equal(f.nodes.get("gke-prod-default-pool-3f2a1b7c-9xkq")!.kernelVersion?.text, "5.4.170");
    assert.deepEqual(f.dns.domain, { value: "cluster.local", from: "Deployment/kube-system/kube-dns spec.template.spec.containers[0].args (--domain)" });
  });

  it("workloads grouped by owner: Deployment through its ReplicaSet (object, or the pod-template-hash), StatefulSet, DaemonSet, Job, bare and static pods", () => {
    const ids = (name: string) => facts(name).workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`);
    assert.deepEqual(ids("kops-old.json"), [
      "Deployment/kube-system/coredns",
      "Deployment/shop/billing",
      "Deployment/shop/web",
      "Deployment/shop/worker",
      "Pod/kube-system/kube-proxy-ip-172-20-33-10.eu-west-1.compute.internal",
      "Pod/kube-system/kube-proxy-ip-172-20-61-84.eu-west-1.compute.internal",
      "Pod/shop/debug-shell",
      "StatefulSet/shop/redis",
    ]);
    assert.ok(ids("mid-upgrade.yaml").includes("Job/payments/ledger-sync-28871040"));
    assert.ok(ids("mid-upgrade.yaml").includes("DaemonSet/logging/fluent-bit"));
    const gke = facts("gke-nodelocal.json").workloads.find((w) => w.name === "checkout")!;
    assert.match(gke.ownerFrom, /^Pod\/web\/checkout-\S+ metadata\.ownerReferences\[0\] \(ReplicaSet\/checkout-\S+\), ReplicaSet\/web\/checkout-\S+ metadata\.ownerReferences\[0\]$/);
    const kops = facts("kops-old.json").workloads.find((w) => w.name === "web")!;
    assert.match(kops.ownerFrom, /= Deployment\/shop\/web \+ Pod\/shop\/web-\S+ metadata\.labels\["pod-template-hash"\]$/);
    assert.equal(kops.pods.length, 2);
    const podsOnly = JSON.parse(dump("eks.json")) as { items: { kind: string }[] };
    podsOnly.items = podsOnly.items.filter((o) => o.kind !== "Deployment");
    const inferred = clusterFacts(readObjects([{ name: "pods.json", text: JSON.stringify(podsOnly) }]), null).workloads.find((w) => w.name === "orders")!;
    assert.deepEqual([inferred.kind, inferred.pods.length], ["Deployment", 2], "the Deployment's name from its ReplicaSet's, without either object");
    assert.match(inferred.ownerFrom, /less Pod\/shop\/orders-\S+ metadata\.labels\["pod-template-hash"\]: the Deployment's name/);
    assert.equal(kops.pods[0]!.dnsPolicy.value, "ClusterFirst");
  });
});

describe("assess: each container's resolver from its image", () => {
  it("resolverByRule(): Alpine or an -alpine tag: musl; distroless static: go; Debian, Ubuntu, UBI, Debian variant tags: glibc", () => {
    const r = (i: string) => resolverByRule(i).resolver;
    assert.equal(r("alpine:3.19"), "musl");
    assert.equal(r("docker.io/library/node:20-alpine"), "musl");
    assert.equal(r("python:3.12-alpine3.19"), "musl");
    assert.equal(r("nginx:1.25-alpine-slim"), "musl");
    assert.equal(r("gcr.io/distroless/static-debian12:nonroot"), "go");
    assert.equal(r("gcr.io/distroless/base-debian12"), "glibc");
    assert.equal(r("debian:bookworm-slim"), "glibc");
    assert.equal(r("ubuntu:22.04"), "glibc");
    assert.equal(r("registry.access.redhat.com/ubi9/ubi-minimal:9.3"), "glibc");
    assert.equal(r("python:3.12-slim-bookworm"), "glibc");
    assert.equal(r("python:3.12"), "glibc");
    assert.equal(r("eclipse-temurin:21-jre"), "glibc");
    assert.equal(r("registry.example.com/billing/api:2.3.1"), "unknown");
    assert.equal(r("busybox:1.36"), "unknown");
    assert.equal(r("golang:1.21-bookworm"), "glibc");
  });

  it("resolverByRule(): a tag naming a glibc distribution and its release (the CUDA images'): glibc; a name merely containing one is not", () => {
    const r = (i: string) => resolverByRule(i).resolver;
    assert.equal(r("nvcr.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04"), "glibc");
    assert.equal(r("nvcr.io/nvidia/cuda:12.4.1-base-ubi9"), "glibc");
    assert.equal(r("nvcr.io/nvidia/cuda:12.4.1-devel-rockylinux9"), "glibc");
    assert.equal(r("registry.example.com/ubuntu-tools/app:1.0"), "unknown");
    assert.equal(r("registry.example.com/app:ubuntu"), "unknown", "no release: not this rule");
  });

  it("the pod's annotation (per container, then for all) wins over --images, which wins over the rules", () => {
    const map = parseImageMap('"registry.example.com/billing/*": go\n"nginx:1.25-alpine": glibc\n', "images.yaml");
    assert.deepEqual(containerResolver("registry.example.com/billing/api:2.3.1", "api", {}, "Pod/x/p", map), { value: "go", from: 'images.yaml: line 1 ("registry.example.com/billing/*")', rule: "named in --images" });
    assert.equal(containerResolver("nginx:1.25-alpine", "web", {}, "Pod/x/p", map).value, "glibc");
    assert.equal(containerResolver("nginx:1.25-alpine", "web", { "dnsrace.io/resolver": "go" }, "Pod/x/p", map).value, "go");
    const per = containerResolver("nginx:1.25-alpine", "web", { "dnsrace.io/resolver": "go", "dnsrace.io/resolver.web": "musl" }, "Pod/x/p", map);
    assert.deepEqual([per.value, per.from], ["musl", 'Pod/x/p metadata.annotations["dnsrace.io/resolver.web"]']);
    assert.equal(inputError(() => containerResolver("a", "c", { "dnsrace.io/resolver": "uclibc" }, "Pod/x/p", null)), 'Pod/x/p: annotation dnsrace.io/resolver: expected glibc, musl or go, found "uclibc".');
    assert.equal(inputError(() => parseImageMap("foo: bionic\n", "i.yaml")), 'i.yaml: line 1: image "foo": expected glibc, musl or go, found "bionic".');
  });

  it("unknown is shown as such, with the rule that did not match", () => {
    const f = facts("kops-old.json");
    const dbg = f.workloads.find((w) => w.name === "debug-shell")!.pods[0]!.containers[0]!;
    assert.equal(dbg.resolver.value, "unknown");
    assert.match(dbg.resolver.from, /^image registry\.example\.com\/tools\/netshoot:v0\.11: no rule matches/);
    const billing = f.workloads.find((w) => w.name === "billing")!.pods[0]!.containers[0]!;
    assert.deepEqual([billing.resolver.value, billing.resolver.from.replace(/billing-\S+ /, "billing-X ")], ["glibc", 'Pod/shop/billing-X metadata.annotations["dnsrace.io/resolver"]']);
  });
});
