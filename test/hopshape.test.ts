import assert from "node:assert/strict";
import { type NetnsConfig, settledConfig } from "../src/kernel/hop.js";
import { withDeclared, kernelFeatures } from "../src/kernel/version.js";
import { type NodeSpec, nodeHopConfig } from "../src/model/node.js";

/** The objects settledConfig builds (the others, a masquerade or a table limit, may be null). */
const SETTLED = new Set(["", "features.", "rx.", "rx.nic.", "timing.", "send."]);

/** Every key of the configuration and of the objects it settles, in order (a hidden class's layout, as far as JavaScript shows it). */
function layout(x: unknown, path = ""): string[] {
  if (!SETTLED.has(path) || x === null || typeof x !== "object") return [];
  return Object.entries(x as Record<string, unknown>).flatMap(([k, v]) => [`${path}${k}`, ...layout(v, `${path}${k}.`)]);
}

const spec = (o: Partial<NodeSpec>): NodeSpec => ({ name: "node", cpus: 2, kernel: kernelFeatures("6.18")!, backend: "nftables", rx: "inline", load: "idle", proxyMode: "iptables", rules: 0, conntrackMax: null, ...o });
const full = (hop: ReturnType<typeof nodeHopConfig>, o: Partial<NetnsConfig> = {}): NetnsConfig => ({ ...hop, services: [], notrack: new Set(), masquerade: null, ...o });

describe("kernel: a hop's configuration has one layout, whatever built it (hop.ts settledConfig)", () => {
  // The client node with IPVS, a loaded endpoint node without a masquerade field, a 4.19 kernel with
  // declared features, other flows and a table limit: objects that differ in their optional fields.
  const given: NetnsConfig[] = [
    full(nodeHopConfig(spec({}))),
    full(nodeHopConfig(spec({ proxyMode: "ipvs", softirqShare: 0.3, runnablePerCpu: 1 })), { masquerade: { addr: 7, randomFully: true } }),
    (({ masquerade: _m, ...rest }) => rest as NetnsConfig)(full(nodeHopConfig(spec({ kernel: withDeclared(kernelFeatures("4.19")!, { same_origin_skip: true }), otherConnectionsPerS: 50, conntrackMax: 1000, hopTiming: { hitNs: 900.5 } })))),
  ];
  it("settled configurations of differently built hops have the same keys in the same order, at every level", () => {
    const layouts = given.map((c) => layout(settledConfig(c)));
    assert.ok(layouts[0]!.includes("features.clashResolution") && layouts[0]!.includes("rx.nic.groNormalBatch") && layouts[0]!.includes("ipvs"));
    for (const l of layouts.slice(1)) assert.deepEqual(l, layouts[0]);
    // The inputs themselves differ (which is what the settling is for).
    assert.notDeepEqual(layout(given[0]), layout(given[1]));
  });
  it("settling changes no value: absent optional fields read as null, every other one is the given one", () => {
    for (const c of given) {
      const s = settledConfig(c);
      assert.deepEqual(s, { ...c, ipvs: c.ipvs ?? null, masquerade: c.masquerade ?? null, otherFlows: c.otherFlows ?? null });
      assert.equal(s.timing.window, c.timing.window);
      assert.equal(s.rx.softirq, c.rx.softirq);
    }
  });
});
