import seedrandom from "seedrandom";

/** A uniform source on [0, 1). */
export type Rng = () => number;

/**
 * Named, independent random streams: stream `name` of seed `s` is
 * seedrandom's xor4096 seeded with the string `<s>/<name>`. Adding draws to one
 * stream never shifts another's numbers (the ns-3 rule), and no stream is ever
 * autoseeded from the clock.
 */
export class Streams {
  private readonly cache = new Map<string, Rng>();

  constructor(readonly seed: number | string) {}

  /** The stream called `name` (the same object on every call). */
  get(name: string): Rng {
    let r = this.cache.get(name);
    if (r === undefined) {
      r = seedrandom.xor4096(`${this.seed}/${name}`) as Rng;
      this.cache.set(name, r);
    }
    return r;
  }
}

/** A stream for one seed and name, outside any Streams registry. */
export function stream(seed: number | string, name: string): Rng {
  return seedrandom.xor4096(`${seed}/${name}`) as Rng;
}
