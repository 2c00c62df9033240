import type { QType } from "../net/packet.js";

/**
 * Answer rules: what a DNS server does with the queries a rule matches, in
 * place of its normal answer. One language for `dnsrace lookup --rule` and for
 * a scenario's `kube_dns.rules`: an action and optional conditions, the first
 * matching rule deciding.
 */

/** What the server does with a query. */
export type FaultAction = "answer" | "drop" | "nxdomain" | "nodata" | "servfail" | "refused" | "truncate";
export const FAULT_ACTIONS: readonly FaultAction[] = ["answer", "drop", "nxdomain", "nodata", "servfail", "refused", "truncate"];

export interface FaultRule {
  action: FaultAction;
  qtype?: QType;
  /** A name pattern: case-insensitive, trailing dot optional, "*" standing for one or more labels. */
  name?: string;
  /** Arrivals of this (qtype, name) at the server that the rule applies to, counted from 1. */
  nth?: number[];
  transport?: "udp" | "tcp";
  delayMs?: number;
}

/** A rule that cannot be read; `reason` says which word and what is allowed (the caller names the rule). */
export class RuleError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "RuleError";
  }
}

export const RULE_KEYS = ["qtype", "name", "nth", "transport", "delay_ms"] as const;
type RuleKey = (typeof RULE_KEYS)[number];

