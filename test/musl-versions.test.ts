import assert from "node:assert/strict";
import { inputError } from "./helpers.js";
import { type LookupArgs, lookupOptions, lookupOutput } from "../src/cli/lookup.js";
import type { FaultRule } from "../src/dns/rules.js";
import { type DirectOptions, runDirectLookup } from "../src/experiment/direct.js";
import { MUSL_RELEASES, muslConf } from "../src/resolver/musl.js";
import { parseResolvConf } from "../src/resolver/resolvconf.js";
import { InputError, loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";

const ONE_NS = "nameserver 10.96.0.10\n";
const K8S = "search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

function musl(version: string, conf: string, name: string, rules: FaultRule[] = [], extra: Partial<DirectOptions> = {}) {
  return runDirectLookup({ libc: "musl", musl: { version }, resolvConf: parseResolvConf(conf), name, family: "unspec", rules, rttMs: 0.1, maxMs: 60000, ...extra });
}

const seq = (ps: { transport: string; port: string; qtype: string; qname: string; fate: string }[]) => ps.map((p) => `${p.transport} ${p.port} ${p.qtype} ${p.qname} ${p.fate}`);

describe("musl releases: the pair rule of name_from_dns (lookup_name.c)", () => {
  it("musl before 1.2.1: an address in one answer is enough, so the AAAA lost twice still gives OK v4 after 5 s; from 1.2.1 it is EAI_AGAIN (5cf1ac24)", () => {
    const old = musl("1.2.0", ONE_NS, "svc.example.", [{ action: "drop", qtype: "AAAA" }]);
    assert.equal(old.result, "OK v4");
    assert.ok(old.latencyMs >= 5000 && old.latencyMs < 5001, `${old.latencyMs}`);
    const fixed = musl("1.2.1", ONE_NS, "svc.example.", [{ action: "drop", qtype: "AAAA" }]);
    assert.equal(fixed.result, "EAI_AGAIN");
    assert.deepEqual(seq(old.packets), seq(fixed.packets));
  });

  it("musl before 1.2.1: only the first query's answer decides an error: A NODATA with AAAA NXDOMAIN ends the walk (EAI_NONAME); from 1.2.1 the NXDOMAIN goes on", () => {
    const rules: FaultRule[] = [
      { action: "nodata", qtype: "A", name: "redis.ns.svc.cluster.local" },
      { action: "nxdomain", name: "*.cluster.local" },
    ];
    const old = musl("1.1.24", K8S, "redis", rules);
    assert.equal(old.result, "EAI_NONAME");
    assert.deepEqual([...new Set(old.packets.map((p) => p.qname))], ["redis.ns.svc.cluster.local."]);
    const fixed = musl("1.2.1", K8S, "redis", rules);
    assert.equal(fixed.result, "OK v4+v6");
    assert.equal(fixed.packets.at(-1)!.qname, "redis.");
  });

  it("musl from 1.2.1: the answers are judged in order, A then AAAA, and the first verdict wins: A NXDOMAIN with the AAAA missing goes on, A missing with AAAA NXDOMAIN is EAI_AGAIN (5cf1ac24)", () => {
    const step = "redis.ns.svc.cluster.local";
    for (const version of ["1.2.1", "1.2.3", "1.2.5"]) {
      const goesOn = musl(version, K8S, "redis", [{ action: "nxdomain", qtype: "A", name: step }, { action: "drop", qtype: "AAAA", name: step }]);
      assert.equal(goesOn.result, "OK v4+v6", version);
      assert.deepEqual([...new Set(goesOn.packets.map((p) => p.qname))], [`${step}.`, "redis.svc.cluster.local."], version);
      const stops = musl(version, K8S, "redis", [{ action: "drop", qtype: "A", name: step }, { action: "nxdomain", qtype: "AAAA", name: step }]);
      assert.equal(stops.result, "EAI_AGAIN", version);
      assert.deepEqual([...new Set(stops.packets.map((p) => p.qname))], [`${step}.`], version);
    }
  });

  it("musl before 1.2.1: the first query unanswered is EAI_AGAIN when the other has no address, whatever the other says", () => {
    const r = musl("1.2.0", K8S, "redis", [{ action: "drop", qtype: "A" }, { action: "nxdomain", qtype: "AAAA" }]);
    assert.equal(r.result, "EAI_AGAIN");
    assert.ok(r.latencyMs >= 5000 && r.latencyMs < 5001);
  });
});

describe("musl releases: 1.2.4", () => {
  it("musl 1.2.4: a name with no address is EAI_NODATA, where 1.2.3 says EAI_NONAME (85050ac5); the walk stops either way", () => {
    const rules: FaultRule[] = [{ action: "nodata", name: "redis.ns.svc.cluster.local" }];
    assert.equal(musl("1.2.3", K8S, "redis", rules).result, "EAI_NONAME");
    const r = musl("1.2.4", K8S, "redis", rules);
    assert.equal(r.result, "EAI_NODATA");
    assert.equal(r.packets.length, 2);
  });

  it("musl 1.2.4: a truncated answer is asked again over TCP, for that query alone, to the nameserver that sent it (51d4669f, dec8f0a4)", () => {
    const r = musl("1.2.4", ONE_NS, "svc.example.", [{ action: "truncate", qtype: "A", transport: "udp" }]);
    assert.equal(r.result, "OK v4+v6");
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. truncate", "udp p1 AAAA svc.example. answer", "tcp t1 A svc.example. answer"]);
    // The handshake, then the query: two round trips after the truncated answer.
    assert.ok(Math.abs(r.latencyMs - 0.3) < 0.01, `${r.latencyMs}`);
  });

  it("musl before 1.2.4 takes a truncated answer as it is: no TCP, no address of that family", () => {
    const r = musl("1.2.3", ONE_NS, "svc.example.", [{ action: "truncate", qtype: "A", transport: "udp" }]);
    assert.equal(r.result, "OK v6");
    assert.ok(r.packets.every((p) => p.transport === "udp"));
  });

  it("musl 1.2.4: a TCP answer other than NOERROR or NXDOMAIN ends the whole exchange at once (goto out): EAI_AGAIN", () => {
    const r = musl("1.2.4", ONE_NS, "svc.example.", [{ action: "truncate", transport: "udp" }, { action: "servfail", qtype: "AAAA", transport: "tcp", delayMs: 5 }]);
    assert.equal(r.result, "EAI_AGAIN");
    assert.ok(Math.abs(r.latencyMs - 5.3) < 0.01, `${r.latencyMs}`);
  });

  it("musl 1.2.4: an unanswered TCP query is given up with the rest, at the exchange's timeout", () => {
    const r = musl("1.2.4", ONE_NS, "svc.example.", [{ action: "truncate", qtype: "A", transport: "udp" }, { action: "drop", transport: "tcp" }]);
    assert.equal(r.result, "EAI_AGAIN");
    assert.ok(r.latencyMs >= 5000 && r.latencyMs < 5001);
    // The query waiting on TCP is not resent over UDP (alens[i] = -1).
    assert.equal(r.packets.filter((p) => p.qtype === "A").length, 2);
  });

  it("musl 1.2.4: a name res_mkquery refuses (a label over 63) is passed over; in 1.1.15-1.2.3 it ends the walk with EAI_NONAME (1e7fb12f)", () => {
    const conf = `search ${"x".repeat(64)}.local cluster.local\nnameserver 10.96.0.10\n`;
    const old = musl("1.2.3", conf, "redis");
    assert.equal(old.result, "EAI_NONAME");
    assert.equal(old.packets.length, 0);
    const fixed = musl("1.2.4", conf, "redis");
    assert.equal(fixed.result, "OK v4+v6");
    assert.deepEqual([...new Set(fixed.packets.map((p) => p.qname))], ["redis.cluster.local."]);
  });
});

describe("musl: search domains too long for the name (name_from_dns_search)", () => {
  // 230 characters in four labels (57, 57, 57, 56) and three dots.
  const name = ["a", "b", "c"].map((c) => c.repeat(57)).concat(["d".repeat(56)]).join(".");
  const longDomain = "averylongdomainname.example.internal.corp";

  it("musl skips a search domain that would make name.domain longer than 255 characters, in every release: no query, the walk goes on to the next domain", () => {
    assert.equal(name.length, 230);
    const conf = `search ${longDomain} short.io\nnameserver 10.96.0.10\noptions ndots:5\n`;
    for (const version of MUSL_RELEASES) {
      const r = musl(version, conf, name);
      assert.equal(r.result, "OK v4+v6", version);
      assert.deepEqual([...new Set(r.packets.map((p) => p.qname))], [`${name}.short.io.`], version);
    }
  });

  it("musl skips a domain at 256 characters and queries one at 253; a candidate of 254 or 255 reaches res_mkquery, which refuses it (EAI_NONAME in 1.1.15-1.2.3, passed over from 1.2.4)", () => {
    // 230 + "." + 25 = 256: skipped (z-p < 256 - l - 1 fails), the next domain is asked.
    const skipped = `search ${"e".repeat(25)} short.io\nnameserver 10.96.0.10\noptions ndots:5\n`;
    assert.deepEqual([...new Set(musl("1.2.3", skipped, name).packets.map((p) => p.qname))], [`${name}.short.io.`]);
    // 230 + "." + 22 = 253: asked.
    const fits = `search ${"e".repeat(22)} short.io\nnameserver 10.96.0.10\noptions ndots:5\n`;
    assert.deepEqual([...new Set(musl("1.2.3", fits, name).packets.map((p) => p.qname))], [`${name}.${"e".repeat(22)}.`]);
    // 230 + "." + 24 = 255: fits the buffer, over res_mkquery's 253.
    const refused = `search ${"e".repeat(24)} short.io\nnameserver 10.96.0.10\noptions ndots:5\n`;
    const old = musl("1.2.3", refused, name);
    assert.deepEqual([old.result, old.packets.length], ["EAI_NONAME", 0]);
    const fixed = musl("1.2.4", refused, name);
    assert.deepEqual([...new Set(fixed.packets.map((p) => p.qname))], [`${name}.short.io.`]);
  });
});

describe("musl releases: res_mkquery's result (04bced40)", () => {
  it("musl 1.1.13-1.1.14 do not check res_mkquery's result: a refused name goes to sendto() with length -1, no packet leaves, and the exchange waits out its timeout (EAI_AGAIN); from 1.1.15 it is EAI_NONAME at once", () => {
    const conf = `search ${"x".repeat(64)}.local cluster.local\nnameserver 10.96.0.10\n`;
    for (const version of ["1.1.13", "1.1.14"]) {
      assert.equal(muslConf(parseResolvConf(conf), { version }).checksMkquery, false, version);
      const r = musl(version, conf, "redis");
      assert.deepEqual([r.result, r.packets.length, r.latencyMs], ["EAI_AGAIN", 0, 5000], version);
      assert.equal(r.tally.queriesSent, 0, version);
    }
    // timeout:3 with attempts never read (2): two passes of 1.5 s.
    const short = musl("1.1.14", conf + "options timeout:3\n", "redis");
    assert.deepEqual([short.result, short.latencyMs], ["EAI_AGAIN", 3000]);
    const checked = musl("1.1.15", conf, "redis");
    assert.equal(muslConf(parseResolvConf(conf), { version: "1.1.15" }).checksMkquery, true);
    assert.deepEqual([checked.result, checked.packets.length, checked.latencyMs], ["EAI_NONAME", 0, 0]);
  });
});

describe("musl releases: query IDs (res_mkquery, 6c858d6f)", () => {
  it("musl before 1.2.4 with A and AAAA of the same ID: the AAAA answer fills the A's slot and the A is never asked again", () => {
    const r = musl("1.2.3", ONE_NS, "svc.example.", [{ action: "drop", qtype: "A", nth: [1] }], { musl: { version: "1.2.3", sameIdProbability: 1 } });
    assert.equal(r.result, "OK v6");
    assert.deepEqual(seq(r.packets), ["udp p1 A svc.example. drop", "udp p1 AAAA svc.example. answer", "udp p1 AAAA svc.example. answer"]);
    assert.ok(r.latencyMs >= 2500 && r.latencyMs < 2501);
    // Distinct IDs (a fine clock, or 1.2.4): the A is resent and answered.
    assert.equal(musl("1.2.3", ONE_NS, "svc.example.", [{ action: "drop", qtype: "A", nth: [1] }]).result, "OK v4+v6");
  });

  it("musl before 1.2.4 with the same ID and two nameservers: the two A answers fill both slots and the AAAA is not waited for", () => {
    const two = "nameserver 10.96.0.10\nnameserver 10.96.0.11\n";
    const same = musl("1.2.3", two, "svc.example.", [], { musl: { version: "1.2.3", sameIdProbability: 1 } });
    assert.equal(same.result, "OK v4");
    assert.equal(musl("1.2.3", two, "svc.example.").result, "OK v4+v6");
  });
});

describe("musl releases: resolv.conf (resolvconf.c)", () => {
  it("musl 1.1.13-1.1.16 never read options attempts: (d6cb08bc looked at p[6]; 1a7fa5e5 fixed it in 1.1.17)", () => {
    const conf = "nameserver 10.96.0.10\noptions attempts:1\n";
    assert.equal(muslConf(parseResolvConf(conf), { version: "1.1.16" }).attempts, 2);
    assert.equal(muslConf(parseResolvConf(conf), { version: "1.1.17" }).attempts, 1);
    const old = musl("1.1.16", conf, "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.equal(old.result, "OK v4+v6");
    assert.ok(old.latencyMs >= 2500 && old.latencyMs < 2501);
    // 1.1.17 reads attempts:1: no resend, the exchange gives up at 5 s (and, before 1.2.1, returns the A it has).
    const fixed = musl("1.1.17", conf, "svc.example.", [{ action: "drop", qtype: "AAAA", nth: [1] }]);
    assert.equal(fixed.packets.length, 2);
    assert.deepEqual([fixed.result, Math.round(fixed.latencyMs)], ["OK v4", 5000]);
  });

  it("the releases modelled run from 1.1.13 to 1.2.5; 1.2.3 is the default", () => {
    assert.deepEqual([MUSL_RELEASES[0], MUSL_RELEASES.at(-1), MUSL_RELEASES.length], ["1.1.13", "1.2.5", 18]);
    assert.equal(muslConf(parseResolvConf(ONE_NS)).version, "1.2.3");
  });
});

describe("musl releases: dnsrace lookup --musl-version", () => {
  const args = (more: Partial<LookupArgs>): LookupArgs => ({ name: "svc.example.", libc: "musl", resolvConf: undefined, family: "unspec", rule: undefined, rttMs: 0.1, maxMs: 60000, json: false, ...more });
  const out = (more: Partial<LookupArgs>, conf = ONE_NS) => lookupOutput(args(more), { text: conf, source: "test" });

  it("lookup --musl-version 1.2.0: the timeline names the release, and the hint says the answers it had decided", () => {
    const text = out({ muslVersion: "1.2.0", rule: "drop qtype=AAAA" });
    assert.match(text, /^musl 1\.2\.0 getaddrinfo\("svc\.example\.", AF_UNSPEC\)/);
    assert.match(text, /result: OK v4 after 5000\.000 ms\n/);
    assert.match(text, /before 1\.2\.1 the answers it had decide/);
  });

  it("lookup --json carries musl_version (1.2.3 by default)", () => {
    const j = JSON.parse(out({ json: true }).trimEnd().split("\n").at(-1)!) as { musl_version: string };
    assert.equal(j.musl_version, "1.2.3");
    const k = JSON.parse(out({ json: true, muslVersion: "1.2.4", rule: "truncate qtype=A transport=udp" }).trimEnd().split("\n").at(-1)!) as { musl_version: string; packets: { transport: string }[] };
    assert.equal(k.musl_version, "1.2.4");
    assert.equal(k.packets.at(-1)!.transport, "tcp");
  });

  it("lookup --musl-same-id: the A's slot is taken by the AAAA answer, and a hint explains it", () => {
    const text = out({ muslSameId: true, rule: "drop qtype=A nth=1" });
    assert.match(text, /result: OK v6 after 2500\.\d{3} ms/);
    assert.match(text, /hint: A and AAAA had the same ID/);
  });

  it("lookup --musl-same-id: no hint when the shared ID changed nothing (no query lost, the same log as with distinct IDs)", () => {
    const text = out({ muslSameId: true });
    assert.match(text, /result: OK v4\+v6 after 0\.101 ms\n$/);
    assert.doesNotMatch(text, /same ID/);
    // A lost AAAA: its resend is answered in its own slot whatever the IDs (the A was answered first).
    assert.doesNotMatch(out({ muslSameId: true, rule: "drop qtype=AAAA nth=1" }), /same ID/);
  });

  it("lookup: bad --musl-version and --musl-same-id are InputErrors with one sentence each", () => {
    const bad = (more: Partial<LookupArgs>, re: RegExp, conf = ONE_NS) => assert.throws(() => lookupOptions(args(more), conf, "test"), (e: unknown) => e instanceof InputError && re.test(e.message));
    bad({ muslVersion: "1.3.0" }, /^--musl-version: expected a musl release from 1\.1\.13 \(the first with search domains\) to 1\.2\.5, such as "1\.2\.3", found "1\.3\.0"\.$/);
    bad({ muslVersion: "1.1.12" }, /found "1\.1\.12"/);
    bad({ libc: "glibc", muslVersion: "1.2.4" }, /^--musl-version: applies to --libc musl only\.$/);
    bad({ libc: "go", muslSameId: true }, /^--musl-same-id: applies to --libc musl only\.$/);
    bad({ muslVersion: "1.2.4", muslSameId: true }, /^--musl-same-id: musl 1\.2\.4 makes the A and AAAA query IDs differ \(6c858d6f, 1\.2\.4\)/);
    // attempts:0 divides by zero only where attempts: is read.
    bad({}, /attempts:0" makes musl divide by zero/, "nameserver 10.96.0.10\noptions attempts:0\n");
    assert.equal(lookupOptions(args({ muslVersion: "1.1.16" }), "nameserver 10.96.0.10\noptions attempts:0\n", "test").musl?.version, "1.1.16");
  });
});

describe("musl releases: pods (musl_version, musl_same_id_probability)", () => {
  const scenario = (pod: string, rules = "") => `name: m
description: one musl lookup
kernel: "5.4"
kube_dns:
  endpoints: 1
  records: [redis.shop.svc.cluster.local]
${rules}pods:
  - name: app
    libc: musl
${pod}    lookups: 1
    names: [redis]
    resolv_conf: |
      search shop.svc.cluster.local svc.cluster.local cluster.local
      nameserver 10.96.0.10
      options ndots:5
`;
  const one = (text: string) => {
    const l = runScenario(loadScenarioText(text, "t.yaml")).log.record(0);
    return { ms: (l.endNs - l.startNs) / 1e6, outcome: l.outcome };
  };
  const err = inputError;

  it("musl_version: 1.2.0 in a pod: the lost AAAA of a Service without IPv6 still resolves (OK v4 at 5 s), 1.2.3 fails", () => {
    const rules = '  rules: ["drop qtype=AAAA"]\n';
    const old = one(scenario('    musl_version: "1.2.0"\n', rules));
    assert.equal(old.outcome, "OK v4");
    assert.ok(old.ms >= 5000 && old.ms < 5001, `${old.ms}`);
    assert.equal(one(scenario("", rules)).outcome, "EAI_AGAIN");
  });

  it("musl_version: 1.2.4 in a pod: a truncated answer is asked again over TCP through the ClusterIP", () => {
    const r = one(scenario('    musl_version: "1.2.4"\n', '  rules: ["truncate qtype=A transport=udp"]\n'));
    assert.equal(r.outcome, "OK v4");
    assert.equal(one(scenario("", '  rules: ["truncate qtype=A transport=udp"]\n')).outcome, "EAI_NONAME");
  });

  it("musl_same_id_probability: 1 with a lost A: the Service's name is reported as not existing (EAI_NONAME after 2.5 s)", () => {
    const r = one(scenario("    musl_same_id_probability: 1\n", '  rules: ["drop qtype=A nth=1"]\n'));
    assert.equal(r.outcome, "EAI_NONAME");
    assert.ok(r.ms >= 2500 && r.ms < 2501, `${r.ms}`);
  });

  it("bad musl_version and musl_same_id_probability name the field and what is allowed", () => {
    assert.match(err(scenario('    musl_version: "1.2.9"\n')), /^bad\.yaml: line 10: field "pods\[0\]\.musl_version": expected a musl release from 1\.1\.13 .* found "1\.2\.9"\.$/);
    assert.match(err(scenario("    musl_version: 1.2\n")), /field "pods\[0\]\.musl_version": .*found 1\.2/);
    assert.match(err(scenario('    musl_version: "1.2.4"\n').replace("libc: musl", "libc: glibc")), /^bad\.yaml: line 10: field "pods\[0\]\.musl_version": applies to libc: musl only \(this pod has libc: glibc\)\.$/);
    assert.match(err(scenario("    musl_same_id_probability: 0.5\n").replace("libc: musl", "libc: go")), /field "pods\[0\]\.musl_same_id_probability": applies to libc: musl only/);
    assert.match(err(scenario('    musl_version: "1.2.4"\n    musl_same_id_probability: 0.5\n')), /field "pods\[0\]\.musl_same_id_probability": musl 1\.2\.4 makes the A and AAAA query IDs differ \(6c858d6f, 1\.2\.4\), so it has no effect/);
    assert.match(err(scenario("    musl_same_id_probability: 2\n")), /field "pods\[0\]\.musl_same_id_probability": .*found 2/);
  });

  it("musl_version below 1.1.17 accepts options attempts:0 (never read); later releases refuse it (division by zero)", () => {
    const conf = (pod: string) => scenario(pod).replace("options ndots:5", "options ndots:5 attempts:0");
    assert.equal(loadScenarioText(conf('    musl_version: "1.1.16"\n'), "t.yaml").scenario.pods[0]!.musl_version, "1.1.16");
    assert.match(err(conf("")), /divide by zero/);
  });
});
