/**
 * A binary min-heap of event slots ordered by (time, seq).
 *
 * Contract: `seq` values are unique and increase in scheduling order, so two
 * entries never compare equal and equal times pop in FIFO order. Keys live in
 * parallel typed arrays (no object per entry); the heap moves a hole instead of
 * swapping. Capacity grows by doubling; memory is 20 bytes per pending entry.
 */
export class EventHeap {
  private times: Float64Array;
  private seqs: Float64Array;
  private slots: Int32Array;
  private n = 0;

  constructor(capacity = 1024) {
    this.times = new Float64Array(capacity);
    this.seqs = new Float64Array(capacity);
    this.slots = new Int32Array(capacity);
  }

  get size(): number {
    return this.n;
  }

  push(time: number, seq: number, slot: number): void {
    if (this.n === this.times.length) this.grow();
    const times = this.times;
    const seqs = this.seqs;
    const slots = this.slots;
    let i = this.n++;
    // Sift the hole up until the parent is smaller.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = times[p]!;
      if (pt < time || (pt === time && seqs[p]! < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[p]!;
      slots[i] = slots[p]!;
      i = p;
    }
    times[i] = time;
    seqs[i] = seq;
    slots[i] = slot;
  }

  /** Time of the smallest entry; Infinity when empty. */
  peekTime(): number {
    return this.n > 0 ? this.times[0]! : Infinity;
  }

  /** Removes the smallest entry and returns its slot; -1 when empty. */
  pop(): number {
    if (this.n === 0) return -1;
    const top = this.slots[0]!;
    const last = --this.n;
    if (last > 0) {
      // The last entry fills the root's hole, then sinks to its place.
      this.times[0] = this.times[last]!;
      this.seqs[0] = this.seqs[last]!;
      this.slots[0] = this.slots[last]!;
      this.siftDown(0);
    }
    return top;
  }

  clear(): void {
    this.n = 0;
  }

  /**
   * Removes every entry whose slot fails `keep` (calling `drop` for it), then
   * rebuilds the heap bottom-up (Floyd), O(n). (time, seq) order is unchanged.
   */
  compact(keep: (slot: number) => boolean, drop: (slot: number) => void): void {
    const times = this.times;
    const seqs = this.seqs;
    const slots = this.slots;
    let m = 0;
    for (let i = 0; i < this.n; i++) {
      const sl = slots[i]!;
      if (!keep(sl)) {
        drop(sl);
        continue;
      }
      times[m] = times[i]!;
      seqs[m] = seqs[i]!;
      slots[m] = sl;
      m++;
    }
    this.n = m;
    for (let i = (m >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Moves the entry at `start` down to its place, moving the smaller child up into the hole. */
  private siftDown(start: number): void {
    const times = this.times;
    const seqs = this.seqs;
    const slots = this.slots;
    const n = this.n;
    const t = times[start]!;
    const s = seqs[start]!;
    const sl = slots[start]!;
    let i = start;
    const half = n >> 1;
    while (i < half) {
      let c = 2 * i + 1;
      const r = c + 1;
      if (r < n && (times[r]! < times[c]! || (times[r] === times[c] && seqs[r]! < seqs[c]!))) c = r;
      const ct = times[c]!;
      if (t < ct || (t === ct && s < seqs[c]!)) break;
      times[i] = ct;
      seqs[i] = seqs[c]!;
      slots[i] = slots[c]!;
      i = c;
    }
    times[i] = t;
    seqs[i] = s;
    slots[i] = sl;
  }

  private grow(): void {
    const cap = this.times.length * 2;
    const t = new Float64Array(cap);
    t.set(this.times);
    const s = new Float64Array(cap);
    s.set(this.seqs);
    const sl = new Int32Array(cap);
    sl.set(this.slots);
    this.times = t;
    this.seqs = s;
    this.slots = sl;
  }
}
