import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./helpers.js";

/** The cluster dumps of test/fixtures/clusters/ (kubectl get ... -o json or -o yaml). */
export const CLUSTERS = join(ROOT, "test/fixtures/clusters");
export const dump = (name: string) => readFileSync(join(CLUSTERS, name), "utf8");
