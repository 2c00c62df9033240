import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type CalibrateArgs, calibrateFromArgs } from "../src/cli/calibrate.js";
import { nodeBlock } from "../src/calibrate/infer.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { proportion } from "../src/stats/proportion.js";
import { ROOT, inputError } from "./helpers.js";

const FIX = resolve(ROOT, "test/fixtures/counters-6.18");
const runs = JSON.parse(readFileSync(join(FIX, "runs.json"), "utf8")) as { runs: Record<string, { pairs: number; seconds: number; clash_resolve_delta: number; first_touch_packets: number }> };
const EXT = { "conntrack -S": "conntrack-S.txt", proc: "nf_conntrack", "node-exporter": "node-exporter.prom" } as const;

/** calibrate's arguments for a recorded run, read in one of the three formats. */
function args(run: string, format: keyof typeof EXT, o: Partial<CalibrateArgs> = {}): CalibrateArgs {
  const r = runs.runs[run]!;
  return {
    before: join(FIX, `${run}.before.${EXT[format]}`),
    after: join(FIX, `${run}.after.${EXT[format]}`),
    seconds: String(r.seconds),
    kernel: "6.18",
    queriesPerS: String((2 * r.pairs) / r.seconds),
    corednsBefore: undefined,
    corednsAfter: undefined,
    corednsShare: undefined,
    endpoints: undefined,
    json: false,
    ...o,
  };
}

const tmp = mkdtempSync(join(tmpdir(), "dnsrace-calibrate-"));
/** A counter snapshot written to a temporary file; its path. */
function file(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}
const ctS = (cpu0: string, cpu1: string) => `cpu=0   \t${cpu0}\ncpu=1   \t${cpu1}\n`;
const old = (insertFailed: number, drop: number, insert = 1000) =>
  `found=0 invalid=0 ignore=7 insert=${insert} insert_failed=${insertFailed} drop=${drop} early_drop=0 error=0 search_restart=0`;
function synthetic(kernel: string, before: string, after: string, o: Partial<CalibrateArgs> = {}): CalibrateArgs {
  return { ...args("sendmmsg", "conntrack -S"), before: file(`b-${kernel}`, before), after: file(`a-${kernel}`, after), seconds: "100", kernel, queriesPerS: "2000", ...o };
}

describe("stats: proportion(k, n), the exact Clopper-Pearson 95% interval", () => {
  it("proportion(5, 1e6): 1.62e-6 to 1.17e-5 (Poisson limits 1.6235 and 11.668 per 1e6)", () => {
    const p = proportion(5, 1_000_000);
    assert.ok(Math.abs(p.low * 1e6 - 1.6235) < 1e-3 && Math.abs(p.high * 1e6 - 11.668) < 1e-2, `${p.low} ${p.high}`);
  });
  it("proportion(0, n): low 0, high 1 - 0.025^(1/n)", () => {
    const p = proportion(0, 12_217_046);
    assert.equal(p.low, 0);
    assert.ok(Math.abs(p.high - (1 - 0.025 ** (1 / 12_217_046))) < 1e-10, String(p.high));
  });
  it("refuses k > n", () => assert.throws(() => proportion(3, 2), RangeError));
});

