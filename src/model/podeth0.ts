import type { Simulator } from "../engine/sim.js";
import type { NetemDelay } from "../kernel/qdisc.js";
import type { Netns } from "../kernel/netns.js";
import type { Packet } from "../net/packet.js";
import type { TraceCollector } from "./trace.js";

/** A packet held by a pod's netem qdisc, with the CPU whose watchdog releases it. */
interface Held {
  pkt: Packet;
  cpu: number;
  where: string;
}

/**
 * node.tc_delay on every pod's eth0 (weave-tc, GKE netd): the egress qdisc
 * holds the matching queries, the rest of the burst goes on through veth_xmit
 * into the node's receive path.
 */
export class PodEth0Netem {
  private readonly releaseFn = (h: Held) => this.release(h);

  constructor(
    private readonly tc: NetemDelay,
    private readonly sim: Simulator,
    private readonly node: Netns,
    private readonly tracer: () => TraceCollector | null,
  ) {}

  send(burst: Packet[], cpu: number, where: string, calls: "sendmmsg" | "send"): void {
    const tc = this.tc;
    const now = this.sim.now;
    const tracer = this.tracer();
    const pass: Packet[] = [];
    for (const pkt of burst) {
      if (!tc.matches(pkt)) {
        pass.push(pkt);
        continue;
      }
      const d = tc.delayNs();
      if (tracer !== null) {
        tracer.add(pkt.tally, now, `${where} eth0`, `tc netem holds ${pkt.dns!.qtype} for ${(d / 1e6).toFixed(3)} ms (the filter marks UDP port 53 ${tc.cfg.qtype} queries): it reaches the node's conntrack after the rest of the burst`);
      }
      // The qdisc watchdog's hrtimer is pinned to the CPU that armed it (qdisc_watchdog_schedule_range_ns,
      // HRTIMER_MODE_ABS_PINNED): the packet goes on to veth_xmit from the sender's CPU, alone.
      this.sim.at(now + d, this.releaseFn, { pkt, cpu, where });
    }
    if (pass.length > 0) this.node.ingress(pass, cpu, calls);
  }

  private release(h: Held): void {
    const pkt = h.pkt;
    this.tracer()?.add(pkt.tally, this.sim.now, `${h.where} eth0`, `tc netem releases ${pkt.dns!.qtype} into the veth`);
    this.node.ingress([pkt], h.cpu);
  }
}
