import { type ResolverEnv, ResolverRefusal } from "./resolver.js";
import { type ResolvConf, ResolvConfError, type ResolvOptions, parseOption } from "./resolvconf.js";

/** The c-ares release modelled: 1.34.6 (the one Node.js 20.20 bundles: process.versions.ares). */
export const CARES_VERSION = "1.34.6";

/**
 * A c-ares channel's configuration as ares_init() leaves it with no ARES_OPT_* given:
 * ares_init_by_sysconfig (src/lib/ares_sysconfig.c) reads resolv.conf
 * (ares_sysconfig_files.c: nameserver, search/domain, options ndots: timeout: attempts: rotate
 * use-vc; the rest is ignored), then the environment (LOCALDOMAIN, RES_OPTIONS), then
 * ares_init.c fills in what is still 0: DEFAULT_TIMEOUT 2000 ms, DEFAULT_TRIES 3 (ares_private.h).
 */
export interface CaresConf {
  nameservers: string[];
  search: string[];
  /** sysconfig.ndots = 1 unless set (ares_init_by_sysconfig). */
  ndots: number;
  /** channel->timeout, ms: timeout:N is N * 1000; timeout:0 is refused by process_option (EFORMERR) and ignored. */
  timeoutMs: number;
  /** channel->tries: attempts:N; attempts:0 is ignored likewise. */
  tries: number;
  rotate: boolean;
  /** ARES_FLAG_USEVC: every query over TCP. */
  useVc: boolean;
}

export const CARES_DEFAULT_TIMEOUT_MS = 2000;
export const CARES_DEFAULT_TRIES = 3;

/** The channel's conf from a resolv.conf already read with the environment (caresWithEnv). */
export function caresConf(rc: ResolvConf): CaresConf {
  const o = rc.options;
  return {
    nameservers: rc.nameservers.length > 0 ? rc.nameservers : ["127.0.0.1"],
    search: rc.search,
    ndots: o.ndots ?? 1,
    timeoutMs: o.timeout !== undefined && o.timeout > 0 ? o.timeout * 1000 : CARES_DEFAULT_TIMEOUT_MS,
    tries: o.attempts !== undefined && o.attempts > 0 ? o.attempts : CARES_DEFAULT_TRIES,
    rotate: o.rotate === true,
    useVc: o.useVc === true,
  };
}

/**
 * ares_init_by_environment (ares_sysconfig_files.c): LOCALDOMAIN sets the search list to its first
 * domain (config_search with max_domains 1); RES_OPTIONS is read as an options line, after the file.
 */
export function caresWithEnv(rc: ResolvConf, env: ResolverEnv | undefined): ResolvConf {
  if (env === undefined || (env.RES_OPTIONS === undefined && env.LOCALDOMAIN === undefined)) return rc;
  const options: ResolvOptions = { ...rc.options };
  if (env.RES_OPTIONS !== undefined) {
    for (const opt of env.RES_OPTIONS.trim().split(/\s+/).filter((x) => x !== "")) {
      try {
        parseOption(options, opt, 0);
      } catch (e) {
        if (!(e instanceof ResolvConfError)) throw e;
        throw new ResolverRefusal("env.RES_OPTIONS", e.reason);
      }
    }
  }
  const first = env.LOCALDOMAIN?.trim().split(/[\s,]+/)[0];
  const search = env.LOCALDOMAIN === undefined ? rc.search : first === undefined || first === "" ? [] : [first.replace(/\.$/, "")];
  return { ...rc, options, search };
}

/**
 * ares_search_name_list (src/lib/ares_search.c): a name ending in '.' is asked as is, alone;
 * otherwise as is first when it has ndots dots or more, then with each search domain, then as is
 * last when it has fewer.
 */
export function caresNames(c: CaresConf, name: string): string[] {
  if (name.endsWith(".")) return [name];
  let dots = 0;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 46) dots++;
  const list: string[] = [];
  if (dots >= c.ndots) list.push(name);
  for (const d of c.search) list.push(`${name}.${d}`);
  if (dots < c.ndots) list.push(name);
  return list;
}
