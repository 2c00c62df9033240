import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { estimatedQueries } from "../src/compare/cost.js";
import { checkReplications } from "../src/compare/run.js";
import { loadComparison, loadSweep } from "../src/compare/spec.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { inputError, scenarioPath } from "./helpers.js";

const SCN = (search: string, names: string, family = "unspec") => `name: q
description: queries
kernel: "5.4"
kube_dns: { endpoints: 2 }
pods:
  - name: app
    libc: glibc
    family: ${family}
    lookups: 10
    names: ${names}
    resolv_conf: |
      search ${search}
      nameserver 10.96.0.10
`;

describe("comparisons and sweeps: the queries they would simulate are bounded", () => {
  it("a lookup may send A and AAAA for each name of its search walk; a trailing dot asks once; inet asks A only", () => {
    assert.equal(estimatedQueries(loadScenarioText(SCN("a.svc b.svc c.svc", "[redis]"), "q.yaml")), 10 * 4 * 2);
    assert.equal(estimatedQueries(loadScenarioText(SCN("a.svc b.svc c.svc", "[redis., api.example.com.]"), "q.yaml")), 10 * 1 * 2);
    assert.equal(estimatedQueries(loadScenarioText(SCN("a.svc b.svc c.svc", "[redis., api]", "inet"), "q.yaml")), 10 * 4);
  });

  it("10,000 search domains in a comparison's base are refused before anything runs, with the estimate (they used to run for minutes)", () => {
    const text = readFileSync(scenarioPath("mitigations.yaml"), "utf8").replace(
      "        search shop.svc.cluster.local svc.cluster.local cluster.local",
      `        search ${Array.from({ length: 10_000 }, (_, i) => `d${i}.example.com`).join(" ")}`,
    );
    const c = loadComparisonText(text);
    const msg = inputError(() => checkReplications("m.yaml", c.variants.map((v) => v.loaded), 5, "variants", "the file's seeds"));
    assert.match(msg, /^m\.yaml: 5 seeds \(the file's seeds\) of 21 variants may send up to 4\.\d\de\+9 queries in all \(each lookup walks its pod's search list, 10000 domains at most, A and AAAA for each\), more than the 100,000,000/);
  });

  it("the bundled comparison and sweep are well within the bound", () => {
    const c = loadComparison(scenarioPath("mitigations.yaml"));
    assert.doesNotThrow(() => checkReplications("m.yaml", c.variants.map((v) => v.loaded), c.seeds, "variants", "the file's seeds"));
    const s = loadSweep(scenarioPath("sweep-endpoints.yaml"));
    assert.doesNotThrow(() => checkReplications("s.yaml", s.points.map((p) => p.loaded), s.seeds, "grid points", "the file's seeds"));
  });
});

function loadComparisonText(text: string) {
  const file = join(mkdtempSync(join(tmpdir(), "dnsrace-cost-")), "m.yaml");
  writeFileSync(file, text);
  return loadComparison(file);
}

describe("a run: the queries it would simulate are bounded too (scenario/cost.ts)", () => {
  it("10,000 search domains and 20,000 lookups in one run are refused before it starts, naming the pod and the estimate", () => {
    const text = SCN(Array.from({ length: 10_000 }, (_, i) => `d${i}.example.com`).join(" "), "[redis]").replace("lookups: 10", "lookups: 20000");
    assert.match(inputError(text), /^bad\.yaml: line 6: field "pods\[0\]": the run may send up to 4\.00e\+8 queries \(each lookup walks its pod's search list, A and AAAA for each name; pod app: 4\.00e\+8, 10000 search domains\), more than the 200,000,000 a run simulates/);
    // The same list with absolute names asks each name once: it runs.
    assert.doesNotThrow(() => loadScenarioText(text.replace("names: [redis]", "names: [redis.]"), "q.yaml"));
  });

  it("the largest run the bench makes (10,000,000 lookups walking the usual three search domains) stays under the bound", () => {
    const text = readFileSync(join(import.meta.dirname, "../../bench/model.yaml"), "utf8").replaceAll("lookups: 150000", "lookups: 5000000");
    assert.ok(estimatedQueries(loadScenarioText(text, "model.yaml")) <= 200_000_000);
  });
});
