import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { parse, stringify } from "yaml";
import { lookupOutput } from "../src/cli/lookup.js";
import { type RaceArgs, raceOptions } from "../src/cli/race.js";
import { loadComparison, loadSweep } from "../src/compare/spec.js";
import { runRace } from "../src/experiment/race.js";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { ROOT, scenarioPath } from "./helpers.js";

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

/** Runs per property: FUZZ_RUNS scales them all (1000 is the suite's; README, Development). */
const runs = (share: number) => Math.max(10, Math.round((Number(process.env.FUZZ_RUNS ?? 1000) * share) / 1000));
const fuzzSeed = (n: number) => (process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) + n : 11 + n);

/** A refusal as the project promises it: an InputError, located, without a stack trace. */
function assertLocated(e: unknown, file: RegExp, what: string): void {
  if (!(e instanceof InputError)) throw new Error(`${what}: not an InputError: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  assert.match(e.message, file, e.message);
  assert.doesNotMatch(e.message, /\n\s+at /, "no stack trace");
}

/** A comparison or sweep file with a small base workload, as parsed data. */
function smallFile(name: string): Record<string, unknown> {
  const d = parse(readFileSync(scenarioPath(name), "utf8")) as { base: { pods: Record<string, unknown>[] } };
  d.base = small(d.base) as typeof d.base;
  return d as unknown as Record<string, unknown>;
}

function mutate(data: unknown, pi: number, v1: unknown, pj: number, v2: unknown): unknown {
  const all = paths(data);
  let out = setAt(data, all[pi % all.length]!, v1);
  if (pj % 3 === 0) {
    const more = paths(out);
    out = setAt(out, more[pj % more.length]!, v2);
  }
  return out;
}

describe("fuzz: mutated comparison and sweep files, resolv.conf texts and flags", () => {
  const dir = mkdtempSync(join(tmpdir(), "dnsrace-fuzz-"));
  const file = join(dir, "fuzz.yaml");

  it("a bundled comparison or sweep with one or two fields set to extremes or junk: loaded (every variant or grid point a valid scenario), or refused with a located InputError", function () {
    this.timeout(60_000);
    const files = [
      { data: smallFile("mitigations.yaml"), load: (f: string) => loadComparison(f).variants.map((v) => v.loaded) },
      { data: smallFile("sweep-endpoints.yaml"), load: (f: string) => loadSweep(f).points.map((p) => p.loaded) },
    ];
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(fc.tuple(fc.nat(1), fc.nat(), EXTREME, fc.nat(), EXTREME), ([fi, pi, v1, pj, v2]) => {
        const text = stringify(mutate(files[fi]!.data, pi, v1, pj, v2) ?? null);
        writeFileSync(file, text);
        let loaded;
        try {
          loaded = files[fi]!.load(file);
        } catch (e) {
          assertLocated(e, /^\S*fuzz\.yaml: /, text);
          assert.match((e as Error).message, /line \d+|field "|grid parameter|variant|a (comparison|sweep) file is|this is a/, (e as Error).message);
          seen.refused++;
          return;
        }
        seen.accepted++;
        // Accepted: the first run of it goes to its end (small ones only: the suite's time).
        const first = loaded[0]!;
        if (asked(first.scenario.pods) <= 200) runScenario(first);
      }),
      { numRuns: runs(200), seed: fuzzSeed(1) },
    );
    assert.ok(seen.accepted > 0 && seen.refused > 0, JSON.stringify(seen));
  });

  /** resolv.conf lines: directives the libcs read, with junk and extreme values. */
  const RC_LINE = fc.oneof(
    fc.constantFrom("nameserver 10.96.0.10", "nameserver ::1", "nameserver 300.1.1.1", "nameserver", "search", "domain x", "search a.svc b.svc", "options", "# comment", "; comment", ""),
    fc.tuple(fc.constantFrom("options ", "search ", "nameserver ", "domain ", ""), fc.constantFrom("ndots:", "timeout:", "attempts:", "single-request-reopen", "use-vc", "edns0", "rotate", "inet6", "trust-ad", "no-aaaa", "x:"), fc.oneof(fc.constantFrom("", "0", "-1", "1e308", "99999999999999999999", "2.5", "x"), fc.nat().map(String))).map(([a, b, c]) => `${a}${b}${c}`),
    fc.string({ maxLength: 40 }),
    fc.constant("search " + "d.example.com ".repeat(40)),
  );

  it("a resolv.conf of random lines, for each libc in dnsrace lookup and in a scenario pod: looked up to its end, or a located InputError", function () {
    this.timeout(60_000);
    const base = parse(readFileSync(scenarioPath("repro-glibc-5s.yaml"), "utf8")) as { pods: Record<string, unknown>[] };
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(fc.array(RC_LINE, { maxLength: 8 }), fc.constantFrom("glibc", "musl", "go"), fc.constantFrom("redis", "api.example.com", "redis.", "a.b.c.d.e"), (lines, libc, name) => {
        const rc = `${lines.join("\n")}\n`;
        try {
          lookupOutput({ name, libc, resolvConf: undefined, family: "unspec", rule: undefined, rttMs: "0.1", maxMs: "60000", json: true }, { text: rc, source: "fuzz.conf" });
          seen.accepted++;
        } catch (e) {
          assertLocated(e, /fuzz\.conf|--|resolv\.conf/, rc);
          seen.refused++;
        }
        const pods = base.pods.map((p) => ({ ...p, libc, resolv_conf: rc, names: [name] }));
        const text = stringify({ ...base, pods });
        try {
          runScenario(loadScenarioText(text, "fuzz.yaml"));
        } catch (e) {
          assertLocated(e, /^fuzz\.yaml: /, text);
          assert.match((e as Error).message, /line \d+|field "/, (e as Error).message);
        }
      }),
      { numRuns: runs(300), seed: fuzzSeed(2) },
    );
    assert.ok(seen.accepted > 0 && seen.refused > 0, JSON.stringify(seen));
  });

  /** A flag's text: numbers at the edges, not numbers, the values of other flags. */
  const FLAG_TEXT = fc.oneof(
    fc.constantFrom("0", "-1", "1", "2", "0.5", "1e308", "9007199254740993", "NaN", "Infinity", "", " ", "abc", "5.4", "5.4.0-1103-aws", "999.999", "two-sends", "gro", "ipvs", "plain"),
    fc.integer().map(String),
    fc.double({ noNaN: true }).map(String),
    fc.string({ maxLength: 10 }),
  );
  const RACE_FLAGS = ["kernel", "endpoints", "gapUs", "send", "pairs", "rulesBeforeDns", "natBackend", "rx", "load", "cpus", "seed", "proxyMode", "ipvsScheduleNs", "softirqShare", "runnablePerCpu"] as const;
  /** A value each flag takes, so that a mutation of the other one is sometimes the only one. */
  const VALID: Record<(typeof RACE_FLAGS)[number], string> = {
    kernel: "5.10.205-195.807.amzn2.x86_64",
    endpoints: "3",
    gapUs: "-20",
    send: "two-sends",
    pairs: "30",
    rulesBeforeDns: "100",
    natBackend: "iptables-legacy",
    rx: "gro",
    load: "cpu-bound",
    cpus: "4",
    seed: "9007199254740991",
    proxyMode: "ipvs",
    ipvsScheduleNs: "0",
    softirqShare: "0.5",
    runnablePerCpu: "2",
  };
  const RACE_VALUE = fc.oneof(FLAG_TEXT, fc.constant(null));

  it("race and lookup flags set to junk or extremes: run, or refused with an InputError naming the flag", function () {
    this.timeout(60_000);
    const race = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(fc.constantFrom(...RACE_FLAGS), RACE_VALUE, fc.constantFrom(...RACE_FLAGS), RACE_VALUE, (f1, v1, f2, v2) => {
        // null: the flag's valid value (the other one alone is then what is tried).
        const args = { json: true, pairs: "50", [f1]: v1 ?? VALID[f1], ...(f1 !== f2 ? { [f2]: v2 ?? VALID[f2] } : {}) } as unknown as RaceArgs;
        let opts;
        try {
          opts = raceOptions(args);
        } catch (e) {
          assertLocated(e, /^--[a-z-]+/, JSON.stringify(args));
          race.refused++;
          return;
        }
        race.accepted++;
        if (opts.pairs <= 200) runRace(opts);
      }),
      { numRuns: runs(200), seed: fuzzSeed(3) },
    );
    assert.ok(race.accepted > 0 && race.refused > 0, JSON.stringify(race));
    fc.assert(
      fc.property(fc.constantFrom("rttMs", "maxMs", "family", "rule", "libc", "muslVersion"), FLAG_TEXT, (flag, v) => {
        const args = { name: "redis", libc: "glibc", resolvConf: undefined, family: "unspec", rule: undefined, rttMs: "0.1", maxMs: "60000", json: true, [flag]: v };
        try {
          lookupOutput(args, { text: "nameserver 10.96.0.10\n", source: "default" });
        } catch (e) {
          assertLocated(e, /^--[a-z-]+|^--/, JSON.stringify(args));
        }
      }),
      { numRuns: runs(100), seed: fuzzSeed(4) },
    );
  });

  it("the command line itself: random flags and values on each command exit 0 or 2, never 1 and never a stack trace", function () {
    this.timeout(120_000);
    const cmd = (argv: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...argv], { encoding: "utf8", cwd: dir });
    fc.assert(
      fc.property(
        fc.constantFrom<string[]>(["race", "--pairs", "20"], ["lookup", "redis", "--libc", "musl"], ["trace", scenarioPath("repro-glibc-5s.yaml")], ["run", scenarioPath("repro-musl-2500ms.yaml"), "--out", join(dir, "out")], ["calibrate", "a", "b"]),
        fc.array(fc.tuple(fc.constantFrom("--seed", "--kernel", "--pairs", "--gap-us", "--lookup", "--rtt-ms", "--out", "--seeds", "--bogus", "-x", "--json", "--format", "--rule", "--seconds"), FLAG_TEXT), { maxLength: 2 }),
        (base, extra) => {
          const r = cmd([...base, ...extra.flat()]);
          assert.ok(r.status === 0 || r.status === 2, `${[...base, ...extra.flat()].join(" ")}: exit ${r.status}\n${r.stderr}`);
          assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, r.stderr);
        },
      ),
      { numRuns: runs(12), seed: fuzzSeed(5) },
    );
  });
});
