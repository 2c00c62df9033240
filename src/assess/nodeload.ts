import { InputError } from "../scenario/load.js";
import type { NodeFacts } from "./nodes.js";

/**
 * A node's own load (--node-load NODE_OR_POOL=LOAD), which no object holds: the scenario's
 * node.softirq_share (each CPU's share in softirq for other traffic: top's si, mpstat's %soft)
 * and node.runnable_per_cpu (CPU-bound tasks runnable per CPU: the load average / CPUs), as the
 * model reads them (src/kernel/softirq.ts).
 */
export interface NodeLoad {
  softirqShare: number;
  runnablePerCpu: number;
  /** How the load was given ("--node-load pool-a=busy"), or the default's words. */
  from: string;
}

/** The model's default node: no softirq for other traffic, no runnable task besides the resolver. */
export const IDLE_LOAD: NodeLoad = { softirqShare: 0, runnablePerCpu: 0, from: "the model's default: no --node-load names this node or its pool" };

/**
 * Named loads. busy is the project's own busy node (scenarios/glibc.yaml and musl.yaml: a busy
 * kernel-5.4 node, 25% softirq and one runnable task per CPU), a documented example, not a
 * measured figure of any cluster; give the node's own figures where they are known.
 */
export const NAMED_LOADS: Record<string, { softirqShare: number; runnablePerCpu: number }> = {
  idle: { softirqShare: 0, runnablePerCpu: 0 },
  busy: { softirqShare: 0.25, runnablePerCpu: 1 },
};

export interface NodeLoadSpec {
  /** A node's name or a node pool's (the pool label's value). */
  name: string;
  softirqShare: number;
  runnablePerCpu: number;
  text: string;
}

const FORM = "expected NODE_OR_POOL=LOAD, LOAD being idle, busy (25% softirq, 1 runnable task per CPU) or softirq_share:S,runnable_per_cpu:N (S from 0 to 0.95, N from 0 to 64; either may be left out, 0)";

/** One --node-load value. */
export function parseNodeLoad(text: string): NodeLoadSpec {
  const m = /^([^=]+)=(.+)$/.exec(text);
  if (!m) throw new InputError(`--node-load: ${FORM}, found "${text}".`);
  const name = m[1]!.trim();
  const load = m[2]!.trim();
  const named = NAMED_LOADS[load];
  if (named !== undefined) return { name, ...named, text };
  let softirqShare = 0;
  let runnablePerCpu = 0;
  const seen = new Set<string>();
  for (const part of load.split(",")) {
    const kv = /^\s*(softirq_share|runnable_per_cpu)\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*$/.exec(part);
    if (!kv || seen.has(kv[1]!)) throw new InputError(`--node-load ${text}: ${FORM}.`);
    seen.add(kv[1]!);
    const v = Number(kv[2]);
    if (kv[1] === "softirq_share") {
      if (v > 0.95) throw new InputError(`--node-load ${text}: softirq_share: expected a share of CPU time from 0 to 0.95, found ${kv[2]}.`);
      softirqShare = v;
    } else {
      if (v > 64) throw new InputError(`--node-load ${text}: runnable_per_cpu: expected a number of tasks from 0 to 64, found ${kv[2]}.`);
      runnablePerCpu = v;
    }
  }
  return { name, softirqShare, runnablePerCpu, text };
}

/**
 * Each node's load: a spec naming the node wins over one naming its pool; a name that is neither
 * a node nor a pool of the objects, or a node (or pool) named twice, is refused.
 */
export function nodeLoads(specs: NodeLoadSpec[], nodes: Map<string, NodeFacts>): Map<string, NodeLoad> {
  const pools = new Set([...nodes.values()].map((n) => n.pool?.value).filter((p): p is string => p !== undefined));
  const byName = new Map<string, NodeLoadSpec>();
  for (const s of specs) {
    if (!nodes.has(s.name) && !pools.has(s.name)) {
      throw new InputError(`--node-load ${s.text}: no node and no node pool named ${s.name} among the objects (nodes: ${[...nodes.keys()].join(", ") || "none"}; pools: ${[...pools].sort().join(", ") || "none"}).`);
    }
    if (byName.has(s.name)) throw new InputError(`--node-load ${s.text}: ${s.name} is given twice (${byName.get(s.name)!.text}).`);
    byName.set(s.name, s);
  }
  const out = new Map<string, NodeLoad>();
  for (const n of nodes.values()) {
    const s = byName.get(n.name) ?? (n.pool === null ? undefined : byName.get(n.pool.value));
    out.set(n.name, s === undefined ? IDLE_LOAD : { softirqShare: s.softirqShare, runnablePerCpu: s.runnablePerCpu, from: `--node-load ${s.text}` });
  }
  return out;
}

/** The load in words, for the node type's label and the report. */
export function loadWords(l: NodeLoad): string {
  return l.softirqShare === 0 && l.runnablePerCpu === 0 ? "idle" : `${Math.round(l.softirqShare * 1000) / 10}% softirq, ${l.runnablePerCpu} runnable per CPU`;
}
