import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Fixed } from "../src/engine/dist.js";
import { stream } from "../src/engine/random.js";
import { NetemDelay } from "../src/kernel/qdisc.js";
import { type DnsMessage, makePacket } from "../src/net/packet.js";
import { lookupsCsv } from "../src/report/csv.js";
import { summarize } from "../src/stats/summary.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { inputError, scenarioPath, traceText, withOverlap } from "./helpers.js";

/** glibc.yaml's pod on a node where a fifth of the pairs meet in conntrack. */
const glibc = withOverlap(readFileSync(scenarioPath("glibc.yaml"), "utf8"), 0.2);
/** That scenario (kernel 5.4) with node.tc_delay. */
const withTc = (tc: string) => glibc.replace(/^node:\n/m, `node:\n  tc_delay: ${tc}\n`);
const run = (text: string) => runScenario(loadScenarioText(text, "t.yaml"));
/** The same with every endpoint on a node of its own: queries leave the client node by its uplink. */
const remote = (text: string) => text.replace("  endpoints: 2\n", "  endpoints: 2\n  placement: remote\n");
/** Clashes per A/AAAA pair sent (every query of glibc.yaml goes out in a pair). */
const clashesPerPair = (r: ReturnType<typeof run>) => r.client.hop.clashes / (r.client.hop.packetsIn / 2);

describe("tc netem delay of AAAA queries (node.tc_delay)", () => {
  const weave = "{ interface: pod-eth0, delay_ms: { uniform: { min: 3, max: 5 } } }";

  it("a delay at the pod's eth0 comes before the node's conntrack: the glibc scenario's pairs no longer clash, nor take 5 s", () => {
    const plain = summarize(run(glibc));
    const r = run(withTc(weave));
    const s = summarize(r);
    assert.ok(plain.clashes > 500, `without the delay: ${plain.clashes} clashes`);
    assert.equal(s.clashes, 0);
    assert.equal(s.share_ge_5s, 0);
    // Every lookup pays the delay once per search step that sends AAAA: the median grows by about 4 ms.
    assert.ok(s.p50_ms > 3 && s.p50_ms < 10, `p50 ${s.p50_ms} ms`);
  });

  it("a delay on the node's uplink comes after the confirm: as many pairs clash as without it", () => {
    const plain = clashesPerPair(run(remote(glibc)));
    const late = clashesPerPair(run(remote(withTc(weave.replace("pod-eth0", "uplink")))));
    assert.ok(Math.abs(late - plain) / plain < 0.1, `clashes per pair: ${late} with the uplink delay, ${plain} without`);
  });

  it("a delay on the uplink does not touch queries to endpoints on the client node (they leave by the endpoint's veth)", () => {
    const plain = lookupsCsv(run(glibc));
    const withUplink = lookupsCsv(run(withTc(weave.replace("pod-eth0", "uplink"))));
    assert.equal(withUplink, plain);
  });

  it("the filter picks UDP port 53 queries of its qtype only: not the other qtype, not answers, not TCP", () => {
    const netem = new NetemDelay({ iface: "pod-eth0", qtype: "AAAA", delay: new Fixed(4e6) }, stream(1, "t"));
    const msg = (qtype: "A" | "AAAA", response = false): DnsMessage => ({ id: 1, qname: "a.", qtype, response, rcode: "NOERROR", ancount: 0, tc: false, from: "", sends: 1 });
    assert.equal(netem.matches(makePacket(1, "udp", 0, 40000, 1, 53, msg("AAAA"), "", null, 0)), true);
    assert.equal(netem.matches(makePacket(1, "udp", 0, 40000, 1, 53, msg("A"), "", null, 0)), false);
    assert.equal(netem.matches(makePacket(1, "udp", 1, 53, 0, 40000, msg("AAAA", true), "", null, 0)), false);
    assert.equal(netem.matches(makePacket(1, "tcp", 0, 40000, 1, 53, msg("AAAA"), "", null, 0)), false);
    assert.equal(netem.matches(makePacket(1, "udp", 0, 40000, 1, 5353, msg("AAAA"), "", null, 0)), false);
    assert.equal(netem.delayNs(), 4e6);
  });

  it("qtype: A delays the A queries instead (the AAAA goes first)", () => {
    const r = run(withTc("{ interface: pod-eth0, qtype: A, delay_ms: 4 }"));
    assert.equal(r.client.hop.clashes, 0);
  });

  it("trace shows the query held by the pod's qdisc and released into the veth, then hitting the A's entry", () => {
    const r = { stdout: traceText(withTc(weave)) };
    assert.match(r.stdout, /pod debian-app eth0 +tc netem holds AAAA for \d\.\d{3} ms/);
    assert.match(r.stdout, /pod debian-app eth0 +tc netem releases AAAA into the veth\n.*AAAA found a confirmed entry: reusing its DNAT/);
  });

  it("trace shows the uplink's qdisc after the node's conntrack", () => {
    const r = { stdout: traceText(remote(withTc(weave.replace("pod-eth0", "uplink")))) };
    assert.match(r.stdout, /AAAA (?:entry confirmed|found a confirmed entry).*\n.*node uplink +tc netem holds AAAA for \d\.\d{3} ms on its way out; it passed the node's conntrack first/);
  });

  describe("bad input", () => {
    const err = (tc: string): string => inputError(() => loadScenarioText(withTc(tc), "bad.yaml"));
    it("an interface that is not a named point of the path", () => {
      assert.match(err("{ interface: eth0, delay_ms: 4 }"), /^bad\.yaml: line \d+: field "node\.tc_delay\.interface": expected one of pod-eth0, uplink, found "eth0"\.$/);
    });
    it("no delay_ms", () => {
      assert.match(err("{ interface: uplink }"), /field "node\.tc_delay\.delay_ms": expected a number from 0 to 1e9/);
    });
    it("a delay that is not a distribution", () => {
      assert.match(err("{ interface: uplink, delay_ms: { pareto: 4 } }"), /field "node\.tc_delay\.delay_ms": unknown distribution "pareto"/);
    });
    it("a qtype the filter cannot match", () => {
      assert.match(err("{ interface: uplink, delay_ms: 4, qtype: MX }"), /field "node\.tc_delay\.qtype": expected one of A, AAAA, found "MX"/);
    });
    it("a field it does not have", () => {
      assert.match(err("{ interface: uplink, delay_ms: 4, jitter_ms: 1 }"), /unknown field "node\.tc_delay\.jitter_ms" in "node\.tc_delay" \(allowed: interface, qtype, delay_ms\)/);
    });
    it("not a mapping", () => {
      assert.match(err("uplink"), /field "node\.tc_delay": expected \{interface: pod-eth0 \| uplink, delay_ms: a distribution, qtype: A \| AAAA \(default AAAA\)\}, found "uplink"/);
    });
  });
});
