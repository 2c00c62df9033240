import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { formatTrace } from "../src/cli/trace.js";
import { TraceCollector } from "../src/model/trace.js";
import { loadScenarioFile, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { ROOT, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });

describe("trace: the story of one lookup", () => {
  it("trace repro-glibc-5s: names the clash and its drop, the 5 s window, the fallback and the 5000 ms total", () => {
    const r = cli(["trace", scenarioPath("repro-glibc-5s.yaml")]);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /the sending thread migrated to cpu1 between its sends while its first datagram still waited for cpu0's softirq: the two are processed at the same time on two CPUs/);
    assert.match(out, /AAAA insert clash, not resolvable on 5\.4: packet dropped \(insert_failed\+\+, drop\+\+\)/);
    assert.match(out, /waits up to 5 s for the answers \(options timeout:5\)/);
    assert.match(out, /\n +5000\.000 +glibc +glibc send_dg: the 5 s window expired with one answer of two: switching this thread to single-request/);
    assert.match(out, /A found a confirmed entry: reusing its DNAT/);
    assert.match(out, /getaddrinfo returns OK v4 after 5000\.\d{3} ms/);
    assert.match(out, /glibc waits 5 s \(options timeout:5\)/);
  });

  it("trace repro-musl-2500ms: shows the resend of the unanswered query after 2500 ms", () => {
    const r = cli(["trace", scenarioPath("repro-musl-2500ms.yaml")]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\n +2500\.000 +musl +musl res_msend: 2500 ms without an answer to one query: resending only the unanswered/);
    assert.match(r.stdout, /getaddrinfo returns OK v4 after 2500\.\d{3} ms/);
  });

  it("trace --format json: one object with the lookup and its timed events", () => {
    const r = cli(["trace", scenarioPath("repro-glibc-5s.yaml"), "--format", "json"]);
    const j = JSON.parse(r.stdout) as { lookup: number; latency_ms: number; events: { t_ms: number; where: string; what: string }[] };
    assert.equal(j.lookup, 1);
    assert.ok(j.latency_ms >= 5000 && j.latency_ms < 5100);
    assert.ok(j.events.some((e) => /clash/.test(e.what)));
    assert.deepEqual(j.events.map((e) => e.t_ms), [...j.events.map((e) => e.t_ms)].sort((a, b) => a - b));
  });

  it("trace --json is --format json; --json with --format text is refused", () => {
    const f = scenarioPath("repro-glibc-5s.yaml");
    const j = cli(["trace", f, "--json"]);
    assert.equal(j.status, 0, j.stderr);
    assert.equal(j.stdout, cli(["trace", f, "--format", "json"]).stdout);
    const both = cli(["trace", f, "--json", "--format", "text"]);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--json and --format text: give one or the other/);
  });

  it("a bad --lookup is quoted as typed, not echoed as NaN", () => {
    for (const typed of ["abc", "0", "1.5"]) {
      const r = cli(["trace", scenarioPath("repro-glibc-5s.yaml"), "--lookup", typed]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, new RegExp(`--lookup: expected a lookup number >= 1, found "${typed.replace(".", "\\.")}"\\.`));
      assert.doesNotMatch(r.stderr, /NaN/);
    }
  });

  it("a lookup whose packets clashed once, every clash resolved: \"once\", not \"1 time(s)\"", () => {
    const r = cli(["trace", scenarioPath("tutorial/05-kernel-5.10.yaml"), "--lookup", "148"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /The lookup's packets clashed in conntrack once, but kernel 5\.10 resolved every clash: no query was lost\./);
    assert.doesNotMatch(r.stdout, /\(s\)/);
  });

  it("trace: --lookup beyond the run is refused with exit 2", () => {
    const r = cli(["trace", scenarioPath("repro-glibc-5s.yaml"), "--lookup", "5"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--lookup 5: the scenario ran 1 lookup \(numbered from 1\)/);
  });

  it("tracing does not change the run: the same lookups with and without the collector", () => {
    const loaded = loadScenarioFile(scenarioPath("musl.yaml"));
    const plain = runScenario(loaded).log.records().map((l) => l.endNs - l.startNs);
    const traced = runScenario(loaded, { collector: new TraceCollector() }).log.records().map((l) => l.endNs - l.startNs);
    assert.deepEqual(traced, plain);
  });

  /** repro-musl-2500ms with a musl release and `options attempts:N`: the trace of its one (slow) lookup. */
  function muslTrace(version: string, attempts: number): string {
    const text = readFileSync(scenarioPath("repro-musl-2500ms.yaml"), "utf8")
      .replace("libc: musl\n", `libc: musl\n    musl_version: "${version}"\n`)
      .replace("options ndots:5", `options ndots:5 attempts:${attempts}`);
    const collector = new TraceCollector();
    const res = runScenario(loadScenarioText(text, "t.yaml"), { collector });
    return formatTrace(res, collector.lookups[0]!, "lookup 1");
  }

  it("trace: musl 1.1.16 with attempts:4 explains the 2500 ms resend it made (attempts: is not read before 1.1.17)", () => {
    const out = muslTrace("1.1.16", 4);
    // The events: the exchange ran with attempts 2, so the unanswered query went again after 2500 ms ...
    assert.match(out, /\n +2500\.000 +musl +musl res_msend: 2500 ms without an answer to one query: resending only the unanswered \(retry_interval = timeout\/attempts = 5000\/2 ms\)/);
    assert.match(out, /getaddrinfo returns OK v4 after 2500\.\d{3} ms/);
    // ... and the closing explanation says the same, and why attempts:4 did not count.
    assert.match(out, /musl resends only the unanswered query every timeout\/attempts = 5000\/2 = 2500 ms \(options attempts:4 not read before 1\.1\.17, so 2\)/);
    assert.doesNotMatch(out, /1250/);
  });

  it("trace: musl 1.2.3 with attempts:4 resends after 1250 ms and explains 1250 ms", () => {
    const out = muslTrace("1.2.3", 4);
    assert.match(out, /\n +1250\.000 +musl +musl res_msend: 1250 ms without an answer to one query/);
    assert.match(out, /musl resends only the unanswered query every timeout\/attempts = 5000\/4 = 1250 ms on the same socket/);
  });
});
