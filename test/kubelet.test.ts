import assert from "node:assert/strict";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { kubeletResolvConf } from "../src/scenario/kubelet.js";
import { runScenario } from "../src/scenario/run.js";

const host = { nameservers: ["10.0.0.2"], searches: ["us-east-1.compute.internal"], options: ["timeout:2", "attempts:3"] };
const spec = { namespace: "shop", clusterDomain: "cluster.local", clusterDns: ["10.96.0.10"], host };

describe("kubelet: the pod's resolv.conf from dnsPolicy and dnsConfig (pkg/kubelet/network/dns/dns.go)", () => {
  it("ClusterFirst: the cluster DNS, the namespace's search path then the node's, ndots:5; the node's options dropped", () => {
    assert.equal(
      kubeletResolvConf({ ...spec, policy: "ClusterFirst" }),
      "search shop.svc.cluster.local svc.cluster.local cluster.local us-east-1.compute.internal\nnameserver 10.96.0.10\noptions ndots:5\n",
    );
  });

  it("dnsConfig: nameservers and searches appended without duplicates, options merged by name with the pod's winning", () => {
    const text = kubeletResolvConf({
      ...spec,
      policy: "ClusterFirst",
      config: { searches: ["cluster.local", "extra.local"], options: [{ name: "ndots", value: "2" }, { name: "single-request-reopen" }] },
    });
    assert.equal(text, "search shop.svc.cluster.local svc.cluster.local cluster.local us-east-1.compute.internal extra.local\nnameserver 10.96.0.10\noptions ndots:2 single-request-reopen\n");
  });

  it("Default: the node's own resolv.conf", () => {
    assert.equal(kubeletResolvConf({ ...spec, policy: "Default" }), "search us-east-1.compute.internal\nnameserver 10.0.0.2\noptions timeout:2 attempts:3\n");
  });

  it("None: only what dnsConfig gives", () => {
    assert.equal(kubeletResolvConf({ ...spec, policy: "None", config: { nameservers: ["169.254.20.10"], options: [{ name: "ndots", value: "1" }] } }), "nameserver 169.254.20.10\noptions ndots:1\n");
  });

  const scenario = (pod: string) => `name: k
description: d
kernel: "5.4"
kube_dns:
  endpoints: 2
  records: [redis.shop.svc.cluster.local]
pods:
  - name: app
    libc: musl
    lookups: 5
    names: [redis]
${pod}`;

  it("a scenario pod with dns_policy ClusterFirst looks names up through the kube-dns ClusterIP and its namespace", () => {
    const loaded = loadScenarioText(scenario("    namespace: shop\n    dns_policy: ClusterFirst\n    dns_config: { options: [{ name: ndots, value: \"2\" }] }\n"), "k.yaml");
    assert.deepEqual(loaded.resolvConfs[0]!.nameservers, ["10.96.0.10"]);
    assert.deepEqual(loaded.resolvConfs[0]!.search, ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]);
    assert.equal(loaded.resolvConfs[0]!.options.ndots, 2);
    const r = runScenario(loaded).log.records();
    assert.ok(r.every((x) => x.outcome === "OK v4"));
  });

  it("resolv_conf and dns_policy together, or neither: bad input", () => {
    assert.throws(() => loadScenarioText(scenario("    dns_policy: ClusterFirst\n    resolv_conf: |\n      nameserver 10.96.0.10\n"), "k.yaml"), (e: unknown) => e instanceof InputError && /give either resolv_conf/.test(e.message));
    assert.throws(() => loadScenarioText(scenario(""), "k.yaml"), (e: unknown) => e instanceof InputError && /give either resolv_conf/.test(e.message));
  });
});
