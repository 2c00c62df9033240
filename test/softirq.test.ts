import assert from "node:assert/strict";
import { stream } from "../src/engine/random.js";
import { type RaceOptions, RACE_DEFAULTS, runRace } from "../src/experiment/race.js";
import type { HopEventKind } from "../src/kernel/hop.js";
import { SoftirqCpus, defaultSoftirqLoad, schedLatencyNs } from "../src/kernel/softirq.js";
import { kernelFeatures } from "../src/kernel/version.js";
import { calibration, inputError } from "./helpers.js";

/** The share of 20,000 instants (1 ms apart) at which ksoftirqd holds work on a CPU. */
function runnableShare(share: number, runnable: number, defers: boolean, seed = 1): number {
  const s = new SoftirqCpus(defaultSoftirqLoad(2, share, runnable), 2, defers, stream(seed, "softirq"));
  let n = 0;
  for (let i = 1; i <= 20_000; i++) if (s.backlogAt(0, i * 1_000_000) > 0) n++;
  return n / 20_000;
}

/** runRace, with the number of each kind of receive-path event. */
function race(o: Partial<RaceOptions>): { clashes: number; pairs: number; events: Partial<Record<HopEventKind, number>> } {
  const events: Partial<Record<HopEventKind, number>> = {};
  const r = runRace({ kernel: "6.18", ...RACE_DEFAULTS, ...o, trace: (e) => void (events[e.kind] = (events[e.kind] ?? 0) + 1) });
  return { clashes: r.clashes, pairs: r.pairs, events };
}

interface FieldCase {
  name: string;
  libc: "glibc" | "musl";
  steer: "def" | "rps";
  cpu_softirq_share: number;
  loadavg_start: number[];
  pairs: number;
  clash_events: number;
}

describe("softirq: the node's own load and ksoftirqd (kernel/softirq.ts)", () => {
  it("sched_latency scales as 6 ms x (1 + ilog2(min(cpus, 8))): 6, 12, 18, 24 ms for 1, 2, 4, 8+ CPUs", () => {
    assert.deepEqual([1, 2, 4, 8, 64].map(schedLatencyNs), [6e6, 12e6, 18e6, 24e6, 24e6]);
  });

  it("features: ksoftirqd defers NET_RX from 4.9 (4cd13c21b207) until the revert in 6.5 (d15121be7485)", () => {
    assert.deepEqual(["4.8", "4.9", "5.4", "6.4", "6.5", "6.18"].map((v) => kernelFeatures(v)!.ksoftirqdDefers), [false, true, true, true, false, false]);
  });

  it("ksoftirqd is runnable more often the more softirq work and the more runnable tasks a CPU has", () => {
    const byShare = [0.1, 0.3, 0.45].map((s) => runnableShare(s, 1, true));
    const byTasks = [0.5, 1, 2].map((r) => runnableShare(0.3, r, true));
    assert.ok(byShare[0]! < byShare[1]! && byShare[1]! < byShare[2]!, `by share ${byShare}`);
    assert.ok(byTasks[0]! < byTasks[1]! && byTasks[1]! < byTasks[2]!, `by tasks ${byTasks}`);
    assert.ok(byShare[0]! > 0 && byShare[2]! < 1, `${byShare}`);
  });

  it("where ksoftirqd does not defer (<= 4.8, >= 6.5), the irq exit runs pending work: it holds work less often", () => {
    assert.ok(runnableShare(0.4, 1, false) < runnableShare(0.4, 1, true));
  });

  it("no load, no softirq process: a node without softirq_share never holds a pair", () => {
    const r = race({ kernel: "5.4", send: "two-sends", pairs: 2000, runnablePerCpu: 8 });
    assert.deepEqual(r.events["ksoftirqd-deferred"] ?? 0, 0);
  });

  it("6.18 field loads (kernel-6.18-field.json): every measured case's load gives no clash, under the measured bound", () => {
    const cases = calibration<{ cases: FieldCase[] }>("kernel-6.18-field.json").cases;
    let clashes = 0;
    let pairs = 0;
    for (const c of cases) {
      const r = race({
        kernel: "6.18",
        send: c.libc === "glibc" ? "sendmmsg" : "two-sends",
        rx: c.steer === "rps" ? "rps" : "inline",
        pairs: 10_000,
        softirqShare: c.cpu_softirq_share,
        runnablePerCpu: c.loadavg_start[0]! / 2,
      });
      assert.equal(c.clash_events, 0, c.name);
      clashes += r.clashes;
      pairs += r.pairs;
    }
    assert.equal(clashes, 0, `${clashes} clashes in ${pairs} pairs`);
  });

  it("the same loads on 5.4 hold pairs for ksoftirqd (4.9-6.4 defer); on 6.18 the send's local_bh_enable runs the backlog first", () => {
    const load = { send: "two-sends" as const, pairs: 20_000, softirqShare: 0.4, runnablePerCpu: 1, cpus: 4 };
    const old = race({ kernel: "5.4", ...load });
    const now = race({ kernel: "6.18", ...load });
    assert.ok((old.events["ksoftirqd-deferred"] ?? 0) > 100, JSON.stringify(old.events));
    assert.ok((now.events["backlog-run"] ?? 0) > 0, JSON.stringify(now.events));
    assert.ok((now.events["ksoftirqd-deferred"] ?? 0) < (old.events["ksoftirqd-deferred"] ?? 0) / 10, JSON.stringify(now.events));
  });

  it("musl's two send() calls leave more room to be preempted between them than glibc's one sendmmsg()", () => {
    const load = { kernel: "5.4", pairs: 40_000, softirqShare: 0.5, runnablePerCpu: 1, cpus: 4 };
    const musl = race({ ...load, send: "two-sends" }).events["ksoftirqd-migrated"] ?? 0;
    const glibc = race({ ...load, send: "sendmmsg" }).events["ksoftirqd-migrated"] ?? 0;
    assert.ok(musl > 5 * Math.max(1, glibc), `musl ${musl}, glibc ${glibc}`);
  });

  it("with one CPU the thread has nowhere to go; with RPS the load never holds a sender's pair (both go to their flow's CPU)", () => {
    const load = { kernel: "5.4", send: "two-sends" as const, pairs: 20_000, softirqShare: 0.5, runnablePerCpu: 1 };
    assert.equal(race({ ...load, cpus: 1 }).events["ksoftirqd-migrated"] ?? 0, 0);
    const rps = race({ ...load, cpus: 4, rx: "rps" });
    assert.equal((rps.events["ksoftirqd-deferred"] ?? 0) + (rps.events["ksoftirqd-migrated"] ?? 0), 0);
    assert.equal(rps.clashes, 0);
  });

  describe("bad input", () => {
    const base = `name: t\ndescription: t\nkernel: "5.4"\nnode:\n  NODE\npods:\n  - { name: a, libc: glibc, lookups: 1, names: [{ name: x, weight: 1 }], resolv_conf: "nameserver 10.96.0.10\\n" }\n`;
    for (const [field, v, msg] of [
      ["softirq_share", "1.5", "expected a share of CPU time from 0 to 0.95"],
      ["softirq_share", "busy", "expected a share of CPU time from 0 to 0.95"],
      ["runnable_per_cpu", "-1", "expected a number of tasks from 0 to 64"],
    ] as const) {
      it(`node.${field}: ${v}`, () => {
        assert.match(inputError(base.replace("NODE", `${field}: ${v}`)), new RegExp(`^bad\\.yaml: line \\d+: field "node\\.${field}": ${msg}`));
      });
    }
  });
});
