import assert from "node:assert/strict";
import fc from "fast-check";
import { stream } from "../src/engine/random.js";
import { statisticThresholds, walkServiceChain } from "../src/kernel/kubeproxy.js";
import { BATCH_PROBABILITY, NODE_LOADS } from "../src/kernel/rx.js";
import { kernelFeatures } from "../src/kernel/version.js";
import { RACE_DEFAULTS, type RaceOptions, runRace } from "../src/experiment/race.js";
import { bareHop, calibration } from "./helpers.js";

const race = (o: Partial<RaceOptions>) => runRace({ ...RACE_DEFAULTS, kernel: "6.18", ...o });

describe("kernel: version table (features, with the commits that brought them)", () => {
  const rows: [string, string, boolean, string, boolean, number][] = [
    // version, clashResolution, sameOriginSkip, natClashEntry, clashResolveCounter, udpStreamTimeoutS
    ["4.4", "none", false, "none", false, 180],
    ["4.7", "nat-free-only", false, "none", false, 180],
    ["4.14.172", "nat-free-only", false, "none", false, 180],
    ["4.14.173", "identical", false, "none", false, 180],
    ["4.17", "nat-free-only", false, "none", false, 180],
    ["4.19", "identical", false, "none", false, 180],
    ["5.0", "identical", true, "none", false, 120],
    ["5.4", "identical", true, "none", false, 120],
    ["5.6", "identical", true, "delete-on-reply", false, 120],
    ["5.8", "identical", true, "delete-on-reply", false, 120],
    ["5.9", "identical", true, "fixed-timeout", false, 120],
    ["5.10", "identical", true, "fixed-timeout", true, 120],
    ["6.18", "identical", true, "fixed-timeout", true, 120],
  ];
  for (const [v, res, skip, nat, cr, stream_] of rows) {
    it(`kernel ${v}: clash resolution ${res}, same-origin skip ${skip}, NAT-clash entry ${nat}, clash_resolve ${cr}`, () => {
      const f = kernelFeatures(v)!;
      assert.deepEqual([f.clashResolution, f.sameOriginSkip, f.natClashEntry, f.clashResolveCounter, f.udpStreamTimeoutS], [res, skip, nat, cr, stream_]);
    });
  }
  it("ASSURED only in stream mode from 5.16 (b7b1d02fc439)", () => {
    assert.equal(kernelFeatures("5.15")!.assuredOnlyInStream, false);
    assert.equal(kernelFeatures("5.16")!.assuredOnlyInStream, true);
  });
  it("the NAT port search starts at the protocol's rover before 5.0 (6ed5943f8735), at a random offset after", () => {
    assert.equal(kernelFeatures("4.19")!.natPortRover, true);
    assert.equal(kernelFeatures("5.0")!.natPortRover, false);
  });
  it("rejects strings that are not versions", () => {
    assert.equal(kernelFeatures("latest"), null);
  });
});

