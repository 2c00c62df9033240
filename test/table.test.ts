import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ConntrackTable, type Entry } from "../src/kernel/conntrack.js";
import { kernelFeatures } from "../src/kernel/version.js";
import { tupleKey } from "../src/net/addr.js";
import { RACE_DEFAULTS, type RaceOptions, runRace } from "../src/experiment/race.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { inputError, scenarioPath, withOverlap } from "./helpers.js";

const SEC = 1_000_000_000;
const race = (o: Partial<RaceOptions>) => runRace({ ...RACE_DEFAULTS, kernel: "6.18", send: "sendmmsg", pairs: 500, ...o });
/** glibc.yaml's pod on a node where a fifth of the pairs meet in conntrack, with more node fields. */
const glibc = (node: string) => withOverlap(readFileSync(scenarioPath("glibc.yaml"), "utf8"), 0.2).replace(/^node:\n/m, `node:\n${node}`);

/** A confirmed entry for source port `port` (one UDP flow to one endpoint). */
function confirmed(t: ConntrackTable, port: number, now: number, assured: boolean): Entry {
  const e = t.create(tupleKey(false, 1, port, 2, 53), 1, port, 2, 53, now);
  e.replyKey = tupleKey(false, 3, 53, 1, port);
  t.insert(e, now);
  e.assured = assured;
  return e;
}

