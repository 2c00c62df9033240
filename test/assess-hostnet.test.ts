import assert from "node:assert/strict";
import { parse } from "yaml";
import { type Assessment, assess } from "../src/assess/assess.js";
import { type NodeLoadSpec, parseNodeLoad } from "../src/assess/nodeload.js";
import { readObjects } from "../src/assess/objects.js";
import { assessReport } from "../src/assess/report.js";
import { scenarioData } from "../src/assess/scenario.js";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./helpers.js";
import { CLUSTERS, dump } from "./assess-helpers.js";

type Obj = { kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> };
type Dump = { kind: "List"; items: Obj[] };

const load = (name: string): Dump => (name.endsWith(".yaml") ? parse(dump(name)) : JSON.parse(dump(name))) as Dump;
const run = (d: Dump, nodeLoads: NodeLoadSpec[] = []): Assessment => assess(readObjects([{ name: "dump.json", text: JSON.stringify(d) }]), null, [], { lookups: 1000, seed: 1, nodeLoads });
const row = (a: Assessment, id: string) => {
  const rs = a.rows.filter((r) => r.id === id);
  assert.equal(rs.length, 1, `${id}: ${rs.length} rows`);
  return rs[0]!;
};

/** The dump with the pods of one workload (by name prefix) in the node's network namespace under a dnsPolicy. */
function hostNet(d: Dump, ns: string, prefix: string, policy: string): Dump {
  const out = structuredClone(d);
  for (const o of out.items) {
    if (o.kind === "Pod" && o.metadata.namespace === ns && o.metadata.name.startsWith(prefix)) {
      o.spec!.hostNetwork = true;
      o.spec!.dnsPolicy = policy;
    }
  }
  return out;
}

