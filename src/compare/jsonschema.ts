import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { podSchema, scenarioSchema } from "../scenario/schema.js";
import { comparisonSchema, sweepSchema } from "./spec.js";

/**
 * JSON Schemas of the three file kinds, generated from the zod schemas the
 * loaders use (z.toJSONSchema), for editors: a `# yaml-language-server:
 * $schema=...` first line in a file makes the YAML language server complete
 * and check its fields. They describe the fields, their types, ranges and
 * choices; the checks that span fields (resolv_conf or dns_policy, low <=
 * estimate <= high, a known kernel) stay with the loaders, which have the last
 * word. schemas/ holds them as written by writeSchemas (npm run schemas);
 * test/jsonschema.test.ts regenerates them and fails when the copy differs.
 */
export const SCHEMA_FILES = { scenario: "scenario.schema.json", comparison: "comparison.schema.json", sweep: "sweep.schema.json" } as const;
export type FileKind = keyof typeof SCHEMA_FILES;

type Json = Record<string, unknown>;

/**
 * A zod schema as JSON Schema 2020-12, as a file is written (defaults are not required). A custom
 * check (a distribution) stands for the JSON Schema its metadata gives (scenario/schema.ts; the
 * test checks no field is left accepting anything); any other type with no JSON Schema
 * equivalent is an error here.
 */
function toJson(schema: z.ZodType): Json {
  const out = z.toJSONSchema(schema, {
    io: "input",
    target: "draft-2020-12",
    // .meta() makes a child of the custom check: the check itself is "any", its child carries the schema.
    unrepresentable: (ctx) => (ctx.zodSchema._zod.def.type === "custom" ? "any" : "throw"),
  }) as Json;
  delete out.$schema;
  return out;
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A change's `set` or `pods` (compare/spec.ts applyChange, deepMerge): the same fields, none
 * required, each of them also null (which removes it); lists replace whole, so they keep their items.
 */
export function deepPartial(s: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "required" || k === "default") continue;
    if (k === "properties" && isObject(v)) {
      out.properties = Object.fromEntries(Object.entries(v).map(([name, p]) => [name, { anyOf: [deepPartial(p as Json), { type: "null" }] }]));
    } else if ((k === "anyOf" || k === "oneOf") && Array.isArray(v)) {
      out[k] = v.map((x) => (isObject(x) ? deepPartial(x) : x));
    } else out[k] = v;
  }
  return out;
}

/** The three schemas, each with its $schema, $id (its file name) and title. */
export function jsonSchemas(): Record<FileKind, Json> {
  const scenario = toJson(scenarioSchema);
  const pod = toJson(podSchema);
  const head = (kind: FileKind, title: string) => ({ $schema: "https://json-schema.org/draft/2020-12/schema", $id: SCHEMA_FILES[kind], title });

  const comparison = toJson(comparisonSchema);
  const cProps = comparison.properties as Json;
  cProps.base = { description: "The scenario every variant changes (a whole scenario file's fields).", $ref: "#/$defs/scenario" };
  const variant = ((cProps.variants as Json).items as Json).properties as Json;
  variant.set = { description: "Scenario fields merged into base (mappings key by key; lists and values replace; null removes).", $ref: "#/$defs/partialScenario" };
  variant.pods = { description: "Pod fields merged into every pod of base.", $ref: "#/$defs/partialPod" };

  const sweep = toJson(sweepSchema);
  (sweep.properties as Json).base = { description: "The scenario every grid point changes (a whole scenario file's fields).", $ref: "#/$defs/scenario" };

  // The shared definitions (a distribution) at each file's root, where their #/$defs/ references point.
  const shared = { ...(scenario.$defs as Json | undefined), ...(pod.$defs as Json | undefined) };
  delete scenario.$defs;
  delete pod.$defs;
  return {
    scenario: { ...head("scenario", "dnsrace scenario"), ...scenario, $defs: shared },
    comparison: { ...head("comparison", "dnsrace comparison"), ...comparison, $defs: { ...shared, scenario, partialScenario: deepPartial(scenario), partialPod: deepPartial(pod) } },
    sweep: { ...head("sweep", "dnsrace sweep"), ...sweep, $defs: { ...shared, scenario } },
  };
}

/** A schema file's text: two-space JSON and a final newline. */
export function schemaText(schema: Json): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Writes the three schemas into `dir` (schemas/ in the repository). */
export function writeSchemas(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const all = jsonSchemas();
  for (const kind of Object.keys(SCHEMA_FILES) as FileKind[]) writeFileSync(join(dir, SCHEMA_FILES[kind]), schemaText(all[kind]));
}
