/**
 * A hash map from tuple keys (integers below 2^53, net/addr.ts) to values:
 * open addressing with linear probing over parallel typed arrays, backward-shift
 * deletion (no tombstones), doubling at 50% load. Unlike a Map keyed by such
 * numbers, it allocates nothing per operation.
 */
export class TupleMap<V> {
  private keys: Float64Array;
  private vals: (V | undefined)[];
  private mask: number;
  private n = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Float64Array(cap).fill(-1);
    this.vals = emptyValues<V>(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.n;
  }

  get(key: number): V | undefined {
    const keys = this.keys;
    let i = hash(key) & this.mask;
    for (;;) {
      const k = keys[i]!;
      if (k === key) return this.vals[i];
      if (k === -1) return undefined;
      i = (i + 1) & this.mask;
    }
  }

  set(key: number, v: V): void {
    if ((this.n + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    let i = hash(key) & this.mask;
    for (;;) {
      const k = keys[i]!;
      if (k === key) {
        this.vals[i] = v;
        return;
      }
      if (k === -1) {
        keys[i] = key;
        this.vals[i] = v;
        this.n++;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let i = hash(key) & mask;
    for (;;) {
      const k = keys[i]!;
      if (k === -1) return false;
      if (k === key) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: pull later entries of the probe run into the hole.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j]!;
      if (k === -1) break;
      const home = hash(k) & mask;
      // Move k into the hole if its home is not in the cyclic range (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = k;
        vals[i] = vals[j];
        i = j;
      }
    }
    keys[i] = -1;
    vals[i] = undefined;
    this.n--;
    return true;
  }

  /**
   * Every value, as a snapshot (in slot order, which depends only on the keys inserted): the caller
   * may delete while it walks it. A plain array for a plain loop, rather than a callback per value:
   * each caller's own closure would make the one call site in here polymorphic, and V8 would throw
   * away the callers' optimized code each time it saw a new one ("wrong call target").
   */
  values(): V[] {
    // Made at its final size: grown by push() it would be copied a dozen times
    // (the conntrack table's sweeps take one of tens of thousands of entries).
    const keys = this.keys;
    const vals = this.vals;
    const snapshot = new Array<V>(this.n);
    let k = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== -1) snapshot[k++] = vals[i]!;
    return snapshot;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const cap = oldKeys.length * 2;
    const keys = new Float64Array(cap).fill(-1);
    const vals = emptyValues<V>(cap);
    const mask = cap - 1;
    // Reinsertion in slot order, as set() would do it (the keys are distinct: each takes the first
    // free slot from its home), without set()'s checks per key.
    for (let j = 0; j < oldKeys.length; j++) {
      const key = oldKeys[j]!;
      if (key === -1) continue;
      let i = hash(key) & mask;
      while (keys[i] !== -1) i = (i + 1) & mask;
      keys[i] = key;
      vals[i] = oldVals[j];
    }
    this.keys = keys;
    this.vals = vals;
    this.mask = mask;
  }
}

/**
 * The value column of an empty table: `new Array(cap)`, whose holes read as undefined. Not
 * .fill(undefined): that takes V8's slow generic path, about 10 ms for the 131,072 slots of
 * a busy node's conntrack table, and the array stays holey all the same.
 */
function emptyValues<V>(cap: number): (V | undefined)[] {
  return new Array<V | undefined>(cap);
}

/** A 32-bit mix of both halves of the key (also the model's stand-in for conntrack's jhash of a tuple). */
export function hash(key: number): number {
  const lo = key | 0; // ToInt32: the low 32 bits of the integer key
  const hi = (key / 4294967296) | 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
