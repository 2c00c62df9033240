import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { summarize } from "../src/stats/summary.js";
import { loadScenarioFile } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { ROOT } from "./helpers.js";

const step = (name: string) => summarize(runScenario(loadScenarioFile(join(ROOT, "scenarios/tutorial", name))));

describe("tutorial: each step shows what its description says", () => {
  it("the steps are numbered 01, 02, ... with no gap", () => {
    const files = readdirSync(join(ROOT, "scenarios/tutorial")).filter((f) => f.endsWith(".yaml")).sort();
    files.forEach((f, i) => assert.ok(f.startsWith(String(i + 1).padStart(2, "0") + "-"), f));
  });

  it("01: the pair races and 5.10 resolves the clash, so the lookup is fast", () => {
    const s = step("01-the-race.yaml");
    assert.equal(s.clashes, 1);
    assert.equal(s.clash_resolve, 1);
    assert.equal(s.drop, 0);
    assert.ok(s.max_ms < 1);
  });

  it("02: on 5.4 the AAAA is dropped and glibc takes 5 s; 03: musl takes 2.5 s", () => {
    const g = step("02-glibc-5s.yaml");
    assert.equal(g.drop, 1);
    assert.ok(g.max_ms >= 5000 && g.max_ms < 5001, String(g.max_ms));
    const m = step("03-musl-2500ms.yaml");
    assert.equal(m.drop, 1);
    assert.ok(m.max_ms >= 2500 && m.max_ms < 2501, String(m.max_ms));
  });

  it("04-07: the node that overlaps 1 pair in 100 loses lookups to 5 s (about 1 in 60 to 1 in 150); 5.10 and NodeLocal DNSCache none; ndots:2 fewer but not none", () => {
    const busy = step("04-busy-node.yaml");
    const k510 = step("05-kernel-5.10.yaml");
    const nl = step("06-nodelocal.yaml");
    const ndots = step("07-ndots.yaml");
    assert.ok(busy.share_ge_5s > 0.005 && busy.share_ge_5s < 0.03, String(busy.share_ge_5s));
    assert.ok(k510.clashes > 0 && k510.share_over_1s === 0 && k510.insert_failed === 0);
    assert.ok(nl.clashes === 0 && nl.share_over_1s === 0);
    assert.ok(ndots.share_over_1s > 0 && ndots.share_over_1s < busy.share_over_1s);
  });

  it("08: the tc delay at the pod's eth0 removes the clashes and costs its 4 ms at the median", () => {
    const busy = step("04-busy-node.yaml");
    const tc = step("08-tc-delay.yaml");
    assert.equal(tc.clashes, 0);
    assert.equal(tc.share_over_1s, 0);
    assert.ok(tc.p50_ms - busy.p50_ms > 3.5 && tc.p50_ms - busy.p50_ms < 4.5, `${busy.p50_ms} -> ${tc.p50_ms}`);
  });
});
