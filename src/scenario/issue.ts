import type { z } from "zod";
import { scenarioSchema } from "./schema.js";

/** A key on the way to a field: a mapping's key or a list's index. */
type PathKey = string | number;

function pathLabel(path: PathKey[]): string {
  let s = "";
  for (const k of path) s += typeof k === "number" ? `[${k}]` : s === "" ? k : `.${k}`;
  return s;
}

/** The first schema issue as a message: the file, the line, the field, what is allowed and what was found. */
export function describeIssue(issue: z.core.$ZodIssue, data: unknown, file: string, at: (path: PathKey[]) => string): string {
  const path = issue.path.filter((k): k is PathKey => typeof k === "string" || typeof k === "number");
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys;
    const full = [...path, keys[0]!];
    const parent = path.length === 0 ? "the top level" : `"${pathLabel(path)}"`;
    const allowed = allowedKeys(path);
    return `${file}${at(full)}unknown field "${pathLabel(full)}" in ${parent}${allowed ? ` (allowed: ${allowed})` : ""}.`;
  }
  const found = valueAt(data, path);
  const foundText = found === undefined ? "nothing" : JSON.stringify(found);
  let what = issue.message;
  if (issue.code === "invalid_value" && "values" in issue) {
    what = `expected one of ${(issue.values as unknown[]).map((v) => String(v)).join(", ")}`;
  } else if (issue.code === "invalid_type" && found === undefined) {
    what = `this field is required (${issue.message.replace(/^Invalid input: /, "")})`;
  }
  const label = path.length === 0 ? "the scenario" : `field "${pathLabel(path)}"`;
  const foundPart = found === undefined ? "" : `, found ${foundText}`;
  return `${file}${at(path)}${label}: ${what}${foundPart}.`;
}

function valueAt(data: unknown, path: PathKey[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function allowedKeys(path: PathKey[]): string | null {
  let schema: unknown = scenarioSchema;
  for (const k of path) {
    schema = unwrap(schema);
    const shape = (schema as { shape?: Record<string, unknown> }).shape;
    if (typeof k === "number") {
      const el = (schema as { element?: unknown }).element;
      if (el === undefined) return null;
      schema = el;
    } else if (shape && k in shape) {
      schema = shape[k];
    } else {
      return null;
    }
  }
  schema = unwrap(schema);
  const shape = (schema as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape).join(", ") : null;
}

function unwrap(schema: unknown): unknown {
  let s = schema as { def?: { innerType?: unknown; in?: unknown; schema?: unknown; type?: string } };
  for (let i = 0; i < 10 && s?.def; i++) {
    const d = s.def;
    if (d.innerType !== undefined) s = d.innerType as typeof s;
    else if (d.type === "pipe" && d.in !== undefined) s = d.in as typeof s;
    else break;
  }
  return s;
}
