/**
 * dnsrace as a library: load a scenario (YAML text, or an object shaped as a scenario file),
 * run it, and summarize the run. The CLI (src/cli/) is built on these same calls.
 *
 *   import { loadScenarioObject, runScenario, summarize } from "dnsrace";
 *   const loaded = loadScenarioObject({ name: "mine", description: "...", kernel: "5.4", kube_dns: {...}, pods: [...] });
 *   const summary = summarize(runScenario(loaded, { seed: 1 }));
 *
 * Bad input throws InputError, whose message names the field (and, for YAML text, its line).
 */
import { type LoadedScenario, loadScenarioData } from "./scenario/load.js";

export { InputError, loadScenarioData, loadScenarioFile, loadScenarioText } from "./scenario/load.js";
export type { LoadedScenario, ScenarioSource } from "./scenario/load.js";
export type { Scenario, ScenarioInput } from "./scenario/schema.js";
export { runScenario } from "./scenario/run.js";
export type { NodeResult, RunOptions, RunResult } from "./scenario/run.js";
export { summarize } from "./stats/summary.js";
export type { Summary } from "./stats/summary.js";
export { lookupsCsv, summaryCsv } from "./report/csv.js";
export { RACE_DEFAULTS, runRace } from "./experiment/race.js";
export type { RaceOptions, RaceResult } from "./experiment/race.js";
export { kernelFeatures } from "./kernel/version.js";
export type { KernelFeatures } from "./kernel/version.js";

/**
 * A scenario given as an object (the fields of a scenario file), validated as a file would be;
 * `file` names it in error messages, which carry no line numbers.
 */
export function loadScenarioObject(data: unknown, file = "scenario"): LoadedScenario {
  return loadScenarioData(data, { file, context: "", at: () => "", blockLine: () => null });
}
