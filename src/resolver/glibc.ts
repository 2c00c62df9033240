import { type GlibcConf, type GlibcProcess, type GlibcRes, glibcConf, glibcWithEnv } from "./glibc-conf.js";
import { glibcGetaddrinfo } from "./glibc-send.js";
import { type LookupResult, type ThreadCtx, type Wait } from "./host.js";
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

export { type GlibcConf, type GlibcProcess, type GlibcRes, glibcConf, glibcWithEnv } from "./glibc-conf.js";

/** A thread's _res: the options the send_dg fallback ORs in (RES_SNGLKUP, RES_SNGLKUPREOP), and its process's statics. */
export class GlibcThread implements ResolverThread, GlibcRes {
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

  /** How a burst reaches the kernel (send_dg: __sendmmsg(fd, reqs, 2, MSG_NOSIGNAL)). */
  readonly sendCalls = "sendmmsg" as const;

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
