import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTrace } from "../src/cli/trace.js";
import type { Cluster } from "../src/model/cluster.js";
import { TraceCollector } from "../src/model/trace.js";
import { lookupsCsv } from "../src/report/csv.js";
import { summarize } from "../src/stats/summary.js";
import { loadScenarioFile, loadScenarioText } from "../src/scenario/load.js";
import { type RunResult, runScenario } from "../src/scenario/run.js";
import { ROOT, inputError, scenarioPath } from "./helpers.js";

/** glibc pods (A and AAAA in one sendmmsg() from one socket: they reach the endpoint node together) against endpoints on other nodes. */
const scenario = (o: { kernel?: string; node?: string; placement?: string; endpointNodes?: string; endpoints?: number; lookups?: number }) => `name: t
description: endpoints on other nodes
kernel: "${o.kernel ?? "5.4"}"
node:
${o.node ?? "  rx: inline\n"}kube_dns:
  endpoints: ${o.endpoints ?? 2}
  placement: ${o.placement ?? "remote"}
  records: [redis.shop.svc.cluster.local]
${o.endpointNodes ?? "endpoint_nodes:\n  rx: gro-threaded\n  batch_probability: 1\n"}pods:
  - name: app
    libc: glibc
    threads: 2
    # A fresh process per lookup (curl in a loop): glibc's single-request fallback after a loss does not stay.
    lookups_per_process: 1
    lookups: ${o.lookups ?? 400}
    names: [redis]
    resolv_conf: |
      search shop.svc.cluster.local
      nameserver 10.96.0.10
`;

function run(text: string): { r: RunResult; cluster: Cluster } {
  let cluster: Cluster | undefined;
  const r = runScenario(loadScenarioText(text, "t.yaml"), { beforeRun: (c) => (cluster = c) });
  return { r, cluster: cluster! };
}

const lost = (r: RunResult) => r.log.records().reduce((s, l) => s + l.tally.queriesLost, 0);

