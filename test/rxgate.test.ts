import assert from "node:assert/strict";
import { raceOptions } from "../src/cli/race.js";
import { RX_MODES, rxProblem } from "../src/kernel/rx.js";
import { kernelFeatures } from "../src/kernel/version.js";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
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
