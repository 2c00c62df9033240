import assert from "node:assert/strict";
import { csvRecords, csvText, kernelRelease } from "../src/report/csv.js";

describe("report: CSV tables (csv.ts)", () => {
  it("kernelRelease(v): the release as the kernel's Makefile names it: 5.10 -> 5.10.0, 4.14.173 and 5.4.0 as they are", () => {
    assert.equal(kernelRelease("5.10"), "5.10.0");
    assert.equal(kernelRelease("6.18"), "6.18.0");
    assert.equal(kernelRelease("4.14.173"), "4.14.173");
    assert.equal(kernelRelease("5.4.0"), "5.4.0");
  });

  it("a kernel column is written in its release form, quoted, in the file and in --json's rows; other text columns as they are", () => {
    const t = { columns: ["name", "kernel", "n"], text: new Set(["name", "kernel"]), quoted: new Set(["kernel"]), rows: [["5.10", "5.10", 3] as (string | number)[]] };
    assert.equal(csvText(t), 'name,kernel,n\n5.10,"5.10.0",3\n');
    assert.deepEqual(csvRecords(t), [{ name: "5.10", kernel: "5.10.0", n: 3 }]);
  });
});