describe("calibrate: a node's own counters (recorded on a real 6.18 node, test/fixtures/counters-6.18)", () => {
  it("two threads on one socket: 121 clashes in clash_resolve over 20,000 pairs, the same from conntrack -S, /proc and the diagnostic count", () => {
    const run = runs.runs["two-threads"]!;
    for (const format of ["conntrack -S", "proc"] as const) {
      const c = calibrateFromArgs(args("two-threads", format));
      assert.equal(c.pairs, 20_000, format);
      assert.equal(c.overlap.k, run.clash_resolve_delta, format);
      assert.equal(c.overlap.estimate, 121 / 20_000, format);
      assert.ok(c.overlap.low < c.overlap.estimate && c.overlap.estimate < c.overlap.high, format);
      assert.equal(c.cpus, 2);
      assert.equal(c.insertFailedPerInsert, null, "6.18 does not count insert");
    }
    // The diagnostic mark count (an entry seen without its mark) is the fresh pairs plus the overlaps:
    // the clashes cannot be more than it leaves over the pairs' minimum of one entry each.
    assert.ok(run.first_touch_packets >= run.clash_resolve_delta && run.first_touch_packets <= run.pairs + run.clash_resolve_delta);
  });

  it("one thread's sendmmsg(): 0 clashes in 20,000 pairs, shown with its upper bound", () => {
    const c = calibrateFromArgs(args("sendmmsg", "proc"));
    assert.equal(c.overlap.k, 0);
    assert.equal(c.overlap.low, 0);
    assert.ok(c.overlap.high > 1.5e-4 && c.overlap.high < 2e-4, String(c.overlap.high));
  });

  it("node-exporter on 5.10 and later: refused, since it has no clash_resolve", () => {
    assert.throws(() => calibrateFromArgs(args("two-threads", "node-exporter")), /--kernel 6\.18: node-exporter exports no clash_resolve/);
  });

  it("a kernel that does not print clash_resolve: refused when the counters show it", () => {
    assert.throws(() => calibrateFromArgs(args("two-threads", "conntrack -S", { kernel: "5.4" })), /--kernel 5\.4: the snapshots show clash_resolve .* from 5\.10/);
    assert.throws(() => calibrateFromArgs(args("two-threads", "proc", { kernel: "4.19" })), /the clashres column/);
  });

  it("before 5.6 every clash moves insert_failed: 12 in 100,000 pairs, and insert_failed per insert as users read it", () => {
    const c = calibrateFromArgs(synthetic("5.4", ctS(old(100, 40), old(3, 1)), ctS(old(107, 43, 51_000), old(8, 2, 41_000))));
    assert.equal(c.pairs, 100_000);
    assert.equal(c.overlap.k, 12);
    assert.equal(c.overlap.estimate, 12 / 100_000);
    assert.deepEqual(c.counted, { insert_failed: 12, drop: 4 });
    assert.equal(c.insertFailedPerInsert?.k, 12);
    assert.equal(c.insertFailedPerInsert?.n, 90_000);
  });

  it("5.6 to 5.9 count only the merges: with 3 endpoints the 5 seen stand for 15 clashes; without --endpoints refused", () => {
    const a = synthetic("5.8", ctS(old(0, 0), old(0, 0)), ctS(old(2, 0), old(3, 0)));
    assert.throws(() => calibrateFromArgs(a), /--endpoints: kernel 5\.8 \(5\.6 to 5\.9\)/);
    const c = calibrateFromArgs({ ...a, endpoints: "3" });
    assert.equal(c.clashesSeen, 5);
    assert.equal(c.overlap.k, 15);
    const visible = proportion(5, 100_000);
    assert.equal(c.overlap.high, 3 * visible.high);
  });

  it("a counter that went down (a reboot between the snapshots) is refused, naming the CPU", () => {
    const a = synthetic("5.4", ctS(old(9, 0), old(0, 0)), ctS(old(2, 0), old(0, 0)));
    assert.throws(() => calibrateFromArgs(a), /insert_failed went down on cpu 0 \(from 9 .* to 2\)/);
  });

  it("snapshots of two kinds, or of different CPUs, are refused", () => {
    const a = args("two-threads", "proc");
    assert.throws(() => calibrateFromArgs({ ...a, before: join(FIX, "two-threads.before.conntrack-S.txt") }), /give two snapshots of the same kind/);
    const one = synthetic("5.4", `cpu=0 ${old(0, 0)}\n`, ctS(old(1, 0), old(0, 0)));
    assert.throws(() => calibrateFromArgs(one), /shows CPUs 0,1, but .* shows 0/);
  });

  it("more clashes than pairs: the DNS rate is refused as too low", () => {
    assert.throws(() => calibrateFromArgs(args("two-threads", "proc", { queriesPerS: "0.5" })), /clashes but the DNS rate gives only 60 A\+AAAA pairs/);
  });

  it("CoreDNS metrics: the pairs are the UDP AAAA queries of the interval, times the node's share", () => {
    const metric = (aaaaUdp: number, aUdp: number, aaaaTcp: number) =>
      [
        "# TYPE coredns_dns_requests_total counter",
        `coredns_dns_requests_total{family="1",proto="udp",server="dns://:53",type="A",view="",zone="."} ${aUdp}`,
        `coredns_dns_requests_total{family="1",proto="udp",server="dns://:53",type="AAAA",view="",zone="."} ${aaaaUdp}`,
        `coredns_dns_requests_total{family="1",proto="tcp",server="dns://:53",type="AAAA",view="",zone="."} ${aaaaTcp}`,
      ].join("\n");
    const a = synthetic("5.4", ctS(old(0, 0), old(0, 0)), ctS(old(4, 0), old(0, 0)), {
      queriesPerS: undefined,
      corednsBefore: file("cb.prom", metric(1000, 1500, 7)),
      corednsAfter: file("ca.prom", metric(81_000, 90_000, 900)),
      corednsShare: "0.25",
    });
    const c = calibrateFromArgs(a);
    assert.equal(c.pairs, 20_000);
    assert.equal(c.overlap.estimate, 4 / 20_000);
  });

  it("its node: block makes a scenario reproduce the overlap: the clashes per pair fall in the calibrated interval", () => {
    const c = calibrateFromArgs(args("two-threads", "proc"));
    const scenario = [
      "name: calibrated",
      "description: the node block of dnsrace calibrate, with a pod on it",
      nodeBlock(c),
      "kube_dns: { endpoints: 2, records: [redis.shop.svc.cluster.local] }",
      "pods:",
      // Four pods at 12.5 lookups/s each: as on a real node, a new socket's port seldom finds a live entry of its pod.
      ...[1, 2, 3, 4].map((k) => `  - { name: app${k}, libc: glibc, threads: 1, rate_per_s: 12.5, duration_s: 400, names: [{ name: redis.shop.svc.cluster.local., weight: 1 }], resolv_conf: "nameserver 10.96.0.10\\n" }`),
    ].join("\n");
    const r = runScenario(loadScenarioText(scenario, "calibrated.yaml"));
    const pairs = r.log.records().reduce((s, l) => s + l.tally.queriesSent, 0) / 2;
    const rate = r.client.hop.clashes / pairs;
    assert.ok(rate >= c.overlap.low && rate <= c.overlap.high, `${r.client.hop.clashes} in ${pairs}: ${rate} outside ${c.overlap.low}..${c.overlap.high}`);
  });

  it("the command: a report with the interval and the block; a missing --kernel is exit 2 with one line", () => {
    const bin = resolve(ROOT, "bin/dnsrace");
    const a = args("two-threads", "conntrack -S");
    const ok = spawnSync(bin, ["calibrate", a.before, a.after, "--seconds", a.seconds!, "--kernel", "6.18", "--queries-per-s", a.queriesPerS!], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /overlap probability per pair: 6\.05e-3 \(95%: 5\.0\de-3 to 7\.2\de-3\)/);
    assert.match(ok.stdout, /^  migration_probability: \{ estimate: 6\.05e-3, low: 5\.02e-3, high: 7\.22e-3 \}$/m);
    const bad = spawnSync(bin, ["calibrate", a.before, a.after, "--seconds", a.seconds!, "--queries-per-s", "10"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, "dnsrace: --kernel: required.\n");
  });

  describe("the calibrated interval carried into a run (node.migration_probability: {estimate, low, high})", () => {
    const text = (mp: string) =>
      [
        "name: cal",
        "description: a node with a calibrated overlap",
        'kernel: "5.4"',
        "node:",
        "  cpus: 4",
        "  rx: inline",
        `  migration_probability: ${mp}`,
        "kube_dns: { endpoints: 2, records: [redis.shop.svc.cluster.local] }",
        "pods:",
        '  - { name: app, libc: glibc, threads: 2, lookups_per_process: 1, lookups: 2000, names: [{ name: redis.shop.svc.cluster.local., weight: 1 }], resolv_conf: "nameserver 10.96.0.10\\n" }',
        "",
      ].join("\n");

    it("run: the summary gives the slow shares at both ends of the interval, next to the estimate's", () => {
      const dir = mkdtempSync(join(tmpdir(), "dnsrace-cal-"));
      const file = join(dir, "cal.yaml");
      writeFileSync(file, text("{ estimate: 0.01, low: 0.002, high: 0.05 }"));
      const r = spawnSync(resolve(ROOT, "bin/dnsrace"), ["run", file, "--out", join(dir, "out")], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /cal: its node's overlap is calibrated, 2\.00e-3 to 5\.00e-2 per pair \(95%\); at those ends the same run gives [\d.]+% to [\d.]+% of lookups over 1 s/);
      const [head, row] = readFileSync(join(dir, "out", "summary.csv"), "utf8").trim().split("\n");
      const cols = head!.split(",");
      const v = (c: string) => Number(row!.split(",")[cols.indexOf(c)]);
      assert.equal(v("overlap_low"), 0.002);
      assert.equal(v("overlap_high"), 0.05);
      assert.ok(v("share_over_1s_at_overlap_low") <= v("share_over_1s") && v("share_over_1s") <= v("share_over_1s_at_overlap_high"), row);
      assert.ok(v("share_over_1s_at_overlap_high") > v("share_over_1s_at_overlap_low"), row);
    });

    it("the estimate is what the run uses: the same lookups as a bare probability", () => {
      const a = runScenario(loadScenarioText(text("{ estimate: 0.01, low: 0.002, high: 0.05 }"), "a.yaml"));
      const b = runScenario(loadScenarioText(text("0.01"), "b.yaml"));
      assert.deepEqual(
        a.log.records().map((l) => l.endNs - l.startNs),
        b.log.records().map((l) => l.endNs - l.startNs),
      );
    });

    it("compare: a calibrated base runs its reference variants at both ends too, and the report says how far their slow shares move", () => {
      const dir = mkdtempSync(join(tmpdir(), "dnsrace-cal-"));
      const file = join(dir, "cmp.yaml");
      const base = text("{ estimate: 0.02, low: 0.005, high: 0.08 }").replace(/^/gm, "  ").replace("  name: cal", "  name: base");
      writeFileSync(file, `name: cmp\ndescription: a calibrated base\nseeds: 2\nbase:\n${base}\nvariants:\n  - { name: glibc, changes: nothing }\n  - { name: single-request, changes: options single-request, resolv_options: [single-request] }\n`);
      const r = spawnSync(resolve(ROOT, "bin/dnsrace"), ["compare", file, "--out", join(dir, "out")], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const m = /at the interval's ends, on the same seeds, glibc ([\d.]+)% to ([\d.]+)% of lookups over 1 s/.exec(r.stdout);
      assert.ok(m !== null, r.stdout);
      assert.ok(Number(m[1]) < Number(m[2]), `${m[1]} to ${m[2]}`);
      assert.match(readFileSync(join(dir, "out", "report.md"), "utf8"), /The base node's overlap is calibrated \(node\.migration_probability\): 2\.00e-2 per pair, 95% interval 5\.00e-3 to 8\.00e-2/);
    });

    it("bad input: ends out of order, or a field missing, is refused naming node.migration_probability", () => {
      assert.match(inputError(text("{ estimate: 0.5, low: 0.6, high: 0.7 }")), /field "node\.migration_probability": expected low <= estimate <= high/);
      assert.match(inputError(text("{ estimate: 0.1 }")), /field "node\.migration_probability/);
    });
  });
});
