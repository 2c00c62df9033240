import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OutputError, checkOutputFolder, writeOutputSet } from "../src/cli/output.js";
import { InputError } from "../src/scenario/load.js";
import { ROOT, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });
const FILES = [
  { name: "a.csv", text: "a\n" },
  { name: "b.csv", text: "b\n" },
  { name: "summary.csv", text: "s\n" },
];

/** A pid that no process has now (a child that has exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

describe("output: a set that is complete or absent", () => {
  it("a new --out appears with every file at once; no temporary is left beside it", () => {
    const base = mkdtempSync(join(tmpdir(), "dnsrace-out-"));
    writeOutputSet(join(base, "x", "out"), FILES);
    assert.deepEqual(readdirSync(join(base, "x", "out")).sort(), ["a.csv", "b.csv", "summary.csv"]);
    assert.deepEqual(readdirSync(join(base, "x")), ["out"]);
  });

  it("into an existing --out: the set's files are replaced, other files stay, no temporary is left", () => {
    const base = mkdtempSync(join(tmpdir(), "dnsrace-out-"));
    const out = join(base, "out");
    mkdirSync(out);
    writeFileSync(join(out, "a.csv"), "old\n");
    writeFileSync(join(out, "mine.txt"), "kept\n");
    writeOutputSet(out, FILES);
    assert.equal(readFileSync(join(out, "a.csv"), "utf8"), "a\n");
    assert.equal(readFileSync(join(out, "mine.txt"), "utf8"), "kept\n");
    assert.deepEqual(readdirSync(base), ["out"]);
  });

  it("a full disk (ENOSPC) while writing: an OutputError naming the file, and nothing left (no --out, no folders made for it, no temporaries)", () => {
    const base = mkdtempSync(join(tmpdir(), "dnsrace-out-"));
    let n = 0;
    const full = {
      writeFile(path: string, text: string) {
        if (++n === 2) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        writeFileSync(path, text);
      },
    };
    assert.throws(
      () => writeOutputSet(join(base, "deep", "out"), FILES, full),
      (e: unknown) => e instanceof OutputError && /^--out .*deep\/out: cannot write .*deep\/out\/b\.csv \(ENOSPC: no space left on the device\); nothing was written/.test(e.message),
    );
    assert.deepEqual(readdirSync(base), []);
    // Into an existing --out: its old files stay as they were.
    const out = join(base, "out");
    mkdirSync(out);
    writeFileSync(join(out, "a.csv"), "old\n");
    n = 0;
    assert.throws(() => writeOutputSet(out, FILES, full), OutputError);
    assert.deepEqual(readdirSync(base), ["out"]);
    assert.deepEqual(readdirSync(out), ["a.csv"]);
    assert.equal(readFileSync(join(out, "a.csv"), "utf8"), "old\n");
  });

  it("the temporaries of a killed run (its process gone) are removed by the next run writing there; a live run's are not", () => {
    const base = mkdtempSync(join(tmpdir(), "dnsrace-out-"));
    const out = join(base, "out");
    mkdirSync(out);
    const dead = deadPid();
    mkdirSync(join(base, `.out.${dead}.tmp`));
    writeFileSync(join(base, `.out.${dead}.tmp`, "a.csv"), "half");
    writeFileSync(join(out, `.summary.csv.${dead}.tmp`), "half");
    mkdirSync(join(base, `.out.${process.ppid}.tmp`));
    writeOutputSet(out, FILES);
    assert.deepEqual(readdirSync(base).sort(), [`.out.${process.ppid}.tmp`, "out"]);
    assert.deepEqual(readdirSync(out).sort(), ["a.csv", "b.csv", "summary.csv"]);
  });

  it("an --out that cannot be a folder is refused before anything runs (exit 2, naming it)", () => {
    const base = mkdtempSync(join(tmpdir(), "dnsrace-out-"));
    writeFileSync(join(base, "file"), "");
    assert.throws(() => checkOutputFolder(join(base, "file", "out")), (e: unknown) => e instanceof InputError && /is a file, not a folder/.test(e.message));
    assert.throws(() => checkOutputFolder(join(base, "file")), InputError);
    const r = cli(["compare", scenarioPath("mitigations.yaml"), "--out", join(base, "file", "out")]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^dnsrace: --out .*file\/out: .*file is a file, not a folder/);
    assert.doesNotMatch(r.stderr, /\d+%/, "no progress: nothing was simulated");
  });

  it("SIGTERM while simulating leaves nothing: no --out, no temporaries", async () => {
    const base = mkdtempSync(join(tmpdir(), "dnsrace-out-"));
    const scenario = join(base, "long.yaml");
    writeFileSync(scenario, readFileSync(scenarioPath("glibc.yaml"), "utf8").replace("lookups: 3000", "lookups: 400000"));
    const child = spawn(process.execPath, [join(ROOT, "bin/dnsrace"), "run", scenario, "--out", join(base, "out"), "--quiet"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 700));
    child.kill("SIGTERM");
    const [status, signal] = await new Promise<[number | null, string | null]>((r) => child.on("exit", (c, s) => r([c, s])));
    assert.ok(signal === "SIGTERM" || status === 143, `${status} ${signal}`);
    assert.deepEqual(readdirSync(base), ["long.yaml"]);
    assert.equal(existsSync(join(base, "out")), false);
  });
});
