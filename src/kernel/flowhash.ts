/** A stable stand-in for the kernel's flow hash (skb_get_hash): a 32-bit mix of the tuple key. */
export function flowHash(key: number): number {
  let h = (key | 0) ^ Math.floor(key / 4294967296); // ToInt32 keeps the low 32 bits, no float modulo
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}
