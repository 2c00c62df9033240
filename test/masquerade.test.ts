import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { RACE_DEFAULTS, type RaceOptions, runRace } from "../src/experiment/race.js";
import { lookupsCsv } from "../src/report/csv.js";
import { summarize } from "../src/stats/summary.js";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { formatRaceReport, raceOptions, type RaceArgs } from "../src/cli/race.js";
import { inputError, scenarioPath } from "./helpers.js";

const race = (o: Partial<RaceOptions>) => runRace({ ...RACE_DEFAULTS, kernel: "6.18", pairs: 3000, ...o });
const scenario = (file: string, node: string) => readFileSync(scenarioPath(file), "utf8").replace(/^node:\n/m, `node:\n${node}`);
/**
 * glibc.yaml with a node where about one pair in five clashes: its busy 5.4 node has (correctly) almost none,
 * so its node block is replaced by one whose sending thread migrates between its sends of 19 bursts in 100
 * (the share of pairs a softirq-saturated GRO + threaded NAPI node took as one list).
 */
const clashingGlibc = (node = "") => readFileSync(scenarioPath("glibc.yaml"), "utf8").replace(/^node:\n(?: {2}.*\n)+/m, `node:\n  cpus: 4\n  rx: inline\n  migration_probability: 0.19\n${node}`);
const run = (text: string) => runScenario(loadScenarioText(text, "t.yaml"));