/** A name pattern: labels of letters, digits, '_' and '-', or '*'; trailing dot optional. */
const NAME_PATTERN = /^(\*|[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)(\.(\*|[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?))*\.?$/;

/** "ACTION key=value ...", as `--rule` and a scenario's rule strings give it. */
export function parseRule(text: string): FaultRule {
  const words = text.trim().split(/\s+/).filter((w) => w !== "");
  const [word0, ...pairs] = words;
  if (word0 === undefined) throw new RuleError(`a rule starts with an action, one of ${FAULT_ACTIONS.join(", ")}`);
  // Values are case-insensitive (the action, qtype, transport, name); keys are not.
  const action = word0.toLowerCase();
  if (!(FAULT_ACTIONS as readonly string[]).includes(action)) {
    throw new RuleError(`unknown action "${word0}" (the first word is the action, one of ${FAULT_ACTIONS.join(", ")})`);
  }
  const rule: FaultRule = { action: action as FaultAction };
  const seen = new Set<string>();
  for (const word of pairs) {
    const eq = word.indexOf("=");
    if (eq < 0) throw new RuleError(`"${word}" is not key=value (keys: ${RULE_KEYS.join(", ")})`);
    const key = word.slice(0, eq);
    if (!(RULE_KEYS as readonly string[]).includes(key)) throw new RuleError(`unknown key "${key}" in "${word}" (keys: ${RULE_KEYS.join(", ")})`);
    if (seen.has(key)) throw new RuleError(`key "${key}" is given twice`);
    seen.add(key);
    setKey(rule, key as RuleKey, word.slice(eq + 1), word);
  }
  return rule;
}

/** A rule written as a mapping, as YAML gives it: {action: drop, qtype: AAAA, nth: [1, 2], delay_ms: 4}. */
export function ruleFromObject(o: Record<string, unknown>): FaultRule {
  const action = o["action"];
  if (action === undefined) throw new RuleError(`a rule needs an action (action: ${FAULT_ACTIONS.join("|")})`);
  if (typeof action !== "string" || !(FAULT_ACTIONS as readonly string[]).includes(action.toLowerCase())) {
    throw new RuleError(`unknown action ${JSON.stringify(action)} (action is one of ${FAULT_ACTIONS.join(", ")})`);
  }
  const rule: FaultRule = { action: action.toLowerCase() as FaultAction };
  for (const [key, value] of Object.entries(o)) {
    if (key === "action") continue;
    if (!(RULE_KEYS as readonly string[]).includes(key)) throw new RuleError(`unknown key "${key}" (keys: action, ${RULE_KEYS.join(", ")})`);
    const word = `${key}: ${showValue(value)}`;
    if (key === "delay_ms" && typeof value === "number") {
      // A YAML number is taken as it is (1e-3 too); one too large for a double (1e400) reads as infinity.
      setDelay(rule, value, word);
      continue;
    }
    // YAML numbers and lists stand for the words of the string form (nth: [1, 2] is nth=1,2).
    let text: string;
    if (typeof value === "string") text = value;
    else if (typeof value === "number") text = String(value);
    else if (key === "nth" && Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "number")) text = value.join(",");
    else text = "\u0000"; // not a word of the language: refused by setKey with the key's own explanation
    setKey(rule, key as RuleKey, text, word);
  }
  return rule;
}

function setKey(rule: FaultRule, key: RuleKey, value: string, word: string): void {
  switch (key) {
    case "qtype": {
      const qtype = value.toUpperCase();
      if (qtype !== "A" && qtype !== "AAAA") throw new RuleError(`"${word}": qtype is A or AAAA`);
      rule.qtype = qtype;
      return;
    }
    case "name":
      if (!NAME_PATTERN.test(value)) throw new RuleError(`"${word}": name is a domain name, with or without the trailing dot, where "*" stands for one or more labels (e.g. name=*.cluster.local)`);
      rule.name = value;
      return;
    case "nth": {
      const parts = value.split(",");
      if (!parts.every((p) => /^[1-9]\d*$/.test(p))) throw new RuleError(`"${word}": nth is an arrival number from 1, or a list such as nth=1,2`);
      rule.nth = parts.map(Number);
      return;
    }
    case "transport": {
      const transport = value.toLowerCase();
      if (transport !== "udp" && transport !== "tcp") throw new RuleError(`"${word}": transport is udp or tcp (leave it out to match both)`);
      rule.transport = transport;
      return;
    }
    case "delay_ms":
      // Decimal only: Number() would also read 0x10, 1e3, " 1" and Infinity.
      if (!DECIMAL.test(value)) throw new RuleError(`"${word}": delay_ms is a number of milliseconds >= 0, in decimal (such as 2 or 0.5)`);
      setDelay(rule, Number(value), word);
      return;
  }
}

/** A rule's delay_ms upper end: a day. */
export const MAX_DELAY_MS = 86_400_000;

const DECIMAL = /^(\d+(\.\d*)?|\.\d+)$/;

function setDelay(rule: FaultRule, d: number, word: string): void {
  if (Number.isNaN(d)) throw new RuleError(`"${word}": delay_ms is a finite number of milliseconds >= 0`);
  if (!Number.isFinite(d)) throw new RuleError(`"${word}": delay_ms is a finite number of milliseconds >= 0 (a number too large for a double, such as 1e400, reads as infinity)`);
  if (d < 0) throw new RuleError(`"${word}": delay_ms is a number of milliseconds >= 0`);
  if (d > MAX_DELAY_MS) throw new RuleError(`"${word}": delay_ms is at most ${MAX_DELAY_MS.toLocaleString("en-US")} (a day; the clock is integer ns)`);
  rule.delayMs = d;
}

/** A value from YAML as JSON shows it, but with infinities and NaN by name (JSON.stringify makes them null). */
export function showValue(v: unknown): string {
  if (typeof v === "number") return Number.isFinite(v) ? JSON.stringify(v) : String(v);
  if (Array.isArray(v)) return `[${v.map(showValue).join(",")}]`;
  if (typeof v === "object" && v !== null) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${showValue(x)}`).join(",")}}`;
  return JSON.stringify(v) ?? String(v);
}

/** The rule in its string form (for messages and traces). */
export function ruleText(r: FaultRule): string {
  const words: string[] = [r.action];
  if (r.qtype !== undefined) words.push(`qtype=${r.qtype}`);
  if (r.name !== undefined) words.push(`name=${r.name}`);
  if (r.nth !== undefined) words.push(`nth=${r.nth.join(",")}`);
  if (r.transport !== undefined) words.push(`transport=${r.transport}`);
  if (r.delayMs !== undefined) words.push(`delay_ms=${r.delayMs}`);
  return words.join(" ");
}

/** Compiles a name pattern to a matcher on FQDNs (with trailing dot). */
export function nameMatcher(pattern: string): (fqdn: string) => boolean {
  const p = pattern.toLowerCase().replace(/\.$/, "");
  const parts = p.split(".").map((label) => (label === "*" ? "[^.]+(?:\\.[^.]+)*" : label.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&")));
  const re = new RegExp(`^${parts.join("\\.")}\\.$`);
  return (fqdn) => re.test(fqdn.toLowerCase());
}

interface CompiledRule {
  rule: FaultRule;
  match: (fqdn: string) => boolean;
}

/**
 * A server's rules with its arrival counts: every query that reaches the
 * server is one arrival of its (qtype, name), and the first rule whose
 * conditions hold decides.
 */
export class RuleBook {
  private readonly rules: CompiledRule[];
  /** Arrivals by name in lower case, per qtype (kept only if a rule counts them). */
  private readonly arrivalsA = new Map<string, number>();
  private readonly arrivalsAaaa = new Map<string, number>();
  private readonly counts: boolean;
  /** The arrival number of the query last passed to decide() (0 when no rule counts arrivals). */
  nth = 0;

  constructor(rules: readonly FaultRule[]) {
    this.rules = rules.map((rule) => ({ rule, match: rule.name === undefined ? () => true : nameMatcher(rule.name) }));
    this.counts = rules.some((r) => r.nth !== undefined);
  }

  get size(): number {
    return this.rules.length;
  }

  /** Counts the arrival of a query and returns the first rule that matches it, or null (the normal answer). */
  decide(qname: string, qtype: QType, transport: "udp" | "tcp"): FaultRule | null {
    let nth = 0;
    if (this.counts) {
      const arrivals = qtype === "A" ? this.arrivalsA : this.arrivalsAaaa;
      // Counted as matched: case-insensitively (REDIS.svc. and redis.svc. are arrivals of one name).
      const key = qname.toLowerCase();
      nth = (arrivals.get(key) ?? 0) + 1;
      arrivals.set(key, nth);
    }
    this.nth = nth;
    for (const { rule, match } of this.rules) {
      if (rule.qtype !== undefined && rule.qtype !== qtype) continue;
      if (rule.transport !== undefined && rule.transport !== transport) continue;
      if (rule.nth !== undefined && !rule.nth.includes(nth)) continue;
      if (!match(qname)) continue;
      return rule;
    }
    return null;
  }
}
