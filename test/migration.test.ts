import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { MIGRATION_SPLIT_PROBABILITY } from "../src/kernel/rx.js";
import { RACE_DEFAULTS, type RaceOptions, runRace } from "../src/experiment/race.js";
import { lookupsCsv } from "../src/report/csv.js";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { calibration, scenarioPath } from "./helpers.js";

/** One thread's A and AAAA in one sendmmsg(), a fresh port per pair. */
const race = (o: Partial<RaceOptions>) => runRace({ ...RACE_DEFAULTS, kernel: "5.4", send: "sendmmsg", pairs: 20000, ...o });
/** The bundled musl scenario on a node whose veths process datagrams one by one. */
const musl = (node: string) => readFileSync(scenarioPath("musl.yaml"), "utf8").replace("rx: gro-threaded", "rx: inline").replace(/^node:\n/m, `node:\n${node}`);

describe("rx: the thread-migration split of one thread's pair (node.migration_probability)", () => {
  it("its default is 0: on the real 6.18 node no one-thread pair overlapped in 12.2 M (kernel-6.18-field.json), at any load", () => {
    const f = calibration<{ totals: { all: { pairs: number; clash_events: number; aaaa_own_entry: number } } }>("kernel-6.18-field.json");
    assert.equal(f.totals.all.clash_events, 0);
    assert.equal(f.totals.all.aaaa_own_entry, 0);
    assert.ok(f.totals.all.pairs > 12_000_000);
    assert.equal(MIGRATION_SPLIT_PROBABILITY, 0);
  });

  it("raised to 1%, it makes about 1% of one thread's sendmmsg() pairs clash with the veth as created and with inline GRO", () => {
    for (const rx of ["inline", "gro"] as const) {
      const r = race({ rx, migrationProbability: 0.01 });
      assert.ok(r.clashes > 0.007 * r.pairs && r.clashes < 0.013 * r.pairs, `${rx}: ${r.clashes} of ${r.pairs}`);
      assert.equal(r.lost_pairs, r.different_endpoint_clashes); // 5.4: the different-endpoint losers are dropped
    }
  });

  it("a measured rate applies to every pair whatever the node's load: at 60% softirq and 4 runnable tasks per CPU, 1 still splits almost every pair", () => {
    const loaded = race({ migrationProbability: 1, softirqShare: 0.6, runnablePerCpu: 4, cpus: 4, pairs: 2000 });
    assert.ok(loaded.clashes / 2000 > 0.95, `${loaded.clashes} of 2000 pairs`);
  });

  it("with RPS the split does not make them meet: both datagrams wait in the backlog of their flow's CPU, one at a time", () => {
    for (const rx of ["rps", "rps-gro-threaded"] as const) assert.equal(race({ rx, migrationProbability: 0.5 }).clashes, 0, rx);
  });

  it("with one CPU there is nowhere to migrate", () => {
    assert.equal(race({ cpus: 1, migrationProbability: 1 }).clashes, 0);
  });

  it("at its default, one thread's pairs never clash on a node processing datagrams one by one: 0 in 800,000 over four seeds", () => {
    let clashes = 0;
    for (const seed of [1, 2, 3, 4]) clashes += race({ kernel: "6.18", pairs: 200_000, seed }).clashes;
    assert.equal(clashes, 0);
  });

  it("it draws from a stream of its own: when it does not fire, the run is the one without it", () => {
    const off = runScenario(loadScenarioText(musl("  migration_probability: 0\n"), "t.yaml"));
    const dflt = runScenario(loadScenarioText(musl(""), "t.yaml"));
    assert.equal(off.client.hop.clashes, 0);
    assert.equal(dflt.client.hop.clashes, 0);
    assert.equal(lookupsCsv(dflt), lookupsCsv(off));
  });

  it("a scenario with migration_probability 0.05 on an inline node: musl's pairs clash and some lookups take 2.5 s", () => {
    const r = runScenario(loadScenarioText(musl("  migration_probability: 0.05\n"), "t.yaml"));
    assert.ok(r.client.hop.clashes > 0);
    assert.ok(r.log.records().some((l) => l.endNs - l.startNs >= 2_500_000_000));
  });

  it("trace names the split", () => {
    const lines: string[] = [];
    race({ rx: "inline", migrationProbability: 1, pairs: 1, trace: (e) => e.kind === "migration-split" && lines.push(e.detail) });
    assert.deepEqual(lines, ["the sending thread migrated to cpu1 between its sends while its first datagram still waited for cpu0's softirq: the two are processed at the same time on two CPUs (a rare path, p = 1.00 per burst)"]);
  });

  describe("bad input", () => {
    for (const v of ["-0.1", "2", "often"]) {
      it(`migration_probability: ${v}`, () => {
        assert.throws(
          () => loadScenarioText(musl(`  migration_probability: ${v}\n`), "bad.yaml"),
          (e: unknown) => e instanceof InputError && /^bad\.yaml: line \d+: field "node\.migration_probability": expected a probability from 0 to 1(, or \{estimate, low, high\} \(as dnsrace calibrate writes it\))?, found .+\.$/.test(e.message),
        );
      });
    }
  });
});
