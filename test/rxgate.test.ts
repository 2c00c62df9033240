import assert from "node:assert/strict";
import { raceOptions } from "../src/cli/race.js";
import { RX_MODES, rxProblem } from "../src/kernel/rx.js";
import { kernelFeatures } from "../src/kernel/version.js";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { inputError } from "./helpers.js";

const scenario = (kernel: string, node: string, endpointNodes = "") => `name: t
description: a receive path on a kernel
kernel: "${kernel}"
node:
${node}kube_dns:
  endpoints: 2
  placement: remote
  records: [redis.shop.svc.cluster.local]
${endpointNodes}pods:
  - { name: a, libc: glibc, lookups: 1, names: [{ name: redis.shop.svc.cluster.local., weight: 1 }], resolv_conf: "nameserver 10.96.0.10\\n" }
`;

describe("rx: a receive path only on the kernels that have it (rxProblem)", () => {
  it("inline and rps on every kernel; gro from 5.13 (veth GRO without XDP, d3256efd8e8b); gro-threaded from 5.13 (threaded NAPI 5.12 too)", () => {
    const ok = (mode: (typeof RX_MODES)[number], v: string) => rxProblem(mode, kernelFeatures(v)!) === null;
    for (const v of ["3.10", "4.4", "5.4", "6.18"]) assert.ok(ok("inline", v) && ok("rps", v), v);
    assert.deepEqual(["5.4", "5.12", "5.13", "6.1"].map((v) => ok("gro", v)), [false, false, true, true]);
    assert.deepEqual(["5.4", "5.12", "5.13", "6.1"].map((v) => ok("gro-threaded", v)), [false, false, true, true]);
    assert.match(rxProblem("gro-threaded", kernelFeatures("5.12")!)!, /needs GRO on a veth without an XDP program \(5\.13, d3256efd8e8b\), which kernel 5\.12 does not have; the first kernel with it is 5\.13/);
  });

  it("a scenario with gro-threaded on 5.4 is refused, naming node.rx, its line and the first kernel that has it", () => {
    assert.match(
      inputError(scenario("5.4", "  rx: gro-threaded\n")),
      /^bad\.yaml: line 5: field "node\.rx": gro-threaded needs GRO on a veth without an XDP program \(5\.13, d3256efd8e8b\) and threaded NAPI \(5\.12, 5fdd2f0e5c64\), which kernel 5\.4 does not have; the first kernel with both is 5\.13\. Use rx: inline/,
    );
  });

  it("the endpoints' nodes too: their rx against their kernel (endpoint_nodes.kernel, or the scenario's)", () => {
    assert.match(inputError(scenario("5.15", "  rx: inline\n", "endpoint_nodes:\n  kernel: \"5.4\"\n  rx: gro\n")), /field "endpoint_nodes\.rx": the endpoints' nodes: gro needs GRO on a veth .*kernel 5\.4/);
    assert.match(inputError(scenario("6.1", "  rx: gro-threaded\n", "endpoint_nodes:\n  kernel: \"5.10\"\n")), /field "endpoint_nodes\.kernel": the endpoints' nodes: gro-threaded needs/);
    assert.doesNotThrow(() => loadScenarioText(scenario("5.15", "  rx: gro-threaded\n", "endpoint_nodes:\n  rx: gro-threaded\n"), "ok.yaml"));
  });

  it("dnsrace race --rx gro-threaded needs --kernel 5.13 or later", () => {
    const args = { kernel: "5.4", rx: "gro-threaded", json: false } as Parameters<typeof raceOptions>[0];
    assert.throws(() => raceOptions(args), (e: unknown) => e instanceof InputError && /^--rx gro-threaded: gro-threaded needs .* kernel 5\.4 does not have; the first kernel with both is 5\.13; give --kernel 5\.13 or later\.$/.test(e.message));
    assert.equal(raceOptions({ ...args, kernel: "5.15" }).rx, "gro-threaded");
  });
});

describe("kernel_features: a vendor's backport declared in the scenario, on the feature table", () => {
  const withFeatures = (kernel: string, features: string, node = "  rx: inline\n") => scenario(kernel, node).replace(`kernel: "${kernel}"\n`, `kernel: "${kernel}"\nkernel_features:\n${features}`);

  it("a receive path a kernel's version lacks is accepted once the scenario declares the backport that brings it", () => {
    assert.throws(() => loadScenarioText(scenario("5.10", "  rx: gro-threaded\n"), "t.yaml"), InputError);
    const l = loadScenarioText(withFeatures("5.10", "  threaded_napi: true\n  veth_gro: true\n", "  rx: gro-threaded\n"), "t.yaml");
    assert.equal(l.kernel.threadedNapi, true);
    assert.equal(l.kernel.vethGro, true);
    assert.equal(l.kernel.version, "5.10");
    assert.match(l.kernel.note!, /declared by the scenario \(kernel_features\), not 5\.10's own: threaded_napi: true, veth_gro: true/);
  });

  it("a RHEL 4.18 kernel declared with the clash-resolution backports runs with them: its pairs' identical clashes merge instead of dropping", () => {
    const rhel = "4.18.0-553.el8_10.x86_64";
    const plain = loadScenarioText(scenario(rhel, "  rx: inline\n"), "t.yaml").kernel;
    assert.equal(plain.clashResolution, "nat-free-only");
    const declared = loadScenarioText(withFeatures(rhel, "  clash_resolution: identical\n  same_origin_skip: true\n"), "t.yaml").kernel;
    assert.equal(declared.clashResolution, "identical");
    assert.equal(declared.sameOriginSkip, true);
    assert.match(declared.note!, /^4\.18\.0-553\.el8_10\.x86_64 read as upstream 4\.18: RHEL .*; declared by the scenario \(kernel_features\), not 4\.18's own: clash_resolution: identical, same_origin_skip: true$/);
    // One endpoint (no race 3) and a thread split every time: plain 4.18 drops its race-1 and race-2 losers, the declared one loses none.
    const run = (text: string) => {
      const r = runScenario(loadScenarioText(text.replace("endpoints: 2", "endpoints: 1").replace("lookups: 1,", "lookups: 200,").replace("  placement: remote\n", ""), "t.yaml"));
      return r.client.counters;
    };
    const node = "  rx: inline\n  migration_probability: 1\n";
    const before = run(scenario(rhel, node));
    const after = run(withFeatures(rhel, "  clash_resolution: identical\n  same_origin_skip: true\n", node));
    assert.ok(before.drop > 0, `plain 4.18 drops ${before.drop}`);
    assert.equal(after.drop, 0);
    assert.ok(after.insert_failed > 0, "the merges are counted in insert_failed before 5.10");
  });

  it("the endpoints' nodes take the client node's declared features with its kernel, or their own with their own kernel", () => {
    const l = loadScenarioText(withFeatures("5.10", "  ksoftirqd_defers: false\n"), "t.yaml");
    assert.equal(l.kernel.ksoftirqdDefers, false);
    assert.equal(l.endpointKernel.ksoftirqdDefers, false);
    const own = loadScenarioText(scenario("5.10", "  rx: inline\n", 'endpoint_nodes:\n  kernel: "5.4"\n  kernel_features: { gro_normal_list: true }\n'), "t.yaml");
    assert.equal(own.endpointKernel.version, "5.4");
    assert.equal(own.endpointKernel.groNormalList, true);
    assert.equal(own.kernel.groNormalList, true, "5.10 has it anyway");
  });

  it("kernel_features: an unknown feature or a value the table does not use is refused, naming the field", () => {
    assert.match(inputError(withFeatures("5.4", "  threaded: true\n")), /unknown field "kernel_features\.threaded" in "kernel_features" \(allowed: clash_resolution, /);
    assert.match(inputError(withFeatures("5.4", "  clash_resolution: merge\n")), /field "kernel_features\.clash_resolution": expected one of none, nat-free-only, identical, found "merge"/);
    assert.match(inputError(withFeatures("5.4", "  udp_stream_timeout_s: 60\n")), /field "kernel_features\.udp_stream_timeout_s": expected 120 \(5\.0 and later\) or 180/);
  });
});
