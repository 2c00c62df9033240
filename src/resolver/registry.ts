import { busybox } from "./busybox.js";
import { cares } from "./cares.js";
import { glibc } from "./glibc.js";
import { go } from "./go.js";
import { musl } from "./musl.js";
import type { Resolver, ResolverSetting } from "./resolver.js";

/**
 * Every resolver the simulator knows, one line each: the one place that goes from
 * a name (pods[].libc, --libc) to a resolver. Adding one is a file that exports a
 * Resolver and a line here.
 */
const RESOLVERS = [
  glibc, // glibc 2.36 (resolv/res_send.c, res_query.c)
  musl, // musl 1.1.13-1.2.5 (src/network/res_msend.c, lookup_name.c)
  go, // Go's pure resolver (net/dnsclient_unix.go)
  cares, // c-ares 1.34.6 ares_getaddrinfo (src/lib/ares_getaddrinfo.c, ares_process.c, ares_metrics.c)
  busybox, // busybox 1.37.0 nslookup (networking/nslookup.c send_queries)
] as const satisfies readonly Resolver[];

/** A resolver's name: "glibc", "musl", "go", "c-ares", "busybox". */
export type ResolverName = (typeof RESOLVERS)[number]["name"];

/** The names, in registry order (the scenario schema's libc enum). */
export const RESOLVER_NAMES = RESOLVERS.map((r) => r.name) as [ResolverName, ...ResolverName[]];

const BY_NAME = new Map<string, Resolver>(RESOLVERS.map((r) => [r.name, r]));

/** The resolver of that name, or undefined. */
export function findResolver(name: string): Resolver | undefined {
  return BY_NAME.get(name);
}

/** The resolver of a name known to be one (from the schema, or checked with findResolver). */
export function resolverNamed(name: ResolverName): Resolver {
  return BY_NAME.get(name)!;
}

/** "glibc, musl, go, c-ares or busybox". */
export function resolverList(): string {
  return `${RESOLVER_NAMES.slice(0, -1).join(", ")} or ${RESOLVER_NAMES[RESOLVER_NAMES.length - 1]}`;
}

/** Every resolver-specific setting, with the resolver that reads it (the others refuse it). */
export const RESOLVER_SETTINGS: readonly { resolver: Resolver; setting: ResolverSetting }[] = RESOLVERS.flatMap((r: Resolver) => r.settings.map((setting) => ({ resolver: r, setting })));
