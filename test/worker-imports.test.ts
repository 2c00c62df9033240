import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ROOT } from "./helpers.js";

/** The packages a compiled module loads, through its static imports and theirs. */
function packagesLoaded(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) walk(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  };
  walk(entry);
  return packages;
}

describe("parallel: a worker thread starts on the model alone", () => {
  it("the worker loads neither the scenario validator (zod) nor the YAML parser: every worker pays for what it loads, the main thread already checked the files", () => {
    const loaded = packagesLoaded(join(ROOT, "dist/src/cli/worker.js"));
    assert.ok(loaded.has("seedrandom"), "the walk follows the worker's imports into the model");
    assert.ok(!loaded.has("zod") && !loaded.has("yaml"), `the worker loads ${[...loaded].join(", ")}`);
  });
});