describe("MASQUERADE and --random-fully (node.masquerade_all, node.masquerade_random_fully)", () => {
  it("MASQUERADE keeps the source port when it is free: the race's outcomes are those of the null binding, on every kernel", () => {
    for (const kernel of ["4.17", "4.19", "5.4", "5.7", "6.18"]) {
      for (const endpoints of [1, 2]) {
        const none = race({ kernel, endpoints });
        const plain = race({ kernel, endpoints, masquerade: "plain" });
        assert.deepEqual(
          [plain.clashes, plain.lost_pairs, plain.insert_failed, plain.drop, plain.clash_resolve, plain.found, plain.nat_clash_entries],
          [none.clashes, none.lost_pairs, none.insert_failed, none.drop, none.clash_resolve, none.found, none.nat_clash_entries],
          `${kernel}, ${endpoints} endpoints`,
        );
      }
    }
  });

  it("--random-fully leaves race 3 alone: the same clashes to different endpoints, with the same fate", () => {
    for (const kernel of ["4.19", "5.4", "5.7", "6.18"]) {
      const plain = race({ kernel, endpoints: 3, masquerade: "plain" });
      const rf = race({ kernel, endpoints: 3, masquerade: "random-fully" });
      assert.equal(rf.clashes, plain.clashes, kernel);
      assert.equal(rf.different_endpoint_clashes, plain.different_endpoint_clashes, kernel);
      assert.ok(rf.different_endpoint_clashes > 0.6 * rf.clashes);
      // Each of them is dropped before 5.6 and kept as a NAT-clash entry from 5.6, with or without the flag.
      if (kernel === "4.19" || kernel === "5.4") assert.ok(rf.drop >= rf.different_endpoint_clashes && plain.drop >= plain.different_endpoint_clashes);
      else assert.equal(rf.nat_clash_entries - rf.different_source_clashes, plain.nat_clash_entries, kernel);
    }
  });

  it("--random-fully gives each new entry a random source port: on 5.0-5.5 a clash to the same endpoint is no longer merged but dropped", () => {
    const plain = race({ kernel: "5.4", endpoints: 1, masquerade: "plain" });
    const rf = race({ kernel: "5.4", endpoints: 1, masquerade: "random-fully" });
    assert.equal(plain.lost_pairs, 0);
    assert.equal(rf.different_source_clashes, rf.clashes);
    assert.equal(rf.lost_pairs, rf.clashes);
    assert.deepEqual([rf.insert_failed, rf.drop], [rf.clashes, rf.clashes]);
  });

  it("--random-fully before 5.0: race 2 no longer waits for the winner's confirm, every same-endpoint clash has another port", () => {
    const plain = race({ kernel: "4.19", endpoints: 1, masquerade: "plain" });
    const rf = race({ kernel: "4.19", endpoints: 1, masquerade: "random-fully" });
    assert.ok(plain.lost_pairs > 0 && plain.lost_pairs < plain.clashes, "plain: race 2 only when the winner is confirmed before the loser's SNAT");
    assert.equal(rf.lost_pairs, rf.clashes);
    // No "try the original tuple first": found moves only when a random port happens to be taken.
    assert.ok(rf.found < plain.found / 5, `found ${rf.found} with --random-fully, ${plain.found} without`);
  });

  it("--random-fully from 5.6: the same-endpoint loser becomes a NAT-clash entry, and its answer comes back through it", () => {
    const r57 = race({ kernel: "5.7", endpoints: 1, masquerade: "random-fully" });
    assert.equal(r57.nat_clash_entries, r57.clashes);
    assert.equal(r57.insert_failed, 0); // 5.6-5.9: a NAT-clash insert moves no counter
    assert.equal(r57.lost_pairs, 0);
    const r618 = race({ kernel: "6.18", endpoints: 1, masquerade: "random-fully" });
    assert.equal(r618.clash_resolve, r618.clashes);
    assert.equal(r618.lost_pairs, 0);
    assert.equal(r618.conservation.repliesOrphaned, 0);
  });

  it("answers to MASQUERADEd queries are reverse-NATed to the pod: the glibc scenario with masquerade_all has the same lookups", () => {
    const plain = run(clashingGlibc());
    const masq = run(clashingGlibc("  masquerade_all: true\n"));
    assert.equal(lookupsCsv(masq), lookupsCsv(plain));
  });

  it("the glibc scenario (5.4) with masquerade_all and --random-fully: every clash drops its loser, about twice the 5 s lookups", () => {
    const plain = summarize(run(clashingGlibc()));
    const rf = summarize(run(clashingGlibc("  masquerade_all: true\n  masquerade_random_fully: true\n")));
    assert.ok(Math.abs(rf.clashes - plain.clashes) < 0.1 * plain.clashes, `${rf.clashes} clashes vs ${plain.clashes}`);
    assert.equal(rf.drop, rf.clashes);
    assert.ok(plain.drop < 0.6 * plain.clashes);
    assert.ok(rf.share_ge_5s > 1.6 * plain.share_ge_5s, `${rf.share_ge_5s} vs ${plain.share_ge_5s}`);
  });

  it("before 5.0, queries of different pods MASQUERADEd to the node's address race for the rover's port (nf_nat_l4proto_unique_tuple): clashes between pods, more as the rate grows; none without MASQUERADE", () => {
    // 20 pods, 8 CPUs, one endpoint: the node's (address, port) space towards it fills with 30-s entries, so a
    // pod's own port is often taken, and two CPUs searching at once start from the same rover and pick one port.
    const busy = (perPodPerS: number, masq: boolean) => {
      const pods = Array.from({ length: 20 }, (_, i) => `  - { name: app${i}, libc: glibc, threads: 8, rate_per_s: ${perPodPerS}, duration_s: 15, names: [{ name: redis.shop.svc.cluster.local., weight: 1 }], resolv_conf: "nameserver 10.96.0.10\\n" }\n`).join("");
      const text = `name: t\ndescription: a busy node that SNATs its pods' DNS\nseed: 7\nkernel: "4.4"\nnode:\n  cpus: 8\n  masquerade_all: ${masq}\nkube_dns:\n  endpoints: 1\n  records: [redis.shop.svc.cluster.local]\npods:\n${pods}`;
      return run(text);
    };
    const low = busy(100, true);
    const high = busy(200, true);
    const plain = busy(200, false);
    // One endpoint: no race 3; every clash is between two pods' queries that left with one (address, port).
    assert.ok(low.client.hop.clashes > 0, `${low.client.hop.clashes} at 2,000 lookups/s`);
    assert.ok(high.client.hop.clashes > 2 * low.client.hop.clashes, `${high.client.hop.clashes} at 4,000 lookups/s vs ${low.client.hop.clashes}`);
    // Without MASQUERADE the same lookups never clash: each pair is processed in order, so the clashes above
    // are between different queries (different original tuples) that SNAT gave one reply tuple.
    assert.equal(plain.client.hop.clashes, 0);
    // 4.4 counts insert on the packet path, so insert_failed per insert reads as the field computes it.
    const s = summarize(high);
    assert.ok(s.insert > 0 && s.insert_failed === high.client.hop.clashes);
  });

  it("--random-fully without masquerade_all changes nothing: pods' queries get a null binding, which has no --random-fully", () => {
    const plain = run(clashingGlibc());
    const rf = run(clashingGlibc("  masquerade_random_fully: true\n"));
    assert.equal(lookupsCsv(rf), lookupsCsv(plain));
  });

  it("TCP through MASQUERADE: the handshake is reverse-NATed and use-vc lookups succeed", () => {
    const r = summarize(run(scenario("tcp.yaml", "  masquerade_all: true\n  masquerade_random_fully: true\n")));
    assert.equal(r.failed, 0);
    assert.equal(r.share_over_1s, 0);
  });

  it("trace shows the MASQUERADE of each new entry", () => {
    const lines: string[] = [];
    race({ kernel: "5.4", pairs: 1, masquerade: "random-fully", trace: (e) => lines.push(`${e.kind}: ${e.detail}`) });
    assert.ok(lines.some((l) => /^masquerade: MASQUERADE \(kube-proxy --masquerade-all\): source becomes 10\.0\.0\.1:\d+ \(--random-fully: a random port\)$/.test(l)), lines.join("\n"));
  });

  it("race --masquerade random-fully: the report names the SNAT and how many losers came from another source port", () => {
    const o = raceOptions({ kernel: "5.4", masquerade: "random-fully", pairs: "500", json: false } as unknown as RaceArgs);
    const r = runRace(o);
    const text = formatRaceReport(r, o, o.kernel).replace(/\n\s*/g, " ");
    assert.match(text, /MASQUERADEd to the node's address with --random-fully/);
    assert.match(text, new RegExp(`in this run: ${r.clashes} dropped; ${r.different_source_clashes} of the clashes went to the winner's endpoint from another source port`));
  });

  describe("bad input", () => {
    const err = (node: string): string => inputError(() => loadScenarioText(scenario("glibc.yaml", node), "bad.yaml"));
    it("masquerade_all that is not true or false", () => {
      assert.match(err("  masquerade_all: yes please\n"), /^bad\.yaml: line \d+: field "node\.masquerade_all": .*found "yes please"\.$/);
    });
    it("masquerade_random_fully that is not true or false", () => {
      assert.match(err("  masquerade_random_fully: 1\n"), /^bad\.yaml: line \d+: field "node\.masquerade_random_fully": .*found 1\.$/);
    });
    it("race --masquerade with an unknown mode", () => {
      const args = { masquerade: "sometimes", json: false } as unknown as RaceArgs;
      assert.throws(() => raceOptions(args), (e: unknown) => e instanceof InputError && /^--masquerade: expected one of none, plain, random-fully, found "sometimes"\.$/.test(e.message));
    });
  });
});
