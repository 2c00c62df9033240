import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { lookupsCsv, summaryCsv } from "../src/report/csv.js";
import { summarize } from "../src/stats/summary.js";
import { loadScenarioFile, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";
import { TraceCollector } from "../src/model/trace.js";
import { inputError, scenarioPath, withOverlap } from "./helpers.js";

const run = (file: string, seed?: number) => runScenario(loadScenarioFile(scenarioPath(file)), seed === undefined ? {} : { seed });

describe("scenarios: the bundled files", () => {
  it("repro-glibc-5s: the first lookup loses a query in the race and takes 5000 ms plus the round trip", () => {
    const r = run("repro-glibc-5s.yaml");
    const first = r.log.record(0);
    const ms = (first.endNs - first.startNs) / 1e6;
    assert.ok(ms >= 5000 && ms <= 5100, `${ms} ms`);
    assert.equal(first.tally.clashes, 1);
    assert.equal(first.tally.queriesLost, 1);
    assert.equal(r.client.counters.drop, 1);
  });

  it("repro-musl-2500ms: the first lookup loses a query in the race and takes 2500 ms plus the round trip", () => {
    const r = run("repro-musl-2500ms.yaml");
    const first = r.log.record(0);
    const ms = (first.endNs - first.startNs) / 1e6;
    assert.ok(ms >= 2500 && ms <= 2600, `${ms} ms`);
    assert.equal(first.tally.queriesLost, 1);
  });

  it("glibc.yaml and musl.yaml, a busy 5.4 node with the veth as created: no pair clashes and no lookup is slow; tcp.yaml and nodelocal.yaml none either", () => {
    for (const f of ["glibc.yaml", "musl.yaml", "tcp.yaml", "nodelocal.yaml"]) {
      const s = summarize(run(f));
      assert.equal(s.lookups, 3000, f);
      assert.equal(s.clashes, 0, f);
      assert.equal(s.share_over_1s, 0, f);
      assert.ok(s.max_ms < 1000, `${f}: ${s.max_ms} ms`);
    }
  });

  it("glibc.yaml on a node whose pairs meet as often as a calibrated 1 in 5: lookups over 1 s (max at least 5000 ms), race 3 drops, every clash counts insert_failed", () => {
    const g = summarize(runScenario(loadScenarioText(withOverlap(readFileSync(scenarioPath("glibc.yaml"), "utf8"), 0.2), "glibc.yaml")));
    const m = summarize(runScenario(loadScenarioText(withOverlap(readFileSync(scenarioPath("musl.yaml"), "utf8"), 0.2), "musl.yaml")));
    assert.ok(g.share_over_1s > 0.01 && g.share_over_1s < 0.5 && g.max_ms >= 5000, `glibc ${g.share_over_1s} ${g.max_ms}`);
    assert.ok(m.share_over_1s > 0.01 && m.share_over_1s < 0.5 && m.max_ms >= 2500, `musl ${m.share_over_1s} ${m.max_ms}`);
    // kernel 5.4: race 3 drops; every clash counts insert_failed.
    assert.ok(g.drop > 0 && g.insert_failed === g.clashes);
  });

  it("a pod's TCP (use-vc) to NodeLocal DNSCache: the cache accepts the connection and answers on it, untracked", () => {
    const text = readFileSync(scenarioPath("nodelocal.yaml"), "utf8").replace("options ndots:5", "options ndots:5 use-vc").replace("lookups: 3000", "lookups: 100");
    // What the pod hands the node: its connections, the packets that reach the node's conntrack hop, and the entries they create.
    let podConnections = 0;
    const podPackets: string[] = [];
    let podEntries = 0;
    const res = runScenario(loadScenarioText(text, "nodelocal-vc.yaml"), {
      beforeRun: (cluster) => {
        const fromPod = (addr: number) => addr !== cluster.nodeIp;
        const connect = cluster.tcpConnect.bind(cluster);
        cluster.tcpConnect = (c, cpu) => {
          if (fromPod(c.localAddr)) podConnections++;
          connect(c, cpu);
        };
        const ingress = cluster.node.ingress.bind(cluster.node);
        cluster.node.ingress = (burst, cpu) => {
          for (const p of burst) if (fromPod(p.src)) podPackets.push(`${p.proto} ${p.flags}`);
          ingress(burst, cpu);
        };
        const table = cluster.node.table;
        const create = table.create.bind(table);
        table.create = (key, src, sport, dst, dport, now) => {
          if (fromPod(src)) podEntries++;
          return create(key, src, sport, dst, dport, now);
        };
      },
    });
    // Over TCP: at least one connection per lookup, and only their SYNs pass the node's hop (the data goes to the cache).
    assert.ok(podConnections >= 100, String(podConnections));
    assert.equal(podPackets.length, podConnections);
    assert.ok(podPackets.every((p) => p === "tcp SYN"), [...new Set(podPackets)].join(", "));
    // Untracked (raw NOTRACK on the cache's addresses): no conntrack entry for the pod.
    assert.equal(res.client.hop.untracked, podConnections);
    assert.equal(podEntries, 0);
    const s = summarize(res);
    assert.equal(s.lookups, 100);
    assert.equal(s.failed, 0);
    assert.equal(s.clashes, 0);
    assert.ok(s.max_ms < 1000, String(s.max_ms));
    assert.equal(res.net.toClosedPort + res.net.blackholed, 0);
  });

  it("the same scenario and seed give byte-identical CSV; another seed does not", () => {
    const a = run("musl.yaml");
    const b = run("musl.yaml");
    assert.equal(lookupsCsv(a), lookupsCsv(b));
    assert.equal(summaryCsv([summarize(a)]), summaryCsv([summarize(b)]));
    assert.notEqual(lookupsCsv(run("musl.yaml", 99)), lookupsCsv(a));
  });

  it("inserting no-op events does not change a seeded run's output", () => {
    const loaded = loadScenarioFile(scenarioPath("glibc.yaml"));
    const plain = lookupsCsv(runScenario(loaded));
    const noisy = lookupsCsv(
      runScenario(loaded, {
        beforeRun: (c) => {
          for (let i = 0; i < 2000; i++) c.sim.at(i * 1_000_003, () => {}, undefined);
        },
      }),
    );
    assert.equal(noisy, plain);
  });

  it("every query is answered, lost in a counted clash, or its answer ignored (conservation)", () => {
    for (const f of ["glibc.yaml", "musl.yaml", "nodelocal.yaml"]) {
      const r = run(f);
      const lost = r.log.records().reduce((s, l) => s + l.tally.queriesLost, 0);
      assert.equal(lost, r.client.hop.droppedClash + r.net.ignoredBySocket + r.net.blackholed + r.net.droppedByRule, f);
    }
  });
});

describe("scenarios: node timings are parameters (node.timing)", () => {
  const scenario = (timing: string) => `name: t
description: race 2 on a 4.19 node with one endpoint
kernel: "4.19"
node:
  rx: inline
  migration_probability: 1
${timing}kube_dns:
  endpoints: 1
  records: [redis.shop.svc.cluster.local]
pods:
  - name: app
    libc: musl
    lookups: 300
    names: [redis]
    resolv_conf: |
      search shop.svc.cluster.local
      nameserver 10.96.0.10
`;

  it("snat_lead_ns decides race 2 before 5.0: a null binding long before the confirm never sees the winner", () => {
    const dflt = runScenario(loadScenarioText(scenario(""), "t.yaml"));
    // get_unique_tuple asks nf_nat_used_tuple twice per rewritten port: found moves by 2 per race-2 drop.
    assert.ok(dflt.client.counters.found > 0 && dflt.client.counters.found === 2 * dflt.client.counters.drop, `found ${dflt.client.counters.found}, drop ${dflt.client.counters.drop}`);
    const early = runScenario(loadScenarioText(scenario("  timing:\n    snat_lead_ns: 100000\n"), "t.yaml"));
    assert.ok(early.client.hop.clashes > 0);
    assert.equal(early.client.counters.found, 0);
    assert.equal(early.client.counters.drop, 0);
    assert.equal(early.client.counters.insert_failed, early.client.hop.clashes); // every clash merged, still counted on 4.19
  });

  it("pod_veth_us lengthens every answer's way into the pod", () => {
    const a = runScenario(loadScenarioText(scenario(""), "t.yaml")).log.records();
    const b = runScenario(loadScenarioText(scenario("  timing:\n    pod_veth_us: 502\n"), "t.yaml")).log.records();
    // The first lookup: its last answer reaches the pod 0.5 ms later (musl's answers travel in parallel).
    const [x, y] = [a[0]!, b[0]!];
    const extra = y.endNs - y.startNs - (x.endNs - x.startNs);
    assert.ok(extra > 450_000 && extra < 600_000, `${extra} ns more`);
  });
});

describe("scenarios: the resolver's environment (RES_OPTIONS, LOCALDOMAIN)", () => {
  const repro = (libc: string, env: string) =>
    readFileSync(scenarioPath("repro-glibc-5s.yaml"), "utf8")
      .replace("libc: glibc", `libc: ${libc}`)
      .replace("    lookups: 1\n", `    lookups: 1\n${env}`);

  it("glibc: RES_OPTIONS is read after resolv.conf and wins (timeout:1 makes the lost AAAA cost 1 s)", () => {
    const r = runScenario(loadScenarioText(repro("glibc", '    env: { RES_OPTIONS: "timeout:1" }\n'), "t.yaml")).log.record(0);
    const ms = (r.endNs - r.startNs) / 1e6;
    assert.ok(ms >= 1000 && ms < 1100, `${ms} ms`);
  });

  it("glibc: LOCALDOMAIN replaces the search list", () => {
    const loaded = loadScenarioText(repro("glibc", '    env: { LOCALDOMAIN: "other.svc.cluster.local" }\n'), "t.yaml");
    assert.deepEqual(loaded.resolvConfs[0]!.search, ["other.svc.cluster.local"]);
  });

  it("musl reads no environment: RES_OPTIONS changes nothing", () => {
    const plain = runScenario(loadScenarioText(repro("musl", ""), "t.yaml")).log.record(0);
    const env = runScenario(loadScenarioText(repro("musl", '    env: { RES_OPTIONS: "timeout:1" }\n'), "t.yaml")).log.record(0);
    assert.equal(env.endNs - env.startNs, plain.endNs - plain.startNs);
  });

  it("go: RES_OPTIONS would make Go use the libc: refused with a clear message", () => {
    assert.throws(() => loadScenarioText(repro("go", '    env: { RES_OPTIONS: "timeout:1" }\n'), "t.yaml"), /RES_OPTIONS or LOCALDOMAIN make Go use the libc \(cgo\)/);
  });

  it("a bad RES_OPTIONS is bad input naming the field", () => {
    assert.throws(() => loadScenarioText(repro("glibc", '    env: { RES_OPTIONS: "timeout:x" }\n'), "t.yaml"), /field "pods\[0\]\.env\.RES_OPTIONS": option "timeout" needs a whole number, found "x"/);
  });
});

describe("scenarios: glibc rotate is per process (res_send.c nameserver_offset's static counter)", () => {
  const text = (more: string) => `name: rotate
description: two nameservers, both the node-local cache
kernel: "5.4"
kube_dns:
  endpoints: 1
  records: [redis.shop.svc.cluster.local]
nodelocal:
  enabled: true
pods:
  - name: app
    libc: glibc
    threads: 2
    lookups: 8
    think_ms: 1
${more}    names: [redis]
    resolv_conf: |
      search shop.svc.cluster.local
      nameserver 169.254.20.10
      nameserver 10.96.0.10
      options ndots:5 rotate
`;
  /** Each lookup's thread and the nameserver it asked first, in the order the lookups started. */
  const lookups = (t: string, seed?: number) => {
    const collector = new TraceCollector();
    runScenario(loadScenarioText(t, "t.yaml"), seed === undefined ? { collector } : { collector, seed });
    return [...collector.lookups].sort((a, b) => a.lookup - b.lookup).map((l) => ({ thread: l.thread, server: /to (\S+):53/.exec(l.lines.find((x) => / to \S+:53$/.test(x.text))!.text)![1]! }));
  };
  /** The nameserver each lookup asked first, in the order the lookups started. */
  const firstServers = (t: string) => lookups(t).map((l) => l.server);

  it("the threads of one process take turns on one counter: consecutive lookups alternate between the two nameservers", () => {
    const s = firstServers(text(""));
    assert.equal(s.length, 8);
    for (let i = 1; i < s.length; i++) assert.notEqual(s[i], s[i - 1], s.join(" "));
  });

  it("lookups_per_process: each process seeds its own counter again, so each lookup starts at a random nameserver", () => {
    // Over 20 seeds, per thread: a fresh random start per lookup puts about half of the lookups on each nameserver
    // and repeats the thread's previous nameserver about half the time. A counter kept from lookup to lookup would
    // never repeat; one reset without a new seed would always start at the same nameserver.
    const runs = Array.from({ length: 20 }, (_, seed) => lookups(text("    lookups_per_process: 1\n"), seed + 1));
    assert.ok(runs.every((r) => r.length === 8));
    const all = runs.flat();
    const onFirst = all.filter((l) => l.server === "169.254.20.10").length / all.length;
    const pairs = runs.flatMap((r) =>
      [0, 1].flatMap((thread) => {
        const s = r.filter((l) => l.thread === thread).map((l) => l.server);
        return s.slice(1).map((x, i) => x === s[i]);
      }),
    );
    const repeats = pairs.filter(Boolean).length / pairs.length;
    assert.ok(pairs.length >= 100, String(pairs.length));
    assert.ok(onFirst > 0.3 && onFirst < 0.7, `share on the first nameserver ${onFirst}`);
    assert.ok(repeats > 0.3 && repeats < 0.7, `share of lookups on the thread's previous nameserver ${repeats}`);
  });
});

describe("scenarios: bad input names the file, the field or line, and what is allowed", () => {
  const base = `name: t
description: d
kernel: "5.4"
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

  it("accepts the minimal scenario", () => {
    assert.equal(loadScenarioText(base, "ok.yaml").scenario.pods[0]!.libc, "glibc");
  });

  it("a wrong value: libc: glibcc -> the field, its line and the allowed values", () => {
    const m = err(base.replace("libc: glibc", "libc: glibcc"));
    assert.match(m, /^bad\.yaml: line 8: field "pods\[0\]\.libc": expected one of glibc, musl, go, c-ares, busybox, found "glibcc"\.$/);
  });

  it("an unknown field -> its name, line and the allowed fields", () => {
    const m = err(base.replace("  endpoints: 2", "  endpoints: 2\n  endpionts: 3"));
    assert.match(m, /line 6: unknown field "kube_dns\.endpionts" in "kube_dns" \(allowed: endpoints, /);
  });

  it("a wrong type -> the field and what was found", () => {
    assert.match(err(base.replace("endpoints: 2", "endpoints: two")), /field "kube_dns\.endpoints": .*found "two"/);
  });

  it("a missing field -> says it is required", () => {
    assert.match(err(base.replace('kernel: "5.4"\n', "")), /field "kernel": this field is required/);
  });

  it("a malformed resolv.conf -> the resolv.conf line and the file line", () => {
    const m = err(base.replace("      nameserver 10.96.0.10\n", "      nameserver 10.96.0.10\n      options ndots:five\n"));
    assert.match(m, /field "pods\[0\]\.resolv_conf", resolv\.conf line 2 \(file line 13\): option "ndots" needs a whole number, found "five"\./);
  });

  it("a nameserver nobody serves -> says which addresses are served", () => {
    assert.match(err(base.replace("nameserver 10.96.0.10", "nameserver 10.0.0.99")), /nameserver 10\.0\.0\.99 is not served in this cluster; use the kube-dns ClusterIP 10\.96\.0\.10/);
  });

  it("malformed YAML -> the line and column", () => {
    assert.match(err(base.replace("  endpoints: 2", "  endpoints: [2")), /^bad\.yaml: line \d+, column \d+: this is not valid YAML/);
  });

  it("a bad distribution -> what a distribution can be", () => {
    assert.match(err(base.replace("  endpoints: 2", "  endpoints: 2\n  rtt_ms: {lognormal: {median: 2}}")), /field "kube_dns\.rtt_ms": "lognormal" is missing "p99"/);
  });

  it("a distribution that cannot be drawn from (all weights 0, or beyond 1e9) is bad input, not a crash", () => {
    assert.match(err(base.replace("    lookups: 1\n", "    lookups: 1\n    think_ms: {empirical: {values: [1, 2], weights: [0, 0]}}\n")), /field "pods\[0\]\.think_ms": "empirical" weights must not all be 0/);
    assert.match(err(base.replace("    lookups: 1\n", "    lookups: 1\n    think_ms: {lognormal: {median: 1e300, p99: 1e301}}\n")), /field "pods\[0\]\.think_ms": "lognormal" median and p99 must be numbers above 0, at most 1e9/);
  });

  it("NodeLocal DNSCache whose upstream Service has the kube-dns ClusterIP -> names the field, not a crash", () => {
    const m = err(base.replace("pods:\n", "nodelocal:\n  upstream_service_ip: 10.96.0.10\npods:\n"));
    assert.match(m, /field "nodelocal\.upstream_service_ip": 10\.96\.0\.10 is the kube-dns ClusterIP \(cluster\.dns_service_ip\)/);
  });

  it("musl with attempts:0 -> explains the division by zero", () => {
    assert.match(err(base.replace("libc: glibc", "libc: musl").replace("nameserver 10.96.0.10\n", "nameserver 10.96.0.10\n      options attempts:0\n")), /divide by zero/);
  });
});
