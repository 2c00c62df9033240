import type { Rng } from "../engine/random.js";

/** A kube-proxy Service as the nat table sees it: VIP:port DNATed to endpoints. */
export interface NatService {
  name: string;
  /** Address ids (net/addr.ts). */
  vip: number;
  port: number;
  endpoints: { addr: number; port: number }[];
  /** Rules the first packet walks in KUBE-SERVICES before this Service's rule. */
  rulesBefore: number;
}

/**
 * The KUBE-SVC chain of kube-proxy's iptables mode
 * (pkg/proxy/iptables/proxier.go, writeServiceToEndpointRules): endpoint i < n-1
 * gets `-m statistic --mode random --probability 1/(n-i)`, written with
 * computeProbability's "%0.10f"; the last rule is a guaranteed match.
 * Returned: the probability thresholds as xt_statistic compares them
 * (iptables stores lround(0x80000000 * p); the match tests
 * (get_random_u32() & 0x7FFFFFFF) < threshold, net/netfilter/xt_statistic.c).
 */
export function statisticThresholds(n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n - 1; i++) {
    const p = Number((1 / (n - i)).toFixed(10));
    out.push(Math.round(0x80000000 * p));
  }
  return out;
}

/** Walks the KUBE-SVC chain with one random draw per statistic rule; returns the endpoint index. */
export function walkServiceChain(thresholds: number[], rng: Rng): number {
  for (let i = 0; i < thresholds.length; i++) {
    const r = Math.floor(rng() * 0x80000000);
    if (r < thresholds[i]!) return i;
  }
  return thresholds.length;
}
