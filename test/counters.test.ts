import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelFeatures } from "../src/kernel/version.js";
import { conntrackStatLine, procStatHeader, procStatRow } from "../src/report/conntrack.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { ROOT, scenarioPath } from "./helpers.js";

const nodelocal = (kernel: string) => runScenario(loadScenarioText(readFileSync(scenarioPath("nodelocal.yaml"), "utf8").replace(/^kernel: .*$/m, `kernel: "${kernel}"`), "t.yaml"));

describe("counters: ignore (untracked packets, before 5.10)", () => {
  it("5.4: every NOTRACKed packet moves ignore (the pod's query and the cache's answer)", () => {
    const r = nodelocal("5.4");
    assert.ok(r.client.hop.untracked > 0);
    assert.ok(r.client.hop.untrackedReplies > 0);
    assert.equal(r.client.counters.ignore, r.client.hop.untracked + r.client.hop.untrackedReplies);
  });

  it("5.10 and later: ignore no longer counts (\"netfilter: conntrack: remove ignore stats\")", () => {
    assert.equal(nodelocal("5.10").client.counters.ignore, 0);
  });
});

describe("counters: /proc/net/stat/nf_conntrack as ct_cpu_seq_show prints it (run --proc-stat)", () => {
  const OLD = "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart";
  const CLASHRES = "entries  clashres found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart";
  const CHAINLENGTH = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart";
  for (const [v, header] of [["4.4", OLD], ["4.19", OLD], ["5.4", OLD], ["5.9", OLD], ["5.10", CLASHRES], ["5.14", CLASHRES], ["5.15", CHAINLENGTH], ["6.18", CHAINLENGTH]] as const) {
    it(`the header on ${v}: ${header.split(" ").filter((w) => ["searched", "clashres", "delete_list", "chainlength"].includes(w)).join(", ")}`, () => {
      assert.equal(procStatHeader(kernelFeatures(v)!), header);
    });
  }

  const c = { found: 2, invalid: 0, ignore: 7, insert: 0, insert_failed: 12, drop: 6, early_drop: 300, error: 0, search_restart: 0, clash_resolve: 31, chaintoolong: 0 };

  it("a row: 17 hex fields, the entry count first, two spaces after it and before expect_new", () => {
    assert.equal(procStatRow(0x1a3, c, kernelFeatures("5.4")!), "000001a3  00000000 00000002 00000000 00000000 00000007 00000000 00000000 00000000 0000000c 00000006 0000012c 00000000  00000000 00000000 00000000 00000000");
  });

  it("from 5.10 the second column is clash_resolve and ignore is printed as 0", () => {
    assert.equal(procStatRow(0x1a3, c, kernelFeatures("6.18")!), "000001a3  0000001f 00000002 00000000 00000000 00000000 00000000 00000000 00000000 0000000c 00000006 0000012c 00000000  00000000 00000000 00000000 00000000");
  });

  it("conntrack -S shows chaintoolong= from 5.15 (CTA_STATS_CHAIN_TOOLONG)", () => {
    assert.match(conntrackStatLine(0, c, kernelFeatures("5.15")!), / clash_resolve=31 chaintoolong=0$/);
    assert.match(conntrackStatLine(0, c, kernelFeatures("5.14")!), / clash_resolve=31$/);
  });

  it("run --proc-stat prints the header and one row per CPU for each scenario", () => {
    const out = mkdtempSync(join(tmpdir(), "dnsrace-"));
    const r = spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), "run", scenarioPath("repro-glibc-5s.yaml"), "--out", out, "--proc-stat"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `repro-glibc-5s \\(kernel 5\\.4\\), client node: /proc/net/stat/nf_conntrack\\n${OLD}\\n` +
          "00000001  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000001 00000000 00000000  00000000 00000000 00000000 00000000\\n" +
          "00000001  (00000000 ){12} (00000000 ){3}00000000\\n",
      ),
    );
  });
});