describe("conntrack table size: nf_conntrack_max and early_drop (node.conntrack_max)", () => {
  const f = kernelFeatures("5.4")!;

  it("early_drop evicts the entries that are not ASSURED from the new tuple's bucket", () => {
    const t = new ConntrackTable(f, { max: 3, buckets: 1 });
    confirmed(t, 40000, 0, true);
    const loose = confirmed(t, 40001, 0, false);
    confirmed(t, 40002, 0, true);
    assert.equal(t.makeRoom(tupleKey(false, 1, 40003, 2, 53), SEC), 1);
    assert.equal(t.count, 2);
    assert.equal(t.findOrig(loose.origKey, SEC), undefined);
  });

  it("a full table of ASSURED entries has no room: the new packet is to be dropped", () => {
    const t = new ConntrackTable(f, { max: 2, buckets: 1 });
    confirmed(t, 40000, 0, true);
    confirmed(t, 40001, 0, true);
    assert.equal(t.makeRoom(tupleKey(false, 1, 40002, 2, 53), SEC), -1);
    assert.equal(t.count, 2);
  });

  it("early_drop looks no further than NF_CT_EVICTION_RANGE (8) buckets", () => {
    // 4096 buckets: the one entry that could go is almost surely not within 8 buckets of the new tuple's.
    const t = new ConntrackTable(f, { max: 64, buckets: 4096 });
    for (let p = 0; p < 63; p++) confirmed(t, 40000 + p, 0, true);
    confirmed(t, 41000, 0, false);
    let dropped = 0;
    for (let p = 0; p < 50; p++) if (t.makeRoom(tupleKey(false, 1, 50000 + p, 2, 53), SEC) === -1) dropped++;
    assert.ok(dropped >= 45, `${dropped} of 50 found nothing to evict`);
  });

  it("an expired entry frees its slot: after the 30 s UDP timeout a full table has room again", () => {
    const t = new ConntrackTable(f, { max: 2, buckets: 1 });
    confirmed(t, 40000, 0, true);
    confirmed(t, 40001, 0, true);
    assert.equal(t.makeRoom(tupleKey(false, 1, 40002, 2, 53), 29 * SEC), -1);
    assert.equal(t.makeRoom(tupleKey(false, 1, 40002, 2, 53), 30 * SEC), 0);
    assert.equal(t.count, 0);
  });

  it("a clash loser, merged or dropped, frees its slot: the count is the entries in the table", () => {
    const r = runScenario(loadScenarioText(glibc(""), "t.yaml"), {
      beforeRun: (c) => c.sim.at(3600 * SEC, () => assert.equal(c.node.table.count, c.node.table.size), undefined),
    });
    assert.ok(r.client.hop.clashes > 0);
  });

  it("5.4: answered DNS entries are ASSURED, so a full table drops new queries (drop++, early_drop stays 0)", () => {
    const r = race({ kernel: "5.4", conntrackMax: 40 });
    assert.ok(r.conservation.tableFull > 0);
    assert.equal(r.counters.early_drop, 0);
    assert.equal(r.drop, r.conservation.tableFull);
    assert.equal(r.conservation.forwarded + r.conservation.dropped + r.conservation.tableFull, r.conservation.sent);
  });

  it("5.4: entries still waiting for their answer are not ASSURED: early_drop evicts them, and their answers are lost", () => {
    const r = race({ kernel: "5.4", conntrackMax: 40, replyDelayMs: 1000 });
    assert.equal(r.conservation.tableFull, 0);
    assert.ok(r.counters.early_drop > 0);
    assert.ok(r.conservation.repliesOrphaned > 0);
  });

  it("from 5.16 a DNS entry is never ASSURED (b7b1d02fc439): early_drop makes room and no query is lost", () => {
    const r = race({ kernel: "6.18", conntrackMax: 40 });
    assert.equal(r.conservation.tableFull, 0);
    assert.ok(r.counters.early_drop > 400);
    assert.equal(r.lost_pairs, 0);
  });

  it("trace names a table-full drop and an early_drop", () => {
    const kinds = new Set<string>();
    const lines: string[] = [];
    race({ kernel: "5.4", conntrackMax: 40, pairs: 60, trace: (e) => (kinds.add(e.kind), lines.push(e.detail)) });
    race({ kernel: "6.18", conntrackMax: 40, pairs: 60, trace: (e) => (kinds.add(e.kind), lines.push(e.detail)) });
    assert.ok(kinds.has("table-full") && kinds.has("early-drop"));
    assert.ok(lines.includes('the table is full (nf_conntrack_max 40) and early_drop finds no entry that is not ASSURED: "nf_conntrack: table full, dropping packet" (drop++)'));
    assert.ok(lines.some((l) => /^the table is full \(nf_conntrack_max 40\): early_drop evicts \d+ entr(y|ies) that are not ASSURED \(early_drop \+= \d+\)$/.test(l)));
  });

  it("the glibc scenario (5.4) with conntrack_max 150: table-full drops add to the clash drops, and every lost query is counted", () => {
    const r = runScenario(loadScenarioText(glibc("  conntrack_max: 150\n"), "t.yaml"));
    assert.ok(r.client.hop.droppedTableFull > 0);
    assert.equal(r.client.counters.drop, r.client.hop.droppedClash + r.client.hop.droppedTableFull);
    const lost = r.log.records().reduce((s, l) => s + l.tally.queriesLost, 0);
    assert.equal(lost, r.client.hop.droppedClash + r.client.hop.droppedTableFull + r.net.ignoredBySocket + r.net.blackholed);
  });

  describe("bad input", () => {
    const err = (node: string): string => inputError(() => loadScenarioText(glibc(node), "bad.yaml"));
    it("conntrack_max that is not a whole number from 1 to 16777216", () => {
      for (const v of ["0", "1.5", "lots", "100000000"]) {
        assert.match(err(`  conntrack_max: ${v}\n`), /^bad\.yaml: line \d+: field "node\.conntrack_max": expected a whole number from 1 to 16777216 \(nf_conntrack_max\), found .+\.$/);
      }
    });
    it("conntrack_buckets that is not a whole number from 1 to 16777216", () => {
      assert.match(err("  conntrack_max: 100\n  conntrack_buckets: 0\n"), /field "node\.conntrack_buckets": expected a whole number from 1 to 16777216 \(nf_conntrack_buckets\), found 0\./);
    });
    it("conntrack_buckets without conntrack_max", () => {
      assert.match(err("  conntrack_buckets: 64\n"), /field "node\.conntrack_buckets": the hash size only matters for early_drop\(\) when the table has a limit; set node\.conntrack_max too\./);
    });
  });
});
