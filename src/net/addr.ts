/**
 * Addresses as small integers, so a conntrack tuple is one exact number and
 * the hot path hashes no strings. At most 1024 distinct addresses per model.
 */
export class AddressBook {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];

  /** The id of an address, allocated on first use. */
  id(addr: string): number {
    let id = this.ids.get(addr);
    if (id === undefined) {
      id = this.names.length;
      if (id >= MAX_ADDRESSES) throw new RangeError(`more than ${MAX_ADDRESSES} addresses in one model`);
      this.ids.set(addr, id);
      this.names.push(addr);
    }
    return id;
  }

  name(id: number): string {
    return this.names[id] ?? `?${id}`;
  }
}

export const MAX_ADDRESSES = 1024;

/**
 * A conntrack tuple as one integer below 2^53: proto (1 bit) | src (10) |
 * sport (16) | dst (10) | dport (16). Exact in a double.
 */
export function tupleKey(tcp: boolean, src: number, sport: number, dst: number, dport: number): number {
  return (((((tcp ? 1024 : 0) + src) * 65536 + sport) * 1024 + dst) * 65536) + dport;
}

/** An address and port as one small integer (for NOTRACK rules, Service VIPs, sockets). */
export function addrPort(addr: number, port: number): number {
  return addr * 65536 + port;
}
