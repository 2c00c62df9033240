import assert from "node:assert/strict";
import fc from "fast-check";
import { TupleMap } from "../src/kernel/tuplemap.js";

describe("kernel: TupleMap (the conntrack hash)", () => {
  it("behaves like a Map under any sequence of set, get and delete (property)", () => {
    const key = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(2 ** 52 + 1, 2 ** 40 + 7, 4294967296 * 5 + 3));
    const op = fc.oneof(
      fc.record({ k: fc.constant("set" as const), key, v: fc.integer() }),
      fc.record({ k: fc.constant("del" as const), key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const m = new TupleMap<number>(4);
        const ref = new Map<number, number>();
        for (const o of ops) {
          if (o.k === "set") {
            m.set(o.key, o.v);
            ref.set(o.key, o.v);
          } else {
            assert.equal(m.delete(o.key), ref.delete(o.key));
          }
          assert.equal(m.size, ref.size);
        }
        for (let k = 0; k <= 40; k++) assert.equal(m.get(k), ref.get(k));
        for (const [k, v] of ref) assert.equal(m.get(k), v);
        // values(): every value once, as a snapshot that deleting while walking it does not disturb.
        const vals = m.values();
        assert.deepEqual([...vals].sort((a, b) => a - b), [...ref.values()].sort((a, b) => a - b));
        for (const k of ref.keys()) m.delete(k);
        assert.equal(vals.length, ref.size);
        assert.equal(m.values().length, 0);
      }),
    );
  });
});