describe("endpoint nodes: each node that runs an endpoint is a conntrack hop of its own", () => {
  it("placement local (the default) adds no hop: glibc.yaml with it gives the committed results byte for byte", () => {
    const text = readFileSync(scenarioPath("glibc.yaml"), "utf8");
    const local = runScenario(loadScenarioText(text.replace("  endpoints: 2\n", "  endpoints: 2\n  placement: local\n"), "glibc.yaml"));
    assert.equal(local.endpointNodes.length, 0);
    assert.equal(lookupsCsv(local), readFileSync(join(ROOT, "results/glibc.lookups.csv"), "utf8"));
  });

  it("with remote endpoints and concurrent arrival at the endpoint's node, a clash happens there (race 1, merged on 5.4)", () => {
    const { r } = run(scenario({}));
    assert.equal(r.client.hop.clashes, 0, "the client node processes the pair one by one: no clash there");
    assert.deepEqual(
      r.endpointNodes.map((n) => n.name),
      ["node-1", "node-2"],
    );
    const clashes = r.endpointNodes.reduce((s, n) => s + n.hop.clashes, 0);
    assert.ok(clashes > 100, `${clashes} clashes at the endpoints' nodes`);
    for (const n of r.endpointNodes) {
      // 5.4: identical tuples merge, insert_failed counts them, nothing is dropped.
      assert.equal(n.counters.insert_failed, n.hop.clashes);
      assert.equal(n.counters.drop, 0);
      assert.equal(n.counters.found, 0);
    }
    assert.equal(lost(r), 0);
    assert.equal(summarize(r).clashes, clashes, "the summary counts the clashes of every hop");
  });

  it("a tc delay of AAAA on the client node's uplink protects the endpoints' nodes, which it comes before", () => {
    const plain = run(scenario({})).r;
    const delayed = run(scenario({ node: "  rx: inline\n  tc_delay: { interface: uplink, delay_ms: 4 }\n" })).r;
    const at = (r: RunResult) => r.endpointNodes.reduce((s, n) => s + n.hop.clashes, 0);
    assert.ok(at(plain) > 100, String(at(plain)));
    assert.equal(at(delayed), 0);
  });

  it("an endpoint node that processes packets one by one (rx inline) has no clash", () => {
    const { r } = run(scenario({ endpointNodes: "endpoint_nodes:\n  rx: inline\n" }));
    assert.equal(r.client.hop.clashes + r.endpointNodes.reduce((s, n) => s + n.hop.clashes, 0), 0);
  });

  it("before 5.0 the endpoint node's null binding reallocates the loser's port (race 2, found += 2), and the clash drops it", () => {
    const { r } = run(scenario({ kernel: "4.19" }));
    for (const n of r.endpointNodes) {
      assert.ok(n.counters.found > 0, `${n.name}: found ${n.counters.found}`);
      // get_unique_tuple asks nf_nat_used_tuple twice per rewritten port (each a found++).
      assert.equal(2 * n.counters.drop, n.counters.found);
      assert.equal(n.hop.droppedClash, n.counters.drop);
    }
    assert.ok(lost(r) > 0);
    assert.ok(summarize(r).share_over_1s > 0, "glibc waits 5 s for the lost query");
  });

  it("races at an endpoint's node never involve different endpoints (no DNAT there: no race 3, no NAT-clash entry)", () => {
    // Half the pairs clash on the client node (race 3 among them); the others reach an endpoint's node together.
    const busyClient = "  rx: gro-threaded\n  batch_probability: 0.5\n";
    for (const kernel of ["4.4", "4.19", "5.4", "5.6", "6.18"]) {
      const { r } = run(scenario({ kernel, node: busyClient, endpoints: 3, lookups: 200 }));
      assert.ok(r.client.hop.clashesDifferentEndpoint > 0, `${kernel}: race 3 happens on the client node`);
      assert.ok(r.endpointNodes.reduce((s, n) => s + n.hop.clashes, 0) > 0, `${kernel}: clashes at the endpoints' nodes`);
      for (const n of r.endpointNodes) {
        assert.equal(n.hop.clashesDifferentEndpoint, 0, `${kernel} ${n.name}`);
        assert.equal(n.hop.natClashEntries, 0, `${kernel} ${n.name}`);
      }
    }
  });

  it("counters per node add up: what each hop takes in it forwards or drops, the endpoints' nodes get what the client node sends them, every lost query is a counted drop", () => {
    for (const kernel of ["4.4", "4.19", "5.4", "6.18"]) {
      for (const node of ["  rx: inline\n", "  rx: gro-threaded\n  batch_probability: 0.5\n"]) {
        const { r, cluster } = run(scenario({ kernel, node, endpoints: 3, lookups: 200 }));
        const hops = [r.client.hop, ...r.endpointNodes.map((n) => n.hop)];
        for (const h of hops) {
          assert.equal(h.packetsIn, h.forwarded + h.droppedClash + h.droppedTableFull);
          assert.equal(h.repliesIn, h.repliesDelivered + h.repliesOrphaned);
        }
        const sum = (f: (n: RunResult["endpointNodes"][number]) => number) => r.endpointNodes.reduce((s, n) => s + f(n), 0);
        assert.equal(sum((n) => n.hop.packetsIn), r.client.hop.forwarded, "every query the client node forwards reaches an endpoint's node");
        assert.equal(
          cluster.endpoints.reduce((s, e) => s + e.queries, 0),
          sum((n) => n.hop.forwarded),
          "every query an endpoint node forwards reaches its endpoint",
        );
        assert.equal(sum((n) => n.hop.repliesIn), sum((n) => n.hop.forwarded), "every query is answered");
        assert.equal(r.client.hop.repliesIn, sum((n) => n.hop.repliesIn), "every answer comes back to the client node");
        assert.equal(lost(r), r.client.hop.droppedClash + sum((n) => n.hop.droppedClash) + r.net.ignoredBySocket + r.net.blackholed);
        for (const n of [r.client, ...r.endpointNodes]) {
          // Before 4.7 a dropped loser moves insert_failed only; from 4.7 drop counts exactly the dropped packets.
          assert.equal(n.counters.drop, kernel === "4.4" ? 0 : n.hop.droppedClash);
          if (kernel === "4.4") assert.equal(n.counters.insert_failed, n.hop.droppedClash);
        }
        const f = summarize(r);
        assert.equal(f.drop, r.client.counters.drop + sum((n) => n.counters.drop), "the summary adds up the nodes' counters");
      }
    }
  });

  it("placement lists a node per endpoint; client-node keeps an endpoint on the client node", () => {
    const { r, cluster } = run(scenario({ placement: "[client-node, node-a, node-a]", endpoints: 3 }));
    assert.deepEqual(
      r.endpointNodes.map((n) => n.name),
      ["node-a"],
    );
    const [local, a1, a2] = cluster.endpoints.map((e) => e.queries);
    assert.ok(local! > 0 && a1! > 0 && a2! > 0);
    assert.equal(r.endpointNodes[0]!.hop.forwarded, a1! + a2!);
  });

  it("endpoint_nodes fields default to the client node's; each can differ (a 4.19 endpoint node behind a 6.18 client node)", () => {
    const text = scenario({ kernel: "6.18", endpointNodes: 'endpoint_nodes:\n  kernel: "4.19"\n  rx: gro-threaded\n  batch_probability: 1\n  cpus: 3\n' });
    const { r } = run(text);
    const n = r.endpointNodes[0]!;
    assert.equal(n.kernel, "4.19");
    assert.equal(n.perCpuCounters.length, 3);
    assert.ok(n.counters.drop > 0 && n.counters.clash_resolve === 0, "4.19 drops race 2 and has no clash_resolve");
    const inherited = run(scenario({ kernel: "6.18", endpointNodes: "" })).r.endpointNodes[0]!;
    assert.equal(inherited.kernel, "6.18");
    assert.equal(inherited.perCpuCounters.length, 2);
  });

  it("trace shows the second hop: the endpoint node's new entry, its confirm or clash, and the answer crossing it back", () => {
    const loaded = loadScenarioText(scenario({ lookups: 5 }), "t.yaml");
    const collector = new TraceCollector();
    const res = runScenario(loaded, { collector });
    const tr = collector.lookups.find((l) => l.lookup === 1)!;
    const text = formatTrace(res, tr, "lookup 1");
    assert.match(text, /node cpu\d +A DNAT 10\.96\.0\.10:53 -> 10\.244\.\d\.10:53/);
    assert.match(text, /node-\d cpu\d +GRO \+ threaded NAPI/);
    assert.match(text, /node-\d cpu\d +A no confirmed entry for this tuple: a new unconfirmed entry/);
    assert.match(text, /node-\d cpu\d +AAAA insert clash, identical tuples: attached to the winner's entry \(insert_failed\+\+\)/);
    assert.match(text, /node-\d cpu0 +A the reply matches the entry's reply tuple \(a null binding: nothing to rewrite\)/);
    assert.match(text, /node cpu0 +A reverse NAT: source becomes 10\.96\.0\.10:53/);
  });

  it("run --conntrack-stats prints the counters of every node on the path, each in its kernel's vocabulary", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-"));
    const file = join(dir, "remote.yaml");
    writeFileSync(file, scenario({ kernel: "6.18", endpointNodes: 'endpoint_nodes:\n  kernel: "5.4"\n  rx: gro-threaded\n  batch_probability: 1\n', lookups: 50 }));
    const p = spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), "run", file, "--out", join(dir, "out"), "--conntrack-stats"], { encoding: "utf8" });
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /t \(kernel 6\.18\), client node: conntrack -S\ncpu=0 [^\n]* clash_resolve=\d+ chaintoolong=\d+\ncpu=1 /);
    assert.match(p.stdout, /t \(kernel 5\.4\), endpoint node node-1: conntrack -S\ncpu=0 found=0 invalid=0 ignore=0 insert=0 insert_failed=[1-9]\d* drop=0 early_drop=0 error=0 search_restart=0\n/);
    assert.match(p.stdout, /endpoint node node-2: conntrack -S/);
  });
});

