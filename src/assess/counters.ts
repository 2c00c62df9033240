import { parseDocument } from "yaml";
import { CounterError, counterDelta, parseCounterSnapshot } from "../calibrate/counters.js";
import { type Calibration, calibrate } from "../calibrate/infer.js";
import { featuresOf } from "../kernel/version.js";
import { InputError } from "../scenario/load.js";
import type { NodeFacts } from "./nodes.js";

/**
 * A node's counters for assess (--counters NODE=FILE): a small YAML file naming the two
 * snapshots dnsrace calibrate reads (paths relative to the file) and the node's DNS rate:
 *
 *   before: before.conntrack-S.txt
 *   after: after.conntrack-S.txt
 *   seconds: 3600
 *   queries_per_s: 120
 *
 * The kernel comes from the Node object, the endpoints from the kube-dns EndpointSlices.
 */
export interface CountersSpec {
  file: string;
  before: string;
  after: string;
  seconds: number;
  queriesPerS: number;
}

export function parseCountersSpec(text: string, file: string): CountersSpec {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) throw new InputError(`${file}: this is not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}.`);
  const d = doc.toJS() as Record<string, unknown> | null;
  const example = "before: <snapshot file>, after: <snapshot file>, seconds: <between them>, queries_per_s: <the node's DNS queries per second>";
  if (typeof d !== "object" || d === null || Array.isArray(d)) throw new InputError(`${file}: expected a mapping: ${example}.`);
  for (const k of Object.keys(d)) if (!["before", "after", "seconds", "queries_per_s"].includes(k)) throw new InputError(`${file}: field "${k}": not a field of a counters file (${example}).`);
  const text_ = (k: string) => {
    const v = d[k];
    if (typeof v !== "string" || v === "") throw new InputError(`${file}: field "${k}": expected the snapshot's file name, found ${JSON.stringify(v)}.`);
    return v;
  };
  const num = (k: string) => {
    const v = d[k];
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new InputError(`${file}: field "${k}": expected a positive number, found ${JSON.stringify(v)}.`);
    return v;
  };
  return { file, before: text_("before"), after: text_("after"), seconds: num("seconds"), queriesPerS: num("queries_per_s") };
}

/** The node's overlap per pair from its counters, read with the Node object's kernel (src/calibrate). */
export function nodeCalibration(spec: CountersSpec, texts: { before: string; after: string }, node: NodeFacts, endpoints: number): Calibration {
  if (node.kernelVersion === null) throw new InputError(`--counters ${node.name}=${spec.file}: Node/${node.name} has no kernel version the counters could be read with.`);
  try {
    const counters = counterDelta(parseCounterSnapshot(texts.before, spec.before), parseCounterSnapshot(texts.after, spec.after));
    const pairs = Math.round((spec.queriesPerS * spec.seconds) / 2);
    return calibrate({ counters, kernel: featuresOf(node.kernelVersion), seconds: spec.seconds, pairs, pairsFrom: `${spec.queriesPerS} queries/s x ${spec.seconds} s / 2`, endpoints });
  } catch (e) {
    if (e instanceof CounterError) throw new InputError(`--counters ${node.name}=${spec.file}: ${e.message}`);
    throw e;
  }
}
