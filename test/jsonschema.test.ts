import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { type FileKind, SCHEMA_FILES, deepPartial, jsonSchemas, schemaText } from "../src/compare/jsonschema.js";
import { fileKind } from "../src/compare/spec.js";
import { ROOT } from "./helpers.js";

const SCHEMAS = join(ROOT, "schemas");

/** Every bundled file (scenarios/ and its folders), with its kind. */
function bundled(): { file: string; kind: FileKind }[] {
  const out: { file: string; kind: FileKind }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) out.push({ file: p, kind: fileKind(parse(readFileSync(p, "utf8"))) });
    }
  };
  walk(join(ROOT, "scenarios"));
  return out;
}

function validator(kind: FileKind) {
  // strict, but a grid value may be text, a number or true/false (type: [string, number, boolean]).
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  return ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, SCHEMA_FILES[kind]), "utf8")) as object);
}

/** The ajv errors of a YAML text against its kind's schema ("" when it validates). */
function errorsOf(kind: FileKind, text: string): string {
  const v = validator(kind);
  return v(parse(text)) ? "" : JSON.stringify(v.errors);
}

describe("JSON Schema: schemas/ generated from the zod schemas", () => {
  it("schemas/ is what the zod schemas generate now (npm run schemas rewrites it)", () => {
    const all = jsonSchemas();
    for (const kind of Object.keys(SCHEMA_FILES) as FileKind[]) {
      const file = join(SCHEMAS, SCHEMA_FILES[kind]);
      assert.ok(existsSync(file), `${file} is missing: run npm run schemas`);
      assert.equal(readFileSync(file, "utf8"), schemaText(all[kind]), `${SCHEMA_FILES[kind]} is out of date: run npm run schemas and commit schemas/`);
    }
  });

  it("the package ships schemas/", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { files: string[] };
    assert.ok(pkg.files.includes("schemas/"), JSON.stringify(pkg.files));
  });

  it("no field is left accepting anything but the answer rules (whose language the loader checks)", () => {
    const loose: string[] = [];
    const walk = (s: unknown, path: string) => {
      if (Array.isArray(s)) s.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (typeof s === "object" && s !== null) {
        if (Object.keys(s).length === 0) loose.push(path);
        for (const [k, v] of Object.entries(s)) if (k !== "default" && k !== "const" && k !== "enum") walk(v, `${path}/${k}`);
      }
    };
    for (const kind of Object.keys(SCHEMA_FILES) as FileKind[]) walk(jsonSchemas()[kind], kind);
    assert.deepEqual(
      loose.filter((p) => !p.endsWith("/kube_dns/properties/rules/items") && !/kube_dns\/anyOf\[0\]\/properties\/rules\/anyOf\[0\]\/items$/.test(p)),
      [],
    );
  });

  it("a change's set and pods: every field optional, null removes it, lists keep their items", () => {
    const p = deepPartial({ type: "object", properties: { a: { type: "integer", default: 1 }, l: { type: "array", items: { type: "string" } } }, required: ["a"], additionalProperties: false });
    assert.deepEqual(p, {
      type: "object",
      properties: { a: { anyOf: [{ type: "integer" }, { type: "null" }] }, l: { anyOf: [{ type: "array", items: { type: "string" } }, { type: "null" }] } },
      additionalProperties: false,
    });
  });
});

describe("JSON Schema: every bundled file names its schema and validates against it", () => {
  const files = bundled();

  it("finds the bundled scenarios, the comparison and the sweep", () => {
    const kinds = new Set(files.map((f) => f.kind));
    assert.deepEqual([...kinds].sort(), ["comparison", "scenario", "sweep"]);
    assert.ok(files.length >= 10, String(files.length));
  });

  for (const { file, kind } of files) {
    const name = relative(ROOT, file);
    it(`${name}: first line names ${SCHEMA_FILES[kind]}, and the file validates (ajv, draft 2020-12)`, () => {
      const text = readFileSync(file, "utf8");
      const first = text.split("\n", 1)[0]!;
      const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
      assert.ok(m, `${name}: first line is ${JSON.stringify(first)}`);
      assert.equal(resolve(dirname(file), m[1]!), join(SCHEMAS, SCHEMA_FILES[kind]), `${name} names ${m[1]}`);
      assert.equal(errorsOf(kind, text), "", name);
    });
  }
});

describe("JSON Schema: a misspelt or mistyped field is rejected", () => {
  const text = (f: string) => readFileSync(join(ROOT, "scenarios", f), "utf8");
  const rejects = (kind: FileKind, t: string, what: RegExp) => {
    const e = errorsOf(kind, t);
    assert.notEqual(e, "", "the schema accepted it");
    assert.match(e, what);
  };

  it("scenario: kernle for kernel (unknown field, and kernel missing)", () => {
    rejects("scenario", text("glibc.yaml").replace(/^kernel:/m, "kernle:"), /"additionalProperty":"kernle"/);
  });

  it("scenario: a pod spec's dnsconfig for dnsConfig", () => {
    const pod = text("glibc.yaml").replace(/^ {4}resolv_conf: \|\n(?: {6}.*\n)+/m, "    dnsPolicy: ClusterFirst\n    dnsconfig: { options: [{ name: ndots, value: \"2\" }] }\n");
    assert.match(pod, /dnsconfig/);
    assert.equal(errorsOf("scenario", pod.replace("dnsconfig", "dnsConfig")), "");
    rejects("scenario", pod, /"additionalProperty":"dnsconfig"/);
  });

  it("scenario: a distribution of an unknown kind, and cpus as text", () => {
    rejects("scenario", text("glibc.yaml").replace(/^ {2}cpus: \d+/m, "  cpus: four"), /"instancePath":"\/node\/cpus"/);
    rejects("scenario", `${text("glibc.yaml")}\n`.replace(/^kube_dns:\n/m, "kube_dns:\n  rtt_ms: { normal: { mean: 1 } }\n"), /"instancePath":"\/kube_dns\/rtt_ms"/);
  });

  it("comparison: a variant's resolv_option, a misspelt field under set, a cost out of its choices", () => {
    const c = text("mitigations.yaml");
    rejects("comparison", c.replace("resolv_options: [single-request-reopen]", "resolv_option: [single-request-reopen]"), /"additionalProperty":"resolv_option"/);
    rejects("comparison", c.replace("set: { node: { proxy_mode: ipvs } }", "set: { node: { proxy_mod: ipvs } }"), /"additionalProperty":"proxy_mod"/);
    rejects("comparison", c.replace(/effort: low/, "effort: trivial"), /"instancePath":"\/variants\/\d+\/cost\/effort"/);
    rejects("comparison", c.replace(/^ {2}kernel: "5.4"/m, '  kernal: "5.4"'), /"additionalProperty":"kernal"/);
  });

  it("sweep: grdi for grid", () => {
    rejects("sweep", text("sweep-endpoints.yaml").replace(/^grid:/m, "grdi:"), /"additionalProperty":"grdi"/);
  });
});
