import type { Dist } from "../engine/dist.js";
import type { Rng } from "../engine/random.js";
import type { QType, Rcode } from "../net/packet.js";

export interface RecordSpec {
  /** FQDN with trailing dot, lower case. */
  name: string;
  a: boolean;
  aaaa: boolean;
  /** The TTL its answers carry, seconds (an upstream name's own; cluster names take the kubernetes plugin's ttl). */
  ttlS?: number;
}

export interface Answer {
  rcode: Rcode;
  ancount: number;
  /** Extra time before the answer is sent (the upstream round trip of a forwarded name). */
  delayNs: number;
  /** Negative-cache or record TTL, seconds (for caches). */
  ttlS: number;
  /** A name outside the cluster domain: CoreDNS forwards it upstream (`forward . /etc/resolv.conf`). */
  forwarded: boolean;
}

export interface ZoneConfig {
  clusterDomain: string;
  records: RecordSpec[];
  /** Names outside the cluster domain that exist upstream. */
  externalRecords: RecordSpec[];
  /** Latency of CoreDNS's forward to the upstream resolver, for names outside the cluster domain. */
  upstreamNs: Dist;
  /**
   * TTL of cluster answers: the kubernetes plugin's `ttl` (its default 5 s, defaultTTL; the
   * Kubernetes Corefiles set 30), on records and on the SOA of a denial (plugin.SOA: min(ttl, 300)).
   */
  clusterTtlS: number;
  /** TTL of upstream answers, where a record gives none of its own (assumed). */
  externalTtlS: number;
}

/**
 * What kube-dns (CoreDNS) answers: names in the cluster domain from its
 * records (a name that does not exist is NXDOMAIN; a record without AAAA is
 * NOERROR with no answer, NODATA); other names are forwarded upstream
 * (`forward . /etc/resolv.conf`) and cost the upstream round trip.
 */
export class Zone {
  private readonly cluster = new Map<string, RecordSpec>();
  private readonly external = new Map<string, RecordSpec>();
  private readonly suffix: string;
  /** Per queried name: in the cluster domain?, and its record (names repeat a lot). */
  private readonly seen = new Map<string, { cluster: boolean; rec: RecordSpec | undefined }>();

  constructor(private readonly cfg: ZoneConfig) {
    for (const r of cfg.records) this.cluster.set(r.name, r);
    for (const r of cfg.externalRecords) this.external.set(r.name, r);
    this.suffix = `.${cfg.clusterDomain.replace(/\.$/, "").toLowerCase()}.`;
  }

  inClusterDomain(qname: string): boolean {
    return qname.endsWith(this.suffix) || qname === this.suffix.slice(1);
  }

  /**
   * The answer to a query, written into `out` (the server answers millions: no object per answer),
   * without the upstream's delay: `out.forwarded` says whether it comes from upstream.
   */
  resolve(qname: string, qtype: QType, out: Answer = newAnswer()): Answer {
    let known = this.seen.get(qname);
    if (known === undefined) {
      const cluster = this.inClusterDomain(qname);
      known = { cluster, rec: cluster ? this.cluster.get(qname) : this.external.get(qname) };
      if (this.seen.size < 100_000) this.seen.set(qname, known);
    }
    const r = known.rec;
    const ttl = known.cluster ? this.cfg.clusterTtlS : (r?.ttlS ?? this.cfg.externalTtlS);
    fill(out, r === undefined ? "NXDOMAIN" : "NOERROR", r !== undefined && (qtype === "A" ? r.a : r.aaaa) ? 1 : 0, 0, ttl);
    out.forwarded = !known.cluster;
    return out;
  }

  /** The answer, with the upstream's delay drawn from `rng` for a forwarded name (no timeout: NodeLocal's UDP forward). */
  answer(qname: string, qtype: QType, rng: Rng, out: Answer = newAnswer()): Answer {
    this.resolve(qname, qtype, out);
    if (out.forwarded) out.delayNs = Math.round(this.cfg.upstreamNs.sample(rng));
    return out;
  }

  /** One upstream round trip of a forwarded query. */
  upstreamDelay(rng: Rng): number {
    return Math.round(this.cfg.upstreamNs.sample(rng));
  }
}

export function newAnswer(): Answer {
  return { rcode: "NOERROR", ancount: 0, delayNs: 0, ttlS: 0, forwarded: false };
}

function fill(out: Answer, rcode: Rcode, ancount: number, delayNs: number, ttlS: number): Answer {
  out.rcode = rcode;
  out.ancount = ancount;
  out.delayNs = delayNs;
  out.ttlS = ttlS;
  return out;
}
