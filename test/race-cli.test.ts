import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import { type RaceArgs, conntrackStatLine, formatRaceReport, loserFate, raceJson, raceOptions } from "../src/cli/race.js";
import { type RaceResult, runRace } from "../src/experiment/race.js";
import { InputError } from "../src/scenario/load.js";
import { NO_RACE_FLAGS, ROOT } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });

/** The CLI entry in this process (a spawn costs half a second): exit code and what it wrote. */
async function inProcess(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const { write: outWrite } = process.stdout;
  const { write: errWrite } = process.stderr;
  process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  try {
    const status = await main(args);
    return { status, stdout, stderr };
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
  }
}

const NO_FLAGS = NO_RACE_FLAGS;

/** The command's path without spawning: flags -> options -> model -> report. */
function race(flags: Partial<RaceArgs>): { r: RaceResult; text: string; json: Record<string, unknown> } {
  const o = raceOptions({ ...NO_FLAGS, ...flags });
  const r = runRace(o);
  return { r, text: formatRaceReport(r, o, o.kernel), json: JSON.parse(raceJson(r, o, o.kernel)) as Record<string, unknown> };
}

/** The report with its line wrapping undone, for phrases that may span lines. */
const flat = (text: string) => text.replace(/\s+/g, " ");

const statLines = (text: string) => text.split("\n").filter((l) => l.startsWith("cpu="));

