import type { LoadedScenario } from "../scenario/load.js";

/**
 * Queries a comparison or sweep may simulate over all its runs (variants or grid points, times
 * seeds). The model spends some microseconds of CPU per query (a profile of a glibc pod walking
 * 10,000 search domains: about 6 us a query, most in the resolver's name handling, conntrack's
 * lookup and the event loop, nothing growing with the list), so the cost of a run is its queries:
 * a base whose lookups walk a long search list multiplies them, and the variants and seeds
 * multiply that again. 100,000,000 is some ten minutes of a core.
 */
export const MAX_REPLICATED_QUERIES = 100_000_000;

/**
 * The most queries one run of a scenario can send, with no retry: per lookup, A and AAAA (one of
 * them for family inet or inet6) for every name of the search walk, the search list plus the name
 * as given (a name with a trailing dot is asked once), whichever of the pod's names walks longest.
 */
export function estimatedQueries(l: LoadedScenario): number {
  return l.scenario.pods.reduce((sum, p, i) => {
    const lookups = p.lookups ?? Math.round(p.rate_per_s! * p.duration_s!);
    const search = l.resolvConfs[i]?.search.length ?? 0;
    const walk = Math.max(...p.names.map((n) => ((typeof n === "string" ? n : n.name).endsWith(".") ? 1 : search + 1)));
    return sum + lookups * walk * (p.family === "unspec" ? 2 : 1);
  }, 0);
}
