import assert from "node:assert/strict";
import { inputError } from "./helpers.js";
import { RuleBook, RuleError, parseRule, ruleFromObject, ruleText } from "../src/dns/rules.js";
import { TraceCollector } from "../src/model/trace.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";

/** One pod, one lookup of "redis" with the kubelet's search list, on a node where nothing clashes (rx inline). */
const scenario = (libc: string, rules: string, more = "") => `name: rules
description: kube_dns rules
kernel: "5.4"
kube_dns:
  endpoints: 2
  records: [redis.shop.svc.cluster.local]
${rules}pods:
  - name: app
    libc: ${libc}
    lookups: 1
    names: [redis]
${more}    resolv_conf: |
      search shop.svc.cluster.local svc.cluster.local cluster.local
      nameserver 10.96.0.10
      options ndots:5
`;

const one = (text: string) => {
  const r = runScenario(loadScenarioText(text, "t.yaml"));
  const l = r.log.record(0);
  return { ms: (l.endNs - l.startNs) / 1e6, outcome: l.outcome, tally: l.tally, run: r };
};

/** The queries the kube-dns endpoints saw, in order ("A redis.shop.svc.cluster.local."). */
function endpointQueries(text: string): string[] {
  const collector = new TraceCollector();
  runScenario(loadScenarioText(text, "t.yaml"), { collector });
  return collector.lookups[0]!.lines.filter((l) => l.where.startsWith("kube-dns") && / arrives; /.test(l.text)).map((l) => l.text.replace(/ arrives; .*/, ""));
}

