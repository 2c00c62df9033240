import { CounterError } from "./counters.js";

/**
 * The A+AAAA pairs CoreDNS answered over UDP, from its Prometheus metrics
 * (plugin/metrics: coredns_dns_requests_total{server,zone,view,proto,family,type} since
 * CoreDNS 1.7; coredns_dns_request_type_count_total{server,zone,type} before, without proto).
 * Each getaddrinfo() step of glibc or musl sends one A and one AAAA from one socket, so the
 * UDP AAAA queries count the pairs that can race; A queries without an AAAA (no-aaaa, an
 * AF_INET lookup) cannot race and are not counted.
 */
export function corednsPairs(text: string, file: string): number {
  let sum = 0;
  let series = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const m = /^(coredns_dns_requests_total|coredns_dns_request_type_count_total)(\{[^}]*\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (m === null) return;
    const labels = parseLabels(m[2] ?? "", file, i);
    if (labels.get("type") !== "AAAA") return;
    const proto = labels.get("proto");
    if (proto !== undefined && proto !== "udp") return;
    const v = Number(m[3]);
    if (!Number.isFinite(v) || v < 0) throw new CounterError(`${file}: line ${i + 1}: expected a count, found "${m[3]}".`);
    sum += v;
    series++;
  });
  if (series === 0) {
    throw new CounterError(`${file}: no coredns_dns_requests_total{type="AAAA",proto="udp"} series: expected CoreDNS's /metrics text (the prometheus plugin).`);
  }
  return sum;
}

function parseLabels(s: string, file: string, line: number): Map<string, string> {
  const labels = new Map<string, string>();
  const body = s.replace(/^\{|\}$/g, "");
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;
  let at = 0;
  while (at < body.length) {
    re.lastIndex = at;
    const m = re.exec(body);
    if (m === null) throw new CounterError(`${file}: line ${line + 1}: cannot read the labels "${body.slice(at, at + 40)}".`);
    labels.set(m[1]!, m[2]!);
    at = re.lastIndex;
  }
  return labels;
}
