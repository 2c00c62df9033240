import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/test/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** A measurement file of test/calibration/, parsed. */
export function calibration<T>(name: string): T {
  return JSON.parse(readFileSync(resolve(ROOT, "test/calibration", name), "utf8")) as T;
}

export function scenarioPath(name: string): string {
  return resolve(ROOT, "scenarios", name);
}
