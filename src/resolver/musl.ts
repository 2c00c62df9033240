import { MUSL_DEFAULT_VERSION, type MuslConf, type MuslOptions, muslAtLeast, muslConf, muslVersionProblem } from "./musl-conf.js";
import { muslGetaddrinfo } from "./musl-msend.js";
import {
  type Family,
  type Resolver,
  ResolverRefusal,
  type ResolverProcess,
  type ResolverSettings,
  type ResolverSetup,
  type Spelling,
  type TimerReport,
  familyWord,
  instants,
  optionWord,
  seconds,
  StatelessThread,
} from "./resolver.js";
import type { ResolvConf } from "./resolvconf.js";

export { MUSL_DEFAULT_VERSION, MUSL_LINE_MAX, MUSL_RELEASES, type MuslConf, type MuslOptions, muslAtLeast, muslConf, muslVersionProblem } from "./musl-conf.js";

/** options attempts: as the release read it: "attempts:2", "attempts:20 clamped to 10", or not read at all before 1.1.17. */
function attemptsWord(given: number | undefined, c: MuslConf): string {
  // Before 1.1.17 resolvconf.c never finds the digits of attempts: (1a7fa5e5).
  return given !== undefined && !muslAtLeast(c.version, "1.1.17") ? `attempts:${given} not read before 1.1.17, so ${c.attempts}` : optionWord("attempts", given, c.attempts);
}

class MuslSetup implements ResolverSetup {
  readonly name = "musl";
  readonly jsonFields: Readonly<Record<string, string>>;
  readonly contrast: { settings: ResolverSettings; hint: string } | null;
  private readonly conf: MuslConf;
  private readonly thread: StatelessThread;

  constructor(
    private readonly rc: ResolvConf,
    opts: MuslOptions | undefined,
  ) {
    this.conf = muslConf(rc, opts);
    // musl keeps no resolver state per thread or process.
    const conf = this.conf;
    this.thread = new StatelessThread((t, name, family) => muslGetaddrinfo(t, conf, name, family));
    this.jsonFields = { musl_version: this.conf.version };
    // The IDs are not shown, so the lookup command tells their effect: the same lookup with distinct IDs.
    this.contrast =
      (opts?.sameIdProbability ?? 0) > 0
        ? {
            settings: { musl: { ...opts, sameIdProbability: 0 } },
            hint: "A and AAAA had the same ID (--musl-same-id): res_msend.c gives an answer to the first query not yet answered that has its ID, whatever its type, so two answers of one type can fill both slots and the other query is not asked again (fixed in 1.2.4, 6c858d6f).",
          }
        : null;
  }

  call(name: string, family: Family): string {
    return `musl ${this.conf.version} getaddrinfo("${name}", ${familyWord(family)})`;
  }

  newProcess(): ResolverProcess {
    return this.thread;
  }

  /** How a burst reaches the kernel (res_msend.c: a sendto() per query and nameserver). */
  readonly sendCalls = "send" as const;

  sendWords(count: number): string {
    return count === 1 ? "sends" : "sends back to back";
  }

  lossExplanation(): string {
    const c = this.conf;
    const interval = Math.trunc((1000 * c.timeout) / c.attempts);
    const given = this.rc.options.attempts;
    // The same conf as the exchange's: attempts: given to a release that does not read it is named, not used.
    const unread = given !== undefined && !muslAtLeast(c.version, "1.1.17") ? ` (options ${attemptsWord(given, c)})` : "";
    return `musl resends only the unanswered query every timeout/attempts = ${c.timeout * 1000}/${c.attempts} = ${interval} ms${unread} on the same socket; the resend follows the winner's conntrack entry and is answered: ${interval} ms plus a round trip.`;
  }

