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

/**
 * glibc pods (A and AAAA in one sendmmsg() from one socket) against endpoints on other nodes. By
 * default the endpoints' nodes run 5.15 with threaded NAPI and GRO, polled only once both
 * datagrams of a pair have come off the wire (batch_probability: 1): the pair reaches their
 * conntrack together. gro-threaded needs 5.13 (threaded NAPI, 5.12, and GRO on a veth without XDP,
 * 5.13: kernel/rx.ts rxProblem); on an older endpoint node the pair is processed one datagram at a
 * time (rx inline, the flow's RSS queue) and cannot meet there.
 */
const ENDPOINT_NODES_TOGETHER = 'endpoint_nodes:\n  kernel: "5.15"\n  rx: gro-threaded\n  batch_probability: 1\n';

const scenario = (o: { kernel?: string; node?: string; placement?: string; endpointNodes?: string; endpoints?: number; lookups?: number }) => `name: t
description: endpoints on other nodes
kernel: "${o.kernel ?? "5.4"}"
node:
${o.node ?? "  rx: inline\n"}kube_dns:
  endpoints: ${o.endpoints ?? 2}
  placement: ${o.placement ?? "remote"}
  records: [redis.shop.svc.cluster.local]
${o.endpointNodes ?? ENDPOINT_NODES_TOGETHER}pods:
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

  it("with remote endpoints and concurrent arrival at the endpoint's node, a clash happens there (race 1, merged; on 5.4 counted in insert_failed)", () => {
    const { r } = run(scenario({}));
    assert.equal(r.client.hop.clashes, 0, "the client node processes the pair one by one: no clash there");
    assert.deepEqual(
      r.endpointNodes.map((n) => n.name),
      ["node-1", "node-2"],
    );
    const clashes = r.endpointNodes.reduce((s, n) => s + n.hop.clashes, 0);
    assert.ok(clashes > 100, `${clashes} clashes at the endpoints' nodes`);
    for (const n of r.endpointNodes) {
      // 5.15: identical tuples (no DNAT there) merge, clash_resolve counts them (5.10), nothing is dropped.
      assert.equal(n.counters.clash_resolve, n.hop.clashes);
      assert.equal(n.counters.insert_failed, 0);
      assert.equal(n.counters.drop, 0);
      assert.equal(n.counters.found, 0);
    }
    assert.equal(lost(r), 0);
    assert.equal(summarize(r).clashes, clashes, "the summary counts the clashes of every hop");
    // A 5.4 endpoint node has no receive path that hands it the pair together (see ENDPOINT_NODES_TOGETHER), so
    // 5.4's merge of identical tuples is shown where its pairs can meet: the client node, whose sending thread
    // migrates between its sends, with one endpoint (both DNATed alike: identical tuples, as at an endpoint's node).
    const client = run(scenario({ node: "  rx: inline\n  migration_probability: 1\n", endpoints: 1, endpointNodes: "endpoint_nodes:\n  rx: inline\n" })).r;
    assert.ok(client.client.hop.clashes > 100, `${client.client.hop.clashes} clashes on the 5.4 client node`);
    // 5.4: identical tuples merge, insert_failed counts them, nothing is dropped.
    assert.equal(client.client.counters.insert_failed, client.client.hop.clashes);
    assert.equal(client.client.counters.drop, 0);
    assert.equal(client.client.counters.found, 0);
    assert.equal(lost(client), 0);
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

  it("before 5.0 a null binding reallocates the loser's port (race 2, found += 2), and the clash drops it (shown on the client node: a 4.19 endpoint node never gets the pair together)", () => {
    // A 4.19 node has no receive path that hands a pair from the wire on together (gro-threaded needs 5.13), so
    // its endpoints' nodes (rx inline) see none. The same null binding runs on the client node's hop: there the
    // sending thread migrates between its sends, and with one endpoint both are DNATed alike: no race 3, as at an
    // endpoint's node (no DNAT there), so each clash is race 1 (merged) or race 2 (port reallocated, dropped).
    const { r } = run(scenario({ kernel: "4.19", node: "  rx: inline\n  migration_probability: 1\n", endpoints: 1, endpointNodes: "endpoint_nodes:\n  rx: inline\n" }));
    for (const n of r.endpointNodes) assert.equal(n.hop.clashes, 0, `${n.name}: one datagram at a time from the wire`);
    const n = r.client;
    assert.equal(n.hop.clashesDifferentEndpoint, 0);
    assert.ok(n.counters.found > 0, `${n.name}: found ${n.counters.found}`);
    // get_unique_tuple asks nf_nat_used_tuple twice per rewritten port (each a found++).
    assert.equal(2 * n.counters.drop, n.counters.found);
    assert.equal(n.hop.droppedClash, n.counters.drop);
    assert.ok(lost(r) > 0);
    assert.ok(summarize(r).share_over_1s > 0, "glibc waits 5 s for the lost query");
  });

  it("races at an endpoint's node never involve different endpoints (no DNAT there: no race 3, no NAT-clash entry)", () => {
    // Half the pairs clash on the client node (its sending thread migrates between its sends; race 3 among them);
    // the others reach an endpoint's node together. That takes threaded NAPI there (5.13 and later): behind an
    // older client node the endpoints' nodes run 5.15, which has NAT-clash entries (5.6) it could make for race 3.
    const busyClient = "  rx: inline\n  migration_probability: 0.5\n";
    for (const kernel of ["4.4", "4.19", "5.4", "5.6", "6.18"]) {
      const endpointNodes = kernel === "6.18" ? "endpoint_nodes:\n  rx: gro-threaded\n  batch_probability: 1\n" : ENDPOINT_NODES_TOGETHER;
      const { r } = run(scenario({ kernel, node: busyClient, endpointNodes, endpoints: 3, lookups: 200 }));
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
      // The client node one datagram at a time, or half its pairs split over two CPUs (they clash there); the
      // endpoints' nodes on the client's kernel, one datagram at a time from the wire (what a node before 5.13
      // has), or on a kernel with threaded NAPI that takes the pair together (they clash there too).
      const together = kernel === "6.18" ? "endpoint_nodes:\n  rx: gro-threaded\n  batch_probability: 1\n" : ENDPOINT_NODES_TOGETHER;
      for (const [node, endpointNodes] of [
        ["  rx: inline\n", "endpoint_nodes:\n  rx: inline\n"],
        ["  rx: inline\n", together],
        ["  rx: inline\n  migration_probability: 0.5\n", "endpoint_nodes:\n  rx: inline\n"],
        ["  rx: inline\n  migration_probability: 0.5\n", together],
      ] as const) {
        const { r, cluster } = run(scenario({ kernel, node, endpointNodes, endpoints: 3, lookups: 200 }));
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
          assert.equal(n.counters.drop, n.kernel === "4.4" ? 0 : n.hop.droppedClash);
          if (n.kernel === "4.4") assert.equal(n.counters.insert_failed, n.hop.droppedClash);
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

  it("endpoint_nodes fields default to the client node's; each can differ (a 6.18 endpoint node behind a 4.19 client node)", () => {
    // The kernels are the other way round from a 4.19 endpoint node behind a 6.18 client node: a 4.19 endpoint node
    // never gets a pair together (gro-threaded needs 5.13), so it would show nothing of its kernel's clash handling.
    // Here the 4.19 client node's pairs meet (its sending thread migrates between its sends; one endpoint, so no
    // race 3: its drops are race 2's), and the 6.18 endpoint node takes the rest together.
    const text = scenario({
      kernel: "4.19",
      node: "  rx: inline\n  migration_probability: 1\n",
      endpoints: 1,
      endpointNodes: 'endpoint_nodes:\n  kernel: "6.18"\n  rx: gro-threaded\n  batch_probability: 1\n  cpus: 3\n',
    });
    const { r } = run(text);
    const n = r.endpointNodes[0]!;
    assert.equal(r.client.kernel, "4.19");
    assert.equal(n.kernel, "6.18");
    assert.equal(n.perCpuCounters.length, 3);
    assert.equal(r.client.perCpuCounters.length, 2);
    const c = r.client.counters;
    assert.ok(c.drop > 0 && c.found > 0 && c.clash_resolve === 0, "4.19 drops race 2 and has no clash_resolve");
    assert.ok(n.counters.clash_resolve > 0 && n.counters.drop === 0, "6.18 merges its identical clashes and counts them in clash_resolve");
    const inherited = run(scenario({ kernel: "4.19", endpointNodes: "" })).r.endpointNodes[0]!;
    assert.equal(inherited.kernel, "4.19");
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
    assert.match(text, /node-\d cpu\d +AAAA insert clash, identical tuples: attached to the winner's entry \(clash_resolve\+\+\)/);
    assert.match(text, /node-\d cpu0 +A the reply matches the entry's reply tuple \(a null binding: nothing to rewrite\)/);
    assert.match(text, /node cpu0 +A reverse NAT: source becomes 10\.96\.0\.10:53/);
  });

  it("run --conntrack-stats prints the counters of every node on the path, each in its kernel's vocabulary", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-"));
    const file = join(dir, "remote.yaml");
    // A 5.4 client node (whose sending thread migrates between its sends, so its pairs clash) in front of 6.18
    // endpoint nodes that take the rest together: a 5.4 endpoint node never gets a pair together (gro-threaded
    // needs 5.13), so its counters would all be 0 and show nothing of its vocabulary.
    writeFileSync(file, scenario({ kernel: "5.4", node: "  rx: inline\n  migration_probability: 1\n", endpointNodes: 'endpoint_nodes:\n  kernel: "6.18"\n  rx: gro-threaded\n  batch_probability: 1\n', lookups: 50 }));
    const p = spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), "run", file, "--out", join(dir, "out"), "--conntrack-stats"], { encoding: "utf8" });
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /t \(kernel 5\.4\), client node: conntrack -S\ncpu=0 found=0 invalid=0 ignore=0 insert=0 insert_failed=[1-9]\d* drop=\d+ early_drop=0 error=0 search_restart=0\ncpu=1 /);
    assert.match(p.stdout, /t \(kernel 6\.18\), endpoint node node-1: conntrack -S\ncpu=0 found=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=[1-9]\d* chaintoolong=\d+\n/);
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
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  cpu: 2\n" })), /unknown field "endpoint_nodes\.cpu" in "endpoint_nodes" \(allowed: kernel, kernel_features, cpus, rx, /);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  kernel: 5.4\n" })), /field "endpoint_nodes\.kernel": expected a kernel version such as "5\.4"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  rx: napi\n" })), /field "endpoint_nodes\.rx": expected one of inline, rps, gro, gro-threaded, rps-gro-threaded, found "napi"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  link_us: {uniform: {min: 5}}\n" })), /field "endpoint_nodes\.link_us": "uniform" is missing "max"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  batch_probability: 2\n" })), /field "endpoint_nodes\.batch_probability"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  nat_rules: -1\n" })), /field "endpoint_nodes\.nat_rules"/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  nic_rx_usecs: -1\n" })), /field "endpoint_nodes\.nic_rx_usecs": expected microseconds from 0 to 10000/);
    assert.match(err(scenario({ endpointNodes: "endpoint_nodes:\n  softirq_share: 1\n" })), /field "endpoint_nodes\.softirq_share": expected a share of CPU time from 0 to 0\.95/);
  });

  it("from 5.5 the endpoint node's NIC poll hands a cross-node pair on as one list (gro_normal_list): it clashes there and merges; before 5.5 it crosses one datagram at a time", () => {
    const inline = "endpoint_nodes:\n  rx: inline\n";
    const at = (r: RunResult) => r.endpointNodes.reduce((s, n) => s + n.hop.clashes, 0);
    const k54 = run(scenario({ kernel: "5.4", endpointNodes: inline })).r;
    assert.equal(at(k54), 0, "5.4: netif_receive_skb_internal, one by one");
    const k58 = run(scenario({ kernel: "5.8", endpointNodes: inline })).r;
    const k510 = run(scenario({ kernel: "5.10", endpointNodes: inline })).r;
    for (const r of [k58, k510]) {
      assert.equal(r.client.hop.clashes, 0);
      assert.ok(at(r) > 100, `${r.client.kernel}: ${at(r)} clashes at the endpoints' nodes of 400 lookups`);
      assert.equal(lost(r), 0, "race 1 (identical tuples) merges");
    }
    // 5.5-5.9 count a merge in insert_failed, 5.10 and later in clash_resolve.
    for (const n of k58.endpointNodes) assert.ok(n.counters.insert_failed === n.hop.clashes && n.counters.clash_resolve === 0 && n.counters.drop === 0);
    for (const n of k510.endpointNodes) assert.ok(n.counters.clash_resolve === n.hop.clashes && n.counters.insert_failed === 0 && n.counters.drop === 0);
  });

  it("the NIC's interrupt moderation (nic_rx_usecs) holds the poll: more cross-node pairs are on the ring together", () => {
    const at = (us: number) => {
      const r = run(scenario({ kernel: "5.10", endpointNodes: `endpoint_nodes:\n  rx: inline\n  nic_rx_usecs: ${us}\n` })).r;
      return r.endpointNodes.reduce((s, n) => s + n.hop.clashes, 0) / summarize(r).pairs;
    };
    const none = at(0);
    const moderated = at(50);
    assert.ok(moderated > none, `${moderated} > ${none}`);
    assert.ok(moderated > 0.9, `with 50 us almost every pair: ${moderated}`);
  });

  it("the bundled scenarios load and keep their endpoints on the client node", () => {
    for (const f of ["glibc.yaml", "musl.yaml", "tcp.yaml", "nodelocal.yaml"]) assert.equal(loadScenarioFile(scenarioPath(f)).scenario.kube_dns.placement, "local");
  });
});
