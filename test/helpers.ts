import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { RaceArgs } from "../src/cli/race.js";
import { formatTrace } from "../src/cli/trace.js";
import type { Simulator } from "../src/engine/sim.js";
import { Streams } from "../src/engine/random.js";
import { Netns } from "../src/kernel/netns.js";
import { defaultRx } from "../src/kernel/rx.js";
import { defaultHopTiming, defaultSendTiming } from "../src/kernel/timing.js";
import type { KernelFeatures } from "../src/kernel/version.js";
import type { Packet } from "../src/net/packet.js";
import { TraceCollector } from "../src/model/trace.js";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";

/** The repository root (tests run from dist/test/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** A measurement file of test/calibration/, parsed. */
export function calibration<T>(name: string): T {
  return JSON.parse(readFileSync(resolve(ROOT, "test/calibration", name), "utf8")) as T;
}

export function scenarioPath(name: string): string {
  return resolve(ROOT, "scenarios", name);
}

/**
 * The InputError message of a scenario text loaded as "bad.yaml", or of what
 * f throws (a test failure if nothing is thrown, or something else).
 */
export function inputError(x: string | (() => unknown)): string {
  try {
    if (typeof x === "string") loadScenarioText(x, "bad.yaml");
    else x();
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    return e.message;
  }
  assert.fail("no error");
}

/** What `dnsrace trace FILE --lookup K` prints for a scenario text, without starting the command. */
export function traceText(text: string, lookup = 1): string {
  const collector = new TraceCollector();
  const res = runScenario(loadScenarioText(text, "t.yaml"), { collector });
  const tr = collector.lookups.find((l) => l.lookup === lookup);
  assert.ok(tr !== undefined, `no lookup ${lookup}`);
  return formatTrace(res, tr, `lookup ${lookup}`);
}

/**
 * A scenario text whose node splits a share p of one thread's pairs over two CPUs
 * (node.migration_probability): its pairs meet in conntrack as on a node whose counters
 * show p clashes per pair (dnsrace calibrate). The bundled busy nodes overlap none.
 */
export function withOverlap(text: string, p: number): string {
  return text.replace(/^node:\n/m, `node:\n  migration_probability: ${p}\n`);
}

/** The cells of a CSV text (RFC 4180: quoted fields, "" inside them), the header row first. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(cell), (cell = "");
    else if (c === "\n") row.push(cell), rows.push(row), (row = []), (cell = "");
    else cell += c;
  }
  if (cell !== "" || row.length > 0) row.push(cell), rows.push(row);
  return rows;
}

/**
 * Checks that --json's rows are a CSV file's rows, typed: an object per row keyed by the header,
 * the text columns given as strings, the others as the numbers written (null for an empty cell).
 */
export function assertRowsOfCsv(rows: Record<string, unknown>[], csv: string, text: string[]): void {
  const [header, ...cells] = parseCsv(csv);
  assert.equal(rows.length, cells.length, "a JSON row per CSV row");
  rows.forEach((row, r) => {
    assert.deepEqual(Object.keys(row), header, "keys: the CSV header, in order");
    header!.forEach((col, i) => {
      const cell = cells[r]![i]!;
      const v = row[col];
      if (text.includes(col)) assert.equal(v, cell, `${col}: text`);
      else if (cell === "") assert.equal(v, null, `${col}: empty cell, null`);
      else assert.equal(v, Number(cell), `${col}: a number`);
    });
  });
}

/** `dnsrace race` with no flag given: every argument undefined, as yargs hands them over. */
export const NO_RACE_FLAGS: RaceArgs = {
  kernel: undefined,
  endpoints: undefined,
  gapUs: undefined,
  send: undefined,
  pairs: undefined,
  rules: undefined,
  proxyMode: undefined,
  ipvsScheduleNs: undefined,
  iptables: undefined,
  rx: undefined,
  load: undefined,
  cpus: undefined,
  seed: undefined,
  json: false,
};

/** A bare two-CPU node hop with one DNS Service (address 1:53 -> 2:53), no load, no stalls; forwarded packets go to `forward`. */
export function bareHop(sim: Simulator, features: KernelFeatures, seed: number, forward: (p: Packet) => void): Netns {
  const streams = new Streams(seed);
  return new Netns(
    sim,
    {
      name: "node",
      cpus: 2,
      features,
      natTable: true,
      services: [{ name: "dns", vip: 1, port: 53, endpoints: [{ addr: 2, port: 53 }], rulesBefore: 0 }],
      totalRules: 0,
      notrack: new Set(),
      rx: defaultRx("inline", "idle"),
      timing: defaultHopTiming("nftables"),
      send: { ...defaultSendTiming(), stallProbability: 0 },
      masquerade: null,
      tableLimits: null,
    },
    { dnat: streams.get("dnat"), timing: streams.get("timing"), rx: streams.get("rx"), snat: streams.get("snat"), migrate: streams.get("migrate"), softirq: streams.get("softirq") },
    { forward, toPod: () => {}, addrName: String },
  );
}
