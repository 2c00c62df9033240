import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { type Assessment, type CountersInput, type Row, assess } from "../src/assess/assess.js";
import { parseCountersSpec } from "../src/assess/counters.js";
import { readObjects } from "../src/assess/objects.js";
import { CLUSTERS, dump } from "./assess-helpers.js";

type Obj = { kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown>; status?: Record<string, unknown> };
type Dump = { kind: "List"; items: Obj[] };

const load = (name: string): Dump => (name.endsWith(".yaml") ? parse(dump(name)) : JSON.parse(dump(name))) as Dump;
const OPTS = { lookups: 1000, seed: 1 };

const KOPS_COUNTERS = (): CountersInput[] => {
  const file = join(CLUSTERS, "kops-old-counters/ip-172-20-33-10.yaml");
  const spec = parseCountersSpec(readFileSync(file, "utf8"), file);
  const at = (f: string) => readFileSync(join(CLUSTERS, "kops-old-counters", f), "utf8");
  return [{ node: "ip-172-20-33-10.eu-west-1.compute.internal", spec, texts: { before: at(spec.before), after: at(spec.after) } }];
};

function run(d: Dump, counters: CountersInput[] = []): Assessment {
  return assess(readObjects([{ name: "dump.json", text: JSON.stringify(d) }]), null, counters, OPTS);
}

const rowsOf = (a: Assessment, id: string) => a.rows.filter((r) => r.id === id);
const row = (a: Assessment, id: string, pool?: string) => {
  const rs = rowsOf(a, id).filter((r) => pool === undefined || (r.type?.label ?? "").includes(pool));
  assert.equal(rs.length, 1, `${id} ${pool ?? ""}: ${rs.length} rows`);
  return rs[0]!;
};

/** Applies a row's fix to the dump, as an SRE would: the option in the pods and their template, the DaemonSet, or the nodes' kernel. */
function applyFix(d: Dump, r: Row, change = r.fix!.change): Dump {
  const out = structuredClone(d);
  if (change.kind === "options") {
    const names = new Set(r.workload.pods.map((p) => p.name));
    for (const o of out.items) {
      const isPod = o.kind === "Pod" && o.metadata.namespace === r.workload.namespace && names.has(o.metadata.name);
      const isOwner = o.kind === r.workload.kind && o.metadata.namespace === r.workload.namespace && o.metadata.name === r.workload.name;
      const spec = isPod ? o.spec : isOwner ? ((o.spec!.template as { spec: Record<string, unknown> }).spec) : null;
      if (spec == null) continue;
      const cfg = (spec.dnsConfig ??= {}) as { options?: { name: string; value?: string }[] };
      cfg.options = [...(cfg.options ?? []), ...change.options];
    }
  } else if (change.kind === "nodelocal") {
    const svc = out.items.find((o) => o.kind === "Service" && o.metadata.name === "kube-dns")!;
    out.items.push({
      kind: "DaemonSet",
      metadata: { name: "node-local-dns", namespace: "kube-system" },
      spec: {
        selector: { matchLabels: { "k8s-app": "node-local-dns" } },
        template: {
          metadata: { labels: { "k8s-app": "node-local-dns" } },
          spec: {
            hostNetwork: true,
            dnsPolicy: "Default",
            containers: [{ name: "node-cache", image: "registry.k8s.io/dns/k8s-dns-node-cache:1.22.28", args: ["-localip", `169.254.20.10,${svc.spec!.clusterIP as string}`, "-conf", "/etc/Corefile", "-upstreamsvc", "kube-dns-upstream"] }],
          },
        },
      },
    } as Obj & { apiVersion?: string });
    (out.items[out.items.length - 1] as Record<string, unknown>).apiVersion = "apps/v1";
  } else {
    for (const o of out.items) {
      if (o.kind !== "Node") continue;
      const info = (o.status as { nodeInfo: { kernelVersion: string } }).nodeInfo;
      const [maj, min] = info.kernelVersion.split(".").map(Number) as [number, number];
      if (maj < 5 || (maj === 5 && min < 10)) info.kernelVersion = "5.10.0-28-cloud-amd64";
    }
  }
  return out;
}

