import assert from "node:assert/strict";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { kubeletResolvConf } from "../src/scenario/kubelet.js";
import { runScenario } from "../src/scenario/run.js";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./helpers.js";

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

  it("ClusterFirstWithHostNet: as ClusterFirst, with and without dnsConfig (getPodDNSType gives podDNSCluster for both)", () => {
    const config = { options: [{ name: "ndots", value: "2" }] };
    assert.equal(kubeletResolvConf({ ...spec, policy: "ClusterFirstWithHostNet" }), kubeletResolvConf({ ...spec, policy: "ClusterFirst" }));
    assert.equal(kubeletResolvConf({ ...spec, policy: "ClusterFirstWithHostNet", config }), kubeletResolvConf({ ...spec, policy: "ClusterFirst", config }));
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

  /** A pod spec's DNS block as Kubernetes writes it (kubectl get pod -o yaml), at the pod's indentation. */
  const POD_SPEC_NONE = `    dnsPolicy: "None"
    dnsConfig:
      nameservers:
        - 10.96.0.10
      searches:
        - shop.svc.cluster.local
        - my.dns.search.suffix
      options:
        - name: ndots
          value: "2"
        - name: timeout
          value: "3"
`;

  it("a pod spec's dnsPolicy None and dnsConfig (nameservers, searches, options), pasted as Kubernetes writes them, build the same resolv.conf as dns_policy and dns_config", () => {
    const pasted = loadScenarioText(scenario(POD_SPEC_NONE), "k.yaml");
    const snake = loadScenarioText(scenario(POD_SPEC_NONE.replace("dnsPolicy", "dns_policy").replace("dnsConfig", "dns_config")), "k.yaml");
    const rc = pasted.resolvConfs[0]!;
    assert.deepEqual(rc.nameservers, ["10.96.0.10"]);
    assert.deepEqual(rc.search, ["shop.svc.cluster.local", "my.dns.search.suffix"]);
    assert.equal(rc.options.ndots, 2);
    assert.equal(rc.options.timeout, 3);
    assert.deepEqual(pasted.resolvConfs, snake.resolvConfs);
    assert.ok(runScenario(pasted).log.records().every((x) => x.outcome === "OK v4"));
  });

  it("a pod spec's dnsPolicy ClusterFirst with dnsConfig.options: merged by name into the kubelet's ndots:5, as with dns_config", () => {
    const block = `    namespace: shop
    dnsPolicy: ClusterFirst
    dnsConfig:
      options:
        - name: ndots
          value: "2"
        - name: edns0
`;
    const pasted = loadScenarioText(scenario(block), "k.yaml");
    const snake = loadScenarioText(scenario(block.replace("dnsPolicy", "dns_policy").replace("dnsConfig", "dns_config")), "k.yaml");
    const rc = pasted.resolvConfs[0]!;
    assert.deepEqual(rc.nameservers, ["10.96.0.10"]);
    assert.deepEqual(rc.search, ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]);
    assert.equal(rc.options.ndots, 2);
    assert.deepEqual(pasted.resolvConfs, snake.resolvConfs);
  });

  it("dnsPolicy ClusterFirstWithHostNet in a scenario: the resolv.conf of ClusterFirst, under either spelling", () => {
    const first = loadScenarioText(scenario("    namespace: shop\n    dns_policy: ClusterFirst\n"), "k.yaml").resolvConfs;
    assert.deepEqual(loadScenarioText(scenario("    namespace: shop\n    dnsPolicy: ClusterFirstWithHostNet\n"), "k.yaml").resolvConfs, first);
    assert.deepEqual(loadScenarioText(scenario("    namespace: shop\n    dns_policy: ClusterFirstWithHostNet\n"), "k.yaml").resolvConfs, first);
  });

  it("both spellings of one field (dns_policy and dnsPolicy, dns_config and dnsConfig): bad input at the pod spec's spelling's line", () => {
    const refused = (pod: string, message: RegExp) =>
      assert.throws(() => loadScenarioText(scenario(pod), "k.yaml"), (e: unknown) => e instanceof InputError && message.test(e.message), pod);
    // The fields given here start at line 12 of the file (scenario() above).
    refused("    dns_policy: ClusterFirst\n    dnsPolicy: ClusterFirst\n", /^k\.yaml: line 13: field "pods\[0\]\.dnsPolicy": the same field as dns_policy, as a pod spec spells it; give dns_policy \(the scenario's spelling\) or dnsPolicy \(the pod spec's\), not both/);
    refused("    dnsPolicy: ClusterFirst\n    dns_config: { searches: [a.local] }\n    dnsConfig: { searches: [b.local] }\n", /^k\.yaml: line 14: field "pods\[0\]\.dnsConfig": the same field as dns_config/);
  });

  it("dnsrace run on a pod with dnsConfig and dns_config: exit 2, one located message, nothing written", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-kubelet-"));
    const file = join(dir, "both.yaml");
    writeFileSync(file, scenario("    dnsPolicy: ClusterFirst\n    dns_config: { searches: [a.local] }\n    dnsConfig: { searches: [b.local] }\n"));
    const p = spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), "run", file, "--out", join(dir, "out"), "--quiet"], { encoding: "utf8" });
    assert.equal(p.status, 2, p.stderr);
    assert.equal(p.stdout, "");
    assert.match(p.stderr, new RegExp(`^dnsrace: ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: line 14: field "pods\\[0\\]\\.dnsConfig": the same field as dns_config`));
    assert.equal(p.stderr.trimEnd().split("\n").length, 1, p.stderr);
    assert.ok(!existsSync(join(dir, "out")));
  });

  it("a pod spec's spelling is the one errors name: dnsPolicy None without dnsConfig.nameservers, a bad dnsConfig option", () => {
    const refused = (pod: string, message: RegExp) =>
      assert.throws(() => loadScenarioText(scenario(pod), "k.yaml"), (e: unknown) => e instanceof InputError && message.test(e.message), pod);
    refused('    dnsPolicy: "None"\n    dnsConfig: { searches: [a.local] }\n', /line 13: field "pods\[0\]\.dnsConfig": dnsPolicy None needs dnsConfig\.nameservers/);
    refused("    dnsPolicy: Sometimes\n", /line 12: field "pods\[0\]\.dnsPolicy": .*ClusterFirstWithHostNet/);
    refused("    dnsPolicy: ClusterFirst\n    dnsConfig: { options: [{ name: ndots, value: 2 }] }\n", /line 13: field "pods\[0\]\.dnsConfig\.options\[0\]\.value": expected text \(quote a number, value: "2", as a pod spec does\)/);
    refused("", /give either resolv_conf \(the file as written\) or dns_policy \(ClusterFirst, ClusterFirstWithHostNet, Default or None/);
  });

  it("resolv_conf and dns_policy together, or neither: bad input", () => {
    assert.throws(() => loadScenarioText(scenario("    dns_policy: ClusterFirst\n    resolv_conf: |\n      nameserver 10.96.0.10\n"), "k.yaml"), (e: unknown) => e instanceof InputError && /give either resolv_conf/.test(e.message));
    assert.throws(() => loadScenarioText(scenario(""), "k.yaml"), (e: unknown) => e instanceof InputError && /give either resolv_conf/.test(e.message));
  });
});
