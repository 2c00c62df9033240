import { type Dist, LogNormal, Mixture, Uniform } from "../engine/dist.js";

/** Times along one packet's netfilter path at a conntrack hop, in ns. */
export interface HopTiming {
  /**
   * Lookup (nf_conntrack_in miss) to confirm (__nf_conntrack_confirm) of a packet
   * that creates an entry and walks no nat rule before its DNAT rule.
   */
  window: Dist;
  /** Share of `window` before the nat PREROUTING hook is done (the rest: routing, FORWARD, POSTROUTING). */
  preFraction: number;
  /** Time per nat rule walked before the Service's rule (only the first packet of a new entry walks the nat table). */
  ruleNs: number;
  /** Multiplier on the whole rule walk (its spread: slow walks). */
  ruleSpread: Dist;
  /** A packet that hits a confirmed entry (no rule walk): PREROUTING to POSTROUTING. */
  hitNs: number;
  /** POSTROUTING nat (the null binding's get_unique_tuple) runs this long before the confirm. */
  snatLeadNs: number;
  /** Confirm to the packet leaving the node. */
  xmitNs: number;
}

/** Times on the sender's side of the hop, in ns. */
export interface SendTiming {
  /** A datagram's path from send() to the node's PREROUTING hook (socket, pod netns, veth). */
  txNs: Dist;
  /** Between two datagrams of one sendmmsg() (glibc). */
  datagramGapNs: Dist;
  /** Between two send() calls of one thread (musl's sendto() per query: 15-70 us apart, measured with musl 1.2.3). */
  callGapNs: Dist;
  /** Probability that a send is delayed (preemption, an interrupt), and by how much. */
  stallProbability: number;
  stallNs: Dist;
}

/**
 * The nat ruleset's implementation: kube-proxy's iptables rules loaded through
 * iptables-legacy or iptables-nft, or a native nftables ruleset (kube-proxy's
 * nftables mode; the calibration's "short ruleset" with numgen random).
 */
export type NatBackend = "iptables-legacy" | "iptables-nft" | "nftables";
export const NAT_BACKENDS: readonly NatBackend[] = ["iptables-legacy", "iptables-nft", "nftables"];

/**
 * Defaults calibrated against a real 6.18 kernel on a 2-vCPU veth topology
 * (calibration/kernel-6.18-veth.json, kernel-6.18-ruleset-and-load.json).
 * Two threads on two CPUs sharing one socket clash when their sends are closer
 * than the window, so P(clash | gap) is the window's survival function: a
 * lognormal core (where P(clash) falls from 90% to 10%) plus a 3% slow path
 * (the measured tail: about 1.5% at 4 us, 0.2% at 10 us).
 * - iptables-legacy, 0 rules: 90% / 50% / 10% at 1.9 / 2.2 / 2.6-3.0 us;
 * - iptables-nft, 0 rules: 2.1 / 2.7 / 3.4-4.5 us;
 * - nftables (the "short ruleset" of kernel-6.18-veth.json): 50% at ~2.4 us.
 * Each rule walked before the DNS Service's rule adds ~3.55 ns (legacy: 50%
 * point +3.3 us at 1,000 rules, +36 us at 10,000) or ~14.6 ns (nft, +14.6 us at
 * 1,000), and about 30% of nft walks are 1.15-1.75x slower (its measured tail).
 */
export function defaultHopTiming(backend: NatBackend): HopTiming {
  const core = backend === "iptables-nft" ? new LogNormal(2680, 4250) : backend === "nftables" ? new LogNormal(2350, 3400) : new LogNormal(2170, 3000);
  const nft = backend !== "iptables-legacy";
  return {
    window: new SlowPath(core, 0.03, new LogNormal(1500, 12000)),
    preFraction: 0.5,
    ruleNs: nft ? 14.6 : 3.55,
    ruleSpread: nft ? new Mixture(0.7, new LogNormal(1, 1.08), new Uniform(1.15, 1.75)) : new LogNormal(1, 1.05),
    hitNs: 1200,
    snatLeadNs: 300,
    xmitNs: 500,
  };
}

export function defaultSendTiming(): SendTiming {
  return {
    txNs: new ShiftedExp(1000, 50),
    datagramGapNs: new ShiftedExp(300, 100),
    callGapNs: new Uniform(15_000, 70_000),
    stallProbability: 0.004,
    stallNs: new Uniform(5000, 50000),
  };
}

/** base + exponential(mean): a fixed path with a small random jitter. */
export class ShiftedExp implements Dist {
  constructor(readonly base: number, readonly mean: number) {}
  get median(): number {
    return this.base + this.mean * Math.LN2;
  }
  sample(rng: () => number): number {
    return this.base - this.mean * Math.log(1 - rng());
  }
  describe(): string {
    return `${this.base} + exponential(mean ${this.mean})`;
  }
}

/** A core distribution plus, with probability p, an extra delay (a slow path). */
export class SlowPath implements Dist {
  constructor(readonly core: Dist, readonly p: number, readonly extra: Dist) {}
  get median(): number {
    return this.core.median;
  }
  sample(rng: () => number): number {
    const v = this.core.sample(rng);
    return rng() < this.p ? v + this.extra.sample(rng) : v;
  }
  describe(): string {
    return `${this.core.describe()} + with p=${this.p} ${this.extra.describe()}`;
  }
}

