import { glibcGetaddrinfo } from "./glibc-send.js";
import { type LookupResult, type ThreadCtx, type Wait, interned } from "./host.js";
import {
  type Family,
  type Resolver,
  type ResolverEnv,
  ResolverRefusal,
  type ResolverProcess,
  type ResolverSettings,
  type ResolverSetup,
  type ResolverThread,
  type TimerReport,
  familyWord,
  instants,
  optionWord,
} from "./resolver.js";
import { type ResolvConf, ResolvConfError, parseOption } from "./resolvconf.js";

/** glibc's _res after res_vinit (resolv/res_init.c, resolv_conf.c), with its clamps. */
export interface GlibcConf {
  nameservers: string[];
  search: string[];
  ndots: number;
  /** RES_TIMEOUT, options timeout: (retrans, seconds). */
  retrans: number;
  /** RES_DFLRETRY, options attempts: (retry). */
  retry: number;
  rotate: boolean;
  singleRequest: boolean;
  singleRequestReopen: boolean;
  useVc: boolean;
  noAaaa: boolean;
  noTldQuery: boolean;
  /** [nameserver] per index, for connect()ed sockets. */
  nsPeers: string[][];
}

/** res_setoptions clamps: ndots <= RES_MAXNDOTS 15, timeout <= RES_MAXRETRANS 30, attempts <= RES_MAXRETRY 5; MAXNS 3. */
export function glibcConf(rc: ResolvConf): GlibcConf {
  const o = rc.options;
  return {
    nameservers: rc.nameservers.slice(0, 3),
    search: rc.search.map(interned),
    ndots: Math.min(o.ndots ?? 1, 15),
    retrans: Math.min(o.timeout ?? 5, 30),
    retry: Math.min(o.attempts ?? 2, 5),
    rotate: o.rotate ?? false,
    singleRequest: o.singleRequest ?? false,
    singleRequestReopen: o.singleRequestReopen ?? false,
    useVc: o.useVc ?? false,
    noAaaa: o.noAaaa ?? false,
    noTldQuery: o.noTldQuery ?? false,
    nsPeers: rc.nameservers.slice(0, 3).map((n) => [n]),
  };
}

/**
 * glibc's res_vinit_1: LOCALDOMAIN replaces the search list (split on blanks),
 * and RES_OPTIONS is parsed by res_setoptions after the file, so its options win.
 */
export function glibcWithEnv(rc: ResolvConf, env: ResolverEnv): ResolvConf {
  if (env.RES_OPTIONS === undefined && env.LOCALDOMAIN === undefined) return rc;
  const options = { ...rc.options };
  if (env.RES_OPTIONS !== undefined) {
    for (const opt of env.RES_OPTIONS.trim().split(/\s+/).filter((o) => o !== "")) {
      try {
        parseOption(options, opt, 0);
      } catch (e) {
        if (!(e instanceof ResolvConfError)) throw e;
        throw new ResolverRefusal("env.RES_OPTIONS", e.reason);
      }
    }
  }
  const search = env.LOCALDOMAIN !== undefined ? env.LOCALDOMAIN.trim().split(/\s+/).filter((d) => d !== "").map((d) => d.replace(/\.$/, "")) : rc.search;
  return { ...rc, options, search };
}

/** glibc state that is per process, not per thread (static variables of libc). */
export interface GlibcProcess {
  /** res_send.c nameserver_offset's `static unsigned int global_offset`: bit 0 set once seeded, then +2 per call. */
  globalOffset: number;
}

/** A thread's _res: the options the send_dg fallback ORs in (RES_SNGLKUP, RES_SNGLKUPREOP), and its process's statics. */
export class GlibcThread implements ResolverThread {
  singleRequest = false;
  singleRequestReopen = false;

  constructor(
    private readonly conf: GlibcConf,
    readonly process: GlibcProcess,
  ) {}

  getaddrinfo(t: ThreadCtx, name: string, family: Family): Wait<LookupResult> {
    return glibcGetaddrinfo(t, this.conf, this, name, family);
  }

  freshProcess(): void {
    // A new process: a fresh _res, without the fallback flags the old one ORed in ...
    this.singleRequest = false;
    this.singleRequestReopen = false;
    // ... and libc's statics start over (nameserver_offset's counter is seeded again).
    this.process.globalOffset = 0;
  }
}

class GlibcSetup implements ResolverSetup {
  readonly name = "glibc";
  readonly jsonFields = {};
  readonly contrast = null;
  private readonly conf: GlibcConf;

  constructor(private readonly rc: ResolvConf) {
    this.conf = glibcConf(rc);
  }

  call(name: string, family: Family): string {
    return `glibc getaddrinfo("${name}", ${familyWord(family)})`;
  }

  newProcess(): ResolverProcess {
    const p: GlibcProcess = { globalOffset: 0 };
    return { newThread: () => new GlibcThread(this.conf, p) };
  }

  sendWords(count: number): string {
    return count === 1 ? "sends" : "sends in one sendmmsg()";
  }

  lossExplanation(): string {
    const c = this.conf;
    return `glibc waits ${c.retrans} s (options timeout:${c.retrans}) for both answers of the pair; when the window expires with one answer it resends on the same socket, and the resend follows the winner's conntrack entry, so it is answered: ${c.retrans * 1000} ms plus the round trips.`;
  }

  timerHint(r: TimerReport): string | null {
    if (r.timeouts.length === 0) return null;
    const c = this.conf;
    // send_dg: seconds = retrans << ns, divided by nscount for ns > 0, at least 1.
    const windows = c.nameservers.map((_, ns) => Math.max(1, ns === 0 ? c.retrans : Math.trunc((c.retrans << ns) / c.nameservers.length)));
    const window = new Set(windows).size === 1 ? `its ${windows[0]} s window` : `its windows of ${windows.map((w) => `${w} s`).join(", ")} for nameservers 1-${windows.length}`;
    return `glibc waited ${window} (options ${optionWord("timeout", this.rc.options.timeout, c.retrans)}; res_send.c send_dg) for an answer that had not come; ${r.timeouts.length === 1 ? "the window expired" : "windows expired"} at ${instants(r.timeouts)}.`;
  }

  hangHint(r: TimerReport): string | null {
    if (!r.overTcp) return null;
    return `glibc sets no timeout on a TCP query (res_send.c send_vc reads until the answer comes): this lookup would wait for ever; the simulation stopped at --max-ms ${r.maxMs}.`;
  }
}

/** glibc 2.36: res_init reads resolv.conf, then RES_OPTIONS and LOCALDOMAIN; no settings of its own. */
export const glibc = {
  name: "glibc",
  settings: [],
  readSettings: (): ResolverSettings => ({}),
  prepare: (rc: ResolvConf, env: ResolverEnv | undefined): ResolvConf => (env === undefined ? rc : glibcWithEnv(rc, env)),
  configure: (rc: ResolvConf): ResolverSetup => new GlibcSetup(rc),
} as const satisfies Resolver;
