import type { Dist } from "../engine/dist.js";
import type { Rng } from "../engine/random.js";
import type { QType, Rcode } from "../net/packet.js";

export interface RecordSpec {
  /** FQDN with trailing dot, lower case. */
  name: string;
  a: boolean;
  aaaa: boolean;
}

export interface Answer {
  rcode: Rcode;
  ancount: number;
  /** Extra time before the answer is sent (the upstream round trip of a forwarded name). */
  delayNs: number;
  /** Negative-cache or record TTL, seconds (for caches). */
  ttlS: number;
}

export interface ZoneConfig {
  clusterDomain: string;
  records: RecordSpec[];
  /** Names outside the cluster domain that exist upstream. */
  externalRecords: RecordSpec[];
  /** Latency of CoreDNS's forward to the upstream resolver, for names outside the cluster domain. */
  upstreamNs: Dist;
  /** TTL of cluster answers (CoreDNS kubernetes plugin default 5 s) and upstream answers. */
  clusterTtlS: number;
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

  /** The answer to a query, written into `out` (the server answers millions: no object per answer). */
  answer(qname: string, qtype: QType, rng: Rng, out: Answer = newAnswer()): Answer {
    let known = this.seen.get(qname);
    if (known === undefined) {
      const cluster = this.inClusterDomain(qname);
      known = { cluster, rec: cluster ? this.cluster.get(qname) : this.external.get(qname) };
      if (this.seen.size < 100_000) this.seen.set(qname, known);
    }
    if (known.cluster) {
      const r = known.rec;
      if (r === undefined) return fill(out, "NXDOMAIN", 0, 0, this.cfg.clusterTtlS);
      return fill(out, "NOERROR", (qtype === "A" ? r.a : r.aaaa) ? 1 : 0, 0, this.cfg.clusterTtlS);
    }
    const delayNs = Math.round(this.cfg.upstreamNs.sample(rng));
    const r = known.rec;
    if (r === undefined) return fill(out, "NXDOMAIN", 0, delayNs, this.cfg.externalTtlS);
    return fill(out, "NOERROR", (qtype === "A" ? r.a : r.aaaa) ? 1 : 0, delayNs, this.cfg.externalTtlS);
  }
}

export function newAnswer(): Answer {
  return { rcode: "NOERROR", ancount: 0, delayNs: 0, ttlS: 0 };
}

function fill(out: Answer, rcode: Rcode, ancount: number, delayNs: number, ttlS: number): Answer {
  out.rcode = rcode;
  out.ancount = ancount;
  out.delayNs = delayNs;
  out.ttlS = ttlS;
  return out;
}
