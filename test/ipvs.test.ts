import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { formatRaceReport, raceJson, raceOptions } from "../src/cli/race.js";
import { IPVS_UDP_TIMEOUT_NS, Ipvs } from "../src/kernel/ipvs.js";
import type { NatService } from "../src/kernel/kubeproxy.js";
import { RACE_DEFAULTS, type RaceOptions, runRace } from "../src/experiment/race.js";
import { TraceCollector } from "../src/model/trace.js";
import { summarize } from "../src/stats/summary.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { inputError, scenarioPath } from "./helpers.js";

const race = (o: Partial<RaceOptions>) => runRace({ ...RACE_DEFAULTS, kernel: "5.4", pairs: 4000, ...o });
const svc = (n: number): NatService => ({ name: "dns", vip: 1, port: 53, endpoints: Array.from({ length: n }, (_, i) => ({ addr: 2 + i, port: 53 })), rulesBefore: 0 });

describe("ipvs: the connection table and the rr scheduler (ip_vs_conn.c, ip_vs_rr.c)", () => {
  it("rr gives new connections the endpoints in turn; a known tuple finds its connection (ip_vs_conn_in_get)", () => {
    const ipvs = new Ipvs({ scheduleNs: 300 });
    const s = svc(3);
    assert.deepEqual(
      [10, 11, 12, 13].map((key, i) => ipvs.schedule(s, key, 0, i * 1000)),
      [0, 1, 2, 0],
    );
    assert.equal(ipvs.schedule(s, 11, 1, 10_000), 1);
    assert.equal(ipvs.last, "found");
  });

  it("two first packets on two CPUs closer than schedule_ns both miss, and rr sends the second to the next endpoint", () => {
    const ipvs = new Ipvs({ scheduleNs: 300 });
    const s = svc(2);
    assert.equal(ipvs.schedule(s, 7, 0, 1000), 0);
    assert.equal(ipvs.schedule(s, 7, 1, 1200), 1);
    assert.equal(ipvs.last, "both-missed");
    // 300 ns or more apart: the second finds the first's connection.
    const later = new Ipvs({ scheduleNs: 300 });
    later.schedule(s, 7, 0, 1000);
    assert.equal(later.schedule(s, 7, 1, 1300), 0);
    assert.equal(later.last, "found");
  });

  it("a GRO list never splits: a packet on the CPU that created the connection finds it, however close", () => {
    const ipvs = new Ipvs({ scheduleNs: 1e6 });
    const s = svc(2);
    ipvs.schedule(s, 7, 0, 1000);
    assert.equal(ipvs.schedule(s, 7, 0, 1001), 0);
    assert.equal(ipvs.last, "found");
  });

  it("a connection unused for 5 minutes (IP_VS_UDP_S_NORMAL) is gone: the tuple is scheduled afresh", () => {
    const ipvs = new Ipvs({ scheduleNs: 300 });
    const s = svc(2);
    ipvs.schedule(s, 7, 0, 0);
    assert.equal(ipvs.schedule(s, 7, 0, IPVS_UDP_TIMEOUT_NS - 1), 0);
    assert.equal(ipvs.schedule(s, 7, 0, 2 * IPVS_UDP_TIMEOUT_NS), 1);
    assert.equal(ipvs.last, "scheduled");
  });
});