describe("cli: dnsrace race", () => {
  it("race --json: the last line is one object with pairs, clashes, lost_pairs, both_replied, insert_failed, drop, clash_resolve, different_endpoint_clashes", () => {
    const p = cli(["race", "--json", "--kernel", "5.4", "--pairs", "2000"]);
    assert.equal(p.status, 0, p.stderr);
    assert.ok(p.stdout.endsWith("}\n"), "nothing may follow the object");
    const lines = p.stdout.trimEnd().split("\n");
    const j = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
    for (const k of ["pairs", "clashes", "lost_pairs", "both_replied", "insert_failed", "drop", "clash_resolve", "different_endpoint_clashes"]) {
      assert.equal(typeof j[k], "number", k);
    }
    assert.equal(j.pairs, 2000);
    assert.equal(j.kernel, "5.4");
    assert.equal(j.backend, "nftables");
    assert.equal(j.rx, "default");
    assert.equal((j.lost_pairs as number) + (j.both_replied as number), 2000);
    // The same flags in process give the same numbers: the run is deterministic for its seed.
    assert.deepEqual(j, race({ kernel: "5.4", pairs: "2000" }).json);
  });

  it("race: kernel 5.4 with 2 endpoints loses the pairs whose queries went to different endpoints", () => {
    const { r, text } = race({ kernel: "5.4", endpoints: "2", pairs: "3000" });
    assert.ok(r.clashes > 0.95 * r.pairs, `clashes ${r.clashes}`);
    assert.ok(r.different_endpoint_clashes > 0.4 * r.clashes && r.different_endpoint_clashes < 0.6 * r.clashes, `different ${r.different_endpoint_clashes}`);
    assert.equal(r.lost_pairs, r.different_endpoint_clashes);
    assert.equal(r.drop, r.different_endpoint_clashes);
    assert.equal(r.insert_failed, r.clashes, "5.4 counts merges in insert_failed too");
    assert.equal(r.clash_resolve, 0);
    assert.match(
      flat(text),
      /5\.4: identical tuples are merged \(insert_failed\+\+\), a loser that went to another endpoint is dropped \(insert_failed\+\+, drop\+\+\)/,
    );
    assert.match(flat(text), new RegExp(`lost a query ${r.lost_pairs} pairs`));
    // One endpoint: every clash is between identical tuples and merged, nothing is lost.
    const one = race({ kernel: "5.4", endpoints: "1", pairs: "1000" }).r;
    assert.ok(one.clashes > 0.95 * one.pairs);
    assert.equal(one.lost_pairs, 0);
    assert.equal(one.drop, 0);
  });

  it("race: 4.4 drops every clash and moves insert_failed but not drop", () => {
    const { r, text } = race({ kernel: "4.4", pairs: "2000" });
    assert.ok(r.clashes > 0.95 * r.pairs);
    assert.equal(r.lost_pairs, r.clashes);
    assert.equal(r.insert_failed, r.clashes);
    assert.equal(r.drop, 0);
    assert.match(flat(text), /4\.4: there is no clash resolution before 4\.7, every loser is dropped \(insert_failed\+\+; drop does not move\)/);
    assert.match(text, new RegExp(`in this run: ${r.clashes} dropped`));
    for (const line of statLines(text)) assert.match(line, / drop=0 /);
    // From 4.7 drop moves with insert_failed.
    const r417 = race({ kernel: "4.17", pairs: "2000" }).r;
    assert.equal(r417.drop, r417.insert_failed);
    assert.ok(r417.drop > 0);
  });

  it("race --json: per_cpu holds the counters of conntrack -S on that kernel, and no others", () => {
    const keys = (kernel: string) => {
      const o = raceOptions({ kernel, pairs: "50", json: true } as RaceArgs);
      const j = JSON.parse(raceJson(runRace(o), o, o.kernel)) as { per_cpu: object[] };
      return Object.keys(j.per_cpu[0]!);
    };
    assert.deepEqual(keys("5.4"), ["cpu", "found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart"]);
    assert.deepEqual(keys("6.18"), ["cpu", "found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart", "clash_resolve", "chaintoolong"]);
  });

  it("race: conntrack -S lines show ignore only before 5.10 and clash_resolve only from 5.10", () => {
    const shape = /^cpu=\d+ found=\d+ invalid=\d+( ignore=\d+)? insert=\d+ insert_failed=\d+ drop=\d+ early_drop=\d+ error=\d+ search_restart=\d+( clash_resolve=\d+)?( chaintoolong=\d+)?$/;
    for (const [kernel, shown] of [["5.4", false], ["5.9", false], ["5.10", true], ["6.18", true]] as const) {
      const { r, text } = race({ kernel, pairs: "500" });
      const lines = statLines(text);
      assert.equal(lines.length, 2, `${kernel}: one line per CPU`);
      for (const l of lines) {
        assert.match(l, shape);
        assert.equal(/ clash_resolve=\d+( chaintoolong=\d+)?$/.test(l), shown, `${kernel}: ${l}`);
        assert.equal(/ ignore=\d+ /.test(l), !shown, `${kernel}: ${l}`);
      }
      // The per-CPU lines add up to the totals.
      const sum = (name: string) => lines.reduce((s, l) => s + Number(new RegExp(` ${name}=(\\d+)`).exec(l)?.[1] ?? 0), 0);
      assert.equal(sum("insert_failed"), r.insert_failed, kernel);
      assert.equal(sum("drop"), r.drop, kernel);
      if (shown) assert.equal(sum("clash_resolve"), r.clash_resolve, kernel);
    }
    const c = { found: 1, invalid: 0, ignore: 7, insert: 0, insert_failed: 12, drop: 6, early_drop: 0, error: 0, search_restart: 0, clash_resolve: 3, chaintoolong: 0, new: 0 };
    assert.equal(
      conntrackStatLine(0, c, raceOptions({ ...NO_FLAGS, kernel: "5.4" }).kernel),
      "cpu=0 found=1 invalid=0 ignore=7 insert=0 insert_failed=12 drop=6 early_drop=0 error=0 search_restart=0",
    );
    assert.equal(
      conntrackStatLine(1, c, raceOptions({ ...NO_FLAGS, kernel: "5.10" }).kernel),
      "cpu=1 found=1 invalid=0 insert=0 insert_failed=12 drop=6 early_drop=0 error=0 search_restart=0 clash_resolve=3",
    );
  });

  it("race: 6.18 resolves every clash (merge or NAT-clash entry) and counts it in clash_resolve only", () => {
    const { r, text } = race({ kernel: "6.18", pairs: "2000" });
    assert.ok(r.clashes > 0.95 * r.pairs);
    assert.equal(r.lost_pairs, 0);
    assert.equal(r.clash_resolve, r.clashes);
    assert.equal(r.insert_failed, 0);
    assert.equal(r.nat_clash_entries, r.different_endpoint_clashes);
    assert.match(flat(text), /reply-only NAT-clash entry that lives 1 s \(clash_resolve\+\+\)/);
    assert.match(text, /lost a query {3}0 pairs: every query was answered/);
  });

  it("race: --gap-us 100 gives no clash", async () => {
    const far = await inProcess(["race", "--json", "--gap-us", "100", "--pairs", "3000"]);
    assert.equal(far.status, 0, far.stderr);
    const j = JSON.parse(far.stdout.trimEnd().split("\n").pop()!) as Record<string, number>;
    assert.equal(j.pairs, 3000);
    assert.equal(j.gap_us, 100);
    assert.equal(j.clashes, 0);
    // The same run at gap 0, and with the AAAA 2 us first (negative gap), does clash.
    assert.ok(race({ pairs: "3000" }).r.clashes > 2900);
    const early = race({ gapUs: "-2", pairs: "3000" }).r.clashes;
    assert.ok(early > 0.5 * 3000 && early < 3000, `gap -2: ${early}`);
  });

  it("race: sendmmsg through the default receive path never clashes", () => {
    const { r, text } = race({ send: "sendmmsg", pairs: "3000" });
    assert.equal(r.clashes, 0);
    assert.equal(r.lost_pairs, 0);
    assert.match(text, /in this run: no clash, nothing to resolve/);
    // Through GRO with threaded NAPI on an idle node the pair is handed on as one list: most pairs clash.
    const gro = race({ send: "sendmmsg", rx: "gro-threaded", pairs: "3000" }).r;
    assert.ok(gro.clashes > 0.9 * 3000, `gro-threaded: ${gro.clashes}`);
    assert.equal(race({ send: "two-sockets", pairs: "1000" }).r.clashes, 0);
  });

  it("race: --iptables picks the iptables backend, without it the native nftables ruleset", () => {
    assert.equal(raceOptions(NO_FLAGS).backend, "nftables");
    assert.equal(raceOptions({ ...NO_FLAGS, iptables: "nft" }).backend, "iptables-nft");
    assert.equal(raceOptions({ ...NO_FLAGS, iptables: "legacy" }).backend, "iptables-legacy");
    assert.equal(raceOptions({ ...NO_FLAGS, rx: "default" }).rx, "inline");
    const o = raceOptions(NO_FLAGS);
    assert.deepEqual(
      { kernel: o.kernel.version, endpoints: o.endpoints, gapUs: o.gapUs, send: o.send, pairs: o.pairs, rules: o.rules, rx: o.rx, load: o.load, seed: o.seed, cpus: o.cpus },
      { kernel: "6.18", endpoints: 2, gapUs: 0, send: "two-threads", pairs: 10000, rules: 0, rx: "inline", load: "idle", seed: 1, cpus: 2 },
    );
    // 10,000 nat rules through iptables-nft widen the window far past 10 us (150 us at its 50% point).
    assert.ok(race({ iptables: "nft", rules: "10000", gapUs: "100", pairs: "500" }).r.clashes > 0.9 * 500);
  });

  it("race: the scenario's spellings (--rx inline, --nat-backend, --rules-before-dns, --masquerade-all, --masquerade-random-fully) run as the older ones", () => {
    const same = (scenario: Partial<RaceArgs>, older: Partial<RaceArgs>) => assert.deepEqual(raceOptions({ ...NO_FLAGS, ...scenario }), raceOptions({ ...NO_FLAGS, ...older }), JSON.stringify(scenario));
    same({ rx: "inline" }, { rx: "default" });
    same({ rx: "inline" }, {});
    same({ natBackend: "iptables-nft" }, { iptables: "nft" });
    same({ natBackend: "iptables-legacy" }, { iptables: "legacy" });
    same({ natBackend: "nftables" }, {});
    same({ rulesBeforeDns: "300" }, { rules: "300" });
    same({ masqueradeAll: true }, { masquerade: "plain" });
    same({ masqueradeAll: true, masqueradeRandomFully: true }, { masquerade: "random-fully" });
    same({ masqueradeAll: false }, { masquerade: "none" });
    // The report and --json name the run as before, whichever spelling set it.
    assert.equal(race({ rx: "inline", pairs: "200" }).json.rx, "default");
    assert.equal(race({ natBackend: "iptables-legacy", pairs: "200" }).json.backend, "iptables-legacy");
    assert.equal(race({ masqueradeAll: true, masqueradeRandomFully: true, pairs: "200" }).json.masquerade, "random-fully");
  });

  it("race: both spellings of one flag, or --masquerade-random-fully without --masquerade-all, are refused naming the flags", async () => {
    const bad = (flags: Partial<RaceArgs>, message: RegExp) =>
      assert.throws(() => raceOptions({ ...NO_FLAGS, ...flags }), (e: unknown) => e instanceof InputError && message.test(e.message), JSON.stringify(flags));
    bad({ natBackend: "iptables-nft", iptables: "nft" }, /^--nat-backend and --iptables: two spellings of one flag \(--iptables nft\|legacy is the older\); give one\.$/);
    bad({ rulesBeforeDns: "5", rules: "5" }, /^--rules-before-dns and --rules: two spellings of one flag \(--rules is the older\); give one\.$/);
    bad({ masqueradeAll: true, masquerade: "plain" }, /^--masquerade-all and --masquerade: two spellings of one setting/);
    bad({ masqueradeRandomFully: true, masquerade: "random-fully" }, /^--masquerade-random-fully and --masquerade: two spellings of one setting/);
    bad({ masqueradeRandomFully: true }, /^--masquerade-random-fully: applies only with --masquerade-all/);
    bad({ proxyMode: "ipvs", rulesBeforeDns: "3" }, /^--rules-before-dns: kube-proxy's IPVS mode matches Services with an ipset/);
    bad({ rulesBeforeDns: "-1" }, /^--rules-before-dns: expected a whole number from 0 to 40,000, found "-1"\.$/);
    bad({ natBackend: "nft" }, /^--nat-backend: expected one of iptables-nft, iptables-legacy, nftables, found "nft"\.$/);
    const p = await inProcess(["race", "--nat-backend", "iptables-nft", "--iptables", "nft"]);
    assert.equal(p.status, 2);
    assert.equal(p.stdout, "");
    assert.equal(p.stderr, "dnsrace: --nat-backend and --iptables: two spellings of one flag (--iptables nft|legacy is the older); give one.\n");
  });

  it("race --help: names each flag's scenario field and lists the older spellings", () => {
    const p = cli(["race", "--help"]);
    assert.equal(p.status, 0, p.stderr);
    const text = flat(p.stdout);
    for (const field of ["node.rx", "node.nat_backend", "node.rules_before_dns", "node.masquerade_all", "node.masquerade_random_fully", "node.cpus", "node.load", "node.proxy_mode", "kube_dns.endpoints"]) {
      assert.ok(text.includes(`${field}:`), field);
    }
    assert.match(text, /--rx default \(= --rx inline\)/);
    assert.match(text, /--iptables nft\|legacy \(= --nat-backend iptables-nft\|iptables-legacy\)/);
    assert.match(text, /--rules \(= --rules-before-dns\)/);
    assert.match(text, /--nat-backend defaults to nftables here and node\.nat_backend to iptables-nft/);
  });

  it("race: the report says what was run, the clash rate, the losses, the kernel's rule and conntrack -S in a screenful", async () => {
    const p = await inProcess(["race", "--kernel", "5.4", "--pairs", "2000", "--cpus", "3"]);
    assert.equal(p.status, 0, p.stderr);
    const { r } = race({ kernel: "5.4", pairs: "2000", cpus: "3" });
    const text = flat(p.stdout);
    assert.match(text, /kernel 5\.4: 2000 pairs of queries, A and AAAA from two threads sharing one connected UDP socket/);
    assert.match(text, /DNATed to 2 endpoints by a native nftables ruleset, 0 nat rules walked before its rule; seed 1/);
    assert.match(text, new RegExp(`clashes ${r.clashes} of 2000 pairs \\(${((100 * r.clashes) / 2000).toFixed(1)}%\\)`));
    assert.match(text, new RegExp(`lost a query ${r.lost_pairs} pairs \\(${((100 * r.lost_pairs) / 2000).toFixed(1)}%\\)`));
    assert.match(text, new RegExp(`in this run: ${r.clashes - r.lost_pairs} merged, ${r.lost_pairs} dropped`));
    assert.equal(statLines(p.stdout).length, 3);
    const lines = p.stdout.trimEnd().split("\n");
    assert.ok(lines.length <= 24, `${lines.length} lines`);
    for (const l of lines.filter((x) => !x.startsWith("cpu="))) assert.ok(l.length <= 100, l);
  });

  it("race: the kernel's rule for losers follows its features (race 2 before 5.0, NAT-clash entries from 5.6)", () => {
    const fate = (v: string) => flat(loserFate(raceOptions({ ...NO_FLAGS, kernel: v }).kernel));
    assert.match(fate("4.17"), /every loser is dropped \(insert_failed\+\+, drop\+\+\)/);
    assert.match(fate("4.19"), /identical tuples are merged \(insert_failed\+\+\), a loser whose reply tuple .* new source port \(found \+= 2\)/);
    assert.match(fate("4.14.173"), /identical tuples are merged/);
    assert.doesNotMatch(fate("4.14.172"), /merged/);
    assert.doesNotMatch(fate("5.4"), /new source port/);
    assert.match(fate("5.7"), /NAT-clash entry that its first reply deletes \(no counter moves\)/);
    assert.match(fate("5.9"), /NAT-clash entry that lives 1 s \(no counter moves\)/);
    // Race 2 in numbers: on 4.19 the source-port rewrites are dropped on top of the different-endpoint losers.
    const r = race({ kernel: "4.19", pairs: "2000" }).r;
    assert.ok(r.port_rewrites > 0);
    assert.equal(r.drop, r.lost_pairs);
    assert.ok(r.lost_pairs > r.different_endpoint_clashes);
  });

  it("race: bad --kernel exits 2 naming the flag", async () => {
    const p = cli(["race", "--kernel", "five"]);
    assert.equal(p.status, 2);
    assert.equal(p.stdout, "");
    assert.equal(p.stderr, 'dnsrace: --kernel: expected a kernel version such as 4.4, 4.14.173, 5.4, 5.10 or 6.18, or one as uname -r prints it (5.4.0-1103-aws), found "five".\n');
  });

  it("race: bad numbers and names exit 2 with one message naming the flag, what was found and what is allowed", async () => {
    const cases: [string[], RegExp][] = [
      [["--pairs", "-5"], /^dnsrace: --pairs: expected a whole number from 1 to 1,000,000, found "-5"\.\n$/],
      [["--gap-us", "soon"], /^dnsrace: --gap-us: expected a number of microseconds from -10000 to 10000 \(negative: AAAA first\), found "soon"\.\n$/],
      [["--endpoints", "0"], /^dnsrace: --endpoints: expected a whole number from 1 to 1,000, found "0"\.\n$/],
      [["--send", "sendmsg"], /Argument: send, Given: "sendmsg", Choices: "two-threads", "sendmmsg", "two-sends", "two-sockets"/],
      [["--rx", "fast"], /Argument: rx, Given: "fast", Choices: "inline", "rps", "gro", "gro-threaded", "rps-gro-threaded", "default"/],
      [["--nat-backend", "nft"], /Argument: nat-backend, Given: "nft", Choices: "iptables-nft", "iptables-legacy", "nftables"/],
      [["--iptables", "nftables"], /Argument: iptables, Given: "nftables", Choices: "nft", "legacy"/],
    ];
    for (const [args, message] of cases) {
      const p = await inProcess(["race", ...args]);
      assert.equal(p.status, 2, args.join(" "));
      assert.match(p.stderr, message);
      assert.doesNotMatch(p.stderr, /\n\s+at /);
    }
  });

  it("race: the flag checks reject what the model cannot run", () => {
    const bad = (flags: Partial<RaceArgs>, message: RegExp) =>
      assert.throws(() => raceOptions({ ...NO_FLAGS, ...flags }), (e: unknown) => e instanceof InputError && message.test(e.message));
    bad({ pairs: "1.5" }, /^--pairs: expected a whole number from 1 to 1,000,000, found "1\.5"\.$/);
    bad({ pairs: "0x10" }, /^--pairs: .*found "0x10"/);
    bad({ rules: "-1" }, /^--rules: expected a whole number from 0 to 40,000, found "-1"\.$/);
    bad({ cpus: "0" }, /^--cpus: /);
    bad({ seed: "-1" }, /^--seed: expected a whole number >= 0, found "-1"\.$/);
    bad({ gapUs: "20000" }, /^--gap-us: .*found "20000"/);
    bad({ kernel: "" }, /^--kernel: .*found ""/);
    bad({ send: "sendmsg" }, /^--send: expected one of two-threads, sendmmsg, two-sends, two-sockets, found "sendmsg"\.$/);
    bad({ load: "busy" }, /^--load: expected one of idle, cpu-bound, udp-flood, cpu-bound\+udp-flood, softirq-saturated, found "busy"\.$/);
    bad({ pairs: ["5", "6"] as unknown as string }, /^--pairs: given 2 times \(5, 6\); give it once\.$/);
    assert.equal(raceOptions({ ...NO_FLAGS, gapUs: "-2.5" }).gapUs, -2.5);
  });
});

describe("race: the report's words", () => {
  it("a run with no clash says so, without a share of the clashes ((- of them))", () => {
    const o = raceOptions({ kernel: "6.18", send: "sendmmsg", pairs: "200", json: false } as RaceArgs);
    const text = formatRaceReport(runRace(o), o, o.kernel);
    assert.match(text, /^clashes        0 of 200 pairs \(0\.0%\)$/m);
    assert.doesNotMatch(text, /of them/);
  });
});

describe("race: every pair starts with no entry", () => {
  it("before 5.0 (a replied entry lives 180 s) pairs are spaced so no port comes back to a live entry: 40,000 two-thread pairs clash as 20,000 do", () => {
    const rate = (pairs: number) => {
      const r = runRace({ ...raceOptions({ kernel: "4.19", pairs: String(pairs), json: false } as RaceArgs) });
      return r.clashes / r.pairs;
    };
    assert.ok(Math.abs(rate(40_000) - rate(20_000)) < 0.01, `${rate(40_000)} vs ${rate(20_000)}`);
    assert.ok(rate(40_000) > 0.97);
  });
});
