import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { defaultJobName } from "../src/cli/jobmanifest.js";
import { ROOT } from "./helpers.js";

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [join(ROOT, "bin/dnsrace"), ...args], { encoding: "utf8", env: { ...process.env, ...env } });

/** The vendored standalone-strict schemas (test/fixtures/k8s/README.md names their Kubernetes version and source). */
const K8S = join(ROOT, "test/fixtures/k8s");

function validator(file: string) {
  const schema = JSON.parse(readFileSync(join(K8S, file), "utf8")) as Record<string, unknown>;
  // The files name draft-04's "http://json-schema.org/schema#"; what they use (type, properties,
  // additionalProperties: false, enum, required, items, maxLength) means the same in draft-07.
  delete schema.$schema;
  // strict: false lets ajv pass the OpenAPI keywords (x-kubernetes-*) and formats (int32, int-or-string) it does not know.
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  return ajv.compile(schema);
}

const jobSchema = validator("job-batch-v1.json");
const configMapSchema = validator("configmap-v1.json");

function errors(v: ReturnType<typeof validator>, x: unknown): string {
  return v(x) ? "" : JSON.stringify(v.errors);
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { completionMode?: string; completions?: number; parallelism?: number; suspend?: boolean; template: { spec: { containers: { args: string[]; env?: unknown[] }[] } } };
}

const SWEEP = `name: Job Sweep
description: A small sweep for the Job manifest.
seeds: 2
x: kube_dns.endpoints
grid:
  kernel: ["5.4", "5.10"]
  kube_dns.endpoints: [1, 3]
base:
  name: job-base
  description: busy node
  seed: 11
  kernel: "5.4"
  node: { cpus: 4, rx: inline, migration_probability: 0.19 }
  kube_dns:
    endpoints: 2
    records: [redis.shop.svc.cluster.local]
  pods:
    - name: app
      libc: glibc
      threads: 40
      lookups_per_process: 1
      rate_per_s: 40
      duration_s: 2
      names: [redis]
      resolv_conf: |
        search shop.svc.cluster.local svc.cluster.local cluster.local
        nameserver 10.96.0.10
        options ndots:5
`;

function sweepFile(): { d: string; file: string } {
  const d = mkdtempSync(join(tmpdir(), "dnsrace-job-"));
  const file = join(d, "job-sweep.yaml");
  writeFileSync(file, SWEEP);
  return { d, file };
}

function files(d: string): Record<string, string> {
  return Object.fromEntries(readdirSync(d).sort().map((f) => [f, readFileSync(join(d, f), "latin1")]));
}

