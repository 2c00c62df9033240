import type { Scenario } from "./schema.js";
import type { ResolvConf } from "../resolver/resolvconf.js";
import { showCount } from "./limits.js";

/**
 * Queries one run may simulate. The model spends some microseconds of CPU per query (about 6 us in a
 * profile of a glibc pod walking 10,000 search domains, nothing growing with the list), so a run's
 * cost is its queries: 200,000,000 is some twenty minutes of a core, above what the largest run the
 * lookups limit allows sends with a cluster's usual search list (20,000,000 lookups x 4 names x 2).
 */
export const MAX_RUN_QUERIES = 200_000_000;

/**
 * The most queries one run of a scenario can send, with no retry: per lookup, A and AAAA (one of
 * them for family inet or inet6) for every name of the search walk, the search list plus the name
 * as given (a name with a trailing dot is asked once), whichever of the pod's names walks longest.
 */
export function estimatedQueries(l: { scenario: Scenario; resolvConfs: readonly ResolvConf[] }): number {
  return l.scenario.pods.reduce((sum, p, i) => {
    const lookups = p.lookups ?? Math.round(p.rate_per_s! * p.duration_s!);
    const search = l.resolvConfs[i]?.search.length ?? 0;
    const walk = Math.max(...p.names.map((n) => ((typeof n === "string" ? n : n.name).endsWith(".") ? 1 : search + 1)));
    return sum + lookups * walk * (p.family === "unspec" ? 2 : 1);
  }, 0);
}

/** Why a run would take more CPU than MAX_RUN_QUERIES stands for, naming the pod that sends most; null if it would not. */
export function costProblem(scenario: Scenario, resolvConfs: readonly ResolvConf[]): { pod: number; text: string } | null {
  const total = estimatedQueries({ scenario, resolvConfs });
  if (total <= MAX_RUN_QUERIES) return null;
  const per = scenario.pods.map((_, i) => estimatedQueries({ scenario: { ...scenario, pods: [scenario.pods[i]!] }, resolvConfs: [resolvConfs[i]!] }));
  const pod = per.indexOf(Math.max(...per));
  const p = scenario.pods[pod]!;
  return {
    pod,
    text:
      `the run may send up to ${showCount(total)} queries (each lookup walks its pod's search list, A and AAAA for each name; pod ${p.name}: ${showCount(per[pod]!)}, ` +
      `${resolvConfs[pod]!.search.length} search domains), more than the ${MAX_RUN_QUERIES.toLocaleString("en-US")} a run simulates (some twenty minutes of a core); shorten the search list, use absolute names (a trailing dot), or ask for fewer lookups.`,
  };
}