describe("ipvs: kube-proxy's IPVS mode on the node hop", () => {
  it("the conntrack insert clash remains in IPVS mode: as many clashes as with the nat table at gap 0", () => {
    const ipt = race({});
    const ipvs = race({ ipvsScheduleNs: 300 });
    assert.equal(ipvs.clashes, ipt.clashes);
    assert.ok(ipvs.clashes > 0.95 * 4000);
  });

  it("two threads split to different endpoints only when their IPVS steps are closer than schedule_ns: often at gap 0, almost never at 2 us", () => {
    const at = (gapUs: number, ipvsScheduleNs: number | null) => race({ gapUs, ipvsScheduleNs });
    const g0 = at(0, 300);
    const g2 = at(2, 300);
    const ipt2 = at(2, null);
    assert.ok(g0.different_endpoint_clashes > 0.3 * g0.clashes, `gap 0: ${g0.different_endpoint_clashes} of ${g0.clashes}`);
    assert.ok(g2.different_endpoint_clashes < 0.01 * g2.clashes, `gap 2: ${g2.different_endpoint_clashes} of ${g2.clashes}`);
    assert.ok(ipt2.different_endpoint_clashes > 0.4 * ipt2.clashes, "iptables: half the clashes still split at 2 us");
    // 5.4: a split clash (race 3) drops its loser; the others merge.
    assert.equal(g0.lost_pairs, g0.different_endpoint_clashes);
  });

  it("schedule_ns 0: concurrent first packets never split, every clash merges on 5.4", () => {
    const r = race({ ipvsScheduleNs: 0 });
    assert.ok(r.clashes > 0.95 * 4000);
    assert.equal(r.different_endpoint_clashes, 0);
    assert.equal(r.lost_pairs, 0);
  });

  it("a GRO list in IPVS mode: the clash stays, the split goes (the second packet finds the first's connection), so nothing is lost; a pair split over two CPUs splits as two threads do", () => {
    // A GRO list of one thread's pair needs GRO on the veth and threaded NAPI (5.13 and later, kernel/rx.ts):
    // the lab node of lab-threaded-napi.yaml (5.15). There iptables mode keeps race 3's loser as a NAT-clash entry.
    const text = readFileSync(scenarioPath("lab-threaded-napi.yaml"), "utf8");
    const ipt = runScenario(loadScenarioText(text, "lab-threaded-napi.yaml"));
    const ipvs = runScenario(loadScenarioText(text.replace("  nat_backend: iptables-nft\n", "  nat_backend: iptables-nft\n  proxy_mode: ipvs\n"), "lab-threaded-napi.yaml"));
    assert.ok(ipt.client.hop.clashesDifferentEndpoint > 0 && ipt.client.hop.natClashEntries > 0);
    assert.ok(ipvs.client.hop.clashes > 0.5 * ipt.client.hop.clashes, `${ipvs.client.hop.clashes} clashes`);
    assert.equal(ipvs.client.hop.clashesDifferentEndpoint, 0);
    assert.equal(ipvs.client.hop.natClashEntries, 0);
    assert.equal(ipvs.client.counters.drop, 0);
    assert.equal(ipvs.client.counters.clash_resolve, ipvs.client.hop.clashes, "every clash merges (identical tuples)");
    assert.equal(summarize(ipvs).share_ge_5s, 0);
    // 5.4 has no such list: its pairs meet when the sending thread migrates between its sends, and then the two
    // packets reach PREROUTING at once on two CPUs (rxpath.ts migrationSplit). Their IPVS steps are often closer
    // than schedule_ns, both miss, and rr splits them as it splits two threads' packets at gap 0: 5.4 drops those.
    const split = readFileSync(scenarioPath("glibc.yaml"), "utf8").replace(/^node:\n(?: {2}.*\n)+/m, "node:\n  cpus: 4\n  rx: inline\n  migration_probability: 0.19\n  proxy_mode: ipvs\n");
    const onTwo = runScenario(loadScenarioText(split, "glibc.yaml")).client;
    assert.ok(onTwo.hop.clashesDifferentEndpoint > 0.3 * onTwo.hop.clashes, `${onTwo.hop.clashesDifferentEndpoint} of ${onTwo.hop.clashes}`);
    assert.equal(onTwo.counters.drop, onTwo.hop.clashesDifferentEndpoint);
  });

  it("trace names IPVS's choice instead of a DNAT rule", () => {
    const text = readFileSync(scenarioPath("repro-glibc-5s.yaml"), "utf8").replace(/(node:\n)/, "$1  proxy_mode: ipvs\n");
    const collector = new TraceCollector();
    runScenario(loadScenarioText(text, "t.yaml"), { collector });
    const lines = collector.lookups[0]!.lines.map((l) => l.text);
    assert.ok(lines.some((l) => /^A IPVS schedules a new connection \(rr\): 10\.96\.0\.10:53 -> 10\.244\.\d\.10:53$/.test(l)), lines.join("\n"));
  });

  it("race --proxy-mode ipvs: the flags are checked, and the report says IPVS", () => {
    const flags = { kernel: undefined, endpoints: undefined, gapUs: undefined, send: undefined, pairs: undefined, rules: undefined, iptables: undefined, rx: undefined, load: undefined, cpus: undefined, seed: undefined, json: false };
    assert.equal(raceOptions({ ...flags, proxyMode: "ipvs", ipvsScheduleNs: undefined }).ipvsScheduleNs, 300);
    assert.equal(raceOptions({ ...flags, proxyMode: "ipvs", ipvsScheduleNs: "500" }).ipvsScheduleNs, 500);
    assert.equal(raceOptions({ ...flags, proxyMode: undefined, ipvsScheduleNs: undefined }).ipvsScheduleNs, null);
    assert.throws(() => raceOptions({ ...flags, proxyMode: undefined, ipvsScheduleNs: "500" }), /--ipvs-schedule-ns: applies only with --proxy-mode ipvs/);
    assert.throws(() => raceOptions({ ...flags, proxyMode: "ipvs", ipvsScheduleNs: undefined, rules: "100" }), /--rules: kube-proxy's IPVS mode matches Services with an ipset/);
    assert.throws(() => raceOptions({ ...flags, proxyMode: "ipvs", ipvsScheduleNs: "-1" }), /--ipvs-schedule-ns: expected a whole number/);
    assert.throws(() => raceOptions({ ...flags, proxyMode: "lvs", ipvsScheduleNs: undefined }), /--proxy-mode: expected one of iptables, ipvs, found "lvs"/);
    const o = raceOptions({ ...flags, proxyMode: "ipvs", ipvsScheduleNs: undefined, pairs: "200" });
    const r = runRace(o);
    const text = formatRaceReport(r, o, o.kernel).replace(/\s+/g, " ");
    assert.match(text, /where IPVS \(rr\) sends the DNS Service to 2 endpoints, two first packets splitting only when their IPVS steps on two CPUs are less than 300 ns apart; seed 1\./);
    const j = JSON.parse(raceJson(r, o, o.kernel)) as Record<string, unknown>;
    assert.deepEqual([j.proxy_mode, j.ipvs_schedule_ns], ["ipvs", 300]);
  });
});

describe("ipvs: bad input names the field", () => {
  const base = `name: t
description: d
kernel: "5.4"
node:
  proxy_mode: ipvs
kube_dns:
  endpoints: 2
pods:
  - name: app
    libc: glibc
    lookups: 1
    names: [redis]
    resolv_conf: |
      nameserver 10.96.0.10
`;
  const err = inputError;

  it("accepts proxy_mode ipvs with its schedule_ns", () => {
    assert.equal(loadScenarioText(base.replace("proxy_mode: ipvs\n", "proxy_mode: ipvs\n  ipvs: { schedule_ns: 500 }\n"), "ok.yaml").scenario.node.ipvs?.schedule_ns, 500);
  });

  it("proxy_mode: a mode kube-proxy does not have", () => {
    assert.match(err(base.replace("proxy_mode: ipvs", "proxy_mode: userspace")), /^bad\.yaml: line 5: field "node\.proxy_mode": expected one of iptables, ipvs, found "userspace"\.$/);
  });

  it("node.ipvs with the iptables mode", () => {
    assert.match(err(base.replace("proxy_mode: ipvs\n", "ipvs: { schedule_ns: 500 }\n")), /^bad\.yaml: line 5: field "node\.ipvs": applies only with node\.proxy_mode: ipvs \(found iptables\)\.$/);
  });

  it("ipvs.schedule_ns: negative, or an unknown field", () => {
    assert.match(err(base.replace("proxy_mode: ipvs\n", "proxy_mode: ipvs\n  ipvs: { schedule_ns: -5 }\n")), /field "node\.ipvs\.schedule_ns": .*found -5/);
    assert.match(err(base.replace("proxy_mode: ipvs\n", "proxy_mode: ipvs\n  ipvs: { split_probability: 0.5 }\n")), /unknown field "node\.ipvs\.split_probability" in "node\.ipvs" \(allowed: schedule_ns\)/);
  });

  it("rules_before_dns with IPVS: no rule walk applies", () => {
    assert.match(err(base.replace("proxy_mode: ipvs\n", "proxy_mode: ipvs\n  rules_before_dns: 1000\n")), /field "node\.rules_before_dns": kube-proxy's IPVS mode matches Services with an ipset, not one nat rule per Service/);
  });

  it("NodeLocal DNSCache on the kube-dns ClusterIP with IPVS: the address is kube-ipvs0's", () => {
    assert.match(err(base.replace("pods:\n", "nodelocal:\n  enabled: true\npods:\n")), /field "nodelocal\.listen_on_cluster_ip": in IPVS mode the kube-dns ClusterIP is bound to kube-ipvs0/);
    assert.ok(loadScenarioText(base.replace("pods:\n", "nodelocal:\n  listen_on_cluster_ip: false\npods:\n").replace("nameserver 10.96.0.10", "nameserver 169.254.20.10"), "ok.yaml"));
  });

  it("endpoint_nodes.nat_rules with IPVS", () => {
    const m = err(base.replace("  endpoints: 2\n", "  endpoints: 2\n  placement: remote\n").replace("pods:\n", "endpoint_nodes:\n  nat_rules: 500\npods:\n"));
    assert.match(m, /field "endpoint_nodes\.nat_rules": in IPVS mode KUBE-SERVICES matches an ipset, so no rule walk applies/);
  });
});
