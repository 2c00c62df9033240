import { interned } from "./host.js";
import { type ResolverEnv, ResolverRefusal } from "./resolver.js";
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

/** A thread's _res as send_dg sees it: the fallback options it ORs in (RES_SNGLKUP, RES_SNGLKUPREOP), and its process's statics. */
export interface GlibcRes {
  singleRequest: boolean;
  singleRequestReopen: boolean;
  readonly process: GlibcProcess;
}

/** glibc state that is per process, not per thread (static variables of libc). */
export interface GlibcProcess {
  /** res_send.c nameserver_offset's `static unsigned int global_offset`: bit 0 set once seeded, then +2 per call. */
  globalOffset: number;
}
