import assert from "node:assert/strict";
import { Fixed } from "../src/engine/dist.js";
import { stream } from "../src/engine/random.js";
import { Simulator } from "../src/engine/sim.js";
import { type HopStats, type NetnsConfig, newHopStats } from "../src/kernel/hop.js";
import { HopTracer } from "../src/kernel/hoptrace.js";
import { type RxMode, defaultRx } from "../src/kernel/rx.js";
import { RxPath, flowHash } from "../src/kernel/rxpath.js";
import { kernelFeatures } from "../src/kernel/version.js";
import { type Packet, makePacket, packetKey } from "../src/net/packet.js";

/** A receive path whose hooks log each packet's PREROUTING and POSTROUTING (100 ns each). */
function path(mode: RxMode, o: { cpus?: number; batch?: number; migration?: number } = {}) {
  const sim = new Simulator();
  const rx = { ...defaultRx(mode), pollWakeNs: new Fixed(5000), rpsNs: new Fixed(2000) };
  if (o.batch !== undefined) rx.batchProbability = o.batch;
  rx.migrationProbability = o.migration ?? 0;
  const send = { txNs: new Fixed(1000), datagramGapNs: new Fixed(300), callGapNs: new Fixed(300), stallProbability: 0, stallNs: new Fixed(0) };
  const cfg = { name: "t", cpus: o.cpus ?? 2, rx, send, features: kernelFeatures("6.18")! };
  const log: string[] = [];
  const hooks = {
    prerouting(p: Packet, cpu: number): number {
      log.push(`${sim.now} pre ${p.uid} cpu${cpu}`);
      p.ctPost = 100;
      return 100;
    },
    postrouting(p: Packet, cpu: number): void {
      log.push(`${sim.now} post ${p.uid} cpu${cpu}`);
    },
  };
  const stats: HopStats = newHopStats();
  const tracer = new HopTracer(sim, cfg as unknown as NetnsConfig, null, { forward() {}, toPod() {}, addrName: String });
  const rng = { timing: stream(1, "timing"), rx: stream(1, "rx"), migrate: stream(1, "migrate"), softirq: stream(1, "softirq") };
  return { sim, log, stats, rx: new RxPath(sim, cfg, rng, stats, hooks, tracer) };
}

const pkt = (uid: number, sport = 40000) => makePacket(uid, "udp", 1, sport, 2, 53, null, "", null, 0);

describe("kernel: the receive path (rxpath.ts), one for senders and the wire", () => {
  it("inline: a sender's pair goes one at a time on the sender's CPU (the second's PREROUTING after the first's POSTROUTING)", () => {
    const p = path("inline");
    p.rx.send([pkt(1), pkt(2)], 1);
    p.sim.run();
    assert.deepEqual(p.log, ["1000 pre 1 cpu1", "1200 post 1 cpu1", "1300 pre 2 cpu1", "1500 post 2 cpu1"]);
    assert.equal(p.stats.packetsIn, 2);
  });

  it("gro-threaded, batched: the poll hands the pair on as one list: PREROUTING for both before either POSTROUTING", () => {
    const p = path("gro-threaded", { batch: 1 });
    p.rx.send([pkt(1), pkt(2)], 0);
    p.sim.run();
    // The last datagram is queued at 1300; the poll thread runs 5000 later.
    assert.deepEqual(p.log, ["6300 pre 1 cpu0", "6400 pre 2 cpu0", "6600 post 1 cpu0", "6700 post 2 cpu0"]);
  });

  it("gro-threaded, not batched: each datagram waits for the poll thread alone", () => {
    const p = path("gro-threaded", { batch: 0 });
    p.rx.send([pkt(1), pkt(2)], 0);
    p.sim.run();
    assert.deepEqual(p.log, ["6000 pre 1 cpu0", "6200 post 1 cpu0", "6300 pre 2 cpu0", "6500 post 2 cpu0"]);
  });

  it("rps and rps-gro-threaded: each datagram is re-queued to its flow's CPU (get_rps_cpu), one at a time", () => {
    const a = pkt(1, 40000);
    const cpu = flowHash(packetKey(a)) % 4;
    for (const mode of ["rps", "rps-gro-threaded"] as const) {
      const p = path(mode, { cpus: 4, batch: 1 });
      p.rx.send([pkt(1, 40000), pkt(2, 40000)], 3);
      p.sim.run();
      // rps: queued at 1000 and 1300, then the IPI; rps-gro-threaded: one poll at 6300 re-queues both.
      const [t1, t2] = mode === "rps" ? [3000, 3300] : [8300, 8500];
      assert.deepEqual(p.log, [`${t1} pre 1 cpu${cpu}`, `${t1 + 200} post 1 cpu${cpu}`, `${t2} pre 2 cpu${cpu}`, `${t2 + 200} post 2 cpu${cpu}`], mode);
    }
  });

  it("the thread-migration split: the pair reaches PREROUTING at once on two CPUs (inline) or as one list (gro)", () => {
    const inline = path("inline", { migration: 1 });
    inline.rx.send([pkt(1), pkt(2)], 0);
    inline.sim.run();
    assert.deepEqual(inline.log, ["1300 pre 1 cpu0", "1300 pre 2 cpu1", "1500 post 1 cpu0", "1500 post 2 cpu1"]);
    const gro = path("gro", { migration: 1 });
    gro.rx.send([pkt(1), pkt(2)], 0);
    gro.sim.run();
    assert.deepEqual(gro.log, ["1300 pre 1 cpu0", "1400 pre 2 cpu0", "1600 post 1 cpu0", "1700 post 2 cpu0"]);
  });

  it("from the wire, gro-threaded: packets that arrive while a poll is pending join it as one list; packetsIn counts them when it runs", () => {
    const p = path("gro-threaded", { batch: 1 });
    p.rx.fromWire(pkt(1), 1);
    p.sim.at(2000, () => p.rx.fromWire(pkt(2), 1), undefined);
    p.sim.at(4000, () => assert.equal(p.stats.packetsIn, 0), undefined);
    p.sim.run();
    assert.deepEqual(p.log, ["5000 pre 1 cpu1", "5100 pre 2 cpu1", "5300 post 1 cpu1", "5400 post 2 cpu1"]);
    assert.equal(p.stats.packetsIn, 2);
  });

  it("from the wire, inline: each packet processed alone on its queue's CPU as it arrives", () => {
    const p = path("inline");
    p.rx.fromWire(pkt(1), 1);
    p.rx.fromWire(pkt(2), 1);
    p.sim.run();
    assert.deepEqual(p.log, ["0 pre 1 cpu1", "200 post 1 cpu1", "200 pre 2 cpu1", "400 post 2 cpu1"]);
  });
});