describe("rules: the answer-rule language (src/dns/rules.ts)", () => {
  it("a rule as a mapping means the same as its string form", () => {
    assert.deepEqual(ruleFromObject({ action: "drop", qtype: "aaaa", name: "*.cluster.local", nth: [1, 2], transport: "udp", delay_ms: 1.5 }), parseRule("drop qtype=AAAA name=*.cluster.local nth=1,2 transport=udp delay_ms=1.5"));
    assert.deepEqual(ruleFromObject({ action: "servfail", nth: 3 }), parseRule("servfail nth=3"));
    assert.equal(ruleText(parseRule("drop  qtype=aaaa nth=1,2")), "drop qtype=AAAA nth=1,2");
  });

  it("the action, qtype and transport are case-insensitive, in both forms; keys are not", () => {
    const rule = { action: "drop", qtype: "AAAA", transport: "tcp" };
    assert.deepEqual(parseRule("DROP qtype=aaaa transport=TCP"), rule);
    assert.deepEqual(parseRule("Drop qtype=AAAA transport=Tcp"), rule);
    assert.deepEqual(ruleFromObject({ action: "Drop", qtype: "aaaa", transport: "TCP" }), rule);
    assert.throws(() => parseRule("drop QTYPE=A"), (e: unknown) => e instanceof RuleError && /unknown key "QTYPE"/.test(e.reason));
    assert.throws(() => parseRule("DORP"), (e: unknown) => e instanceof RuleError && /unknown action "DORP"/.test(e.reason));
  });

  it("a bad mapping names the key and what is allowed", () => {
    const refused = (o: Record<string, unknown>, re: RegExp) => assert.throws(() => ruleFromObject(o), (e: unknown) => e instanceof RuleError && re.test(e.reason));
    refused({ qtype: "A" }, /a rule needs an action/);
    refused({ action: "dorp" }, /unknown action "dorp" \(action is one of answer, drop,/);
    refused({ action: "drop", qtpe: "A" }, /unknown key "qtpe" \(keys: action, qtype, name, nth, transport, delay_ms\)/);
    refused({ action: "drop", nth: [0] }, /"nth: \[0\]": nth is an arrival number from 1/);
    refused({ action: "drop", nth: true }, /"nth: true": nth is/);
    refused({ action: "answer", delay_ms: -1 }, /"delay_ms: -1": delay_ms is a number of milliseconds >= 0/);
  });

  it("delay_ms is decimal only: 0x10, 1e3, Infinity and signs are refused; 2, 0.5, .5 and 2. are read", () => {
    for (const d of ["0x10", "1e3", "Infinity", "+1", "-1", "0b1", "1_000", ""]) {
      assert.throws(() => parseRule(`answer delay_ms=${d}`), (e: unknown) => e instanceof RuleError && e.reason === `"delay_ms=${d}": delay_ms is a number of milliseconds >= 0, in decimal (such as 2 or 0.5)`, d);
    }
    assert.deepEqual(["2", "0.5", ".5", "2."].map((d) => parseRule(`answer delay_ms=${d}`).delayMs), [2, 0.5, 0.5, 2]);
    assert.throws(() => parseRule(`answer delay_ms=1${"0".repeat(400)}`), (e: unknown) => e instanceof RuleError && /too large for a double/.test(e.reason));
    // A YAML number is a number already: 1e-3 is read, a string "0x10" is not.
    assert.equal(ruleFromObject({ action: "answer", delay_ms: 1e-3 }).delayMs, 0.001);
    assert.throws(() => ruleFromObject({ action: "answer", delay_ms: "0x10" }), (e: unknown) => e instanceof RuleError && /"delay_ms: "0x10"": delay_ms is a number of milliseconds >= 0, in decimal/.test(e.reason));
  });

  it("arrivals are counted per qtype and name; the first matching rule decides", () => {
    const book = new RuleBook([parseRule("drop qtype=AAAA nth=2"), parseRule("nxdomain name=*.example")]);
    assert.equal(book.decide("a.example.", "AAAA", "udp")?.action, "nxdomain");
    assert.equal(book.decide("a.example.", "A", "udp")?.action, "nxdomain");
    assert.equal(book.decide("a.example.", "AAAA", "udp")?.action, "drop");
    assert.equal(book.nth, 2);
    assert.equal(book.decide("b.other.", "AAAA", "udp"), null);
    assert.equal(book.decide("b.other.", "AAAA", "udp")?.action, "drop");
  });

  it("arrivals are counted case-insensitively, as names are matched: A.Example. and a.example. are arrivals of one name", () => {
    const book = new RuleBook([parseRule("drop name=a.example nth=2")]);
    assert.equal(book.decide("a.example.", "A", "udp"), null);
    assert.equal(book.decide("A.Example.", "A", "udp")?.action, "drop");
    assert.equal(book.nth, 2);
    assert.equal(book.decide("A.EXAMPLE.", "A", "udp"), null);
    assert.equal(book.nth, 3);
  });
});

describe("rules: kube_dns.rules in a scenario act at the kube-dns endpoints, before the zone", () => {
  it("no rules: the zone answers (redis resolves at the first search step)", () => {
    const r = one(scenario("musl", ""));
    assert.equal(r.outcome, "OK v4");
    assert.ok(r.ms < 10);
  });

  it("servfail name=*.cluster.local makes musl stop its search walk: EAI_AGAIN after 5 s, only the first name asked", () => {
    const text = scenario("musl", '  rules: ["servfail name=*.cluster.local"]\n');
    const r = one(text);
    assert.equal(r.outcome, "EAI_AGAIN");
    assert.ok(r.ms >= 5000 && r.ms < 5001, `${r.ms} ms`);
    // res_msend.c: SERVFAIL resent at once (2 x nqueries per interval), then the 2.5 s pass.
    assert.equal(r.tally.queriesSent, 12);
    assert.deepEqual([...new Set(endpointQueries(text))], ["A redis.shop.svc.cluster.local.", "AAAA redis.shop.svc.cluster.local."]);
  });

  it("servfail name=*.cluster.local: glibc goes on through the search list and the name as is (res_query.c), and fails fast", () => {
    const text = scenario("glibc", '  rules: ["servfail name=*.cluster.local"]\n');
    const r = one(text);
    assert.equal(r.outcome, "EAI_AGAIN");
    assert.ok(r.ms < 100, `${r.ms} ms`);
    const names = [...new Set(endpointQueries(text).map((q) => q.split(" ")[1]))];
    assert.deepEqual(names, ["redis.shop.svc.cluster.local.", "redis.svc.cluster.local.", "redis.cluster.local.", "redis."]);
  });

  it("drop qtype=AAAA nth=1 gives glibc its 5 s window, and the loss is counted", () => {
    const r = one(scenario("glibc", '  rules: ["drop qtype=AAAA nth=1"]\n'));
    assert.equal(r.outcome, "OK v4");
    assert.ok(r.ms >= 5000 && r.ms < 5010, `${r.ms} ms`);
    assert.equal(r.tally.queriesLost, 1);
    assert.equal(r.run.net.droppedByRule, 1);
    assert.equal(r.run.client.hop.clashes, 0);
  });

  it("a rule as a YAML mapping: drop {qtype: AAAA, nth: 1} gives musl its 2.5 s resend", () => {
    const r = one(scenario("musl", "  rules:\n    - { action: drop, qtype: AAAA, nth: 1 }\n"));
    assert.equal(r.outcome, "OK v4");
    assert.ok(r.ms >= 2500 && r.ms < 2510, `${r.ms} ms`);
  });

  it("truncate transport=udp makes glibc ask again over TCP through the ClusterIP, and the TCP answer is the zone's", () => {
    const text = scenario("glibc", '  rules: ["truncate qtype=A transport=udp"]\n');
    const r = one(text);
    assert.equal(r.outcome, "OK v4");
    assert.equal(r.tally.queriesSent, 4);
    assert.ok(r.ms > 0.5 && r.ms < 20, `${r.ms} ms`);
    // The retry: a TCP connection to the ClusterIP, its SYN through the node's hop to the ClusterIP (DNATed there),
    // and the endpoints see the pair again over TCP after the UDP pair.
    const arrivals: string[] = [];
    const connects: string[] = [];
    const syns: string[] = [];
    runScenario(loadScenarioText(text, "t.yaml"), {
      beforeRun: (cluster) => {
        const book = cluster.rules!;
        const decide = book.decide.bind(book);
        book.decide = (qname, qtype, transport) => {
          arrivals.push(`${transport} ${qtype} ${qname}`);
          return decide(qname, qtype, transport);
        };
        const connect = cluster.tcpConnect.bind(cluster);
        cluster.tcpConnect = (c, cpu) => {
          connects.push(`${c.peer}:${c.peerPort}`);
          connect(c, cpu);
        };
        const ingress = cluster.node.ingress.bind(cluster.node);
        cluster.node.ingress = (burst, cpu) => {
          for (const p of burst) if (p.proto === "tcp" && p.flags === "SYN") syns.push(`${cluster.addrs.name(p.dst)}:${p.dport}`);
          ingress(burst, cpu);
        };
      },
    });
    assert.deepEqual(connects, ["10.96.0.10:53"]);
    assert.deepEqual(syns, ["10.96.0.10:53"]);
    const step = "redis.shop.svc.cluster.local.";
    assert.deepEqual(arrivals, [`udp A ${step}`, `udp AAAA ${step}`, `tcp A ${step}`, `tcp AAAA ${step}`]);
  });

  it("answer delay_ms=30 keeps the zone's answer and delays it", () => {
    const plain = one(scenario("glibc", ""));
    const late = one(scenario("glibc", '  rules: ["answer qtype=A delay_ms=30"]\n'));
    assert.equal(late.outcome, plain.outcome);
    assert.ok(late.ms - plain.ms > 29 && late.ms - plain.ms < 32, `${late.ms} vs ${plain.ms}`);
  });

  it("nodata name=redis.shop.svc.cluster.local: musl stops at that NODATA, glibc walks on", () => {
    const rule = '  rules: ["nodata name=redis.shop.svc.cluster.local"]\n';
    assert.equal(one(scenario("musl", rule)).outcome, "EAI_NONAME");
    const g = one(scenario("glibc", rule));
    assert.equal(g.outcome, "EAI_NODATA");
    assert.equal(new Set(endpointQueries(scenario("glibc", rule)).map((q) => q.split(" ")[1])).size, 4);
  });

  it("every query is answered, lost in a clash, ignored, or dropped by a rule (conservation)", () => {
    const r = one(scenario("musl", '  rules: ["drop qtype=AAAA nth=1,2", "drop qtype=A nth=1"]\n')).run;
    const lost = r.log.records().reduce((s, l) => s + l.tally.queriesLost, 0);
    assert.equal(lost, 3);
    assert.equal(lost, r.client.hop.droppedClash + r.net.ignoredBySocket + r.net.blackholed + r.net.droppedByRule);
  });
});

describe("rules: bad kube_dns.rules name the field, its line and the rule", () => {
  const err = inputError;

  it("a bad rule string", () => {
    const m = err(scenario("glibc", '  rules:\n    - "drop qtype=AAAA"\n    - "drop qtype=AAAAA nth=1"\n'));
    assert.equal(m, 'bad.yaml: line 9: field "kube_dns.rules[1]" ("drop qtype=AAAAA nth=1"): "qtype=AAAAA": qtype is A or AAAA.');
  });

  it("an unknown action", () => {
    assert.match(err(scenario("glibc", '  rules: ["dorp qtype=A"]\n')), /^bad\.yaml: line 7: field "kube_dns\.rules\[0\]" \("dorp qtype=A"\): unknown action "dorp" .*one of answer, drop, nxdomain, nodata, servfail, refused, truncate\)\.$/);
  });

  it("a bad mapping", () => {
    assert.match(err(scenario("glibc", "  rules:\n    - { action: drop, qtpe: A }\n")), /^bad\.yaml: line 8: field "kube_dns\.rules\[0\]" \(\{"action":"drop","qtpe":"A"\}\): unknown key "qtpe" \(keys: action, qtype, name, nth, transport, delay_ms\)\.$/);
  });

  it("delay_ms too large for a double (YAML 1e400 reads as infinity): the error names it, not null", () => {
    assert.equal(
      err(scenario("glibc", "  rules:\n    - { action: answer, delay_ms: 1e400 }\n")),
      'bad.yaml: line 8: field "kube_dns.rules[0]" ({"action":"answer","delay_ms":Infinity}): "delay_ms: Infinity": delay_ms is a finite number of milliseconds >= 0 (a number too large for a double, such as 1e400, reads as infinity).',
    );
    assert.match(err(scenario("glibc", "  rules:\n    - { action: answer, delay_ms: .nan }\n")), /"delay_ms: NaN": delay_ms is a finite number of milliseconds >= 0\.$/);
    assert.match(err(scenario("glibc", '  rules: ["answer delay_ms=1e400"]\n')), /"delay_ms=1e400": delay_ms is a number of milliseconds >= 0, in decimal/);
  });

  it("neither a string nor a mapping", () => {
    assert.match(err(scenario("glibc", "  rules: [5]\n")), /^bad\.yaml: line 7: field "kube_dns\.rules\[0\]": a rule is a string such as "drop qtype=AAAA nth=1" or a mapping such as \{action: drop, qtype: AAAA, nth: 1\}, found 5\.$/);
  });

  it("not a list", () => {
    assert.match(err(scenario("glibc", '  rules: "drop qtype=A"\n')), /field "kube_dns\.rules": .*found "drop qtype=A"/);
  });
});
