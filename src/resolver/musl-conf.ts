import { interned } from "./host.js";
import { type ResolvConf, type ResolvOptions, parseOption } from "./resolvconf.js";

/** musl's struct resolvconf as __get_resolv_conf fills it (src/network/resolvconf.c), and the release's behaviour. */
export interface MuslConf {
  nameservers: string[];
  search: string[];
  ndots: number;
  /** Seconds (options timeout:, at most 60). */
  timeout: number;
  /** options attempts:, at most 10 (not read before 1.1.17). */
  attempts: number;
  /** The musl release modelled. */
  version: string;
  /** 1.2.1 (5cf1ac24): every answer of the pair is judged before parsing; before, any address won and only the first answer's rcode was read. */
  judgeEachAnswer: boolean;
  /** 1.2.4 (85050ac5): a name with no address is EAI_NODATA (EAI_NONAME before). */
  eaiNodata: boolean;
  /** 1.2.4 (51d4669f, dec8f0a4): a truncated answer is asked again over TCP. */
  tcpFallback: boolean;
  /**
   * 1.1.15 (04bced40): name_from_dns checks res_mkquery's result and returns EAI_NONAME on -1.
   * Before, the -1 length went to sendto(): nothing left, and the exchange waited out its timeout (EAI_AGAIN).
   */
  checksMkquery: boolean;
  /** 1.2.4 (1e7fb12f): a name res_mkquery rejects is passed over like NXDOMAIN (from 1.1.15 to 1.2.3, EAI_NONAME ended the lookup). */
  skipRejectedNames: boolean;
  /**
   * Before 1.2.4 (fixed by 6c858d6f): the share of pairs whose A and AAAA get the
   * same ID from res_mkquery's clock (nanoseconds of CLOCK_REALTIME): 0 with a
   * fine clock, near 1 with a coarse one. 0 from 1.2.4 (the IDs are made distinct).
   */
  sameIdProbability: number;
}

/** The musl releases modelled: search domains arrived in 1.1.13 (3d6e2e47); 1.2.5 is the latest. */
export const MUSL_RELEASES: readonly string[] = [
  ...Array.from({ length: 12 }, (_, i) => `1.1.${13 + i}`),
  ...Array.from({ length: 6 }, (_, i) => `1.2.${i}`),
];
export const MUSL_DEFAULT_VERSION = "1.2.3";

/** Why a musl version cannot be modelled, or null. */
export function muslVersionProblem(v: string): string | null {
  if (MUSL_RELEASES.includes(v)) return null;
  return `expected a musl release from 1.1.13 (the first with search domains) to 1.2.5, such as "1.2.3", found "${v}"`;
}

/** Whether release a is b or later (both in MUSL_RELEASES). */
export function muslAtLeast(a: string, b: string): boolean {
  return MUSL_RELEASES.indexOf(a) >= MUSL_RELEASES.indexOf(b);
}

export interface MuslOptions {
  /** A release of MUSL_RELEASES (default 1.2.3). */
  version?: string | undefined;
  /** See MuslConf.sameIdProbability (default 0). */
  sameIdProbability?: number | undefined;
}

/**
 * resolvconf.c reads only nameserver (MAXNS 3), search/domain and the ndots:,
 * attempts:, timeout: options (clamped to 15, 10 and 60); every other option is
 * ignored. Lines are read with fgets() into a 256-byte buffer, and a line that
 * does not fit with its newline (255 characters or more) is skipped whole
 * ("Ignore lines that get truncated"), so an earlier search line stays in force.
 */
export function muslConf(rc: ResolvConf, opts: MuslOptions = {}): MuslConf {
  const version = opts.version ?? MUSL_DEFAULT_VERSION;
  const problem = muslVersionProblem(version);
  if (problem !== null) throw new Error(problem);
  const since = (v: string) => muslAtLeast(version, v);
  const nameservers: string[] = [];
  let search: string[] = [];
  const o: ResolvOptions = {};
  for (const d of rc.lines) {
    if (d.length >= MUSL_LINE_MAX) continue;
    if (d.key === "nameserver") {
      if (nameservers.length < 3) nameservers.push(d.args[0]!);
    } else if (d.key === "search" || d.key === "domain") {
      search = d.args.map((x) => interned(x.replace(/\.$/, "")));
    } else {
      for (const opt of d.args) parseOption(o, opt, d.line);
    }
  }
  return {
    nameservers,
    search,
    ndots: Math.min(o.ndots ?? 1, 15),
    timeout: Math.min(o.timeout ?? 5, 60),
    // 1.1.13-1.1.16 looked for the digits of "attempts:" at p[6] instead of p[9] (d6cb08bc; fixed by 1a7fa5e5): never found.
    attempts: since("1.1.17") ? Math.min(o.attempts ?? 2, 10) : 2,
    version,
    judgeEachAnswer: since("1.2.1"),
    eaiNodata: since("1.2.4"),
    tcpFallback: since("1.2.4"),
    checksMkquery: since("1.1.15"),
    skipRejectedNames: since("1.2.4"),
    sameIdProbability: since("1.2.4") ? 0 : (opts.sameIdProbability ?? 0),
  };
}

/** char line[256]: fgets() keeps 255 characters, so a line of 255 or more has no room for its newline. */
export const MUSL_LINE_MAX = 255;
