import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { scenarioPath } from "./helpers.js";

const nodelocal = (kernel: string) => runScenario(loadScenarioText(readFileSync(scenarioPath("nodelocal.yaml"), "utf8").replace(/^kernel: .*$/m, `kernel: "${kernel}"`), "t.yaml"));

describe("counters: ignore (untracked packets, before 5.10)", () => {
  it("5.4: every NOTRACKed packet moves ignore (the pod's query and the cache's answer)", () => {
    const r = nodelocal("5.4");
    assert.ok(r.hop.untracked > 0);
    assert.ok(r.hop.untrackedReplies > 0);
    assert.equal(r.counters.ignore, r.hop.untracked + r.hop.untrackedReplies);
  });

  it("5.10 and later: ignore no longer counts (\"netfilter: conntrack: remove ignore stats\")", () => {
    assert.equal(nodelocal("5.10").counters.ignore, 0);
  });
});
