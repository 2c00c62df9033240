import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { stringify } from "yaml";
import { InputError } from "../scenario/load.js";
import { wholeNumber } from "./flags.js";

/**
 * `sweep FILE --job-manifest` (and `compare FILE --job-manifest`): the Kubernetes objects that run
 * the command's N shards as an Indexed Job and merge them, as one `v1` List for `kubectl apply -f`:
 *
 * 1. a ConfigMap holding the file (mounted read-only at /input in every pod, so each shard reads
 *    the same bytes at the same path, and merge finds the path and SHA-256 the shards recorded);
 * 2. the shard Job (`completionMode: Indexed`, `completions: N`): pod I runs `--shard N` with
 *    JOB_COMPLETION_INDEX=I and writes RESULTS/shard-I on the PersistentVolumeClaim;
 * 3. the merge Job, created suspended: once the shard Job is complete, resuming it
 *    (`kubectl patch job NAME-merge -p '{"spec":{"suspend":false}}'`) runs `dnsrace merge` on the
 *    volume into RESULTS/merged.
 *
 * RESULTS is /results/NAME on the claim. The objects depend on the arguments alone (no clock, no
 * generated names), so the same command prints the same manifest.
 */

export interface JobManifestOptions {
  /** The command the shards run. */
  command: "sweep" | "compare";
  /** The file as given, and its text (the ConfigMap's data). */
  file: string;
  text: string;
  image: string;
  shards: number;
  parallelism: number;
  /** The PersistentVolumeClaim the pods write to. */
  pvc: string;
  /** The Jobs' name (the shard Job; the merge Job adds -merge, the ConfigMap -input). */
  name: string;
  /** --seeds and --jobs, passed on to every shard (seeds must be the same in all of them). */
  seeds?: number;
  jobs?: number;
}

/** Where the ConfigMap, and the claim, are mounted in each pod. */
export const INPUT_DIR = "/input";
export const RESULTS_DIR = "/results";

/** A ConfigMap holds at most 1 MiB (kubernetes pkg/apis/core/validation ValidateConfigMap, MaxSecretSize). */
const CONFIGMAP_MAX = 1024 * 1024;
/** A DNS-1123 label: what a Job's name must be for its pods' hostnames (NAME-INDEX) to be valid. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A ConfigMap key (kubernetes apimachinery validation IsConfigMapKey). */
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;
/** Room left in a 63-character label for "-merge" and the pod's "-INDEX-xxxxx" suffix. */
const NAME_MAX = 40;

/** The default Jobs' name from the file's `name`: dnsrace-NAME, lower case, other characters "-", cut to fit. */
export function defaultJobName(name: string): string {
  const words = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return `dnsrace-${words}`.slice(0, NAME_MAX).replace(/-+$/, "");
}

/** --job-name checked: a DNS-1123 label of at most 40 characters. */
export function checkJobName(name: string): string {
  if (name.length > NAME_MAX || !DNS_LABEL.test(name)) throw new InputError(`--job-name: "${name}" is not a Job name dnsrace can use: lower-case letters, digits and "-", starting and ending with a letter or digit, at most ${NAME_MAX} characters (the pods add -INDEX and a suffix).`);
  return name;
}

/** --pvc checked: a DNS-1123 subdomain (the claim's name). */
export function checkClaimName(name: string): string {
  if (name.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)) throw new InputError(`--pvc: "${name}" is not a PersistentVolumeClaim name (lower-case letters, digits, "-" and ".", at most 253 characters).`);
  return name;
}

