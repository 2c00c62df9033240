import { z } from "zod";
import { InputError, type LoadedScenario, type PathKey, type ScenarioSource, docSource, loadScenarioData, loadScenarioText, parseYaml, readScenarioFile, type YamlFile } from "../scenario/load.js";

/**
 * Comparison and sweep files: a base scenario and changes to it. A change is
 * a partial scenario merged into the base (`set`), a partial pod merged into
 * every pod (`pods`), and resolv.conf options added to every pod
 * (`resolv_options`, as an `options` line after the pod's own, or merged by
 * name into dns_config.options as the kubelet merges them).
 */
export interface Change {
  set?: Record<string, unknown> | undefined;
  pods?: Record<string, unknown> | undefined;
  resolv_options?: string[] | undefined;
}

export interface Variant {
  name: string;
  /** What the variant changes, in one line. */
  changes: string;
  /** Costs the simulation does not measure (operations, other traffic). */
  notes: string | null;
  /** The variant whose figures the verdict compares with (itself for a reference point; default: the first variant). */
  against: string;
  /** What deploying it takes, as the comparison file declares it (null: not declared; a reference point needs none). */
  cost: Cost | null;
  /** What it changes in the base, as written (set, pods, resolv_options). */
  change: Change;
  loaded: LoadedScenario;
}

/** Effort to deploy and keep a mitigation, cheapest first. */
export const EFFORTS = ["low", "medium", "high"] as const;
/** Where a mitigation is deployed, narrowest first: each pod's spec, each node, the whole cluster. */
export const SCOPES = ["pod", "node", "cluster"] as const;
export interface Cost {
  effort: (typeof EFFORTS)[number];
  scope: (typeof SCOPES)[number];
}

export interface Comparison {
  file: string;
  name: string;
  description: string;
  seeds: number;
  variants: Variant[];
}

export interface SweepPoint {
  /** The grid parameter values of this point, in grid order. */
  values: (string | number | boolean)[];
  loaded: LoadedScenario;
}

export interface Sweep {
  file: string;
  name: string;
  description: string;
  seeds: number;
  /** The grid's parameters (dotted paths), in file order. */
  params: string[];
  /** The parameter on the plot's x axis. */
  x: string;
  points: SweepPoint[];
}

const mapping = z.record(z.string(), z.unknown(), { error: "expected a mapping of fields" });
const variantName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, { error: "expected a short name (letters, digits, . _ + -), such as single-request-reopen" });
const changeFields = {
  set: mapping.optional(),
  pods: mapping.optional(),
  resolv_options: z.array(z.string().regex(/^\S+$/, { error: "expected one option such as ndots:2" })).optional(),
};

const costSchema = z.strictObject(
  { effort: z.enum(EFFORTS), scope: z.enum(SCOPES) },
  { error: `expected {effort: ${EFFORTS.join(" | ")}, scope: ${SCOPES.join(" | ")}}` },
);

const variantSchema = z.strictObject({
  name: variantName,
  changes: z.string().min(1),
  notes: z.string().min(1).optional(),
  against: variantName.optional(),
  cost: costSchema.optional(),
  ...changeFields,
});

/** A comparison file (the JSON Schema of schemas/ is generated from it: compare/jsonschema.ts). */
export const comparisonSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().min(1),
  seeds: z.number().int().min(1).max(1000).default(5),
  base: mapping,
  variants: z.array(variantSchema).min(2, { error: "a comparison needs at least two variants" }),
});

const gridValue = z.union([z.string(), z.number(), z.boolean()]);
/** A sweep file. */
export const sweepSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().min(1),
  seeds: z.number().int().min(1).max(1000).default(5),
  base: mapping,
  grid: z.record(z.string().regex(/^[a-z_]+(\.[a-z_0-9]+)*$/, { error: "expected a dotted field path such as kube_dns.endpoints or pods.libc" }), z.array(gridValue).min(1)),
  x: z.string().optional(),
});

/** Objects merge key by key; arrays and scalars replace; null removes the key. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = k in base ? deepMerge(base[k], v) : v;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The base scenario with a change applied. */
export function applyChange(base: Record<string, unknown>, change: Change): Record<string, unknown> {
  const out = deepMerge(base, change.set ?? {}) as Record<string, unknown>;
  if (Array.isArray(out.pods)) {
    out.pods = out.pods.map((p: unknown) => {
      let pod = change.pods === undefined ? p : deepMerge(p, change.pods);
      if (change.resolv_options !== undefined && change.resolv_options.length > 0 && isObject(pod)) pod = withOptions(pod, change.resolv_options);
      return pod;
    });
  }
  return out;
}