describe("kernel: what happens to the loser, per version (two threads at gap 0, 4000 pairs)", () => {
  const pairs = 4000;
  it("< 4.7: every clash drops its loser; insert_failed counts it, drop does not move", () => {
    for (const endpoints of [1, 2]) {
      const r = race({ kernel: "4.4", endpoints, pairs });
      assert.ok(r.clashes > 0.95 * pairs);
      assert.equal(r.lost_pairs, r.clashes);
      assert.equal(r.insert_failed, r.clashes);
      assert.equal(r.drop, 0);
      assert.equal(r.clash_resolve, 0);
    }
  });

  it("4.7-4.18: with a nat table every clash is dropped (insert_failed++ and drop++), even to one endpoint", () => {
    for (const endpoints of [1, 2]) {
      const r = race({ kernel: "4.17", endpoints, pairs });
      assert.equal(r.lost_pairs, r.clashes);
      assert.equal(r.insert_failed, r.clashes);
      assert.equal(r.drop, r.clashes);
    }
  });

  it("4.19: identical tuples merge (race 1); a reallocated port (race 2) or another endpoint (race 3) drops", () => {
    const one = race({ kernel: "4.19", endpoints: 1, pairs });
    assert.equal(one.insert_failed, one.clashes);
    assert.ok(one.port_rewrites > 0, "race 2 happens: the null binding finds the winner's reply tuple");
    // get_unique_tuple asks nf_nat_used_tuple twice (the original tuple first, then "in range and unique").
    assert.equal(one.found, 2 * one.port_rewrites);
    assert.equal(one.drop, one.port_rewrites);
    assert.equal(one.lost_pairs, one.drop);
    assert.ok(one.lost_pairs < one.clashes, "some clashes merged");
    const two = race({ kernel: "4.19", endpoints: 2, pairs });
    assert.ok(two.lost_pairs >= two.different_endpoint_clashes);
    assert.equal(two.drop, two.lost_pairs);
  });

  it("4.19: race 2 rewrites the loser's source port from the protocol's rover (1024, as in the brb/conntrack-race logs)", () => {
    const ports: number[] = [];
    race({ kernel: "4.19", endpoints: 1, pairs: 300, trace: (e) => e.kind === "port-realloc" && ports.push(e.pkt.sport) });
    assert.ok(ports.length > 0);
    // Each loser is dropped, so 1024 stays free and the rover keeps pointing at it.
    assert.deepEqual([...new Set(ports)], [1024]);
  });

  it("5.4: race 2 is gone (same-origin skip), identical clashes merge, race 3 still drops", () => {
    const one = race({ kernel: "5.4", endpoints: 1, pairs });
    assert.equal(one.lost_pairs, 0);
    assert.equal(one.found, 0);
    assert.equal(one.insert_failed, one.clashes);
    assert.equal(one.drop, 0);
    const two = race({ kernel: "5.4", endpoints: 2, pairs });
    assert.equal(two.lost_pairs, two.different_endpoint_clashes);
    assert.equal(two.drop, two.different_endpoint_clashes);
    assert.equal(two.insert_failed, two.clashes);
  });

  it("5.7: race 3 gets a NAT-clash entry and no counter; merges still count insert_failed", () => {
    const two = race({ kernel: "5.7", endpoints: 2, pairs });
    assert.equal(two.lost_pairs, 0);
    assert.equal(two.drop, 0);
    assert.equal(two.insert_failed, two.clashes - two.different_endpoint_clashes);
    assert.equal(two.clash_resolve, 0);
  });

  for (const v of ["5.10", "6.18"]) {
    it(`${v}: every clash is resolved and counted in clash_resolve; insert_failed and drop stay 0`, () => {
      for (const endpoints of [1, 2, 3]) {
        const r = race({ kernel: v, endpoints, pairs });
        assert.equal(r.lost_pairs, 0);
        assert.equal(r.clash_resolve + r.insert_failed, r.clashes);
        assert.equal(r.insert_failed, 0);
        assert.equal(r.drop, 0);
      }
    });
  }

  it("5.9+: a reply from the second endpoint after the 1 s NAT-clash entry expired is not reverse-NATed and is lost", () => {
    const r = race({ kernel: "5.10", endpoints: 2, pairs: 500, replyDelayMs: 1500 });
    assert.ok(r.different_endpoint_clashes > 0);
    assert.equal(r.lost_pairs, r.different_endpoint_clashes);
    assert.equal(r.conservation.repliesOrphaned, r.different_endpoint_clashes);
    const quick = race({ kernel: "5.10", endpoints: 2, pairs: 500, replyDelayMs: 500 });
    assert.equal(quick.lost_pairs, 0);
  });

  it("5.6-5.8: the NAT-clash entry is deleted by its first reply, which is still reverse-NATed", () => {
    const r = race({ kernel: "5.7", endpoints: 2, pairs: 500 });
    assert.equal(r.lost_pairs, 0);
    assert.equal(r.conservation.repliesOrphaned, 0);
  });
});

