import { BUSYBOX_VERSION, type BusyboxConf, busyboxConf, busyboxNslookup } from "./busybox-lookup.js";
import { type Family, type Resolver, type ResolverProcess, type ResolverSettings, type ResolverSetup, type TimerReport, StatelessThread, instants } from "./resolver.js";
import type { ResolvConf } from "./resolvconf.js";

export { BUSYBOX_VERSION, type BusyboxConf, busyboxConf, busyboxQueries } from "./busybox-lookup.js";

class BusyboxSetup implements ResolverSetup {
  readonly name = "busybox";
  readonly jsonFields = { busybox_version: BUSYBOX_VERSION };
  readonly contrast = null;
  private readonly conf: BusyboxConf;
  private readonly thread: StatelessThread;

  constructor(private readonly rc: ResolvConf) {
    this.conf = busyboxConf(rc);
    const conf = this.conf;
    // Every nslookup is a process of its own: nothing carries from one to the next.
    this.thread = new StatelessThread((t, name, family) => busyboxNslookup(t, conf, name, family));
  }

  call(name: string, family: Family): string {
    return `busybox ${BUSYBOX_VERSION} nslookup ${family === "inet" ? "-type=a " : family === "inet6" ? "-type=aaaa " : ""}${name}`;
  }

  newProcess(): ResolverProcess {
    return this.thread;
  }

  /** send_queries: a write() per query on the connected socket. */
  readonly sendCalls = "send" as const;

  sendWords(count: number): string {
    return count === 1 ? "writes" : "writes back to back";
  }

  private ignored(): string {
    const o = this.rc.options;
    const given = [o.timeout !== undefined ? `timeout:${o.timeout}` : "", o.attempts !== undefined ? `attempts:${o.attempts}` : "", o.ndots !== undefined ? `ndots:${o.ndots}` : ""].filter((x) => x !== "");
    return given.length === 0 ? "" : ` (it does not read options ${given.join(" ")})`;
  }

  lossExplanation(): string {
    const c = this.conf;
    const interval = (1000 * c.timeoutS) / c.retry;
    return `busybox nslookup writes every query without a reply again every timeout/retry = ${c.timeoutS * 1000}/${c.retry} = ${interval} ms on the same socket${this.ignored()}, until every query has a reply or ${c.timeoutS} s have passed: ${interval} ms plus a round trip.`;
  }

  timerHint(r: TimerReport): string | null {
    if (r.timeouts.length === 0) return null;
    const c = this.conf;
    const interval = (1000 * c.timeoutS) / c.retry;
    const resends = r.timeouts.filter((x) => !r.gaveUp.some((g) => Math.abs(g.t_ms - x) < 1e-6));
    const parts: string[] = [];
    if (resends.length > 0) parts.push(`busybox nslookup wrote the queries without a reply again after retry_interval = timeout/retry = ${interval} ms, at ${instants(resends)}`);
    if (r.gaveUp.length > 0) parts.push(`${parts.length > 0 ? "and" : "busybox nslookup"} stopped waiting ${c.timeoutS} s after its start, at ${instants(r.gaveUp.map((g) => g.t_ms))}`);
    return `${parts.join(", ")} (its defaults -timeout=${c.timeoutS} -retry=${c.retry}${this.ignored()}; networking/nslookup.c send_queries).`;
  }

  hangHint(): string | null {
    return null;
  }
}

/**
 * busybox nslookup (FEATURE_NSLOOKUP_BIG, as Alpine and Debian build it): its own resolver in
 * networking/nslookup.c. It reads the nameserver and search lines of resolv.conf and no options,
 * and no environment; no settings of its own (its -timeout= and -retry= flags keep their defaults).
 */
export const busybox = {
  name: "busybox",
  settings: [],
  readSettings: (): ResolverSettings => ({}),
  prepare: (rc: ResolvConf): ResolvConf => rc,
  configure: (rc: ResolvConf): ResolverSetup => new BusyboxSetup(rc),
} as const satisfies Resolver;