describe("sweep --job-manifest: an Indexed batch/v1 Job for kubectl apply", () => {
  it("the printed List's Jobs validate against the Kubernetes batch/v1 Job schema, its ConfigMap against v1 ConfigMap (YAML and --json alike)", () => {
    const { file } = sweepFile();
    const args = ["sweep", file, "--job-manifest", "--image", "registry.example/dnsrace:0.1.0", "--shards", "3", "--parallelism", "2", "--pvc", "sweeps", "--seeds", "2", "--jobs", "2"];
    const yaml = cli(args);
    assert.equal(yaml.status, 0, yaml.stderr);
    assert.equal(yaml.stderr, "");
    const json = cli([...args, "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const list = parse(yaml.stdout) as { apiVersion: string; kind: string; items: K8sObject[] };
    assert.deepEqual(JSON.parse(json.stdout), list);
    assert.equal(list.apiVersion, "v1");
    assert.equal(list.kind, "List");
    assert.deepEqual(list.items.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`), ["v1 ConfigMap dnsrace-job-sweep-input", "batch/v1 Job dnsrace-job-sweep", "batch/v1 Job dnsrace-job-sweep-merge"]);
    const [cm, shards, merge] = list.items as [K8sObject, K8sObject, K8sObject];
    assert.equal(errors(configMapSchema, cm), "");
    assert.equal(errors(jobSchema, shards), "");
    assert.equal(errors(jobSchema, merge), "");
    assert.deepEqual(cm.data, { "job-sweep.yaml": SWEEP });
    assert.equal(shards.spec!.completionMode, "Indexed");
    assert.equal(shards.spec!.completions, 3);
    assert.equal(shards.spec!.parallelism, 2);
    assert.equal(merge.spec!.suspend, true);
    assert.deepEqual(shards.spec!.template.spec.containers[0]!.args, ["sweep", "/input/job-sweep.yaml", "--shard", "3", "--seeds", "2", "--jobs", "2", "--quiet", "--out", "/results/dnsrace-job-sweep/shard-$(JOB_COMPLETION_INDEX)"]);
    // The same command prints the same bytes.
    assert.equal(cli(args).stdout, yaml.stdout);
  });

  it("the schema check can fail: a Job with a misspelt field, or without its template's containers, is refused", () => {
    const { file } = sweepFile();
    const list = JSON.parse(cli(["sweep", file, "--job-manifest", "--image", "x/dnsrace", "--shards", "2", "--json"]).stdout) as { items: Record<string, unknown>[] };
    const job = list.items[1] as { spec: Record<string, unknown> & { template: { spec: Record<string, unknown> } } };
    assert.equal(errors(jobSchema, job), "");
    const misspelt = structuredClone(job);
    misspelt.spec.completionsMode = "Indexed";
    assert.match(errors(jobSchema, misspelt), /additionalProperties/);
    const empty = structuredClone(job);
    delete empty.spec.template.spec.containers;
    assert.match(errors(jobSchema, empty), /containers/);
  });

  it("the pods' commands, run here with JOB_COMPLETION_INDEX=0..N-1 and then the merge Job's, give the unsharded sweep's bytes", () => {
    const { d, file } = sweepFile();
    const whole = cli(["sweep", file, "--out", join(d, "whole"), "--jobs", "1", "--quiet"]);
    assert.equal(whole.status, 0, whole.stderr);
    const list = JSON.parse(cli(["sweep", file, "--job-manifest", "--image", "x/dnsrace", "--shards", "3", "--jobs", "1", "--json"]).stdout) as { items: K8sObject[] };
    const [cm, shards, merge] = list.items as [K8sObject, K8sObject, K8sObject];
    // The pod's mounts, here: the ConfigMap's files in input/, the claim in results/.
    mkdirSync(join(d, "input"));
    for (const [k, v] of Object.entries(cm.data!)) writeFileSync(join(d, "input", k), v);
    const local = (a: string, env: Record<string, string>) => a.replace(/^\/input\//, `${d}/input/`).replace(/^\/results\//, `${d}/results/`).replace(/\$\((\w+)\)/g, (_, v: string) => env[v]!);
    for (let i = 0; i < shards.spec!.completions!; i++) {
      const env = { JOB_COMPLETION_INDEX: String(i) };
      const r = cli(shards.spec!.template.spec.containers[0]!.args.map((a) => local(a, env)), env);
      assert.equal(r.status, 0, r.stderr);
    }
    const m = cli(merge.spec!.template.spec.containers[0]!.args.map((a) => local(a, {})));
    assert.equal(m.status, 0, m.stderr);
    assert.deepEqual(files(join(d, "results", "dnsrace-job-sweep", "merged")), files(join(d, "whole")));
  });

  it("compare --job-manifest: the same List, its pods running compare --shard N (valid against the same schemas)", () => {
    const d = mkdtempSync(join(tmpdir(), "dnsrace-job-"));
    const file = join(d, "cmp.yaml");
    writeFileSync(file, `name: cmp\ndescription: two variants\nseeds: 2\nbase:\n${SWEEP.split("base:\n")[1]}variants:\n  - { name: glibc, changes: nothing }\n  - { name: single-request, changes: options single-request, resolv_options: [single-request] }\n`);
    const r = cli(["compare", file, "--job-manifest", "--image", "x/dnsrace", "--shards", "4", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const [cm, shards, merge] = (JSON.parse(r.stdout) as { items: K8sObject[] }).items as [K8sObject, K8sObject, K8sObject];
    assert.equal(errors(configMapSchema, cm), "");
    assert.equal(errors(jobSchema, shards), "");
    assert.equal(errors(jobSchema, merge), "");
    assert.deepEqual(shards.spec!.template.spec.containers[0]!.args.slice(0, 4), ["compare", "/input/cmp.yaml", "--shard", "4"]);
    assert.equal(merge.spec!.template.spec.containers[0]!.args[0], "merge");
    // 2 variants x 2 seeds: at most 4 shards.
    assert.match(cli(["compare", file, "--job-manifest", "--image", "x/dnsrace", "--shards", "5"]).stderr, /--shards 5: more shards than the 4 runs of/);
  });

  it("refuses what cannot make a Job (exit 2, naming the flag): no --image, no --shards, more shards than runs, a bad --job-name, a manifest flag alone", () => {
    const { file } = sweepFile();
    const cases: [string[], RegExp][] = [
      [["--job-manifest", "--shards", "2"], /^dnsrace: --job-manifest: give the container image with --image/],
      [["--job-manifest", "--image", "x"], /^dnsrace: --job-manifest: give the number of shards with --shards\.\n$/],
      [["--job-manifest", "--image", "x", "--shards", "10001"], /^dnsrace: --shards: expected a whole number from 1 to 10,000, found "10001"\.\n$/],
      [["--job-manifest", "--image", "x", "--shards", "9"], /^dnsrace: --shards 9: more shards than the 8 runs of .*job-sweep\.yaml; give at most 8\.\n$/],
      [["--job-manifest", "--image", "x", "--shards", "2", "--parallelism", "3"], /^dnsrace: --parallelism: expected a whole number from 1 to 2, found "3"\.\n$/],
      [["--job-manifest", "--image", "x", "--shards", "2", "--job-name", "Big_Sweep"], /^dnsrace: --job-name: "Big_Sweep" is not a Job name/],
      [["--job-manifest", "--image", "x", "--shards", "2", "--shard", "1/2"], /^dnsrace: --shard: not with --job-manifest/],
      [["--shards", "2"], /^dnsrace: --shards: only with --job-manifest/],
      [["--job-manifest", "--image", "x", "--shards", "2", "--out", "o"], /^dnsrace: --out: not with --job-manifest/],
    ];
    for (const [extra, re] of cases) {
      const r = cli(["sweep", file, ...extra]);
      assert.equal(r.status, 2, extra.join(" "));
      assert.match(r.stderr, re, extra.join(" "));
      assert.equal(r.stdout, "");
    }
  });

  it("defaultJobName: dnsrace- and the file's name in lower case, other characters as -, at most 40 characters", () => {
    assert.equal(defaultJobName("Job Sweep"), "dnsrace-job-sweep");
    assert.equal(defaultJobName("kernels x endpoints (2026)"), "dnsrace-kernels-x-endpoints-2026");
    const long = defaultJobName("a".repeat(30) + " " + "b".repeat(30));
    assert.equal(long, `dnsrace-${"a".repeat(30)}-b`);
    assert.ok(long.length <= 40);
  });
});
