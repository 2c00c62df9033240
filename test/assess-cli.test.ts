import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ASSESS_COLUMNS } from "../src/assess/report.js";
import { ROOT } from "./helpers.js";
import { CLUSTERS } from "./assess-helpers.js";

const bin = (name: string, args: string[], input?: string) => spawnSync(process.execPath, [join(ROOT, "bin", name), ...args], { encoding: "utf8", ...(input === undefined ? {} : { input }) });
const tmp = () => mkdtempSync(join(tmpdir(), "dnsrace-assess-"));
const COUNTERS = `ip-172-20-33-10.eu-west-1.compute.internal=${join(CLUSTERS, "kops-old-counters/ip-172-20-33-10.yaml")}`;

describe("cli: dnsrace assess", () => {
  it("writes assess.csv (the documented columns, worst first) and report.md; the table on stdout, the status on stderr", () => {
    const out = join(tmp(), "out");
    const r = bin("dnsrace", ["assess", join(CLUSTERS, "mid-upgrade.yaml"), "--out", out]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ["assess.csv", "report.md"]);
    const csv = readFileSync(join(out, "assess.csv"), "utf8").split("\n");
    assert.equal(csv[0], ASSESS_COLUMNS.join(","));
    assert.match(csv[1]!, /^1,DaemonSet\/logging\/fluent-bit,logging,DaemonSet,fluent-bit,2,"pool workers-2004, kernel 5\.4\.0-1103-aws, 4 CPUs \(2 nodes\)","5\.4\.0-1103-aws",fluent-bit=unknown,low,/);
    const report = readFileSync(join(out, "report.md"), "utf8");
    assert.match(report, /^# DNS race assessment\n/);
    assert.match(report, /Cheapest fix: \*\*dnsConfig option single-request-reopen\*\* \(scope: this workload \(Deployment\/payments\/checkout\); effort: low\)/);
    assert.match(report, /kubectl -n payments patch deployment checkout --type merge -p '\{"spec":\{"template":\{"spec":\{"dnsConfig":\{"options":\[\{"name":"single-request-reopen"\}\]\}\}\}\}\}'/);
    assert.match(r.stdout, /^rank +level +workload/);
    assert.equal(r.stderr, `wrote assess.csv and report.md to ${out}/\n`);
  });

  it("the same objects and seed give the same bytes", () => {
    const [a, b] = [join(tmp(), "a"), join(tmp(), "b")];
    for (const out of [a, b]) assert.equal(bin("dnsrace", ["assess", join(CLUSTERS, "kops-old.json"), "--counters", COUNTERS, "--out", out, "--quiet"]).status, 0);
    for (const f of ["assess.csv", "report.md"]) assert.equal(readFileSync(join(a, f), "utf8"), readFileSync(join(b, f), "utf8"), f);
  });

  it("--fail-on LEVEL: exit 3 when a workload is at or above it, else 0", () => {
    const dir = tmp();
    const f = join(CLUSTERS, "mid-upgrade.yaml");
    const low = bin("dnsrace", ["assess", f, "--out", dir, "--fail-on", "low", "--quiet"]);
    assert.equal(low.status, 3);
    assert.equal(bin("dnsrace", ["assess", f, "--out", dir, "--fail-on", "medium", "--quiet"]).status, 0);
    assert.equal(bin("dnsrace", ["assess", join(CLUSTERS, "kops-old.json"), "--counters", COUNTERS, "--out", dir, "--fail-on", "medium", "--quiet"]).status, 3);
    const bad = bin("dnsrace", ["assess", f, "--out", dir, "--fail-on", "severe"]);
    assert.deepEqual([bad.status, bad.stderr], [2, 'dnsrace: --fail-on: expected one of low, medium, high, found "severe".\n']);
  });

  it("kubectl dnsrace assess - : the plugin reads kubectl's output from standard input and prints --json", () => {
    const out = join(tmp(), "out");
    const r = bin("kubectl-dnsrace", ["assess", "-", "--out", out, "--json"], readFileSync(join(CLUSTERS, "eks.json"), "utf8"));
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { assess: { workload: string; level: string; kernel: string }[]; nodes: { kernel: { from: string } }[] };
    assert.deepEqual(j.assess.filter((x) => x.level === "none").map((x) => x.workload).sort(), ["Deployment/shop/orders", "Deployment/shop/storefront"]);
    assert.equal(j.assess[0]!.kernel, "5.10.205-195.807.amzn2.x86_64", "text, not a number");
    assert.equal(j.nodes[0]!.kernel.from, "Node/ip-10-0-1-5.ec2.internal status.nodeInfo.kernelVersion");
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
    assert.equal(pkg.bin["kubectl-dnsrace"], "bin/kubectl-dnsrace");
  });

  it("bad input: exit 2, one located message, no output written", () => {
    const dir = tmp();
    const file = join(dir, "cluster.json");
    writeFileSync(file, '{"apiVersion": "v1", "kind": "List",\n "items": [{"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"}, "status": {"nodeInfo": {"kernelVersion": 5.4}}}]}\n');
    const out = join(dir, "out");
    const r = bin("dnsrace", ["assess", file, "--out", out]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `dnsrace: ${file}: items[0] (Node/n1): field "status.nodeInfo.kernelVersion": expected text, found number 5.4.\n`);
    assert.equal(existsSync(out), false);
    const c = bin("dnsrace", ["assess", join(CLUSTERS, "eks.json"), "--counters", "nosuchnode=x.yaml", "--out", out]);
    assert.equal(c.status, 2);
    assert.match(c.stderr, /^dnsrace: x\.yaml: cannot read the counters file/);
    const n = bin("dnsrace", ["assess", join(CLUSTERS, "eks.json"), "--counters", `nosuchnode=${join(CLUSTERS, "kops-old-counters/ip-172-20-33-10.yaml")}`, "--out", out]);
    assert.match(n.stderr, /^dnsrace: --counters nosuchnode=\S+: no Node\/nosuchnode among the objects/);
    assert.equal(existsSync(out), false);
  });
});
