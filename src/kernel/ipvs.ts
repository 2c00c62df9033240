import type { NatService } from "./kubeproxy.js";
import { TupleMap } from "./tuplemap.js";

/**
 * kube-proxy's IPVS mode (pkg/proxy/ipvs/proxier.go): the Services are IPVS
 * virtual servers with the rr scheduler (defaultScheduler), and
 * net/ipv4/vs/conntrack=1 (sysctlVSConnTrack), so netfilter conntrack stays on.
 *
 * The ClusterIP is local (bound to kube-ipvs0): a pod's query goes through
 * conntrack at PREROUTING (a new, unconfirmed entry), routing, then
 * ip_vs_in_hook at LOCAL_IN (ip_vs_core.c, priority NF_IP_PRI_NAT_SRC - 1),
 * which looks the tuple up in IPVS's own connection table
 * (ip_vs_conn_in_get), or on a miss schedules a real server and hashes a new
 * connection at once (ip_vs_try_to_schedule -> ip_vs_schedule ->
 * ip_vs_conn_new -> ip_vs_conn_hash, ip_vs_conn.c). ip_vs_nat_xmit then
 * rewrites the unconfirmed entry's reply tuple (ip_vs_nfct.c
 * ip_vs_update_conntrack -> nf_conntrack_alter_reply) and sends the packet on
 * through LOCAL_OUT and POSTROUTING, where the entry is confirmed: the
 * conntrack insert clash is the same as in iptables mode, and there is no nat
 * rule walk (KUBE-SERVICES matches an ipset).
 *
 * Whether two first packets of one tuple reach different real servers depends
 * on whether both miss the IPVS table. A GRO list never splits: PREROUTING
 * runs for the whole list, then each packet goes through LOCAL_IN to its
 * confirm before the next (ip_sublist_rcv_finish -> dst_input), so the second
 * finds the first's connection. Two packets on two CPUs both miss only when
 * their IPVS steps are closer than the time from the lookup miss to the hash
 * of the new connection (ip_vs_conn_hash does not look for a duplicate): that
 * time is not measured, so it is a parameter (`scheduleNs`).
 */
export interface IpvsConfig {
  /** ip_vs_conn_in_get miss -> ip_vs_conn_hash of the new connection, ns. */
  scheduleNs: number;
}

/**
 * The default of `scheduleNs`, assumed, not measured: the lookup miss, the rr
 * scheduler under its lock, the allocation of the connection and its hash
 * insert, a few hundred ns on a current CPU.
 */
export const DEFAULT_IPVS_SCHEDULE_NS = 300;

/** ip_vs_proto_udp.c udp_timeouts[IP_VS_UDP_S_NORMAL]: 5 min (kube-proxy's ipvs.udpTimeout 0 keeps it). */
export const IPVS_UDP_TIMEOUT_NS = 300 * 1_000_000_000;

/** What the last schedule() did, for traces. */
export type IpvsOutcome = "found" | "scheduled" | "both-missed";

interface IpvsConn {
  /** The ORIGINAL tuple key (client address and port, virtual address and port, protocol). */
  key: number;
  /** Index of the real server in the Service's endpoints. */
  dest: number;
  /** When the packet that created it went through ip_vs_in_hook, and on which CPU. */
  at: number;
  cpu: number;
  expiresAt: number;
}

/** One node's IPVS: the connection table and the rr scheduler's position per Service. */
export class Ipvs {
  private readonly conns = new TupleMap<IpvsConn>();
  private readonly rr = new Map<NatService, number>();
  private setsSinceSweep = 0;
  last: IpvsOutcome = "scheduled";

  constructor(readonly cfg: IpvsConfig) {}

  /**
   * ip_vs_in_hook for the first packet of a new conntrack entry with ORIGINAL
   * tuple `key`, on `cpu`, reaching LOCAL_IN at time `at`: the real server's
   * index in `svc.endpoints`.
   */
  schedule(svc: NatService, key: number, cpu: number, at: number): number {
    const c = this.conns.get(key);
    if (c !== undefined && at < c.expiresAt) {
      // Another CPU's packet whose IPVS step is within scheduleNs of ours: neither sees the other's connection.
      const bothMiss = c.cpu !== cpu && Math.abs(at - c.at) < this.cfg.scheduleNs;
      if (!bothMiss) {
        // ip_vs_conn_in_get: HIT; ip_vs_conn_put restarts its timer.
        c.expiresAt = at + IPVS_UDP_TIMEOUT_NS;
        this.last = "found";
        return c.dest;
      }
      this.last = "both-missed";
    } else {
      this.last = "scheduled";
    }
    // ip_vs_rr_schedule: the destination after the last one chosen (svc->sched_data), in the order added.
    const n = svc.endpoints.length;
    const dest = (this.rr.get(svc) ?? 0) % n;
    this.rr.set(svc, dest + 1);
    // ip_vs_conn_hash: hlist_add_head_rcu, so later lookups find the newest connection first.
    if (c !== undefined) {
      c.dest = dest;
      c.at = at;
      c.cpu = cpu;
      c.expiresAt = at + IPVS_UDP_TIMEOUT_NS;
    } else {
      this.conns.set(key, { key, dest, at, cpu, expiresAt: at + IPVS_UDP_TIMEOUT_NS });
      this.maybeSweep(at);
    }
    return dest;
  }

  /** ip_vs_conn_expire, lazily: every so often, forget the connections whose timer ran out. */
  private maybeSweep(now: number): void {
    if (++this.setsSinceSweep < 4096 + (this.conns.size >> 1)) return;
    this.setsSinceSweep = 0;
    for (const c of this.conns.values()) if (now >= c.expiresAt) this.conns.delete(c.key);
  }
}
