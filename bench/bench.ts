/**
 * npm run bench: the bare engine (events/s) and a model run (events/s and
 * lookups/s), in one process. The last line is a JSON object with
 * engine_events_per_s, model_events_per_s and model_lookups_per_s.
 * Targets on a 2-core machine: engine >= 5e6 events/s; model >= 1e5 lookups/s
 * and >= a quarter of the engine's event rate.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stream } from "../src/engine/random.js";
import { Simulator } from "../src/engine/sim.js";
import { loadScenarioFile } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function seconds(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * The bare engine: 1,000 independent processes, each rescheduling itself after
 * an exponential delay (mean 1 us, from a precomputed table so the RNG is not
 * what is measured): a heap of 1,000 pending events, like a busy model.
 */
function engineRun(events: number): { events: number; s: number } {
  const sim = new Simulator();
  const rng = stream(1, "bench");
  const delays = new Float64Array(1 << 16);
  for (let i = 0; i < delays.length; i++) delays[i] = 1 + Math.floor(-1000 * Math.log(1 - rng()));
  let n = 0;
  const tick = (_p: number) => {
    n++;
    if (n < events) sim.at(sim.now + delays[n & 0xffff]!, tick, 0);
  };
  for (let i = 0; i < 1000; i++) sim.at(i, tick, i);
  const s = seconds(() => sim.run());
  if (sim.executed < events) throw new Error("engine bench ran short");
  return { events: sim.executed, s };
}

function modelRun(): { events: number; lookups: number; s: number } {
  const loaded = loadScenarioFile(resolve(ROOT, "bench/model.yaml"));
  let res: ReturnType<typeof runScenario> | undefined;
  const s = seconds(() => {
    res = runScenario(loaded);
  });
  return { events: res!.events, lookups: res!.log.count, s };
}

engineRun(1_000_000); // warm-up
modelRun();
// Engine and model runs alternate, so both see the machine in the same state; the best of each is kept.
let eng = engineRun(10_000_000);
let model = modelRun();
for (let i = 0; i < 2; i++) {
  const e = engineRun(10_000_000);
  if (e.s < eng.s) eng = e;
  const m = modelRun();
  if (m.s < model.s) model = m;
}
const engineRate = eng.events / eng.s;
console.log(`engine: ${eng.events} events in ${eng.s.toFixed(2)} s = ${(engineRate / 1e6).toFixed(2)} M events/s (target >= 5 M)`);

const modelRate = model.events / model.s;
const lookupRate = model.lookups / model.s;
console.log(
  `model: ${model.lookups} lookups, ${model.events} events in ${model.s.toFixed(2)} s = ${(lookupRate / 1e3).toFixed(0)} k lookups/s (target >= 100 k), ` +
    `${(modelRate / 1e6).toFixed(2)} M events/s = ${((100 * modelRate) / engineRate).toFixed(0)}% of the engine (target >= 25%)`,
);
console.log(JSON.stringify({ engine_events_per_s: Math.round(engineRate), model_events_per_s: Math.round(modelRate), model_lookups_per_s: Math.round(lookupRate) }));
