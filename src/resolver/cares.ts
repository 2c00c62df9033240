import { CARES_VERSION, type CaresConf, caresConf, caresWithEnv } from "./cares-conf.js";
import { CaresChannel } from "./cares-channel.js";
import { caresGetaddrinfo } from "./cares-lookup.js";
import type { LookupResult, ThreadCtx, Wait } from "./host.js";
import {
  type Family,
  type Resolver,
  type ResolverEnv,
  type ResolverProcess,
  type ResolverSettings,
  type ResolverSetup,
  type ResolverThread,
  type TimerReport,
  familyWord,
  instants,
  optionWord,
} from "./resolver.js";
import type { ResolvConf } from "./resolvconf.js";

export { CARES_VERSION, type CaresConf, caresConf, caresNames, caresWithEnv } from "./cares-conf.js";
export { CaresChannel, serverTimeoutMs } from "./cares-channel.js";

/** A server's first timeout is channel->timeout, capped at MAX_TIMEOUT_MS 5000 (ares_metrics.c). */
function firstTimeoutMs(c: CaresConf): number {
  return Math.min(5000, Math.max(250, c.timeoutMs));
}

/** A thread and the channel it asks through: its own, or the one its process's threads share (share_channel); a fresh process makes it anew. */
class CaresThread implements ResolverThread {
  constructor(
    private readonly conf: CaresConf,
    private readonly process: { channel: CaresChannel },
  ) {}

  getaddrinfo(t: ThreadCtx, name: string, family: Family): Wait<LookupResult> {
    return caresGetaddrinfo(t, this.process.channel, name, family);
  }

  freshProcess(): void {
    this.process.channel = new CaresChannel(this.conf);
  }
}

class CaresSetup implements ResolverSetup {
  readonly name = "c-ares";
  readonly jsonFields = { cares_version: CARES_VERSION };
  readonly contrast = null;
  private readonly conf: CaresConf;

  constructor(
    private readonly rc: ResolvConf,
    /**
     * The threads of a process share one channel (ares channels are thread-safe since 1.23: ares_threadsafety;
     * gRPC's c-ares resolver and servers that ares_init once do this), else each thread has its own (ares_init per thread).
     */
    private readonly shareChannel: boolean,
  ) {
    this.conf = caresConf(rc);
  }

  call(name: string, family: Family): string {
    return `c-ares ${CARES_VERSION} ares_getaddrinfo("${name}", ${familyWord(family)})`;
  }

  newProcess(): ResolverProcess {
    if (!this.shareChannel) return { newThread: () => new CaresThread(this.conf, { channel: new CaresChannel(this.conf) }) };
    const p = { channel: new CaresChannel(this.conf) };
    return { newThread: () => new CaresThread(this.conf, p) };
  }

  /** Each query is its own send() on the connection (ares_conn_flush), A then AAAA back to back. */
  readonly sendCalls = "send" as const;

  sendWords(count: number): string {
    return count === 1 ? "sends" : "sends back to back";
  }

  private timeoutWords(): string {
    const c = this.conf;
    const given = this.rc.options.timeout;
    const opt = given === undefined ? `no options timeout:, so DEFAULT_TIMEOUT ${c.timeoutMs} ms` : `options ${optionWord("timeout", given, c.timeoutMs / 1000)}`;
    const capped = c.timeoutMs > 5000 ? ", capped at 5000 ms (MAX_TIMEOUT_MS)" : "";
    return `${firstTimeoutMs(c)} ms (${opt}${capped}; once the server has answered 3 queries in a period, 5 x their average latency, at least 250 ms: ares_metrics.c)`;
  }

  lossExplanation(): string {
    return (
      `c-ares gives each query its own timeout, ${this.timeoutWords()}. A lost AAAA whose A has an address is not tried again (terminate_retries, ares_getaddrinfo.c): ` +
      `at its timeout the lookup returns the IPv4 address alone. A lost A is tried again (up to ${this.conf.tries} tries per server) from a new UDP socket, ` +
      `because the server now has a failure (ares_fetch_connection), with the timeout doubled less a random share of up to a half.`
    );
  }

  timerHint(r: TimerReport): string | null {
    if (r.timeouts.length === 0) return null;
    const alone = r.result === "OK v4" ? " The A answer had an address, so the AAAA was not tried again (terminate_retries, ares_getaddrinfo.c): the IPv4 address came back alone." : "";
    return `c-ares timed out a query after its timeout of ${this.timeoutWords()} (ares_process.c process_timeouts) at ${instants(r.timeouts)}; a query tried again goes out from a new UDP socket (the server has a failure: ares_fetch_connection).${alone}`;
  }

  hangHint(): string | null {
    return null;
  }
}

/**
 * c-ares 1.34.6 through ares_getaddrinfo (the resolver of Node.js's dns.resolve*, gRPC's c-ares
 * resolver, some curl builds), set up by ares_init() with no ARES_OPT_*: resolv.conf, then
 * LOCALDOMAIN and RES_OPTIONS (ares_sysconfig.c). No settings of its own: a pod's share_channel reaches it in
 * ResolverSettings.cares (scenario/channel.ts refuses it for the other resolvers).
 */
export const cares = {
  name: "c-ares",
  settings: [],
  readSettings: (): ResolverSettings => ({}),
  prepare: (rc: ResolvConf, env: ResolverEnv | undefined): ResolvConf => caresWithEnv(rc, env),
  configure: (rc: ResolvConf, settings: ResolverSettings): ResolverSetup => new CaresSetup(rc, settings.cares?.shareChannel === true),
} as const satisfies Resolver;
