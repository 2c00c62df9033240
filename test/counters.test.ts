import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelFeatures } from "../src/kernel/version.js";
import { conntrackStatLine, procStatHeader, procStatRow } from "../src/report/conntrack.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { ROOT, scenarioPath, withOverlap } from "./helpers.js";

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

  const c = { found: 2, invalid: 0, ignore: 7, insert: 0, insert_failed: 12, drop: 6, early_drop: 300, error: 0, search_restart: 0, clash_resolve: 31, chaintoolong: 0, new: 0 };

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
          // The AAAA, sent from the CPU the thread moved to, lost the clash there: cpu1's row counts it.
          "00000001  (00000000 ){12} (00000000 ){3}00000000\\n" +
          "00000001  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000001 00000000 00000000  00000000 00000000 00000000 00000000\\n",
      ),
    );
  });
});

describe("counters: insert and new on the packet path (before 4.9, \"remove packet hotpath stats\")", () => {
  // glibc.yaml's pod on a node where a fifth of the pairs meet in conntrack.
  const glibc = (kernel: string) => runScenario(loadScenarioText(withOverlap(readFileSync(scenarioPath("glibc.yaml"), "utf8"), 0.2).replace(/^kernel: .*$/m, `kernel: "${kernel}"`), "t.yaml"));
  const r48 = glibc("4.8");

  it("4.8: every confirmed entry counts insert, every loser insert_failed, every new entry new (__nf_conntrack_confirm, init_conntrack)", () => {
    const c = r48.client.counters;
    assert.ok(c.insert > 0);
    assert.equal(c.insert_failed, r48.client.hop.clashes);
    assert.equal(c.new, c.insert + c.insert_failed);
    for (const k of r48.client.perCpuCounters) assert.equal(k.new, k.insert + k.insert_failed);
  });

  it("4.9 and later: insert and new stay 0 on the packet path; a NAT-clash entry (5.6+) counts clash_resolve, not insert", () => {
    for (const v of ["4.9", "5.4", "5.10"]) {
      const r = glibc(v);
      assert.equal(r.client.counters.insert, 0, v);
      assert.equal(r.client.counters.new, 0, v);
      if (v === "5.10") assert.ok(r.client.hop.natClashEntries > 0 && r.client.counters.clash_resolve > 0);
    }
    assert.equal(kernelFeatures("4.8.17")!.hotpathStats, true);
    assert.equal(kernelFeatures("4.9")!.hotpathStats, false);
  });

  it("conntrack -S before 4.9 prints ctnetlink's 4.8 attributes, searched to search_restart, with searched, delete and delete_list as 0", () => {
    const c = { found: 2, invalid: 0, ignore: 7, insert: 40, insert_failed: 3, drop: 3, early_drop: 0, error: 0, search_restart: 0, clash_resolve: 0, chaintoolong: 0, new: 43 };
    assert.equal(conntrackStatLine(1, c, kernelFeatures("4.8")!), "cpu=1 searched=0 found=2 new=43 invalid=0 ignore=7 delete=0 delete_list=0 insert=40 insert_failed=3 drop=3 early_drop=0 error=0 search_restart=0");
    assert.equal(conntrackStatLine(1, c, kernelFeatures("4.9")!), "cpu=1 found=2 invalid=0 ignore=7 insert=40 insert_failed=3 drop=3 early_drop=0 error=0 search_restart=0");
  });

  it("/proc/net/stat/nf_conntrack before 4.9 shows new and insert", () => {
    const c = { found: 2, invalid: 0, ignore: 7, insert: 40, insert_failed: 3, drop: 3, early_drop: 0, error: 0, search_restart: 0, clash_resolve: 0, chaintoolong: 0, new: 43 };
    assert.equal(procStatRow(5, c, kernelFeatures("4.8")!), "00000005  00000000 00000002 0000002b 00000000 00000007 00000000 00000000 00000028 00000003 00000003 00000000 00000000  00000000 00000000 00000000 00000000");
    assert.match(procStatRow(5, c, kernelFeatures("4.9")!), /^00000005  00000000 00000002 00000000 /);
  });
});
