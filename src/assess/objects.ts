import { LineCounter, parseAllDocuments } from "yaml";
import { InputError } from "../scenario/load.js";

/**
 * The cluster's objects as kubectl writes them (`kubectl get ... -o json` or `-o yaml`): a `v1 List`
 * (kind List, or any kind ending in List, with `items`), one object, or several YAML documents.
 * Only the fields read in k8s.ts matter; every other kind and field is passed over.
 */
export interface KubeObject {
  kind: string;
  apiVersion: string;
  name: string;
  /** Empty for cluster-scoped objects (Node). */
  namespace: string;
  data: Record<string, unknown>;
  /** Where it was read, for messages: `cluster.json: items[3]`. */
  where: string;
}

/** One input text (a file, or standard input named "-") and the name to cite it by. */
export interface InputText {
  name: string;
  text: string;
}

/** Every object of every input, in the order read; an object read twice (same kind, namespace and name, as overlapping dumps give) counts once, as first read. */
export function readObjects(inputs: InputText[]): KubeObject[] {
  const all: KubeObject[] = [];
  for (const input of inputs) {
    for (const { value, where } of documents(input)) collect(value, where, all);
  }
  const seen = new Set<string>();
  return all.filter((o) => {
    const key = `${o.kind}\u0000${o.namespace}\u0000${o.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The documents of one text: JSON when it starts with { or [, else YAML (several documents allowed). */
function documents(input: InputText): { value: unknown; where: string }[] {
  const text = input.text.replace(/^\uFEFF/, "");
  const first = /\S/.exec(text)?.[0];
  if (first === undefined) throw new InputError(`${input.name}: empty; expected the output of kubectl get ... -o json (a List of objects) or -o yaml.`);
  if (first === "{" || first === "[") {
    try {
      return [{ value: JSON.parse(text) as unknown, where: input.name }];
    } catch (e) {
      throw new InputError(`${input.name}: ${jsonPosition(text, (e as Error).message)}this is not valid JSON: ${(e as Error).message.replace(/ in JSON at position \d+.*$/, "")}.`);
    }
  }
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const values: { value: unknown; where: string }[] = [];
  list.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err !== undefined) {
      const pos = lc.linePos(err.pos[0]);
      throw new InputError(`${input.name}: line ${pos.line}, column ${pos.col}: this is not valid YAML: ${err.message.split("\n")[0]!.replace(/\.$/, "")}.`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new InputError(`${input.name}: document ${i + 1}: cannot be read (${(e as Error).message.split("\n")[0]}).`);
    }
    if (value !== null && value !== undefined) values.push({ value, where: list.length === 1 ? input.name : `${input.name}: document ${i + 1}` });
  });
  if (values.length === 0) throw new InputError(`${input.name}: no objects; expected the output of kubectl get ... -o json (a List of objects) or -o yaml.`);
  return values;
}

/** "line L, column C: " from V8's JSON.parse message ("... at position N" or "(line L column C)"), or "". */
function jsonPosition(text: string, message: string): string {
  const lc = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lc) return `line ${lc[1]}, column ${lc[2]}: `;
  const m = /at position (\d+)/.exec(message);
  if (!m) return "";
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  const col = pos - before.lastIndexOf("\n");
  return `line ${line}, column ${col}: `;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An object, or a List's items (lists within lists too, as `kubectl get -o json` of several files writes). */
function collect(value: unknown, where: string, out: KubeObject[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => collect(v, `${where}: [${i}]`, out));
    return;
  }
  if (!isRecord(value)) throw new InputError(`${where}: expected a Kubernetes object (a mapping with apiVersion, kind and metadata) or a List of them, found ${describe(value)}.`);
  const kind = value.kind;
  if (typeof kind !== "string" || kind === "") throw new InputError(`${where}: field "kind": expected the object's kind as text (Node, Pod, List, ...), found ${describe(kind)}.`);
  if (kind.endsWith("List") && "items" in value) {
    const items = value.items;
    if (items === null) return; // an empty list as some clients write it
    if (!Array.isArray(items)) throw new InputError(`${where}: field "items": expected the list's objects, found ${describe(items)}.`);
    items.forEach((v, i) => collect(v, `${where}: items[${i}]`, out));
    return;
  }
  const apiVersion = value.apiVersion;
  if (apiVersion !== undefined && typeof apiVersion !== "string") throw new InputError(`${where} (${kind}): field "apiVersion": expected text such as v1, found ${describe(apiVersion)}.`);
  const meta = value.metadata;
  if (!isRecord(meta)) throw new InputError(`${where} (${kind}): field "metadata": expected a mapping with the object's name, found ${describe(meta)}.`);
  const name = meta.name;
  if (typeof name !== "string" || name === "") throw new InputError(`${where} (${kind}): field "metadata.name": expected the object's name as text, found ${describe(name)}.`);
  const ns = meta.namespace;
  if (ns !== undefined && ns !== null && typeof ns !== "string") throw new InputError(`${where} (${kind}/${name}): field "metadata.namespace": expected text, found ${describe(ns)}.`);
  out.push({ kind, apiVersion: apiVersion ?? "", name, namespace: typeof ns === "string" ? ns : "", data: value, where });
}

/** A value as a message shows it. */
export function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `"${v.length > 60 ? `${v.slice(0, 57)}...` : v}"`;
  return `${typeof v} ${String(v)}`;
}
