/**
 * Queries a comparison or sweep may simulate over all its runs (variants or grid points, times
 * seeds). The model spends some microseconds of CPU per query (a profile of a glibc pod walking
 * 10,000 search domains: about 6 us a query, most in the resolver's name handling, conntrack's
 * lookup and the event loop, nothing growing with the list), so the cost of a run is its queries:
 * a base whose lookups walk a long search list multiplies them, and the variants and seeds
 * multiply that again. 100,000,000 is some ten minutes of a core.
 */
export const MAX_REPLICATED_QUERIES = 100_000_000;

export { estimatedQueries } from "../scenario/cost.js";
