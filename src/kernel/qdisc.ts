import type { Dist } from "../engine/dist.js";
import type { Rng } from "../engine/random.js";
import type { Packet, QType } from "../net/packet.js";

/**
 * Where the delaying qdisc sits on a query's way out:
 * - "pod-eth0": the pod's end of its veth. Its egress qdisc runs in the pod's
 *   namespace (dev_queue_xmit), before veth_xmit hands the packet to the node,
 *   so before the node's conntrack hop.
 * - "uplink": the node's interface towards the other nodes (eth0, or the
 *   overlay device such as weave or flannel.1). Its qdisc runs after
 *   POSTROUTING (ip_output -> NF_INET_POST_ROUTING, whose last hook is the
 *   confirm, then ip_finish_output2 -> dev_queue_xmit), so after the node's
 *   conntrack hop: it cannot keep the two queries apart there.
 */
export type TcInterface = "pod-eth0" | "uplink";
export const TC_INTERFACES: readonly TcInterface[] = ["pod-eth0", "uplink"];

export interface TcDelayConfig {
  iface: TcInterface;
  /** The query type the filter picks (weave-tc and GKE netd: AAAA). */
  qtype: QType;
  /** netem's delay (and jitter), per packet. */
  delay: Dist;
}

/**
 * The mitigation of Quentin-M/weave-tc (weave-tc.sh; copied by GoogleCloudPlatform/netd
 * scripts/dns-delay): a prio qdisc whose band 1:1 is `netem delay 4ms 1ms distribution
 * pareto`, fed by `fw` filter on a mark that mangle POSTROUTING sets on UDP port 53
 * queries (u32 "28 & 0xF8 = 0": QR and opcode 0) of one QTYPE (string match on
 * "|00001C0001|": end of QNAME, QTYPE 28, QCLASS IN). Other packets take the
 * undelayed band. netem (sch_netem.c netem_enqueue) stamps each packet with
 * time_to_send = now + its delay draw and the qdisc watchdog releases it then.
 */
export class NetemDelay {
  constructor(
    readonly cfg: TcDelayConfig,
    private readonly rng: Rng,
  ) {}

  /** The mark and the filter: a UDP DNS query of the configured type. */
  matches(pkt: Packet): boolean {
    const q = pkt.dns;
    return pkt.proto === "udp" && pkt.dport === 53 && q !== null && !q.response && q.qtype === this.cfg.qtype;
  }

  /** time_to_send - now for one packet, ns. */
  delayNs(): number {
    return Math.round(this.cfg.delay.sample(this.rng));
  }
}
