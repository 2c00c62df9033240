import assert from "node:assert/strict";
import { inputError, traceText } from "./helpers.js";
import type { Waiter } from "../src/engine/process.js";
import type { DnsMessage } from "../src/net/packet.js";
import { CaresChannel } from "../src/resolver/cares-channel.js";
import { caresConf } from "../src/resolver/cares-conf.js";
import { parseResolvConf } from "../src/resolver/resolvconf.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { runScenario } from "../src/scenario/run.js";

/** A pod of two c-ares threads on two CPUs, each lookup a short pause after the last; `pod` adds lines to it. */
const scenario = (pod: string, opts: { kernel?: string; libc?: string; lookups?: number } = {}) => `name: shared-channel
description: an application's threads asking through c-ares
kernel: "${opts.kernel ?? "5.4"}"
node:
  cpus: 2
kube_dns:
  endpoints: 2
  records: [redis.shop.svc.cluster.local]
pods:
  - name: app
    libc: ${opts.libc ?? "c-ares"}
    namespace: shop
    dns_policy: ClusterFirst
    threads: 2
    lookups: ${opts.lookups ?? 4000}
    think_ms: {exponential: {mean: 1}}
    names: [redis.shop.svc.cluster.local.]
${pod}`;

const SHARED = "    share_channel: true\n";

function run(text: string) {
  const r = runScenario(loadScenarioText(text, "t.yaml"));
  const c = r.client.counters;
  const rows = r.log.records();
  return {
    rows,
    insertFailed: c.insert_failed,
    drop: c.drop,
    lost: rows.reduce((n, x) => n + x.tally.queriesLost, 0),
    slow: rows.filter((x) => x.endNs - x.startNs > 100e6).length,
  };
}

const answer = (id: number): DnsMessage => ({ id, qname: "redis.", qtype: "A", response: true, rcode: "NOERROR", ancount: 1, tc: false, from: "", sends: 0 });

/** A waiter that records what woke it. */
function recorder(): Waiter & { got: number[] } {
  const got: number[] = [];
  return { got, deadline(): void {}, wake: (v: unknown) => void got.push((v as DnsMessage).id) };
}

describe("c-ares share_channel: the threads of a process on one channel and its UDP socket", () => {
  it("threads sharing a channel on two CPUs send on one socket, and clash on 5.4, which drops the loser: queries lost, lookups wait the channel's timeout", () => {
    const shared = run(scenario(SHARED));
    assert.ok(shared.insertFailed > 0, "clashes between the threads' queries");
    assert.ok(shared.drop > 0 && shared.lost > 0, "5.4 drops a clash's loser (no clash_resolve for different replies)");
    assert.ok(shared.slow > 0, "a lost query waits its timeout");
  });

  it("the same pod with a channel per thread does not clash: each thread's A and AAAA leave one CPU on a socket of its own", () => {
    for (const text of [scenario(""), scenario("    share_channel: false\n")]) {
      const own = run(text);
      assert.equal(own.insertFailed, 0);
      assert.equal(own.lost, 0);
      assert.equal(own.slow, 0);
    }
  });

  it("a trace shows a thread's queries going out on the socket another thread's lookup keeps open (ares_fetch_connection)", () => {
    const text = scenario(SHARED, { lookups: 20 });
    const reused = /ares_fetch_connection: the A goes out on the channel's UDP socket from port (\d+), which another lookup's queries in flight keep open/;
    const traces = Array.from({ length: 20 }, (_, i) => traceText(text, i + 1));
    const t = traces.find((x) => reused.test(x));
    assert.ok(t !== undefined, "some lookup reuses the other thread's socket");
    const port = reused.exec(t)![1]!;
    assert.match(t, new RegExp(`sends back to back A and AAAA .* from port ${port} `));
  });

  it("answers reach the right thread: with the socket shared and nothing lost, every lookup ends with its address at once", () => {
    // 6.1 resolves the clashes (clash_resolve), so no query is lost: a misdelivered answer would leave its lookup waiting.
    const r = run(scenario(SHARED, { kernel: "6.1" }));
    assert.equal(r.lost, 0);
    assert.equal(r.rows.length, 4000);
    for (const x of r.rows) {
      assert.equal(x.outcome, "OK v4");
      assert.ok(x.endNs - x.startNs < 10e6, `lookup ${x.lookup} took ${(x.endNs - x.startNs) / 1e6} ms`);
    }
    assert.ok(new Set(r.rows.map((x) => x.thread)).size === 2);
  });

  it("the channel's reader gives each answer to the lookup of its query ID (queries_by_qid), and drops one whose query is not in flight", () => {
    const ch = new CaresChannel(caresConf(parseResolvConf("nameserver 10.96.0.10\n")));
    const one = recorder();
    const two = recorder();
    const boxOne = { queue: [] as DnsMessage[], waiter: one as Waiter | null };
    const boxTwo = { queue: [] as DnsMessage[], waiter: null as Waiter | null };
    ch.byQid.set(7, boxOne);
    ch.byQid.set(8, boxTwo);
    ch.reader.wake(answer(8)); // thread two is not waiting: its answer waits for it
    ch.reader.wake(answer(7)); // thread one is: woken with it
    ch.reader.wake(answer(9)); // no such query: dropped
    assert.deepEqual(one.got, [7]);
    assert.equal(boxOne.waiter, null);
    assert.deepEqual(boxTwo.queue.map((m) => m.id), [8]);
    assert.deepEqual(two.got, []);
  });

  it("a scenario with share_channel for glibc (and musl, go, busybox) is refused, naming the field and why each thread has its own socket", () => {
    assert.match(inputError(scenario(SHARED, { libc: "glibc" })), /^bad\.yaml: line \d+: field "pods\[0\]\.share_channel": applies to libc: c-ares only.*libc: glibc.*__res_state/);
    for (const libc of ["musl", "go", "busybox"]) assert.match(inputError(scenario(SHARED, { libc })), new RegExp(`field "pods\\[0\\]\\.share_channel": applies to libc: c-ares only.*libc: ${libc}`));
  });

  it("share_channel with lookups_per_process is refused: the threads would be processes of their own", () => {
    assert.match(inputError(scenario(`${SHARED}    lookups_per_process: 1\n`)), /field "pods\[0\]\.share_channel": threads share a channel within one process, but lookups_per_process/);
  });
});
