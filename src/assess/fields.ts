import { InputError } from "../scenario/load.js";
import { type KubeObject, describe } from "./objects.js";

/**
 * Reading one field of an object, typed, with where it came from. A field that is absent (or null,
 * as kubectl writes some) is undefined; one of the wrong type is bad input naming the object and
 * the field. The field names are the Kubernetes API's (k8s.io/api core/v1, apps/v1,
 * discovery/v1 types.go): nothing here reads a field the API does not define.
 */
export type Path = (string | number)[];

/** A value with the object and field it came from ("Node/ip-10-0-1-5 status.nodeInfo.kernelVersion"), or how it was assumed. */
export interface Cited<T> {
  value: T;
  from: string;
}

export function cite<T>(value: T, from: string): Cited<T> {
  return { value, from };
}

/** `Kind/name` or `Kind/namespace/name`. */
export function ref(o: KubeObject): string {
  return o.namespace === "" ? `${o.kind}/${o.name}` : `${o.kind}/${o.namespace}/${o.name}`;
}

/** The path as kubectl's -o jsonpath writes it: spec.containers[0].image. */
export function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? `.${p}` : `["${p}"]`)).join("");
}

/** "Node/x status.nodeInfo.kernelVersion". */
export function source(o: KubeObject, path: Path): string {
  return `${ref(o)} ${pathText(path)}`;
}

function at(o: KubeObject, path: Path): unknown {
  let v: unknown = o.data;
  for (const k of path) {
    if (v === null || v === undefined) return undefined;
    if (typeof k === "number") {
      if (!Array.isArray(v)) return bad(o, path.slice(0, path.indexOf(k)), "a list", v);
      v = v[k];
    } else {
      if (typeof v !== "object" || Array.isArray(v)) return bad(o, path.slice(0, path.indexOf(k)), "a mapping", v);
      v = (v as Record<string, unknown>)[k];
    }
  }
  return v === null ? undefined : v;
}

function bad(o: KubeObject, path: Path, expected: string, found: unknown): never {
  throw new InputError(`${o.where} (${ref(o)}): field "${pathText(path)}": expected ${expected}, found ${describe(found)}.`);
}

export function str(o: KubeObject, path: Path): string | undefined {
  const v = at(o, path);
  if (v === undefined) return undefined;
  if (typeof v !== "string") bad(o, path, "text", v);
  return v;
}

export function bool(o: KubeObject, path: Path): boolean | undefined {
  const v = at(o, path);
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") bad(o, path, "true or false", v);
  return v;
}

export function record(o: KubeObject, path: Path): Record<string, unknown> | undefined {
  const v = at(o, path);
  if (v === undefined) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) bad(o, path, "a mapping", v);
  return v as Record<string, unknown>;
}

/** A list's length (0 when absent): read its items with the other readers at [...path, i]. */
export function count(o: KubeObject, path: Path): number {
  const v = at(o, path);
  if (v === undefined) return 0;
  if (!Array.isArray(v)) bad(o, path, "a list", v);
  return v.length;
}

/** A list of text (args, addresses, nameservers). */
export function strings(o: KubeObject, path: Path): string[] {
  const n = count(o, path);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = str(o, [...path, i]);
    if (s === undefined) bad(o, [...path, i], "text", null);
    out.push(s);
  }
  return out;
}

/** A mapping of text to text (labels, annotations, a ConfigMap's data). */
export function stringMap(o: KubeObject, path: Path): Record<string, string> {
  const r = record(o, path);
  if (r === undefined) return {};
  for (const [k, v] of Object.entries(r)) if (typeof v !== "string") bad(o, [...path, k], "text", v);
  return r as Record<string, string>;
}