describe("kernel: counter identities and packet conservation (property)", () => {
  it("every packet is forwarded or dropped in a counted clash; every forwarded query's reply is delivered or orphaned", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("4.4", "4.17", "4.19", "5.4", "5.7", "5.10", "6.18"),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: -4, max: 4 }),
        fc.constantFrom("two-threads", "sendmmsg", "two-sockets"),
        fc.constantFrom("inline", "gro-threaded"),
        fc.integer({ min: 1, max: 1000 }),
        (kernel, endpoints, gapUs, send, rx, seed) => {
          const r = race({ kernel, endpoints, gapUs, send: send as RaceOptions["send"], rx: rx as RaceOptions["rx"], seed, pairs: 200 });
          const c = r.conservation;
          assert.equal(c.sent, 2 * r.pairs);
          assert.equal(c.forwarded + c.dropped, c.sent);
          assert.equal(c.repliesDelivered + c.repliesOrphaned, c.forwarded);
          assert.equal(r.both_replied + r.lost_pairs, r.pairs);
          const f = kernelFeatures(kernel)!;
          // From 5.10 every clash moves clash_resolve or insert_failed; before, a NAT-clash insert moves nothing.
          if (f.clashResolveCounter) assert.equal(r.clash_resolve + r.insert_failed, r.clashes);
          else assert.equal(r.insert_failed + r.nat_clash_entries, r.clashes);
          if (f.clashResolution === "none") assert.equal(r.drop, 0);
          else assert.equal(r.drop, c.dropped);
          const perCpu = r.perCpu.reduce((s, x) => s + x.insert_failed, 0);
          assert.equal(perCpu, r.insert_failed);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("kernel: calibration against the real 6.18 kernel (calibration/kernel-6.18-*.json)", () => {
  const veth = calibration<{ two_threads_same_socket_simultaneous: { p_clash: Record<string, number> }; p_clash_by_gap_us: Record<string, number>; p_different_endpoint_given_clash: Record<string, number> }>("kernel-6.18-veth.json");

  it("two threads on two CPUs, one socket, same instant: about 98% of pairs clash for N = 1, 2, 3 (within 1.5 points)", () => {
    for (const N of [1, 2, 3]) {
      const r = race({ backend: "nftables", endpoints: N, pairs: 20000 });
      const measured = veth.two_threads_same_socket_simultaneous.p_clash[`N=${N}`]!;
      assert.ok(Math.abs(r.clashes / r.pairs - measured) < 0.015, `N=${N}: ${r.clashes / r.pairs} vs ${measured}`);
    }
  });

  it("given a clash, the two queries went to different endpoints in (N-1)/N of cases (within 2 points)", () => {
    for (const N of [1, 2, 3]) {
      const r = race({ backend: "nftables", endpoints: N, pairs: 20000 });
      assert.ok(Math.abs(r.different_endpoint_clashes / r.clashes - (N - 1) / N) < 0.02);
    }
  });

  // The model's window is the same in either order; the measured curve is slightly skewed
  // (0.92 at -2 us, 0.79 at +2 us), hence 10 points of tolerance on the steep part.
  it("the clash probability against the gap between the sends follows the measured curve (within 10 points), either order", () => {
    for (const [gap, measured] of Object.entries(veth.p_clash_by_gap_us)) {
      const r = race({ backend: "nftables", gapUs: Number(gap), pairs: 20000 });
      assert.ok(Math.abs(r.clashes / r.pairs - measured) < 0.1, `gap ${gap} us: ${r.clashes / r.pairs} vs ${measured}`);
    }
    assert.equal(race({ backend: "nftables", gapUs: 100, pairs: 20000 }).clashes, 0);
  });

  it("one thread: sendmmsg, and two separate sockets, never clash", () => {
    assert.equal(race({ send: "sendmmsg", pairs: 20000 }).clashes, 0);
    assert.equal(race({ send: "two-sockets", pairs: 20000 }).clashes, 0);
  });

  const ruleset = calibration<{ window_vs_ruleset: { nat_backend: string; rules_before_dns_rule: number; gap_us_at_p_clash: Record<string, number> }[]; one_thread_pairs: { load: string; steering: string; pairs: number; clashed_pairs: number }[] }>("kernel-6.18-ruleset-and-load.json");

  it("the window grows with the nat rules walked: the 50% gap within 12% of the measured one, both backends", () => {
    const measured = new Map<string, number[]>();
    for (const row of ruleset.window_vs_ruleset) {
      const k = `${row.nat_backend}/${row.rules_before_dns_rule}`;
      measured.set(k, [...(measured.get(k) ?? []), row.gap_us_at_p_clash["0.50"]!]);
    }
    for (const [k, values] of measured) {
      const [backend, rules] = k.split("/") as ["iptables-legacy" | "iptables-nft", string];
      const target = values.reduce((a, b) => a + b, 0) / values.length;
      // Bisection on the gap where P(clash) crosses 50%.
      let lo = 0;
      let hi = 400;
      for (let i = 0; i < 12; i++) {
        const mid = (lo + hi) / 2;
        const r = race({ backend, rules: Number(rules), gapUs: mid, pairs: 2000 });
        if (r.clashes / r.pairs > 0.5) lo = mid;
        else hi = mid;
      }
      const sim = (lo + hi) / 2;
      // The nft 10,000-rule runs measured 149 and 203 us: compare with the nearer one.
      const ok = values.some((v) => Math.abs(sim - v) / v < 0.12) || Math.abs(sim - target) / target < 0.12;
      assert.ok(ok, `${k}: simulated 50% at ${sim.toFixed(2)} us, measured ${values.join(", ")}`);
    }
  });

  it("one thread's pairs: no clash processed one by one (default, RPS, inline GRO); with GRO + threaded NAPI as measured per load", () => {
    const rxOf: Record<string, RaceOptions["rx"]> = { def: "inline", rps: "rps", gro: "gro", rpsgro: "rps", grothr: "gro-threaded", rpsgrothr: "rps-gro-threaded" };
    const loadOf: Record<string, RaceOptions["load"]> = { none: "idle", cpu: "cpu-bound", flood: "udp-flood", both: "cpu-bound+udp-flood", hflood: "softirq-saturated" };
    for (const row of ruleset.one_thread_pairs) {
      const r = race({ send: "sendmmsg", rx: rxOf[row.steering]!, load: loadOf[row.load]!, pairs: 10000 });
      const measured = row.clashed_pairs / row.pairs;
      assert.ok(Math.abs(r.clashes / r.pairs - measured) < 0.02, `${row.load}/${row.steering}: ${r.clashes / r.pairs} vs ${measured}`);
    }
    assert.equal(NODE_LOADS.length, Object.keys(BATCH_PROBABILITY).length);
  });
});

describe("kernel: kube-proxy's KUBE-SVC chain (proxier.go writeServiceToEndpointRules)", () => {
  it("writes probabilities 1/n, 1/(n-1), ..., 1/2 as xt_statistic thresholds, then a catch-all", () => {
    assert.deepEqual(statisticThresholds(1), []);
    assert.deepEqual(statisticThresholds(2), [0x40000000]);
    assert.deepEqual(statisticThresholds(3), [Math.round(0x80000000 * 0.3333333333), 0x40000000]);
  });

  it("gives each endpoint a share of 1/n", () => {
    const rng = stream(5, "dnat");
    for (const n of [2, 3, 5]) {
      const th = statisticThresholds(n);
      const counts = new Array<number>(n).fill(0);
      for (let i = 0; i < 60000; i++) counts[walkServiceChain(th, rng)]!++;
      for (const c of counts) assert.ok(Math.abs(c / 60000 - 1 / n) < 0.01);
    }
  });
});

describe("kernel: TCP has no clash resolution", () => {
  it("two SYNs of one tuple that clash: the second is dropped even on 6.18 (no allow_clash for TCP)", async () => {
    const { Simulator } = await import("../src/engine/sim.js");
    const { makePacket } = await import("../src/net/packet.js");
    const sim = new Simulator();
    const forwarded: number[] = [];
    const net = bareHop(sim, kernelFeatures("6.18")!, 1, (p) => forwarded.push(p.uid));
    // Two threads on two CPUs send a SYN with the same tuple at the same instant.
    net.ingress([makePacket(1, "tcp", 0, 40000, 1, 53, null, "SYN", null, 0)], 0);
    net.ingress([makePacket(2, "tcp", 0, 40000, 1, 53, null, "SYN", null, 0)], 1);
    sim.run();
    assert.equal(net.stats.clashes, 1);
    assert.equal(net.stats.droppedClash, 1);
    assert.equal(forwarded.length, 1);
    assert.deepEqual([net.counters.sum().insert_failed, net.counters.sum().drop, net.counters.sum().clash_resolve], [1, 1, 0]);
  });
});
