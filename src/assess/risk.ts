import { goConf } from "../resolver/go-conf.js";
import { glibcConf } from "../resolver/glibc-conf.js";
import { muslConf } from "../resolver/musl-conf.js";
import type { ResolvConf } from "../resolver/resolvconf.js";
import { InputError, loadScenarioData } from "../scenario/load.js";
import { runScenario } from "../scenario/run.js";
import { type Proportion, proportion } from "../stats/proportion.js";
import { summarize } from "../stats/summary.js";

const MS = 1_000_000;

/** What one run of a built scenario shows: the slow shares, and the pairs that met in conntrack. */
export interface Measure {
  lookups: number;
  /** Lookups over 1 s. */
  over1s: Proportion;
  /** Lookups at or past the resolver's first retransmission (stepMs). */
  atStep: Proportion;
  /** The resolver's timer step from the pod's resolv.conf: glibc's and Go's timeout, musl's timeout/attempts. */
  stepMs: number;
  /** A+AAAA pairs sent, and those that clashed on the path (the overlap the run had). */
  pairsClashed: Proportion | null;
}

/**
 * The retransmission step a lost query costs, as each resolver reads its resolv.conf: glibc
 * res_send.c waits RES_TIMEOUT (retrans) per attempt; musl res_msend.c resends after
 * retry_interval = timeout / attempts (truncated to ms); Go's dnsclient_unix.go waits timeout.
 */
export function timerStepMs(libc: string, rc: ResolvConf): number {
  if (libc === "musl") {
    const c = muslConf(rc);
    return Math.trunc((1000 * c.timeout) / c.attempts);
  }
  if (libc === "go") return 1000 * goConf(rc).timeout;
  return 1000 * glibcConf(rc).retrans;
}

/** Runs built scenarios, each once: identical scenarios (same data, same seed) share one run. */
export class Runner {
  private readonly cache = new Map<string, Measure | string>();
  runs = 0;

  /** The scenario's measure, or why the model refuses it (a sentence). */
  measure(data: Record<string, unknown>): Measure | string {
    const key = JSON.stringify(data);
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const m = this.run(data);
    this.cache.set(key, m);
    return m;
  }

  private run(data: Record<string, unknown>): Measure | string {
    let loaded;
    try {
      loaded = loadScenarioData(data, { file: "the scenario built from the objects", context: "", at: () => "", blockLine: () => null });
    } catch (e) {
      if (e instanceof InputError) return e.message;
      throw e;
    }
    this.runs++;
    const res = runScenario(loaded);
    const s = summarize(res);
    const libc = loaded.scenario.pods[0]!.libc;
    const stepMs = timerStepMs(libc, loaded.resolvConfs[0]!);
    let atStep = 0;
    const log = res.log;
    for (let i = 1; i <= log.length; i++) if (log.has(i) && log.latencyNs(i) >= stepMs * MS) atStep++;
    return {
      lookups: s.lookups,
      over1s: proportion(s.over_1s, s.lookups),
      atStep: proportion(atStep, s.lookups),
      stepMs,
      pairsClashed: s.pairs === 0 ? null : proportion(s.pairs_clashed, s.pairs),
    };
  }
}