describe("endpoint nodes: bad input names the field", () => {
  const err = inputError;

  it("placement: a word other than local or remote", () => {
    assert.match(err(scenario({ placement: "elsewhere" })), /^bad\.yaml: line \d+: field "kube_dns\.placement": expected local, remote, or a list of node names, one per endpoint/);
  });

  it("placement: a list whose length is not the number of endpoints", () => {
    assert.match(err(scenario({ placement: "[node-1]" })), /^bad\.yaml: line 8: field "kube_dns\.placement": 1 node name for 2 endpoints; give one per endpoint \(client-node for the client node\)\.$/);
  });

  it("placement: a node name that is not a DNS label", () => {
    assert.match(err(scenario({ placement: "[node-1, Node_2]" })), /field "kube_dns\.placement\[1\]": expected a node name \(lower-case letters, digits, dashes\), such as node-1, found "Node_2"/);
  });

  it("endpoint_nodes when every endpoint is on the client node", () => {
    assert.match(err(scenario({ placement: "local" })), /field "endpoint_nodes": describes the nodes of remote endpoints, but kube_dns\.placement puts every endpoint on the client node\./);
  });

  it("endpoint_nodes: an unknown field, a bad kernel, a bad rx, a bad link distribution", () => {
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  cpu: 2\n" })), /unknown field "endpoint_nodes\.cpu" in "endpoint_nodes" \(allowed: kernel, cpus, rx, /);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  kernel: 5.4\n" })), /field "endpoint_nodes\.kernel": expected a kernel version such as "5\.4"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  rx: napi\n" })), /field "endpoint_nodes\.rx": expected one of inline, rps, gro, gro-threaded, rps-gro-threaded, found "napi"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  link_us: {uniform: {min: 5}}\n" })), /field "endpoint_nodes\.link_us": "uniform" is missing "max"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  batch_probability: 2\n" })), /field "endpoint_nodes\.batch_probability"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  nat_rules: -1\n" })), /field "endpoint_nodes\.nat_rules"/);
  });

  it("the bundled scenarios load and keep their endpoints on the client node", () => {
    for (const f of ["glibc.yaml", "musl.yaml", "tcp.yaml", "nodelocal.yaml"]) assert.equal(loadScenarioFile(scenarioPath(f)).scenario.kube_dns.placement, "local");
  });
});