/** A pod with resolv.conf options added: after its own (later options win), or merged by name into dns_config.options (dnsConfig.options if it spells it so). */
function withOptions(pod: Record<string, unknown>, options: string[]): Record<string, unknown> {
  if (typeof pod.resolv_conf === "string") {
    const text = pod.resolv_conf.endsWith("\n") || pod.resolv_conf === "" ? pod.resolv_conf : `${pod.resolv_conf}\n`;
    return { ...pod, resolv_conf: `${text}options ${options.join(" ")}\n` };
  }
  const key = pod.dns_config === undefined && pod.dnsConfig !== undefined ? "dnsConfig" : "dns_config";
  const cfg = isObject(pod[key]) ? pod[key] : {};
  const list = Array.isArray(cfg.options) ? [...(cfg.options as unknown[])] : [];
  for (const o of options) {
    const [name, value] = o.split(/:(.*)/s) as [string, string | undefined];
    const entry = value === undefined ? { name } : { name, value };
    const i = list.findIndex((e) => isObject(e) && e.name === name);
    if (i >= 0) list[i] = entry;
    else list.push(entry);
  }
  return { ...pod, [key]: { ...cfg, options: list } };
}

function has(data: unknown, path: PathKey[]): boolean {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== "object" || !(k in (v as object))) return false;
    v = (v as Record<string | number, unknown>)[k];
  }
  return true;
}

/** Locates a field of an assembled scenario: in the change that set it, else in the base, else at the change itself. */
function changeSource(y: YamlFile, file: string, context: string, change: Change, changePath: PathKey[], keyPaths: Map<string, PathKey[]> | null): ScenarioSource {
  const inFile = docSource(y.doc, y.lineCounter, file);
  const where = (path: PathKey[]): PathKey[] => {
    if (keyPaths !== null) {
      // A sweep: the grid parameter that set this field (or one of its parents).
      for (let n = path.length; n > 0; n--) {
        const dotted = path.slice(0, n).map((k, i) => (i === 1 && path[0] === "pods" ? null : k)).filter((k) => k !== null).join(".");
        const hit = keyPaths.get(dotted);
        if (hit !== undefined) return hit;
      }
    } else {
      if (has(change.set, path)) return [...changePath, "set", ...path];
      if (path[0] === "pods" && typeof path[1] === "number") {
        const rest = path.slice(2);
        if (rest.length > 0 && has(change.pods, rest)) return [...changePath, "pods", ...rest];
        if (change.resolv_options !== undefined && (rest[0] === "resolv_conf" || rest[0] === "dns_config" || rest[0] === "dnsConfig")) return [...changePath, "resolv_options"];
      }
    }
    return has(y.data, ["base", ...path]) ? ["base", ...path] : changePath;
  };
  return {
    file,
    context,
    at: (path) => inFile.at(where(path)),
    blockLine: (path) => {
      const p = where(path);
      return p[0] === "base" && change.resolv_options === undefined ? inFile.blockLine(p) : null;
    },
  };
}

function readYaml(file: string, what: string): YamlFile {
  return parseYaml(readScenarioFile(file, what), file);
}

function parseWith<T>(schema: z.ZodType<T>, y: YamlFile, file: string, what: string): T {
  if (!isObject(y.data)) throw new InputError(`${file}: a ${what} file is a YAML mapping with name, description, base and ${what === "comparison" ? "variants" : "grid"}.`);
  const kind = fileKind(y.data);
  // A file with a base is a comparison or a sweep whatever else is wrong with it: let the schema say what.
  if (kind !== what && !(kind === "scenario" && "base" in y.data)) {
    const cmd = kind === "scenario" ? "run" : kind === "comparison" ? "compare" : "sweep";
    fail(`${file}: this is a ${kind} file, not a ${what} file; run it with dnsrace ${cmd} ${file}.`);
  }
  const r = schema.safeParse(y.data);
  if (r.success) return r.data;
  // An unknown field explains the rest (a misspelt "variants" also leaves "variants" missing).
  const issue = r.error.issues.find((i) => i.code === "unrecognized_keys") ?? r.error.issues[0]!;
  const path = issue.path.filter((k): k is PathKey => typeof k === "string" || typeof k === "number");
  const src = docSource(y.doc, y.lineCounter, file);
  const label = path.length === 0 ? `the ${what}` : `field "${path.map((k) => (typeof k === "number" ? `[${k}]` : k)).join(".").replace(/\.\[/g, "[")}"`;
  if (issue.code === "unrecognized_keys") {
    return fail(`${file}: ${src.at([...path, issue.keys[0]!])}unknown field "${issue.keys[0]}" in ${path.length === 0 ? "the top level" : label} of the ${what} file.`);
  }
  return fail(`${file}: ${src.at(path)}${label}: ${plainMessage(issue)}.`);
}

/** zod's message in the project's words. */
function plainMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "too_small" && issue.origin === "number") return `expected a number of at least ${String(issue.minimum)}`;
  if (issue.code === "too_big" && issue.origin === "number") return `expected a number of at most ${String(issue.maximum)}`;
  if (issue.code === "too_small" && issue.origin === "array") return `expected at least ${String(issue.minimum)} item${issue.minimum === 1 ? "" : "s"}`;
  if (issue.code === "invalid_type") return `expected ${issue.expected === "array" ? "a list" : issue.expected === "record" ? "a mapping" : `a ${issue.expected}`}`;
  return issue.message.replace(/^Invalid input: /, "");
}

function fail(message: string): never {
  throw new InputError(message);
}

