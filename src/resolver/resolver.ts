import type { LookupResult, ThreadCtx, Wait } from "./host.js";
import type { MuslOptions } from "./musl-conf.js";
import type { ResolvConf } from "./resolvconf.js";

/*
 * The stub resolver of a pod or of a direct lookup, chosen by name through the
 * registry (registry.ts), as ns-3 chooses its Scheduler through a factory: the
 * rest of the simulator never asks which resolver it has, it asks the resolver.
 *
 *   Resolver       what the resolver is: its name, the settings only it reads,
 *                  how it checks them and reads the environment; configure()
 *                  reads a resolv.conf into its conf, once per pod.
 *   ResolverSetup  a resolver with its conf: the per-process state it needs, and
 *                  the words (trace, lookup) that explain its timers, from that conf.
 *   ResolverThread the per-thread state (glibc's _res) and the getaddrinfo generator.
 */

/** getaddrinfo()'s ai_family: unspec (A and AAAA), inet (A), inet6 (AAAA). */
export type Family = "unspec" | "inet" | "inet6";

/** The process environment a resolver may read (pods[].env). */
export interface ResolverEnv {
  RES_OPTIONS?: string | undefined;
  LOCALDOMAIN?: string | undefined;
}

/**
 * A pod's or a lookup's settings of its resolver beyond the resolv.conf, each under
 * the resolver that reads it (pods[].musl_version and --musl-version give musl.version).
 */
export interface ResolverSettings {
  musl?: MuslOptions | undefined;
  /** pods[].share_channel (c-ares only): the process's threads share one ares channel. */
  cares?: { shareChannel: boolean } | undefined;
}

/** A flag of `dnsrace lookup` (yargs option) that sets one of a resolver's settings. */
export interface ResolverFlag {
  name: string;
  type: "string" | "boolean";
  /** 1 for a string flag that may take "-" as its value. */
  nargs?: number;
  describe: string;
}

/** A setting only one resolver reads: its pod field in scenarios and its flag on the command line. */
export interface ResolverSetting {
  field: string;
  flag: ResolverFlag;
}

/** Whom a message addresses: a scenario's pod fields (musl_version, libc: glibc) or the lookup command's flags (--musl-version, --libc glibc). */
export type Spelling = "scenario" | "flags";

/**
 * What a resolver refuses in its settings, its resolv.conf or its environment: `at` is
 * "resolv_conf" (with the resolv.conf line when known), "env", "env.RES_OPTIONS", or a
 * setting's pod field ("musl_version"); the caller says in which file or flag it was written.
 */
export class ResolverRefusal extends Error {
  constructor(
    readonly at: string,
    readonly reason: string,
    readonly line?: number,
  ) {
    super(reason);
    this.name = "ResolverRefusal";
  }
}

/** What a finished (or stopped) direct lookup shows of the resolver's timers, for its hints. */
export interface TimerReport {
  latencyMs: number;
  /** An outcome label ("OK v4", "EAI_AGAIN", ...) or "HANG". */
  result: string;
  /** When a wait timed out, ms from the lookup's start. */
  timeouts: readonly number[];
  /** When an exchange gave up on its timer, and whether it had sent a query (ThreadCtx.gaveUp). */
  gaveUp: readonly { t_ms: number; sent: boolean }[];
  /** Whether a query went over TCP. */
  overTcp: boolean;
  /** Where the simulation stopped a lookup that had not returned. */
  maxMs: number;
}

export interface Resolver {
  /** Its name in scenarios (pods[].libc) and on the command line (--libc). */
  readonly name: string;
  /** The settings only this resolver reads. */
  readonly settings: readonly ResolverSetting[];
  /** Its settings from the values given, looked up by pod field (scenario) or by flag name (flags). */
  readSettings(given: (key: string) => unknown, spelling: Spelling): ResolverSettings;
  /**
   * Checks its settings and the resolv.conf, and returns the resolv.conf as the resolver
   * reads it with the process environment. Throws ResolverRefusal for what it refuses.
   */
  prepare(rc: ResolvConf, env: ResolverEnv | undefined, settings: ResolverSettings, spelling: Spelling): ResolvConf;
  /** The resolver with its conf read from the resolv.conf: once per pod (a check at construction, never per lookup). */
  configure(rc: ResolvConf, settings: ResolverSettings): ResolverSetup;
}

export interface ResolverSetup {
  /** The resolver's name: where its trace notes come from. */
  readonly name: string;
  /** What the lookup command's --json line says of it beyond its name (musl: musl_version). */
  readonly jsonFields: Readonly<Record<string, string>>;
  /** The call as the lookup command's timeline names it: `musl 1.2.3 getaddrinfo("x", AF_UNSPEC)`. */
  call(name: string, family: Family): string;
  /** A new process of the application: the libc's process-wide state (its statics). */
  newProcess(): ResolverProcess;
  /** A burst of several datagrams is one sendmmsg() (glibc) or a send() per datagram (musl): their gaps differ. */
  readonly sendCalls: "sendmmsg" | "send";
  /** How a trace says that the resolver hands `count` datagrams to the kernel at once ("sends in one sendmmsg()"). */
  sendWords(count: number): string;
  /** For a trace whose lookup lost a query: what the resolver waits for and how long, from this conf. */
  lossExplanation(): string;
  /** For the lookup command: one sentence on the timers that expired (from this conf), or null if none did. */
  timerHint(r: TimerReport): string | null;
  /** For the lookup command: why a lookup that never returned waits, or null when there is nothing resolver-specific. */
  hangHint(r: TimerReport): string | null;
  /**
   * For the lookup command: a setting whose effect is shown by running the lookup again without it
   * (musl's shared query IDs), the settings without it, and what to say when that changes anything; or null.
   */
  readonly contrast: { settings: ResolverSettings; hint: string } | null;
}

export interface ResolverProcess {
  /** A thread of the process, with its own per-thread state. */
  newThread(): ResolverThread;
}

export interface ResolverThread {
  /** getaddrinfo(name) on thread t: the generator the thread's process runs. */
  getaddrinfo(t: ThreadCtx, name: string, family: Family): Wait<LookupResult>;
  /** The thread is a fresh process now (lookups_per_process): per-thread and process-wide state start over. */
  freshProcess(): void;
}

/**
 * The thread of a resolver that keeps no state per thread or process (musl, Go): every thread
 * of every process runs the same exchange, so one object serves as process and thread.
 */
export class StatelessThread implements ResolverThread, ResolverProcess {
  constructor(private readonly lookup: (t: ThreadCtx, name: string, family: Family) => Wait<LookupResult>) {}

  getaddrinfo(t: ThreadCtx, name: string, family: Family): Wait<LookupResult> {
    return this.lookup(t, name, family);
  }

  freshProcess(): void {}

  newThread(): ResolverThread {
    return this;
  }
}

/** An option as the resolver read it (its default when not given): "timeout:5", or "timeout:99 clamped to 30". */
export function optionWord(name: string, given: number | undefined, used: number): string {
  return given === undefined || given === used ? `${name}:${used}` : `${name}:${given} clamped to ${used}`;
}

/** getaddrinfo's ai_family as C spells it. */
export function familyWord(family: Family): string {
  return family === "inet" ? "AF_INET" : family === "inet6" ? "AF_INET6" : "AF_UNSPEC";
}

export const seconds = (ms: number): string => `${ms / 1000} s`;
export const instants = (ts: readonly number[]): string => ts.map((t) => `${t.toFixed(3)} ms`).join(", ");