describe("assess: host-network pods, through the model", () => {
  it("ClusterFirst on a hostNetwork pod (kube-proxy, aws-node) falls back to the node's nameservers (getPodDNSType): not through kube-dns, n/a and why", () => {
    const a = run(load("eks.json"));
    for (const id of ["DaemonSet/kube-system/kube-proxy", "DaemonSet/kube-system/aws-node"]) {
      const r = row(a, id);
      assert.equal(r.level, "n/a");
      assert.match(r.notAssessed!, /^hostNetwork with dnsPolicy ClusterFirst .*spec\.hostNetwork.*falls back to Default .*getPodDNSType.*node's own nameservers/);
      assert.equal(r.resolvConf, "nameserver 10.0.0.2\n", "the node's file, as assumed");
    }
  });

  it("ClusterFirstWithHostNet reaches kube-dns: assessed, its queries confirmed in the send call, so none even on 4.9 where the pod-network workload is exposed", () => {
    const d = load("kops-old.json");
    const pod = row(run(d), "Deployment/shop/web");
    assert.equal(pod.level, "low");
    assert.ok(pod.worst!.exposure.over1s.estimate > 0.9, `pod network: ${pod.worst!.exposure.over1s.estimate}`);
    const a = run(hostNet(d, "shop", "web-", "ClusterFirstWithHostNet"));
    const r = row(a, "Deployment/shop/web");
    assert.equal(r.notAssessed, null);
    assert.equal(r.level, "none");
    assert.deepEqual(r.resolvers.map((x) => [x.resolver, x.exposure.over1s.k, x.exposure.pairsClashed?.k]), [["musl", 0, 0]]);
    assert.match(r.resolvConf!, /^search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local\nnameserver 100\.64\.0\.10\noptions ndots:5\n$/);
    assert.ok(r.why.some((w) => /^hostNetwork \(Pod\/shop\/web-\S+ spec\.hostNetwork\): .*__ip_local_out/.test(w)), r.why.join("\n"));
    assert.equal(r.fix, null);
  });

  it("on a NodeLocal DNSCache node, a ClusterFirstWithHostNet agent is sent to the cache (none); the cache itself, dnsPolicy Default, is n/a", () => {
    const a = run(hostNet(load("gke-nodelocal.json"), "web", "checkout-", "ClusterFirstWithHostNet"));
    const r = row(a, "Deployment/web/checkout");
    assert.equal(r.level, "none");
    assert.ok(r.why.some((w) => /^NodeLocal DNSCache on this node/.test(w)));
    assert.equal(r.notAssessed, null);
    assert.match(r.resolvConf!, /nameserver 10\.\d+\.\d+\.\d+\n|nameserver 169\.254\.20\.10\n/);
    assert.match(row(a, "DaemonSet/kube-system/node-local-dns").notAssessed!, /^dnsPolicy Default/);
  });

  it("a hostNetwork pod with dnsPolicy Default goes to the node's nameservers: n/a", () => {
    const r = row(run(hostNet(load("kops-old.json"), "shop", "web-", "Default")), "Deployment/shop/web");
    assert.equal(r.level, "n/a");
    assert.match(r.notAssessed!, /^dnsPolicy Default/);
  });
});

describe("assess --node-load: the node's own load, which the objects do not hold", () => {
  it("reads idle, busy and softirq_share:S,runnable_per_cpu:N; refuses anything else naming the form", () => {
    assert.deepEqual(parseNodeLoad("nodes=busy"), { name: "nodes", softirqShare: 0.25, runnablePerCpu: 1, text: "nodes=busy" });
    assert.deepEqual(parseNodeLoad("n1=idle"), { name: "n1", softirqShare: 0, runnablePerCpu: 0, text: "n1=idle" });
    assert.deepEqual(parseNodeLoad("p=runnable_per_cpu:2,softirq_share:0.4"), { name: "p", softirqShare: 0.4, runnablePerCpu: 2, text: "p=runnable_per_cpu:2,softirq_share:0.4" });
    assert.throws(() => parseNodeLoad("p=loaded"), /--node-load: expected NODE_OR_POOL=LOAD|--node-load p=loaded: expected NODE_OR_POOL=LOAD/);
    assert.throws(() => parseNodeLoad("busy"), /--node-load: expected NODE_OR_POOL=LOAD/);
    assert.throws(() => parseNodeLoad("p=softirq_share:0.99"), /softirq_share: expected a share of CPU time from 0 to 0\.95, found 0\.99/);
    assert.throws(() => parseNodeLoad("p=runnable_per_cpu:65"), /runnable_per_cpu: expected a number of tasks from 0 to 64/);
    assert.throws(() => parseNodeLoad("p=softirq_share:0.1,softirq_share:0.2"), /expected NODE_OR_POOL=LOAD/);
  });

  it("a name that is neither a node nor a pool of the objects, or a node given twice, is refused (exit 2)", () => {
    const d = load("kops-old.json");
    assert.throws(() => run(d, [parseNodeLoad("gpu=busy")]), /--node-load gpu=busy: no node and no node pool named gpu among the objects .*pools: nodes\)/);
    assert.throws(() => run(d, [parseNodeLoad("nodes=busy"), parseNodeLoad("nodes=idle")]), /nodes is given twice/);
    const out = join(mkdtempSync(join(tmpdir(), "dnsrace-load-")), "out");
    for (const spec of ["nodes=hot", "gpu=busy"]) {
      const c = spawnSync(process.execPath, [join(ROOT, "bin", "dnsrace"), "assess", join(CLUSTERS, "kops-old.json"), "--node-load", spec, "--out", out, "--quiet"], { encoding: "utf8" });
      assert.equal(c.status, 2, c.stderr);
      assert.match(c.stderr, new RegExp(`--node-load ${spec}`));
      assert.doesNotMatch(c.stderr, /\n\s+at /, "no stack trace");
      assert.equal(existsSync(out), false, "no output written");
    }
  });

  it("without it the node is idle, the model's default, and the row and the assumptions say so", () => {
    const a = run(load("kops-old.json"));
    const r = row(a, "Deployment/shop/web");
    assert.equal(r.type!.load.softirqShare, 0);
    assert.match(r.type!.overlap.from, /at idle \(the model's default: no --node-load names this node or its pool; no counters given/);
    assert.match(assessReport(a), /## Assumed \(not in the objects\)[\s\S]*- the node's load, where --node-load does not give it: idle, the model's default/);
    const node = scenarioData(a.facts, r.type!, r.pods[0]!, { resolver: "musl", lookups: 100, seed: 1, overlap: undefined, change: null }).node as Record<string, unknown>;
    assert.equal(node.softirq_share, undefined);
  });

  it("a pool's load goes into the scenario's node.softirq_share and runnable_per_cpu at the node's rate: its own node type, named in the label", () => {
    const a = run(load("kops-old.json"), [parseNodeLoad("nodes=busy")]);
    const r = row(a, "Deployment/shop/web");
    assert.match(r.type!.label, /25% softirq, 1 runnable per CPU \(2 nodes\)/);
    assert.match(r.type!.overlap.from, /at 25% softirq, 1 runnable per CPU \(--node-load nodes=busy;/);
    const build = (overlap: number | undefined) => scenarioData(a.facts, r.type!, r.pods[0]!, { resolver: "musl", lookups: 100, seed: 1, overlap, change: null }).node as Record<string, unknown>;
    assert.deepEqual([build(undefined).softirq_share, build(undefined).runnable_per_cpu], [0.25, 1]);
    assert.deepEqual([build(1).softirq_share, build(1).migration_probability], [undefined, 1], "every pair meeting: the path's exposure, at the idle node");
    // The project's busy node: on 4.9 one thread's pairs still do not meet (README, the node's own load); exposed, as idle.
    assert.equal(r.level, "low");
    assert.equal(r.worst!.atRate.pairsClashed!.k, 0);
  });

  it("one node's load wins over its pool's: the pool splits into two node types", () => {
    const a = run(load("kops-old.json"), [parseNodeLoad("nodes=busy"), parseNodeLoad("ip-172-20-61-84.eu-west-1.compute.internal=softirq_share:0.5,runnable_per_cpu:2")]);
    const labels = a.rows.filter((r) => r.id === "Deployment/shop/web").map((r) => r.type!.label);
    assert.deepEqual(labels.map((l) => /(\d+% softirq, \d+ runnable per CPU)/.exec(l)?.[1]).sort(), ["25% softirq, 1 runnable per CPU", "50% softirq, 2 runnable per CPU"]);
  });

  it("a saturated node's lookups over 1 s with no pair clashed are the CPU's, said so; the fix still removes every lookup at the timer step there", () => {
    const a = run(load("kops-old.json"), [parseNodeLoad("nodes=softirq_share:0.8,runnable_per_cpu:8")]);
    const r = row(a, "Deployment/shop/web");
    assert.equal(r.level, "high");
    assert.equal(r.worst!.atRate.pairsClashed!.k, 0);
    assert.equal(r.worst!.atRate.atStep.k, 0);
    assert.ok(r.why.some((w) => /no pair clashed in conntrack: the node's CPUs, not the race, hold them/.test(w)), r.why.join("\n"));
    assert.equal(r.fix!.name, "NodeLocal DNSCache");
  });
});
