import { type Dist, LogNormal, normal } from "../engine/dist.js";
import type { Rng } from "../engine/random.js";
import type { Simulator } from "../engine/sim.js";
import type { Packet } from "../net/packet.js";
import type { SoftirqLoad } from "./softirq.js";

/**
 * A node's NIC receive queue as its NAPI poll takes packets from it: what
 * decides whether two datagrams of one lookup that arrive from the wire a few
 * microseconds apart are handed to the stack as one list.
 *
 * A packet on an idle queue raises the queue's interrupt (after the NIC's
 * interrupt moderation, `ethtool -c`'s rx-usecs), whose NAPI poll runs at the
 * irq's exit and takes every packet the ring holds by then. From 5.5 each
 * packet GRO does not merge (GRO_NORMAL: a DNS datagram) is put on the poll's
 * rx_list (napi_gro_receive -> napi_skb_finish -> gro_normal_one, 6570bc79c0df;
 * napi_gro_frags from 5.4, 323ebb61e32b) and the list goes on when it holds
 * gro_normal_batch packets or when the poll completes (gro_normal_list ->
 * netif_receive_skb_list_internal -> ip_list_rcv): PREROUTING runs for every
 * packet of the list before any is confirmed. Before 5.5 each goes on alone
 * (netif_receive_skb_internal). The queue's interrupt stays masked until
 * napi_complete_done: a packet arriving after the poll took the ring waits for
 * the next one.
 */
export interface NicConfig {
  /** From a packet on an idle queue to its NAPI poll: the hard irq, napi_schedule and the softirq at its exit. Assumed: lognormal, median 2 us, p99 10 us. */
  irqNs: Dist;
  /** Interrupt moderation (`ethtool -c <nic>`: rx-usecs): the NIC holds the interrupt this long after the first packet. Default 0 (assumed: virtio-net has none by default). */
  coalesceNs: number;
  /** net.core.gro_normal_batch (net/core/gro.c: 8): a poll's list goes on every this many packets. */
  groNormalBatch: number;
}

export function defaultNic(rxUsecs = 0): NicConfig {
  return { irqNs: new LogNormal(2000, 10_000), coalesceNs: Math.round(rxUsecs * 1000), groNormalBatch: 8 };
}

/** Packets the NAPI poll processes per ns of softirq time: a round (softirq.ts roundNs) is a poll of up to NAPI_POLL_WEIGHT = 64 packets. */
function otherPacketsPerNs(load: SoftirqLoad): number {
  return (64 / load.roundNs) * load.share;
}

/** A Poisson count of mean m (Knuth's product method; the means here are a few packets). */
function poisson(m: number, rng: Rng): number {
  if (m <= 0) return 0;
  if (m > 30) return Math.max(0, Math.round(m + Math.sqrt(m) * normal(rng))); // a long wait on a busy queue: the normal approximation
  const l = Math.exp(-m);
  let k = 0;
  let p = rng();
  while (p > l) {
    k++;
    p *= rng();
  }
  return k;
}

/**
 * When the NAPI poll for a packet arriving on an idle queue at `t` runs. On a loaded CPU (the node's
 * other traffic keeps it in softirq `share` of the time) the irq lands in a softirq round with that
 * probability, and net_rx_action reaches this queue's poll only after the round's rest (exponential,
 * memoryless).
 */
export function pollStart(nic: NicConfig, load: SoftirqLoad | null, t: number, rng: Rng): number {
  let at = t + nic.coalesceNs + nic.irqNs.sample(rng);
  if (load !== null && load.share > 0 && rng() < load.share) at += -Math.log(1 - rng()) * load.roundNs;
  return Math.round(at);
}

/**
 * The lists a poll hands on from the packets it found on the ring, which arrived at `arrivals`
 * (ascending): consecutive packets stay in one list unless gro_normal_batch packets fill it between
 * them, counting the node's other traffic on the same queue (Poisson at the load's packet rate, none
 * on an unloaded node). Writes, for each of the n packets, the index of its list to out.
 */
export function pollLists(nic: NicConfig, load: SoftirqLoad | null, arrivals: readonly number[], n: number, rng: Rng, out: number[]): void {
  const rate = load !== null && load.share > 0 ? otherPacketsPerNs(load) : 0;
  const batch = nic.groNormalBatch;
  // The ring may hold other packets ahead of the first: its place in the current list is uniform then.
  let fill = rate > 0 ? Math.floor(rng() * batch) : 0;
  let list = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) fill += poisson(rate * (arrivals[i]! - arrivals[i - 1]!), rng);
    while (fill >= batch) {
      fill -= batch;
      list++;
    }
    out[i] = list;
    fill++;
  }
}

/**
 * A node's NIC receive queues, one per CPU (RSS picked it), each with its ring: a packet on an idle
 * queue raises the interrupt whose NAPI poll takes the ring (pollStart); until then, every packet
 * that arrives joins it. The poll hands the ring on as lists (pollLists) through `deliver`.
 */
export class NicQueues {
  private readonly rings: Packet[][];
  /** Per CPU: when each of the ring's packets arrived (the poll counts what came between them). */
  private readonly arrivals: number[][];
  /** The list each packet of a poll goes on in. */
  private readonly listOf: number[] = [];
  private readonly pollFn = (cpu: number) => this.poll(cpu);

  constructor(
    private readonly sim: Simulator,
    private readonly nic: NicConfig,
    private readonly load: SoftirqLoad | null,
    cpus: number,
    /** The polls' own stream; needed only when a packet arrives. */
    private readonly rng: Rng | undefined,
    private readonly deliver: (ring: readonly Packet[], from: number, to: number, cpu: number) => void,
  ) {
    this.rings = Array.from({ length: cpus }, () => []);
    this.arrivals = Array.from({ length: cpus }, () => []);
  }

  /** A packet from the wire lands on the ring of `cpu`'s queue now. */
  arrive(pkt: Packet, cpu: number): void {
    const ring = this.rings[cpu]!;
    this.arrivals[cpu]![ring.length] = this.sim.now;
    ring.push(pkt);
    if (ring.length > 1) return;
    if (this.rng === undefined) throw new Error("packets from the wire on a kernel with GRO_NORMAL lists need the NIC polls' stream");
    this.sim.at(pollStart(this.nic, this.load, this.sim.now, this.rng), this.pollFn, cpu);
  }

  /** The NAPI poll on `cpu` takes the ring and hands its packets on, as lists of up to gro_normal_batch. */
  private poll(cpu: number): void {
    const ring = this.rings[cpu]!;
    const n = ring.length;
    const listOf = this.listOf;
    pollLists(this.nic, this.load, this.arrivals[cpu]!, n, this.rng!, listOf);
    let from = 0;
    for (let i = 1; i <= n; i++) {
      if (i < n && listOf[i] === listOf[from]) continue;
      this.deliver(ring, from, i, cpu);
      from = i;
    }
    ring.length = 0;
  }
}