/** Reads a comparison file: every variant is validated as a full scenario before anything runs. */
export function loadComparison(file: string): Comparison {
  const y = readYaml(file, "comparison");
  const c = parseWith(comparisonSchema, y, file, "comparison");
  loadScenarioData(c.base, docSource(y.doc, y.lineCounter, file, ["base"], "base: "));
  const names = new Set<string>();
  c.variants.forEach((v, i) => {
    if (v.set !== undefined && "seed" in v.set) {
      fail(`${file}: ${docSource(y.doc, y.lineCounter, file).at(["variants", i, "set", "seed"])}field "variants[${i}].set.seed": every variant runs on the same seeds (common random numbers); set the seed in base, and the number of seeds with seeds or --seeds.`);
    }
    if (names.has(v.name)) fail(`${file}: ${docSource(y.doc, y.lineCounter, file).at(["variants", i, "name"])}variant name "${v.name}" is used twice.`);
    names.add(v.name);
  });
  const first = c.variants[0]!.name;
  const variants = c.variants.map((v, i): Variant => {
    if (v.against !== undefined && !names.has(v.against)) {
      fail(`${file}: ${docSource(y.doc, y.lineCounter, file).at(["variants", i, "against"])}field "variants[${i}].against": "${v.against}" is not a variant of this file (name the variant itself to make it a reference point).`);
    }
    const data = applyChange(c.base, v);
    const loaded = loadScenarioData(data, changeSource(y, file, `variant "${v.name}": `, v, ["variants", i], null));
    return { name: v.name, changes: v.changes, notes: v.notes ?? null, against: v.against ?? (i === 0 ? v.name : first), cost: v.cost ?? null, change: { set: v.set, pods: v.pods, resolv_options: v.resolv_options }, loaded };
  });
  return { file, name: c.name, description: c.description, seeds: c.seeds, variants };
}

/** Reads a sweep file: every grid point is validated as a full scenario before anything runs. */
export function loadSweep(file: string): Sweep {
  const y = readYaml(file, "sweep");
  const s = parseWith(sweepSchema, y, file, "sweep");
  loadScenarioData(s.base, docSource(y.doc, y.lineCounter, file, ["base"], "base: "));
  const params = Object.keys(s.grid);
  if (params.includes("seed")) fail(`${file}: ${docSource(y.doc, y.lineCounter, file).at(["grid", "seed"])}grid parameter "seed": every grid point runs on the same seeds; set the first in base.seed and their number with seeds or --seeds.`);
  if (params.length === 0) fail(`${file}: ${docSource(y.doc, y.lineCounter, file).at(["grid"])}field "grid": give at least one parameter with its values.`);
  const x = s.x ?? params[0]!;
  if (!params.includes(x)) fail(`${file}: ${docSource(y.doc, y.lineCounter, file).at(["x"])}field "x": "${x}" is not one of the grid's parameters (${params.join(", ")}).`);
  const keyPaths = new Map(params.map((p) => [p, ["grid", p] as PathKey[]]));
  let combos: (string | number | boolean)[][] = [[]];
  for (const p of params) combos = combos.flatMap((c) => s.grid[p]!.map((v) => [...c, v]));
  const points = combos.map((values) => {
    const change: Change = { set: {}, pods: {} };
    params.forEach((p, i) => {
      const parts = p.split(".");
      const [target, keys] = parts[0] === "pods" ? [change.pods!, parts.slice(1)] : [change.set!, parts];
      if (keys.length === 0) fail(`${file}: ${docSource(y.doc, y.lineCounter, file).at(["grid", p])}grid parameter "${p}": name a pod field, such as pods.libc.`);
      let o = target;
      for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
      o[keys[keys.length - 1]!] = values[i];
    });
    const context = `grid point ${params.map((p, i) => `${p}=${String(values[i])}`).join(", ")}: `;
    return { values, loaded: loadScenarioData(applyChange(s.base, change), changeSource(y, file, context, change, ["grid"], keyPaths)) };
  });
  return { file, name: s.name, description: s.description, seeds: s.seeds, params, x, points };
}

/** What a YAML file holds, from its top-level keys: a scenario, a comparison (variants) or a sweep (grid). */
export function fileKind(data: unknown): "scenario" | "comparison" | "sweep" {
  if (isObject(data) && "base" in data) return "variants" in data ? "comparison" : "grid" in data ? "sweep" : "scenario";
  return "scenario";
}

/**
 * A scenario file for a command that runs one scenario (trace): a comparison or sweep file is
 * pointed at its own command instead of being read as a scenario with its fields missing.
 */
export function loadScenarioFileFor(file: string, command: string): LoadedScenario {
  const y = parseYaml(readScenarioFile(file), file);
  const kind = fileKind(y.data);
  if (kind !== "scenario") {
    const cmd = kind === "comparison" ? "compare" : "sweep";
    fail(`${file}: this is a ${kind} file (it has base and ${kind === "comparison" ? "variants" : "grid"}), not a scenario; dnsrace ${command} takes one scenario. Run it with dnsrace ${cmd} ${file}, or write its base (or a ${kind === "comparison" ? "variant" : "grid point"}) as a scenario file of its own.`);
  }
  return loadScenarioText(y, file);
}
