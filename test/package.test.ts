import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { InputError, loadScenarioObject, loadScenarioText, runScenario, summarize } from "../src/index.js";
import { ROOT, scenarioPath } from "./helpers.js";

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8" });
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  files: string[];
  types: string;
  exports: { ".": { types: string; default: string } };
};

describe("package: the CLI's version and help flags", () => {
  it("--version prints the package's version and exits 0", () => {
    const r = cli(["--version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  it("-h prints the same help as --help", () => {
    const short = cli(["-h"]);
    const long = cli(["--help"]);
    assert.equal(short.status, 0, short.stderr);
    assert.equal(short.stdout, long.stdout);
    assert.match(short.stdout, /dnsrace run <paths\.\.>/);
    assert.match(short.stdout, /-h, --help/);
  });

  it("-h after a command prints that command's help", () => {
    const r = cli(["race", "-h"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--kernel/);
  });
});

describe("package: the library entry point", () => {
  it("exports and types name files the build makes", () => {
    assert.equal(pkg.exports["."].types, pkg.types);
    assert.ok(existsSync(join(ROOT, pkg.exports["."].default)), pkg.exports["."].default);
    assert.ok(existsSync(join(ROOT, pkg.types)), pkg.types);
  });

  it("a scenario object runs and summarizes as its file does", () => {
    const file = scenarioPath("repro-glibc-5s.yaml");
    const text = readFileSync(file, "utf8");
    const fromObject = summarize(runScenario(loadScenarioObject(parse(text) as unknown, "repro")));
    const fromText = summarize(runScenario(loadScenarioText(text, file)));
    assert.deepEqual(fromObject, fromText);
    assert.equal(fromObject.lookups, 1);
    assert.ok(fromObject.max_ms >= 5000);
  });

  it("a bad scenario object throws InputError naming the field", () => {
    assert.throws(
      () => loadScenarioObject({ name: "x" }, "mine"),
      (e: unknown) => e instanceof InputError && /^mine: /.test(e.message) && /field "/.test(e.message),
    );
  });
});

describe("package: the tarball's contents", () => {
  it("ships bin, the built src, the scenarios, README and LICENSE, and nothing of results, tests or CI", () => {
    const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of ["bin/dnsrace", "dist/src/cli/main.js", "dist/src/index.js", "dist/src/index.d.ts", "scenarios/glibc.yaml", "README.md", "LICENSE", "package.json"]) {
      assert.ok(files.includes(f), f);
    }
    for (const f of files) assert.doesNotMatch(f, /^(results|test|bench|\.ci|src|dist\/test|dist\/bench)\//, f);
  });
});
