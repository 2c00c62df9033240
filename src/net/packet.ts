import { tupleKey } from "./addr.js";

/** DNS query types the resolvers send. */
export type QType = "A" | "AAAA";

/** DNS response codes the model distinguishes (RFC 1035 4.1.1). */
export type Rcode = "NOERROR" | "FORMERR" | "SERVFAIL" | "NXDOMAIN" | "NOTIMP" | "REFUSED";

export type Proto = "udp" | "tcp";

/** The DNS part of a datagram: a query, or the answer to one. */
export interface DnsMessage {
  id: number;
  qname: string; // fully qualified, with the trailing dot
  qtype: QType;
  response: boolean;
  rcode: Rcode;
  /** Number of answer records (0 with NOERROR is NODATA). */
  ancount: number;
  /** Truncated (TC bit). */
  tc: boolean;
  /** Source address of a received answer (set on delivery). */
  from: string;
  /** Times this query object has been sent (a resend of the same ID is a retransmission). */
  sends: number;
  /** An answer's TTL, seconds (the least of its records'; what a cache downstream reads). */
  ttlS?: number;
}

/**
 * Per-lookup accounting that travels with the packets of one lookup, so the
 * kernel and servers can say what happened to them without knowing the resolver.
 */
export interface LookupTally {
  queriesSent: number;
  retransmits: number;
  /** Queries dropped in conntrack, or whose answer the socket ignored. */
  queriesLost: number;
  /** Conntrack insert clashes suffered by this lookup's packets. */
  clashes: number;
  /** Pairs sent: two or more queries to one server handed to the kernel at once by one socket (an A+AAAA pair, or its resend). */
  pairs: number;
  /** Pairs with at least one insert clash on the path (at most one per pair, whichever hop and however many). */
  pairsClashed: number;
}

/** What the packets of one pair share: whether the pair has clashed yet. */
export interface PairMark {
  clashed: boolean;
}

/** One datagram or TCP segment. Header fields are rewritten in place by NAT; addresses are AddressBook ids. */
export interface Packet {
  uid: number;
  proto: Proto;
  src: number;
  sport: number;
  dst: number;
  dport: number;
  /** The DNS message carried; null for a bare TCP handshake segment. */
  dns: DnsMessage | null;
  /** TCP handshake segments ("SYN", "SYN-ACK"); "" for data and UDP. */
  flags: "" | "SYN" | "SYN-ACK";
  tally: LookupTally | null;
  /** Time the sender handed it to the kernel (ns). */
  sentAt: number;
  /** skb->_nfct: the conntrack entry attached by the hop the packet is in (opaque elsewhere). */
  ct: object | null;
  /** ctinfo at that hop: 0 none, 1 untracked (NOTRACK), 2 an existing entry, 3 a new (unconfirmed) entry. */
  ctState: number;
  /** The hop's POSTROUTING time for this packet, ns (set at its PREROUTING). */
  ctPost: number;
  /** A reply that matched a conntrack entry (and was reverse-NATed through it) or was untracked. */
  owned: boolean;
  /** The pair this query was sent in, or null (a query sent alone, an answer, TCP). */
  pair: PairMark | null;
}

/** The ORIGINAL-direction conntrack key of a packet as it is now. */
export function packetKey(p: Packet): number {
  return tupleKey(p.proto === "tcp", p.src, p.sport, p.dst, p.dport);
}

/** The normalised FQDN of a name: lower case, with exactly one trailing dot. */
export function fqdn(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith(".") ? n : `${n}.`;
}

/** A packet as a sender hands it to the kernel (no conntrack state yet). */
export function makePacket(
  uid: number,
  proto: Proto,
  src: number,
  sport: number,
  dst: number,
  dport: number,
  dns: DnsMessage | null,
  flags: Packet["flags"],
  tally: LookupTally | null,
  sentAt: number,
): Packet {
  return { uid, proto, src, sport, dst, dport, dns, flags, tally, sentAt, ct: null, ctState: 0, ctPost: 0, owned: false, pair: null };
}

/** The answer (or SYN-ACK) to packet q, from its destination back to its source. */
export function replyPacket(uid: number, q: Packet, dns: DnsMessage | null, flags: Packet["flags"], sentAt: number): Packet {
  return makePacket(uid, q.proto, q.dst, q.dport, q.src, q.sport, dns, flags, q.tally, sentAt);
}

/** The DNS answer to query q. */
export function answerTo(q: DnsMessage, rcode: Rcode, ancount: number, tc = false, ttlS = 0): DnsMessage {
  return { id: q.id, qname: q.qname, qtype: q.qtype, response: true, rcode, ancount, tc, from: "", sends: 0, ttlS };
}

/** Turns a consumed packet into its answer in place (swapping the addresses), to spare an allocation. */
export function turnAround(p: Packet, uid: number, dns: DnsMessage, sentAt: number): Packet {
  const src = p.src;
  const sport = p.sport;
  p.uid = uid;
  p.src = p.dst;
  p.sport = p.dport;
  p.dst = src;
  p.dport = sport;
  p.dns = dns;
  p.flags = "";
  p.sentAt = sentAt;
  p.ct = null;
  p.ctState = 0;
  p.ctPost = 0;
  p.owned = false;
  p.pair = null;
  return p;
}
