import { distMean } from "./dist.js";
import { InputError } from "./inputerror.js";
import { MAX_LOOKUPS, MAX_THREADS_TOTAL, MAX_WORKLOAD_S, showCount } from "./limits.js";
import type { Scenario } from "./schema.js";

const CLOCK = "the clock is integer ns, exact up to 2^53 ns (about 104 days), and a run's workload must end within 100 days of simulated time";

/** Each pod's workload must end within the clock, and all the lookups of the run fit in memory (the lookups CSV). */
export function checkWorkload(s: Scenario, file: string, at: (path: (string | number)[]) => string): void {
  let total = 0;
  let threads = 0;
  s.pods.forEach((p, i) => {
    threads += p.threads;
    if (threads > MAX_THREADS_TOTAL) {
      throw new InputError(`${file}: ${at(["pods", i, "threads"])}field "pods[${i}].threads": the pods up to this one have ${threads.toLocaleString("en-US")} threads, more than the ${MAX_THREADS_TOTAL.toLocaleString("en-US")} a run holds (each keeps its resolver's state); use fewer threads.`);
    }
    const where = (f: string) => `${file}: ${at(["pods", i, f])}field "pods[${i}].${f}"`;
    let n: number;
    let field: string;
    if (p.lookups !== undefined) {
      n = p.lookups;
      field = "lookups";
      if (n > MAX_LOOKUPS) throw new InputError(`${where("lookups")}: ${showCount(n)} lookups, more than the ${MAX_LOOKUPS.toLocaleString("en-US")} a run takes (each keeps its latency in memory for the exact quantiles); ask for fewer, or split the run.`);
      const thinkMs = distMean(p.think_ms);
      const days = (Math.ceil(n / p.threads) * thinkMs) / 1000 / 86_400;
      if (days * 86_400 > MAX_WORKLOAD_S) {
        throw new InputError(`${where("lookups")}: ${showCount(n)} lookups on ${p.threads} thread${p.threads === 1 ? "" : "s"} with think_ms averaging ${showCount(thinkMs)} ms take about ${showCount(Math.round(days))} days of simulated time, and ${CLOCK}; ask for fewer lookups, more threads or a shorter think_ms.`);
      }
    } else {
      const rate = p.rate_per_s!;
      const dur = p.duration_s!;
      n = rate * dur;
      field = "rate_per_s";
      if (dur > MAX_WORKLOAD_S) throw new InputError(`${where("duration_s")}: ${showCount(dur)} s of arrivals is about ${showCount(Math.round(dur / 86_400))} days of simulated time, and ${CLOCK}; use a duration_s of at most ${showCount(MAX_WORKLOAD_S)}.`);
      if (!(n <= MAX_LOOKUPS)) {
        throw new InputError(`${where("rate_per_s")}: rate_per_s ${showCount(rate)} with duration_s ${showCount(dur)} asks for about ${showCount(n)} lookups, more than the ${MAX_LOOKUPS.toLocaleString("en-US")} a run takes (each keeps its latency in memory for the exact quantiles); lower the rate or the duration.`);
      }
    }
    total += n;
    if (total > MAX_LOOKUPS) throw new InputError(`${where(field)}: the pods up to this one ask for about ${showCount(Math.round(total))} lookups, more than the ${MAX_LOOKUPS.toLocaleString("en-US")} a run takes; ask for fewer, or split the run.`);
  });
}
