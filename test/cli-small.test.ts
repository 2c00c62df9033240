import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NUMBER_FLAGS, stdinArguments } from "../src/cli/flags.js";
import { ROOT, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });

describe("cli: small things", () => {
  it("trace on a comparison or sweep file points at its command, exit 2 (not 'field kernel is required')", () => {
    for (const [file, cmd] of [
      ["mitigations.yaml", "compare"],
      ["sweep-endpoints.yaml", "sweep"],
    ] as const) {
      const r = cli(["trace", scenarioPath(file)]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`this is a ${cmd === "compare" ? "comparison" : "sweep"} file .*not a scenario; dnsrace trace takes one scenario\\. Run it with dnsrace ${cmd} `));
      assert.doesNotMatch(r.stderr, /field "kernel"/);
      assert.equal(r.stdout, "");
    }
  });

  it("an unknown flag before the path is named, with the path it took as its value (run --bogus file.yaml)", () => {
    const file = scenarioPath("repro-glibc-5s.yaml");
    const r = cli(["run", "--bogus", file]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^dnsrace: dnsrace run: unknown option --bogus; it took ".*repro-glibc-5s\.yaml" as its value, so the scenario files or folders \(<paths\.\.>\) are missing/);
    assert.doesNotMatch(r.stderr, /Not enough non-option arguments/);
  });

  it("unknown flags after the path, or with =, are named as typed; a missing argument is still said so", () => {
    const file = scenarioPath("repro-glibc-5s.yaml");
    const r = cli(["run", file, "--bogus=1", "--zz"]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^dnsrace: dnsrace run: unknown options --bogus, --zz; "dnsrace run --help" lists its options\./);
    const m = cli(["compare"]);
    assert.equal(m.status, 2);
    assert.match(m.stderr, /^dnsrace: dnsrace compare: missing the comparison file \(<file>\)\./);
    const out = cli(["run", "--out", "x"]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /^dnsrace: dnsrace run: missing the scenario files or folders/);
  });
});

describe("cli: standard output that cannot be written", () => {
  const withStdout = (fd: number | "pipe", args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8", stdio: ["ignore", fd, "pipe"] });

  it("a full disk (> /dev/full, ENOSPC): one line naming it, exit 1, no stack trace; the output set is complete", function () {
    if (!existsSync("/dev/full")) this.skip();
    const fd = openSync("/dev/full", "w");
    try {
      const r = withStdout(fd, ["race", "--pairs", "10"]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^dnsrace: cannot write the standard output \(ENOSPC: no space left on device, write\)/);
      assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
      const out = join(mkdtempSync(join(tmpdir(), "dnsrace-full-")), "o");
      const run = withStdout(fd, ["run", scenarioPath("repro-glibc-5s.yaml"), "--out", out]);
      assert.equal(run.status, 1, run.stderr);
      assert.deepEqual(readdirSync(out).sort(), ["repro-glibc-5s.lookups.csv", "summary.csv"]);
    } finally {
      closeSync(fd);
    }
  });

  it("a reader that stops early (EPIPE): exit 0, nothing on stderr", () => {
    // pipefail: the pipeline's status is dnsrace's (head exits 0); its stderr is printed after.
    const s = spawnSync("bash", ["-c", `set -o pipefail; err=$(mktemp); "${process.execPath}" "${join(ROOT, "bin/dnsrace")}" race --pairs 20000 2>"$err" | head -c 1 >/dev/null; code=$?; cat "$err"; rm -f "$err"; exit $code`], { encoding: "utf8" });
    assert.equal(s.status, 0, s.stdout + s.stderr);
    assert.equal(s.stdout, "");
  });
});

describe("cli: - reads the file from standard input", () => {
  const withInput = (args: string[], input: string) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8", input });

  it("run - and trace - read the scenario from standard input (its files named stdin.*); a bad one is located as /dev/stdin", () => {
    const text = readFileSync(scenarioPath("repro-glibc-5s.yaml"), "utf8");
    const out = join(mkdtempSync(join(tmpdir(), "dnsrace-stdin-")), "o");
    const r = withInput(["run", "-", "--out", out, "--quiet"], text);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ["stdin.lookups.csv", "summary.csv"]);
    assert.match(readFileSync(join(out, "summary.csv"), "utf8"), /\nrepro-glibc-5s,7,/);
    const t = withInput(["trace", "-"], text);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /^repro-glibc-5s \(seed 7, kernel 5\.4\)/);
    const bad = withInput(["run", "-", "--out", out], "name: x\n");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^dnsrace: \/dev\/stdin: line 1: field "description"/);
  });

  it("a - that is a flag's value is left as it is (--out -, lookup --resolv-conf -)", () => {
    assert.deepEqual(stdinArguments(["run", "a.yaml", "--out", "-"]), ["run", "a.yaml", "--out", "-"]);
    assert.deepEqual(stdinArguments(["run", "--quiet", "-"]), ["run", "--quiet", "/dev/stdin"]);
    assert.deepEqual(stdinArguments(["lookup", "redis", "--resolv-conf", "-"]), ["lookup", "redis", "--resolv-conf", "-"]);
  });
});

describe("cli: help shows number flags as [number]", () => {
  it("every flag of NUMBER_FLAGS is [number] in its command's help; kernel and paths stay [string]; values are still read as typed", () => {
    for (const [command, flags] of Object.entries(NUMBER_FLAGS)) {
      const help = spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), command, "--help"], { encoding: "utf8" }).stdout;
      // Each option's block: from its name to the next option.
      const blocks = help.split(/\n(?= {2,}(-\w, )?--\w)/);
      for (const f of flags) {
        const block = blocks.find((b) => new RegExp(`^\\s+(-\\w, )?--${f}\\s`).test(b));
        assert.ok(block !== undefined, `${command} --${f} is in the help`);
        assert.match(block, /\[number\]/, `${command} --${f}: ${block}`);
      }
    }
    const race = spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), "race", "--help"], { encoding: "utf8" }).stdout;
    assert.match(race.split(/\n(?= {2,}(-\w, )?--\w)/).find((b) => /--kernel\s/.test(b))!, /\[string\]/);
    const bad = spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), "race", "--pairs", "1e3"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--pairs: expected a whole number from 1 to 1,000,000, found "1e3"/);
  });
});
