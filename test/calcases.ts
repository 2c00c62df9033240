import type { FaultRule } from "../src/dns/rules.js";
import { calibration } from "./helpers.js";

/** One query as the measured server saw it (calibration/libc-loss-cases.json). */
export interface CalPacket {
  t_ms: number;
  transport: "udp" | "tcp";
  port: string;
  qtype: "A" | "AAAA";
  qname: string;
  fate: string;
}

/** One measured glibc 2.36 or musl 1.2.3 lookup with scripted faults. */
export interface CalCase {
  case: string;
  title: string;
  libc: "glibc" | "musl";
  name: string;
  family: "unspec" | "inet" | "inet6";
  resolv_conf: string;
  faults: { name?: string; qtype?: "A" | "AAAA"; nth?: number | number[]; action: FaultRule["action"]; transport?: string }[];
  elapsed_ms: number;
  result: string;
  packets: CalPacket[];
}

/** The 26 measured cases. */
export function calCases(): CalCase[] {
  return calibration<{ cases: CalCase[] }>("libc-loss-cases.json").cases;
}

/** A case's faults as the model's rules ("any" transport: no transport key). */
export function faultRules(c: CalCase): FaultRule[] {
  return c.faults.map((f) => ({
    action: f.action,
    ...(f.qtype ? { qtype: f.qtype } : {}),
    ...(f.name ? { name: f.name } : {}),
    ...(f.nth !== undefined ? { nth: Array.isArray(f.nth) ? f.nth : [f.nth] } : {}),
    ...(f.transport === "udp" || f.transport === "tcp" ? { transport: f.transport } : {}),
  }));
}

/** A case's faults as `dnsrace lookup --rule` strings. */
export function ruleStrings(c: CalCase): string[] {
  return c.faults.map((f) =>
    [
      f.action,
      ...(f.qtype ? [`qtype=${f.qtype}`] : []),
      ...(f.name ? [`name=${f.name}`] : []),
      ...(f.nth !== undefined ? [`nth=${([] as number[]).concat(f.nth).join(",")}`] : []),
      ...(f.transport === "udp" || f.transport === "tcp" ? [`transport=${f.transport}`] : []),
    ].join(" "),
  );
}
