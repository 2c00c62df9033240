import { type GoConf, goConf, goFallbackMessage, goUnknownOption } from "./go-conf.js";
import { goGetaddrinfo } from "./go-lookup.js";
import {
  type Family,
  type Resolver,
  type ResolverEnv,
  ResolverRefusal,
  type ResolverProcess,
  type ResolverSettings,
  type ResolverSetup,
  type Spelling,
  type TimerReport,
  instants,
  optionWord,
  seconds,
  StatelessThread,
} from "./resolver.js";
import type { ResolvConf } from "./resolvconf.js";

// nameList reads the conf, and the lookup walks it.
export { nameList } from "./go-lookup.js";
export { type GoConf, type GoWord, goConf, goFallbackMessage, goUnknownOption } from "./go-conf.js";

/*
 * Go's pure resolver (package net with CGO_ENABLED=0, the netgo tag, GODEBUG=netdns=go,
 * or the default choice when nothing sends it to cgo), after src/net/dnsclient_unix.go
 * and src/net/dnsconfig_unix.go (Go 1.21-1.24). Every query, and every retry of it, is
 * exchanged on a socket of its own (exchange: dial, write, read, close), so A and AAAA
 * never share a source port and the same-tuple conntrack race cannot happen.
 */

/** The choice of a libc resolver instead, in the words of the scenario or of the lookup command. */
function libcInstead(spelling: Spelling): string {
  return spelling === "scenario" ? "libc: glibc or musl" : "--libc glibc or musl";
}

/** The network argument of Go's lookup for getaddrinfo's family ("ip" asks A and AAAA). */
function goNetwork(family: Family): string {
  return family === "inet" ? '"ip4"' : family === "inet6" ? '"ip6"' : '"ip"';
}

class GoSetup implements ResolverSetup {
  readonly name = "go";
  readonly jsonFields = {};
  readonly contrast = null;
  private readonly conf: GoConf;
  private readonly thread: StatelessThread;

  constructor(private readonly rc: ResolvConf) {
    this.conf = goConf(rc);
    // Go keeps no resolver state per thread or process (rotate's counter is the conf's soffset).
    const conf = this.conf;
    this.thread = new StatelessThread((t, name, family) => goGetaddrinfo(t, conf, name, family));
  }

  call(name: string, family: Family): string {
    return `go LookupIPAddr("${name}") (goLookupIPCNAME, network ${goNetwork(family)})`;
  }

  newProcess(): ResolverProcess {
    return this.thread;
  }

  /** How a burst reaches the kernel (a write() per socket). */
  readonly sendCalls = "send" as const;

  sendWords(count: number): string {
    return count === 1 ? "sends" : "sends back to back";
  }

  lossExplanation(): string {
    const c = this.conf;
    return `Go's exchange waits until the query's own deadline, timeout = ${c.timeout * 1000} ms (options timeout:${c.timeout}), then tryOneName sends it again from a new socket (attempts:${c.attempts}): ${c.timeout * 1000} ms plus a round trip. Its A and AAAA never share a socket, so they cannot clash with each other in conntrack.`;
  }

  timerHint(r: TimerReport): string | null {
    if (r.timeouts.length === 0) return null;
    const c = this.conf;
    const o = this.rc.options;
    const opt = `options ${optionWord("timeout", o.timeout, c.timeout)} ${optionWord("attempts", o.attempts, c.attempts)}; dnsclient_unix.go exchange, tryOneName`;
    return (
      `Go gives each try of a query its own deadline of timeout = ${seconds(1000 * c.timeout)} on a new socket (${opt}): a lost query costs ${seconds(1000 * c.timeout)}, ` +
      `then it is sent again from a new port, up to ${c.attempts} tr${c.attempts === 1 ? "y" : "ies"} per nameserver; ${r.timeouts.length === 1 ? "a deadline expired" : "deadlines expired"} at ${instants(r.timeouts)}.`
    );
  }

  hangHint(): string | null {
    return null;
  }
}

/**
 * Go's pure resolver: no settings of its own. An environment with RES_OPTIONS or LOCALDOMAIN, or a
 * resolv.conf with an option it does not know, sends the lookups to the libc (conf.go): refused.
 */
export const go = {
  name: "go",
  settings: [],
  readSettings: (): ResolverSettings => ({}),
  prepare(rc: ResolvConf, env: ResolverEnv | undefined, _settings: ResolverSettings, spelling: Spelling): ResolvConf {
    if (env !== undefined && (env.RES_OPTIONS !== undefined || env.LOCALDOMAIN !== undefined)) {
      throw new ResolverRefusal("env", `RES_OPTIONS or LOCALDOMAIN make Go use the libc (cgo) instead of its own resolver (conf.go); use ${libcInstead(spelling)} to model that`);
    }
    const unknown = goUnknownOption(rc);
    if (unknown !== null) throw new ResolverRefusal("resolv_conf", goFallbackMessage(unknown, libcInstead(spelling)), unknown.line);
    return rc;
  },
  configure: (rc: ResolvConf): ResolverSetup => new GoSetup(rc),
} as const satisfies Resolver;
