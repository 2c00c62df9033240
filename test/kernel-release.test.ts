import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calibrateFromArgs, formatCalibration } from "../src/cli/calibrate.js";
import { nodeBlock } from "../src/calibrate/infer.js";
import { type KernelFeatures, kernelFeatures, parseKernelVersion } from "../src/kernel/version.js";
import { loadScenarioText } from "../src/scenario/load.js";
import { ROOT, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });
/** Every feature but the note and the string it came from. */
const behaviour = (f: KernelFeatures) => {
  const { note: _note, release: _release, ...rest } = f;
  return rest;
};
const features = (v: string) => {
  const f = kernelFeatures(v);
  assert.ok(f !== null, v);
  return f;
};

describe("kernel: versions as nodes print them (uname -r, kubectl get nodes -o wide)", () => {
  // [as printed, the upstream version it is read as, the distribution]
  const cases: [string, string, string | null][] = [
    ["5.4.0-1103-aws", "5.4", "ubuntu"],
    ["4.18.0-553.el8_10.x86_64", "4.18", "rhel"],
    ["5.10.205-195.807.amzn2.x86_64", "5.10.205", "amazon"],
    ["6.1.0-13-amd64", "6.1", "debian"],
    ["5.15.0-1051-azure", "5.15", "ubuntu"],
  ];
  for (const [release, upstream, distribution] of cases) {
    it(`${release} is read as upstream ${upstream} (${distribution}), and the note says so`, () => {
      const v = parseKernelVersion(release);
      assert.ok(v !== null);
      assert.equal(v.text, upstream);
      assert.equal(v.release, release);
      assert.equal(v.distribution, distribution);
      const f = features(release);
      assert.equal(f.version, upstream);
      assert.equal(f.release, release);
      assert.match(f.note ?? "", new RegExp(`^${release.replace(/\./g, "\\.")} read as upstream ${upstream.replace(/\./g, "\\.")}`));
    });
  }

  it("a kernel with no documented backport has exactly its upstream base's features, and the note says no backport", () => {
    for (const [release, upstream] of [["5.4.0-1103-aws", "5.4"], ["6.1.0-13-amd64", "6.1"], ["5.15.0-1051-azure", "5.15"]] as const) {
      assert.deepEqual(behaviour(features(release)), behaviour(features(upstream)), release);
      assert.equal(features(release).note, `${release} read as upstream ${upstream}: no documented backport`);
    }
  });

  it("Amazon Linux kernels keep their stable patch level: 5.10.205 as 5.10.205, 4.14.336 with 4.14.173's backport of ed07d9a021df", () => {
    assert.deepEqual(behaviour(features("5.10.205-195.807.amzn2.x86_64")), behaviour(features("5.10.205")));
    assert.match(features("5.10.205-195.807.amzn2.x86_64").note!, /Amazon Linux builds follow the upstream stable series; no further backport documented/);
    const al2 = features("4.14.336-257.562.amzn2.x86_64");
    assert.equal(al2.clashResolution, "identical");
    assert.deepEqual(behaviour(al2), behaviour(features("4.14.336")));
    assert.match(al2.note!, /4\.14\.173's stable backport of ed07d9a021df/);
    assert.equal(features("4.14.150-128.amzn2.x86_64").clashResolution, "nat-free-only");
  });

  it("RHEL 8's 4.18 is read as upstream 4.18 (no documented clash-resolution backport), and the note says it may understate", () => {
    const f = features("4.18.0-553.el8_10.x86_64");
    assert.deepEqual(behaviour(f), behaviour(features("4.18")));
    assert.equal(f.clashResolution, "nat-free-only");
    assert.match(f.note!, /none documented for clash resolution; the upstream base may understate/);
  });

  it("Ubuntu's 4.15 has ed07d9a021df and 4e35c1cb9460 (SRU LP#1836816): identical-tuple clashes merge, the loser keeps its port", () => {
    const upstream = features("4.15");
    const ubuntu = features("4.15.0-213-generic");
    assert.equal(upstream.clashResolution, "nat-free-only");
    assert.equal(upstream.sameOriginSkip, false);
    assert.equal(ubuntu.version, "4.15");
    assert.equal(ubuntu.clashResolution, "identical");
    assert.equal(ubuntu.sameOriginSkip, true);
    assert.deepEqual({ ...behaviour(ubuntu), clashResolution: "nat-free-only", sameOriginSkip: false }, behaviour(upstream));
    assert.match(ubuntu.note!, /ed07d9a021df and 4e35c1cb9460 backported by Ubuntu \(SRU LP#1836816/);
    // Debian's 4.15-based strings are not Ubuntu's: no backport.
    assert.equal(features("4.15.0-3-amd64").clashResolution, "nat-free-only");
  });

  it("a plain version has no note, and its features are as before", () => {
    for (const v of ["4.4", "4.14.173", "5.4", "5.10", "6.18"]) {
      assert.equal(features(v).note, null, v);
      assert.equal(features(v).release, null, v);
      assert.equal(features(v).version, v);
    }
  });

  it("what is not a version is still refused: latest, 5.4.x, v5.4, 5.4-, an empty string", () => {
    for (const v of ["latest", "5.4.x", "v5.4", "5.4-", "", "5", "5.4.0 -aws"]) assert.equal(kernelFeatures(v), null, JSON.stringify(v));
  });
});

describe("kernel: distribution strings where kernels are read (race, scenarios, run, calibrate)", () => {
  it("race --kernel 5.4.0-1103-aws runs as 5.4 and prints how it was read; --json has kernel_note", () => {
    const text = cli(["race", "--kernel", "5.4.0-1103-aws", "--pairs", "200"]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^dnsrace race on kernel 5\.4: /);
    assert.match(text.stdout.replace(/\s+/g, " "), /kernel: 5\.4\.0-1103-aws read as upstream 5\.4: no documented backport\./);
    const json = cli(["race", "--kernel", "4.18.0-553.el8_10.x86_64", "--pairs", "200", "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const o = JSON.parse(json.stdout) as { kernel: string; kernel_note?: string };
    assert.equal(o.kernel, "4.18");
    assert.match(o.kernel_note!, /^4\.18\.0-553\.el8_10\.x86_64 read as upstream 4\.18: RHEL/);
    const plain = JSON.parse(cli(["race", "--kernel", "5.4", "--pairs", "200", "--json"]).stdout) as Record<string, unknown>;
    assert.equal("kernel_note" in plain, false);
  });

  it("a scenario's kernel accepts the strings, and run prints the node's note", () => {
    const text = readFileSync(scenarioPath("repro-glibc-5s.yaml"), "utf8");
    assert.match(text, /^kernel: "5\.4"$/m);
    for (const k of ["5.4.0-1103-aws", "4.18.0-553.el8_10.x86_64", "5.10.205-195.807.amzn2.x86_64", "6.1.0-13-amd64", "5.15.0-1051-azure"]) {
      const loaded = loadScenarioText(text.replace(/^kernel: "5\.4"$/m, `kernel: "${k}"`), "t.yaml");
      assert.equal(loaded.kernel.release, k);
    }
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-kernel-"));
    const file = join(dir, "ubuntu.yaml");
    writeFileSync(file, text.replace(/^kernel: "5\.4"$/m, 'kernel: "5.4.0-1103-aws"'));
    const r = cli(["run", file, "--out", join(dir, "out")]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\nrepro-glibc-5s, client node: kernel 5\.4\.0-1103-aws read as upstream 5\.4: no documented backport\.\n/);
    // The same scenario on the plain version prints no note.
    const plain = cli(["run", scenarioPath("repro-glibc-5s.yaml"), "--out", join(dir, "plain")]);
    assert.doesNotMatch(plain.stdout, /read as upstream/);
  });

  it("calibrate --kernel 5.4.0-1103-aws prints the note and writes the string as given into the scenario fragment", () => {
    const dir = mkdtempSync(join(tmpdir(), "dnsrace-kernel-"));
    const line = (insertFailed: number, drop: number) =>
      `found=0 invalid=0 ignore=7 insert=0 insert_failed=${insertFailed} drop=${drop} early_drop=0 error=0 search_restart=0`;
    const before = join(dir, "before.txt");
    const after = join(dir, "after.txt");
    writeFileSync(before, `cpu=0   \t${line(100, 40)}\ncpu=1   \t${line(3, 1)}\n`);
    writeFileSync(after, `cpu=0   \t${line(107, 43)}\ncpu=1   \t${line(8, 2)}\n`);
    const c = calibrateFromArgs({
      before,
      after,
      seconds: "100",
      kernel: "5.4.0-1103-aws",
      queriesPerS: "2000",
      corednsBefore: undefined,
      corednsAfter: undefined,
      corednsShare: undefined,
      endpoints: undefined,
      json: false,
    });
    assert.equal(c.kernel, "5.4");
    assert.match(formatCalibration(c), /^node: kernel 5\.4, .*\nkernel: 5\.4\.0-1103-aws read as upstream 5\.4: no documented backport\n/);
    assert.match(nodeBlock(c), /^kernel: "5\.4\.0-1103-aws"$/m);
  });
});
