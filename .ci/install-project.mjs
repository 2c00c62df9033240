// Writes a project in the folder given that depends on the dnsrace tarball in it, with a lock file
// taken from the repository's own (the runtime dependencies, at the versions CI installed), so
// `npm ci --offline` can install the tarball from the npm cache without asking the registry.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) throw new Error("usage: node .ci/install-project.mjs <folder with dnsrace-*.tgz>");
const tarball = readdirSync(dir).find((f) => /^dnsrace-.*\.tgz$/.test(f));
if (!tarball) throw new Error(`${dir}: no dnsrace-*.tgz`);
const repoLock = JSON.parse(readFileSync(new URL("../package-lock.json", import.meta.url), "utf8"));
const root = repoLock.packages[""];
const integrity = `sha512-${createHash("sha512").update(readFileSync(join(dir, tarball))).digest("base64")}`;
const dependencies = { dnsrace: `file:${tarball}` };
const packages = {
  "": { name: "dnsrace-install-check", version: "0.0.0", dependencies },
  "node_modules/dnsrace": {
    version: root.version,
    resolved: `file:${tarball}`,
    integrity,
    license: root.license,
    dependencies: root.dependencies,
    bin: root.bin,
    engines: root.engines,
  },
};
for (const [path, entry] of Object.entries(repoLock.packages)) {
  if (path !== "" && !entry.dev) packages[path] = entry;
}
writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "dnsrace-install-check", version: "0.0.0", private: true, dependencies }, null, 2)}\n`);
writeFileSync(join(dir, "package-lock.json"), `${JSON.stringify({ name: "dnsrace-install-check", version: "0.0.0", lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