  timerHint(r: TimerReport): string | null {
    if (r.timeouts.length === 0) return null;
    const c = this.conf;
    const o = this.rc.options;
    const retryMs = Math.trunc((1000 * c.timeout) / c.attempts);
    const opt = `options ${optionWord("timeout", o.timeout, c.timeout)} ${attemptsWord(o.attempts, c)}; res_msend.c`;
    // res_msend.c sends a pass every retry_interval while less than `timeout` has passed, then waits out that pass.
    const passes = Math.ceil((1000 * c.timeout) / retryMs);
    const total = `${passes} pass${passes === 1 ? "" : "es"} ${seconds(retryMs)} apart (passes start while less than timeout = ${seconds(1000 * c.timeout)} has passed; the last one is waited out)`;
    // A timer that expired is a resend unless the exchange gave up then (the resolver tells, r.gaveUp): after a
    // give-up the lookup ends, or the search walk goes on to its next name with a new exchange.
    const at = (t: number) => (g: { t_ms: number }) => Math.abs(g.t_ms - t) < 1e-6;
    const resends = r.timeouts.filter((t) => !r.gaveUp.some(at(t)));
    const sent = r.gaveUp.filter((g) => g.sent);
    const unsent = r.gaveUp.filter((g) => !g.sent);
    const ending = r.gaveUp.find(at(r.latencyMs));
    const wentOn = sent.filter((g) => g !== ending);
    if (sent.length === 0 && unsent.length === 0) return `musl resent the unanswered query after timeout/attempts = ${seconds(retryMs)} (${opt}), at ${instants(resends)}.`;
    const clauses: string[] = [];
    if (resends.length > 0) clauses.push(`musl resent the unanswered query after timeout/attempts = ${seconds(retryMs)}, at ${instants(resends)}`);
    if (sent.length > 0) {
      const who = resends.length > 0 ? "gave up" : "musl gave up";
      const without = resends.length > 0 ? "" : " with a query unanswered, without resending it";
      clauses.push(`${who} after ${total}${without}, at ${instants(sent.map((g) => g.t_ms))}`);
    }
    // lookup_name.c before 1.1.15 (04bced40): res_mkquery's -1 went to sendto().
    if (unsent.length > 0) clauses.push(`${clauses.length > 0 ? "" : "musl "}sent nothing for a name res_mkquery refuses (before 1.1.15 its -1 goes to sendto(), 04bced40) and gave up after ${total}, at ${instants(unsent.map((g) => g.t_ms))}`);
    let then = "";
    // name_from_dns: an exchange that gave up goes on to the next name only when the first query's answer is NXDOMAIN.
    if (wentOn.length > 0) then += `; the first query's answer was NXDOMAIN, so after ${wentOn.length === 1 ? "that give-up" : "those give-ups"} the search went on to the next name (lookup_name.c)`;
    if (ending?.sent === true && r.result !== "EAI_AGAIN") {
      then += c.judgeEachAnswer
        ? `; the answers it had decide, judged in order, A then AAAA, the first verdict winning (lookup_name.c, 5cf1ac24)`
        : `; before 1.2.1 the answers it had decide, an address in either being enough (lookup_name.c, 5cf1ac24)`;
    }
    return `${clauses.join(", and ")} (${opt})${then}.`;
  }

  hangHint(): string | null {
    return null;
  }
}

/**
 * musl: its release (musl_version, --musl-version) and, before 1.2.4, the share of pairs whose
 * A and AAAA get the same query ID (musl_same_id_probability, --musl-same-id). It reads no
 * environment (resolvconf.c).
 */
export const musl = {
  name: "musl",
  settings: [
    {
      field: "musl_version",
      flag: {
        name: "musl-version",
        type: "string",
        nargs: 1,
        describe: `with --libc musl: the release, 1.1.13 to 1.2.5 (default ${MUSL_DEFAULT_VERSION}): before 1.2.1 an address in one answer is enough; 1.2.4 adds the TCP fallback and EAI_NODATA`,
      },
    },
    {
      field: "musl_same_id_probability",
      flag: { name: "musl-same-id", type: "boolean", describe: "with --libc musl before 1.2.4: A and AAAA get the same query ID (res_mkquery's clock read the same for both)" },
    },
  ],
  readSettings(given: (key: string) => unknown, spelling: Spelling): ResolverSettings {
    if (spelling === "scenario") return { musl: { version: given("musl_version") as string | undefined, sameIdProbability: given("musl_same_id_probability") as number | undefined } };
    const version = given("musl-version");
    return { musl: { version: version === undefined ? MUSL_DEFAULT_VERSION : String(version), sameIdProbability: given("musl-same-id") === true ? 1 : 0 } };
  },
  prepare(rc: ResolvConf, _env: unknown, settings: ResolverSettings, spelling: Spelling): ResolvConf {
    const version = settings.musl?.version ?? MUSL_DEFAULT_VERSION;
    const problem = muslVersionProblem(version);
    if (problem !== null) throw new ResolverRefusal("musl_version", problem);
    if ((settings.musl?.sameIdProbability ?? 0) > 0 && muslAtLeast(version, "1.2.4")) {
      const instead = spelling === "scenario" ? "so it has no effect; set musl_version below 1.2.4 or leave it out" : "use --musl-version 1.2.3 or earlier";
      throw new ResolverRefusal("musl_same_id_probability", `musl ${version} makes the A and AAAA query IDs differ (6c858d6f, 1.2.4)${spelling === "scenario" ? ", " : "; "}${instead}`);
    }
    // musl reads attempts: from 1.1.17 (1a7fa5e5); earlier releases never found its digits.
    if (rc.options.attempts === 0 && muslAtLeast(version, "1.1.17")) {
      throw new ResolverRefusal("resolv_conf", `"options attempts:0" makes musl divide by zero (res_msend.c: timeout/attempts, SIGFPE); use attempts:1 or more`);
    }
    // musl reads no environment (resolvconf.c).
    return rc;
  },
  configure: (rc: ResolvConf, settings: ResolverSettings): ResolverSetup => new MuslSetup(rc, settings.musl),
} as const satisfies Resolver;
