import assert from "node:assert/strict";
import fc from "fast-check";
import { parse } from "yaml";
import { assess } from "../src/assess/assess.js";
import { readObjects } from "../src/assess/objects.js";
import { InputError } from "../src/scenario/load.js";
import { dump } from "./assess-helpers.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path into a value (objects and lists), to depth 8. */
function paths(v: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (prefix.length > 8 || v === null || typeof v !== "object") return out;
  const entries: [string | number, Json][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  for (const [k, x] of entries) {
    out.push([...prefix, k]);
    paths(x, [...prefix, k], out);
  }
  return out;
}

const JUNK: (Json | undefined)[] = [undefined, null, 7, "x", [], {}, true, "5.4", [1, "a"]];

describe("assess: a dump with any one field removed or of the wrong type is assessed or refused with a located error", () => {
  for (const name of ["eks.json", "gke-nodelocal.json", "kops-old.json", "mid-upgrade.yaml"]) {
    it(`${name}: 25 cases (fast-check, fixed seed)`, () => {
      const base = (name.endsWith(".yaml") ? parse(dump(name)) : JSON.parse(dump(name))) as Json;
      const all = paths(base);
      fc.assert(
        fc.property(fc.nat({ max: all.length - 1 }), fc.nat({ max: JUNK.length - 1 }), (pi, ji) => {
          const d = structuredClone(base) as { [k: string]: Json };
          const path = all[pi]!;
          let parent: Json = d;
          for (const k of path.slice(0, -1)) parent = (parent as { [k: string]: Json })[k as string]!;
          const last = path[path.length - 1]!;
          const junk = JUNK[ji];
          if (junk === undefined) {
            if (Array.isArray(parent)) parent.splice(last as number, 1);
            else delete (parent as { [k: string]: Json })[last as string];
          } else (parent as { [k: string]: Json })[last as string] = junk;
          try {
            const a = assess(readObjects([{ name: "dump.json", text: JSON.stringify(d) }]), null, [], { lookups: 100, seed: 1 });
            assert.ok(a.rows.every((r) => r.id.length > 0));
          } catch (e) {
            assert.ok(e instanceof InputError, `${path.join(".")} = ${JSON.stringify(junk)}: ${String((e as Error).stack)}`);
            assert.match(e.message, /^dump\.json[: ]/, `names the file: ${e.message}`);
          }
        }),
        { numRuns: Number(process.env.FUZZ_RUNS ?? 25), seed: Number(process.env.FUZZ_SEED ?? 20261204) },
      );
    });
  }
});
