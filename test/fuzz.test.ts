import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { parse, stringify } from "yaml";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { scenarioPath } from "./helpers.js";

/** The bundled scenario files (comparison and sweep files have base and variants or grid). */
const SCENARIOS = readdirSync(scenarioPath("."))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => ({ file: f, data: parse(readFileSync(scenarioPath(f), "utf8")) as unknown }))
  .filter((s) => typeof s.data === "object" && s.data !== null && !("base" in s.data))
  .map((s) => ({ ...s, data: small(s.data as { pods: Record<string, unknown>[] }) }));

/** The scenario with a small workload (a few lookups per pod), so that an accepted mutation can be run. */
function small(d: { pods: Record<string, unknown>[] }): unknown {
  const c = structuredClone(d);
  for (const p of c.pods) {
    if (p["lookups"] !== undefined) p["lookups"] = 12;
    else p["duration_s"] = 12 / Number(p["rate_per_s"]);
  }
  return c;
}

/** Lookups a loaded scenario asks for. */
function asked(pods: { lookups?: number | undefined; rate_per_s?: number | undefined; duration_s?: number | undefined }[]): number {
  return pods.reduce((a, p) => a + (p.lookups ?? p.rate_per_s! * p.duration_s!), 0);
}

type Path = (string | number)[];

/** Every path to a value in the data, the containers included. */
function paths(v: unknown, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

function setAt(data: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(data) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

/** Values at the edges: numbers too large for the clock, not whole, negative; junk strings; wrong types; removal. */
const EXTREME = fc.oneof(
  fc.constantFrom(0, -1, 0.5, 1e308, -1e308, 2 ** 53 - 1, 2 ** 53 + 2, 1e9, 1e15, Number.MIN_VALUE, 4294967296, 65536),
  fc.double({ noNaN: true }),
  fc.integer(),
  fc.constantFrom("", "0.0", "999.999", "4.14.999999999999999999", "-a", "\u0000", "x".repeat(300), "*.*", "nameserver 1.2.3.4\n".repeat(4), "options ndots:99999999999"),
  fc.string({ maxLength: 20 }),
  fc.constantFrom(null, true, [], {}, [1, 2], { fixed: 1e308 }, { exponential: { mean: 1e9 } }, undefined),
);

describe("fuzz: a mutated bundled scenario is accepted, or refused with a located InputError", () => {
  // FUZZ_RUNS and FUZZ_SEED make a longer run (README, Development).
  it("one or two fields of a bundled scenario set to extreme values or junk: accepted and run to its end, or an InputError naming the file and the line or field", function () {
    this.timeout(20_000);
    const cases = fc.tuple(fc.nat(SCENARIOS.length - 1), fc.nat(), EXTREME, fc.nat(), EXTREME);
    fc.assert(
      fc.property(cases, ([si, pi, v1, pj, v2]) => {
        const s = SCENARIOS[si]!;
        const all = paths(s.data);
        let data = setAt(s.data, all[pi % all.length]!, v1);
        // Sometimes a second field too, of the mutated data.
        if (pj % 3 === 0) {
          const more = paths(data);
          data = setAt(data, more[pj % more.length]!, v2);
        }
        const text = stringify(data ?? null);
        let loaded;
        try {
          loaded = loadScenarioText(text, "fuzz.yaml");
        } catch (e) {
          if (!(e instanceof InputError)) throw new Error(`${s.file} mutated: not an InputError: ${String(e)}\n${text}`);
          assert.match(e.message, /^fuzz\.yaml: /);
          // Located: a line, or the field named.
          assert.match(e.message, /line \d+|field "|fuzz\.yaml: a scenario is/, e.message);
          assert.doesNotMatch(e.message, /\n\s+at /, "no stack trace");
          return;
        }
        // Accepted: it runs to its end, every lookup it asked for a row (small ones only: the suite's time).
        const n = asked(loaded.scenario.pods);
        if (n > 200) return;
        const res = runScenario(loaded);
        if (loaded.scenario.pods.every((p) => p.lookups !== undefined)) assert.equal(res.log.count, n, text);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1000), ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : { seed: 11 }) },
    );
  });
});
