import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { inputError, scenarioPath } from "./helpers.js";

const SEC = 1_000_000_000;
/** The glibc scenario on `kernel`, with `node` lines added to its node block. */
const glibc = (kernel: string, node = "") =>
  readFileSync(scenarioPath("glibc.yaml"), "utf8")
    .replace(/^kernel: .*$/m, `kernel: "${kernel}"`)
    .replace(/^node:\n/m, `node:\n${node}`);
const run = (kernel: string, node = "") => runScenario(loadScenarioText(glibc(kernel, node), "t.yaml"));

describe("other flows on the node (node.other_connections_per_s)", () => {
  const plain = run("4.8");
  const busy = run("4.8", "  other_connections_per_s: 200\n");

  it("4.8: each of their entries counts insert and new, on every CPU, about rate x run time of them", () => {
    const c = busy.client;
    const extra = c.counters.insert - plain.client.counters.insert;
    assert.equal(extra, c.otherFlows.inserted);
    assert.equal(c.counters.new - plain.client.counters.new, c.otherFlows.inserted);
    const expected = (200 * busy.simulatedNs) / SEC;
    assert.ok(Math.abs(extra - expected) < 4 * Math.sqrt(expected), `${extra} vs ${expected}`);
    for (const [cpu, k] of c.perCpuCounters.entries()) assert.ok(k.insert - plain.client.perCpuCounters[cpu]!.insert > extra / 8, `cpu ${cpu}`);
  });

  it("they draw from a stream of their own: the lookups, clashes and DNS counters are those of the node without them", () => {
    assert.equal(busy.log.count, plain.log.count);
    for (let i = 0; i < plain.log.length; i++) assert.equal(busy.log.latencyNs(i), plain.log.latencyNs(i));
    assert.deepEqual(busy.client.hop, plain.client.hop);
    for (const k of ["insert_failed", "drop", "found"] as const) assert.equal(busy.client.counters[k], plain.client.counters[k], k);
  });

  it("the table holds them: /proc's entries count about rate x lifetime more (the run starts in steady state)", () => {
    const extra = busy.client.conntrackEntries - plain.client.conntrackEntries;
    assert.ok(Math.abs(extra - 200 * 120) < 4 * Math.sqrt(200 * 120), String(extra));
    const short = run("4.8", "  other_connections_per_s: 200\n  other_connection_lifetime_s: 10\n");
    assert.ok(Math.abs(short.client.conntrackEntries - plain.client.conntrackEntries - 2000) < 200, String(short.client.conntrackEntries));
  });

  it("4.9 and later: they move no counter (insert is not counted on the packet path) but still fill the table", () => {
    const r = run("5.4", "  other_connections_per_s: 200\n");
    assert.equal(r.client.counters.insert, 0);
    assert.equal(r.client.counters.new, 0);
    assert.ok(r.client.otherFlows.inserted > 0);
    assert.ok(r.client.conntrackEntries > 200 * 100);
  });

  it("with nf_conntrack_max below their number, their ASSURED entries cannot be early-dropped: DNS queries and their own SYNs are dropped (drop++)", () => {
    const r = run("5.4", "  conntrack_max: 1500\n  other_connections_per_s: 100\n  other_connection_lifetime_s: 20\n");
    assert.ok(r.client.hop.droppedTableFull > 0);
    assert.ok(r.client.otherFlows.dropped > 0);
    assert.equal(r.client.counters.drop, r.client.hop.droppedClash + r.client.hop.droppedTableFull + r.client.otherFlows.dropped);
    assert.ok(r.client.conntrackEntries <= 1500);
  });

  it("below nf_conntrack_max they take room the DNS entries had: early_drop evicts unreplied DNS entries sooner", () => {
    const node = "  conntrack_max: 600\n";
    const alone = run("5.4", node);
    const shared = run("5.4", `${node}  other_connections_per_s: 10\n  other_connection_lifetime_s: 50\n`);
    assert.ok(shared.client.counters.early_drop > alone.client.counters.early_drop, `${shared.client.counters.early_drop} vs ${alone.client.counters.early_drop}`);
  });

  it("the same scenario and seed give the same counters", () => {
    const again = run("4.8", "  other_connections_per_s: 200\n");
    assert.deepEqual(again.client.perCpuCounters, busy.client.perCpuCounters);
    assert.equal(again.client.conntrackEntries, busy.client.conntrackEntries);
  });

  describe("bad input", () => {
    const err = (node: string): string => inputError(() => loadScenarioText(glibc("5.4", node), "bad.yaml"));
    it("other_connections_per_s that is not a number from 0 to 100000", () => {
      for (const v of ["-1", "lots", "1000000"]) {
        assert.match(err(`  other_connections_per_s: ${v}\n`), /^bad\.yaml: line \d+: field "node\.other_connections_per_s": expected a number from 0 to 100000 \(new connections per second\), found .+\.$/);
      }
    });
    it("other_connection_lifetime_s that is not a positive number of seconds", () => {
      assert.match(err("  other_connections_per_s: 10\n  other_connection_lifetime_s: 0\n"), /^bad\.yaml: line \d+: field "node\.other_connection_lifetime_s": expected a number from 0\.001 to 86400 \(seconds\), found 0\.$/);
    });
    it("other_connection_lifetime_s without other_connections_per_s", () => {
      assert.match(err("  other_connection_lifetime_s: 60\n"), /^bad\.yaml: line \d+: field "node\.other_connection_lifetime_s": the lifetime of the node's other connections only matters when they arrive; set node\.other_connections_per_s too\.$/);
    });
    it("more live entries than the model holds", () => {
      assert.match(err("  other_connections_per_s: 10000\n"), /^bad\.yaml: line \d+: field "node\.other_connections_per_s": 10000 connections per second living 120 s keep 1200000 entries in the table, more than the 1048576 the model holds; lower the rate or the lifetime\.$/);
    });
  });
});