/** The v1 List of the ConfigMap, the shard Job and the suspended merge Job. */
export function jobManifest(o: JobManifestOptions): object {
  const key = basename(o.file);
  if (!CONFIGMAP_KEY.test(key)) throw new InputError(`${o.file}: its name "${key}" cannot be a ConfigMap key (letters, digits, "-", "_" and "." only); copy it to such a name.`);
  if (Buffer.byteLength(o.text, "utf8") > CONFIGMAP_MAX) throw new InputError(`${o.file}: ${Buffer.byteLength(o.text, "utf8")} bytes, more than a ConfigMap holds (1 MiB).`);
  if (o.image.trim() === "" || /\s/.test(o.image)) throw new InputError(`--image: expected an image reference (such as registry.example/dnsrace:0.1.0), found "${o.image}".`);
  const input = `${o.name}-input`;
  const results = `${RESULTS_DIR}/${o.name}`;
  const file = `${INPUT_DIR}/${key}`;
  const labels = { "app.kubernetes.io/name": "dnsrace", "app.kubernetes.io/instance": o.name };
  const passed = [...(o.seeds === undefined ? [] : ["--seeds", String(o.seeds)]), ...(o.jobs === undefined ? [] : ["--jobs", String(o.jobs)])];
  const volumes = [
    { name: "input", configMap: { name: input } },
    { name: "results", persistentVolumeClaim: { claimName: o.pvc } },
  ];
  const mounts = [
    { name: "input", mountPath: INPUT_DIR, readOnly: true },
    { name: "results", mountPath: RESULTS_DIR },
  ];
  // The image runs as node:20-slim's "node" user (uid and gid 1000, Dockerfile); the claim's files are given its group.
  const securityContext = { fsGroup: 1000 };
  const configMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: input, labels }, data: { [key]: o.text } };
  const shardJob = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: o.name, labels },
    spec: {
      completionMode: "Indexed",
      completions: o.shards,
      parallelism: o.parallelism,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          securityContext,
          containers: [
            {
              name: "shard",
              image: o.image,
              // The Job controller sets JOB_COMPLETION_INDEX from this annotation itself (kubernetes
              // pkg/controller/job/indexed_job_utils.go, addCompletionIndexEnvVariable, which skips a
              // container that declares it); declaring it here lets $(JOB_COMPLETION_INDEX) in args
              // be expanded by the kubelet on every version that has Indexed Jobs.
              env: [{ name: "JOB_COMPLETION_INDEX", valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }],
              args: [o.command, file, "--shard", String(o.shards), ...passed, "--quiet", "--out", `${results}/shard-$(JOB_COMPLETION_INDEX)`],
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  };
  const mergeJob = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `${o.name}-merge`, labels },
    spec: {
      // Resumed once the shard Job is complete (README, "Running a sweep on Kubernetes").
      suspend: true,
      completions: 1,
      parallelism: 1,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          securityContext,
          containers: [
            {
              name: "merge",
              image: o.image,
              args: ["merge", ...Array.from({ length: o.shards }, (_, i) => `${results}/shard-${i}`), "--file", file, "--out", `${results}/merged`],
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  };
  return { apiVersion: "v1", kind: "List", items: [configMap, shardJob, mergeJob] };
}

/** The manifest as printed: YAML (block style, long lines unfolded), or JSON with --json. */
export function manifestText(manifest: object, json: boolean): string {
  return json ? `${JSON.stringify(manifest, null, 2)}\n` : stringify(manifest, { lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * The merge Job names every shard folder in its args (about 45 bytes each): 10,000 of them keep
 * the Job well under etcd's default 1.5 MiB request limit (what an object can weigh) and the
 * kernel's limit on a process's arguments. (An Indexed Job itself takes up to 100,000 completions.)
 */
const MAX_SHARDS = 10_000;

/** The claim the pods write to unless --pvc names another. */
export const DEFAULT_CLAIM = "dnsrace-results";

/** The flags of --job-manifest, for sweep and compare. */
export const JOB_MANIFEST_OPTIONS = {
  "job-manifest": { type: "boolean", default: false, describe: "print (YAML, or JSON with --json) a v1 List for kubectl apply: a ConfigMap with the file, an Indexed batch/v1 Job running --shards shards, and a suspended Job that merges them; runs nothing" },
  image: { type: "string", describe: "with --job-manifest: the dnsrace container image the pods run" },
  shards: { type: "string", describe: "with --job-manifest: the number of shards (the Job's completions)" },
  parallelism: { type: "string", describe: "with --job-manifest: pods running at once (default: the number of shards)" },
  pvc: { type: "string", describe: `with --job-manifest: the PersistentVolumeClaim the pods write to, mounted at /results (default: ${DEFAULT_CLAIM})` },
  "job-name": { type: "string", describe: "with --job-manifest: the Jobs' name (default: dnsrace-<the file's name>)" },
} as const;

export interface JobManifestArgs {
  "job-manifest": boolean;
  image: string | undefined;
  shards: string | undefined;
  parallelism: string | undefined;
  pvc: string | undefined;
  "job-name": string | undefined;
  json: boolean;
}

/** The manifest flags given without --job-manifest, refused by name (they would do nothing). */
export function checkNoManifestFlags(args: JobManifestArgs): void {
  const given = (["image", "shards", "parallelism", "pvc", "job-name"] as const).filter((k) => args[k] !== undefined);
  if (given.length > 0) throw new InputError(`--${given[0]}: only with --job-manifest (it sets the printed Kubernetes Job).`);
}

/** The options of the manifest from the flags; `runs` is the number of runs to shard (no more shards than runs). */
export function manifestOptions(command: JobManifestOptions["command"], file: string, text: string, specName: string, runs: number, args: JobManifestArgs, extra: { seeds?: number; jobs?: number; shard?: string; out?: string }): JobManifestOptions {
  if (extra.out !== undefined) throw new InputError(`--out: not with --job-manifest (the manifest goes to stdout, and the pods write to the claim, under ${RESULTS_DIR}/NAME).`);
  if (extra.shard !== undefined) throw new InputError(`--shard: not with --job-manifest (the Job gives each pod its shard); give the number of shards with --shards.`);
  if (args.image === undefined) throw new InputError(`--job-manifest: give the container image with --image (build it with the Dockerfile, README "Running a sweep on Kubernetes").`);
  if (args.shards === undefined) throw new InputError(`--job-manifest: give the number of shards with --shards.`);
  const shards = wholeNumber("--shards", args.shards, 1, 1, MAX_SHARDS);
  if (shards > runs) throw new InputError(`--shards ${shards}: more shards than the ${runs} runs of ${file}; give at most ${runs}.`);
  const parallelism = wholeNumber("--parallelism", args.parallelism, shards, 1, shards);
  return {
    command,
    file,
    text,
    image: args.image,
    shards,
    parallelism,
    pvc: checkClaimName(args.pvc ?? DEFAULT_CLAIM),
    name: args["job-name"] === undefined ? defaultJobName(specName) : checkJobName(args["job-name"]),
    ...(extra.seeds === undefined ? {} : { seeds: extra.seeds }),
    ...(extra.jobs === undefined ? {} : { jobs: extra.jobs }),
  };
}

/**
 * `--job-manifest`: the manifest of `command FILE`'s runs (`runs` of them) printed on stdout. `seeds`
 * and `jobs` as parsed go to the pods when given; --shard and --out are refused (manifestOptions).
 */
export function printJobManifest(command: JobManifestOptions["command"], file: string, specName: string, runs: number, args: JobManifestArgs & { jobs?: string | undefined; shard?: string | undefined; out?: string | undefined }, seeds: number | undefined, jobs: number): void {
  const o = manifestOptions(command, file, readFileSync(file, "utf8"), specName, runs, args, {
    ...(seeds === undefined ? {} : { seeds }),
    ...(args.jobs === undefined ? {} : { jobs }),
    ...(args.shard === undefined ? {} : { shard: args.shard }),
    ...(args.out === undefined ? {} : { out: args.out }),
  });
  process.stdout.write(manifestText(jobManifest(o), args.json));
}