/** Every row of the workload, after the fix: none, no lookup over 1 s even when every pair meets. */
function assertRemoved(a: Assessment, id: string): void {
  const rs = rowsOf(a, id);
  assert.ok(rs.length > 0, id);
  for (const r of rs) {
    assert.equal(r.level, "none", `${id} on ${r.type?.label}: ${r.why.join("\n")}`);
    for (const x of r.resolvers) {
      assert.equal(x.exposure.over1s.k, 0, `${id} ${x.resolver}`);
      assert.equal(x.atRate.over1s.k, 0, `${id} ${x.resolver}`);
    }
  }
}

describe("assess: what it concludes for each fixture, and why", () => {
  it("EKS-like (Amazon Linux 2, 5.10, iptables, 2 CoreDNS): no workload at risk, because 5.10 resolves every clash", () => {
    const a = run(load("eks.json"));
    for (const id of ["Deployment/shop/storefront", "Deployment/shop/orders"]) {
      const r = row(a, id);
      assert.equal(r.level, "none");
      assert.equal(r.worst!.exposure.over1s.k, 0, "not even when every pair meets");
      assert.match(r.why[0]!, /^kernel 5\.10\.205-195\.807\.amzn2\.x86_64 \(Node\/ip-10-0-\S+ status\.nodeInfo\.kernelVersion\) read as 5\.10\.205 .*resolve every clash/);
      assert.equal(r.fix, null);
    }
    assert.deepEqual(row(a, "Deployment/shop/storefront").resolvers.map((x) => x.resolver), ["musl"]);
    assert.deepEqual(row(a, "Deployment/shop/orders").resolvers.map((x) => x.resolver), ["glibc"]);
    assert.equal(row(a, "Deployment/shop/storefront").worst!.atRate.stepMs, 2500);
    assert.match(row(a, "Deployment/kube-system/coredns").notAssessed!, /^dnsPolicy Default/);
    assert.match(row(a, "DaemonSet/kube-system/kube-proxy").notAssessed!, /^hostNetwork/);
    assert.match(row(a, "Deployment/shop/orders").resolvConf!, /^search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local\nnameserver 10\.100\.0\.10\noptions ndots:5\n$/);
  });

  it("GKE-like with NodeLocal DNSCache on 5.4: none, because the cache's queries are NOTRACK; without its DaemonSet glibc and musl are exposed, Go is not", () => {
    const d = load("gke-nodelocal.json");
    const a = run(d);
    for (const id of ["Deployment/web/checkout", "Deployment/web/frontend", "Deployment/media/thumbnailer"]) {
      const r = row(a, id);
      assert.equal(r.level, "none", id);
      assert.ok(r.why.some((w) => /^NodeLocal DNSCache on this node \(DaemonSet\/kube-system\/node-local-dns/.test(w)), id);
    }
    const without = { ...d, items: d.items.filter((o) => !(o.kind === "DaemonSet" && o.metadata.name === "node-local-dns")) };
    const b = run(without);
    assert.equal(row(b, "Deployment/web/checkout").level, "low");
    assert.ok(row(b, "Deployment/web/checkout").worst!.exposure.over1s.estimate > 0.3, "5.4 drops the loser of two endpoints");
    assert.equal(row(b, "Deployment/web/checkout").fix!.name, "dnsConfig option single-request-reopen");
    assert.equal(row(b, "Deployment/media/thumbnailer").level, "low");
    assert.equal(row(b, "Deployment/media/thumbnailer").fix!.name, "NodeLocal DNSCache", "musl honours none of the options");
    assert.equal(row(b, "Deployment/web/frontend").level, "none", "Go's resolver: separate sockets");
    assertRemoved(run(applyFix(without, row(b, "Deployment/media/thumbnailer"))), "Deployment/media/thumbnailer");
  });

  it("old kops-like (Debian 4.9, Alpine images), one node calibrated: medium there (0.5% over 1 s at its rate), low on the other; NodeLocal DNSCache for musl", () => {
    const a = run(load("kops-old.json"), KOPS_COUNTERS());
    const hot = row(a, "Deployment/shop/web", "ip-172-20-33-10");
    assert.equal(hot.level, "medium");
    assert.ok(hot.worst!.atRate.over1s.k > 0 && hot.worst!.atRate.over1s.estimate < 0.01, String(hot.worst!.atRate.over1s.estimate));
    assert.equal(hot.worst!.atRate.stepMs, 2500);
    assert.ok(hot.worst!.atLow !== null && hot.worst!.atHigh !== null, "run at both ends of the calibrated interval");
    assert.match(hot.type!.overlap.from, /^calibrated from .*ip-172-20-33-10\.yaml: 720 clashes in 360000 pairs/);
    assert.match(hot.why[0]!, /read as 4\.9 .*every clash drops the loser/);
    assert.equal(hot.fix!.name, "NodeLocal DNSCache");
    assert.deepEqual(hot.fix!.rejected.map((x) => x.name), ["dnsConfig option single-request-reopen", "dnsConfig option use-vc"]);
    assert.deepEqual(hot.fix!.alsoRemoves.map((x) => x.name), ["kernel 5.10 or later"]);
    assert.equal(row(a, "Deployment/shop/web", "ip-172-20-61-84").level, "low");
    const billing = row(a, "Deployment/shop/billing");
    assert.deepEqual([billing.level, billing.resolvers.map((x) => x.resolver), billing.fix!.name], ["low", ["glibc"], "dnsConfig option single-request-reopen"]);
    const dbg = row(a, "Pod/shop/debug-shell");
    assert.deepEqual(dbg.containers.map((c) => c.resolver), ["unknown"]);
    assert.deepEqual(dbg.resolvers.map((x) => x.resolver), ["glibc", "go", "musl"], "unknown: each resolver run, never guessed");
    assert.equal(dbg.fix!.name, "NodeLocal DNSCache", "the fix must hold for every resolver it may be");
    assert.equal(row(a, "StatefulSet/shop/redis").level, "medium");
  });

  it("mid kernel upgrade (Ubuntu 5.4 and 5.15 pools): exposed on the old pool only; glibc's fix is an option, musl's NodeLocal DNSCache", () => {
    const a = run(load("mid-upgrade.yaml"));
    assert.equal(row(a, "Deployment/payments/checkout", "workers-2004").level, "low");
    assert.equal(row(a, "Deployment/payments/checkout", "workers-2204").level, "none");
    assert.equal(row(a, "Deployment/payments/checkout", "workers-2004").fix!.name, "dnsConfig option single-request-reopen");
    assert.equal(row(a, "Deployment/payments/cart").fix!.name, "NodeLocal DNSCache");
    assert.equal(row(a, "DaemonSet/logging/fluent-bit", "workers-2004").fix!.name, "NodeLocal DNSCache");
    assert.equal(row(a, "DaemonSet/logging/fluent-bit", "workers-2204").level, "none");
    assert.equal(row(a, "Job/payments/ledger-sync-28871040").level, "none");
    const old = row(a, "Deployment/payments/checkout", "workers-2004");
    assert.match(old.why[1]!, /^2 ready kube-dns endpoints .*ip-10-1-20-21\.ec2\.internal, ip-10-1-20-22\.ec2\.internal: given a clash, the two queries go to different endpoints 1 time in 2$/);
    assert.deepEqual(a.rows.slice(0, 3).map((r) => r.level), ["low", "low", "low"], "ranked worst first");
  });
});

describe("assess: kube-proxy in IPVS mode with masqueradeAll (kubeadm's ConfigMap)", () => {
  it("the mode and masqueradeAll are read from config.conf; the race remains; NodeLocal DNSCache (on its link-local address) removes it", () => {
    const d = load("kops-old.json");
    d.items.push({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "kube-proxy", namespace: "kube-system" },
      data: { "config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\niptables:\n  masqueradeAll: true\nipvs:\n  scheduler: rr\n", "kubeconfig.conf": "apiVersion: v1\nkind: Config\n" },
    } as unknown as Obj);
    const a = run(d);
    const r = row(a, "Deployment/shop/worker");
    assert.match(r.why.find((w) => w.startsWith("kube-proxy"))!, /^kube-proxy ipvs mode \(ConfigMap\/kube-system\/kube-proxy data\["config\.conf"\] \(mode\)\), masqueradeAll/);
    assert.equal(r.level, "low");
    assert.ok(r.worst!.exposure.over1s.estimate > 0.5, "IPVS did not help (MODEL.md section 4)");
    assert.equal(r.fix!.name, "NodeLocal DNSCache");
    assert.match(r.fix!.how, /set the kubelet's --cluster-dns to 169\.254\.20\.10/);
    assertRemoved(run(applyFix(d, r)), "Deployment/shop/worker");
  });
});

describe("assess: the pod's own dnsConfig", () => {
  it("a nameserver appended after the cluster DNS is named and left out of the runs; dnsPolicy None with the ClusterIP is assessed; ndots:2 gives fewer steps", () => {
    const d = load("mid-upgrade.yaml");
    for (const o of d.items) {
      if (o.kind !== "Pod" || o.metadata.namespace !== "payments") continue;
      if (o.metadata.name.startsWith("checkout-")) o.spec!.dnsConfig = { nameservers: ["8.8.8.8"] };
      if (o.metadata.name.startsWith("cart-")) {
        o.spec!.dnsPolicy = "None";
        o.spec!.dnsConfig = { nameservers: ["172.20.0.10"], searches: ["payments.svc.cluster.local"], options: [{ name: "ndots", value: "2" }] };
      }
    }
    const a = run(d);
    const checkout = row(a, "Deployment/payments/checkout", "workers-2004");
    assert.equal(checkout.level, "low");
    assert.match(checkout.resolvConf!, /nameserver 172\.20\.0\.10\nnameserver 8\.8\.8\.8\n/);
    assert.match(checkout.why[checkout.why.length - 1]!, /^nameserver 8\.8\.8\.8 after the cluster DNS \(Pod\/payments\/checkout-\S+ spec\.dnsConfig\) is not modelled/);
    const cart = row(a, "Deployment/payments/cart");
    assert.equal(cart.resolvConf, "search payments.svc.cluster.local\nnameserver 172.20.0.10\noptions ndots:2\n");
    assert.ok(cart.why.some((w) => /^ndots:2 and 1 search domain \(None, /.test(w)));
    const before = row(run(load("mid-upgrade.yaml")), "Deployment/payments/cart");
    assert.ok(cart.worst!.exposure.over1s.estimate < before.worst!.exposure.over1s.estimate, "fewer search steps, fewer pairs to lose");
    const none = structuredClone(load("mid-upgrade.yaml"));
    for (const o of none.items) {
      if (o.kind !== "Pod" || !o.metadata.name.startsWith("cart-")) continue;
      o.spec!.dnsPolicy = "None";
      o.spec!.dnsConfig = { nameservers: ["1.1.1.1"] };
    }
    assert.match(row(run(none), "Deployment/payments/cart").notAssessed!, /^its lookups go to 1\.1\.1\.1 .*not the cluster DNS/);
  });
});

describe("assess: the recommended fix, applied to the dump, takes the workload's risk to zero in a second assess", () => {
  const cases: [string, CountersInput[]][] = [
    ["kops-old.json", KOPS_COUNTERS()],
    ["mid-upgrade.yaml", []],
  ];
  for (const [name, counters] of cases) {
    it(`${name}: every workload with a fix`, () => {
      const d = load(name);
      const a = run(d, counters);
      const fixed = a.rows.filter((r) => r.fix !== null);
      assert.ok(fixed.length >= 3, name);
      const done = new Set<string>();
      for (const r of fixed) {
        const key = `${r.id} ${JSON.stringify(r.fix!.change)}`;
        if (done.has(key)) continue;
        done.add(key);
        const before = rowsOf(a, r.id).filter((x) => x.level !== "none" && x.level !== "n/a");
        assert.ok(before.length > 0);
        assertRemoved(run(applyFix(d, r), counters), r.id);
      }
    });
  }

  it("kops-old.json: the dearer alternative (a 5.10 kernel) removes it too", () => {
    const d = load("kops-old.json");
    const a = run(d, []);
    const r = row(a, "Deployment/shop/worker", "2 nodes");
    assert.equal(r.fix!.alsoRemoves[0]!.name, "kernel 5.10 or later");
    assertRemoved(run(applyFix(d, r, { kind: "kernel", version: "5.10" })), "Deployment/shop/worker");
  });
});
