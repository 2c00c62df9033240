import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { InputError } from "../scenario/load.js";

/**
 * An output set that is complete or absent.
 *
 * Before anything is simulated, checkOutputFolder() refuses an --out that cannot be made. At the
 * end, writeOutputSet() writes every file into a temporary folder beside --out
 * (`.<out name>.<pid>.tmp`), then moves it into place: the folder itself when --out does not exist
 * yet, else file by file (a rename each). On an error the temporaries (and any folders made for
 * --out) are removed. SIGINT and SIGTERM during the writing wait until the set is complete, then
 * exit 130 or 143. A SIGKILL can leave a `.<out name>.<pid>.tmp` folder beside --out (or, for an
 * --out whose parent is read-only, `.dnsrace.<pid>.tmp` inside it): the next run writing there
 * removes those whose process is gone.
 */

/** The file system could not take the output (a full disk, a read-only folder): exit 1, naming the file. */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputError";
  }
}

export interface OutputFile {
  name: string;
  text: string;
}

/** The file operations the writer uses (tests pass one that fails). */
export interface OutputFs {
  writeFile(path: string, text: string): void;
}

const NODE_FS: OutputFs = { writeFile: (p, t) => writeFileSync(p, t) };

function code(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/** The nearest folder of `dir` (itself or an ancestor) that exists. */
function nearestExisting(dir: string): string {
  let d = resolve(dir);
  while (!existsSync(d)) {
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  return d;
}

/** Refuses (exit 2) an --out that is a file, lies under a file, or cannot be written, before anything runs. */
export function checkOutputFolder(dir: string): void {
  const at = nearestExisting(dir);
  const what = at === resolve(dir) ? "the folder" : `its nearest existing folder ${at}`;
  let isDir: boolean;
  try {
    isDir = statSync(at).isDirectory();
  } catch (e) {
    throw new InputError(`--out ${dir}: cannot read ${at} (${code(e)}).`);
  }
  if (!isDir) throw new InputError(`--out ${dir}: ${at} is a file, not a folder; name a folder for the outputs.`);
  try {
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new InputError(`--out ${dir}: cannot write in ${what} (${code(e)}); name a folder you can write to.`);
  }
}

/** Whether process `pid` is alive (EPERM: alive, another user's). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return code(e) === "EPERM";
  }
}

/** Removes the temporaries a killed run left for `dir`: `.<name>.<pid>.tmp` beside it, `.dnsrace.<pid>.tmp` and `.<file>.<pid>.tmp` inside it. */
export function removeStaleTemporaries(dir: string): void {
  const out = resolve(dir);
  const sweep = (folder: string, pattern: RegExp) => {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return;
    }
    for (const n of names) {
      const m = pattern.exec(n);
      if (m === null || alive(Number(m[1]))) continue;
      try {
        rmSync(join(folder, n), { recursive: true, force: true });
      } catch {
        // Another run's leftovers we cannot remove are no reason to fail this one.
      }
    }
  };
  sweep(dirname(out), new RegExp(`^\\.${escape(basename(out))}\\.(\\d+)\\.tmp$`));
  sweep(out, /^\.(?:dnsrace|.+)\.(\d+)\.tmp$/);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

let handlersInstalled = false;

/** From now on SIGINT and SIGTERM exit 130 and 143 once the synchronous work in progress (the writing) is done. */
function holdSignals(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
}

/** Writes the whole set, or nothing: see the module's comment. */
export function writeOutputSet(dir: string, files: OutputFile[], fs: OutputFs = NODE_FS): void {
  holdSignals();
  removeStaleTemporaries(dir);
  const out = resolve(dir);
  const made: string[] = [];
  let tmp: string | null = null;
  let current = "";
  const cleanUp = () => {
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
    for (const d of made.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // Not empty: something else was put there meanwhile.
      }
    }
  };
  try {
    // The folders above --out, made one by one so that an error can remove them again.
    const missing: string[] = [];
    for (let d = dirname(out); !existsSync(d); d = dirname(d)) missing.unshift(d);
    for (const d of missing) {
      current = d;
      mkdirSync(d);
      made.push(d);
    }
    const exists = existsSync(out);
    let beside = true;
    try {
      accessSync(dirname(out), constants.W_OK | constants.X_OK);
    } catch {
      beside = false;
    }
    if (!beside && !exists) throw Object.assign(new Error("EACCES"), { code: "EACCES" });
    tmp = beside ? join(dirname(out), `.${basename(out)}.${process.pid}.tmp`) : join(out, `.dnsrace.${process.pid}.tmp`);
    current = tmp;
    mkdirSync(tmp);
    for (const f of files) {
      current = join(dir, f.name);
      fs.writeFile(join(tmp, f.name), f.text);
    }
    if (!exists) {
      current = dir;
      renameSync(tmp, out);
      tmp = null;
    } else {
      for (const f of files) {
        current = join(dir, f.name);
        renameSync(join(tmp, f.name), join(out, f.name));
      }
      rmdirSync(tmp);
      tmp = null;
    }
  } catch (e) {
    cleanUp();
    const c = code(e);
    const why = c === "ENOSPC" ? "ENOSPC: no space left on the device" : c === "EDQUOT" ? "EDQUOT: the disk quota is used up" : c;
    throw new OutputError(`--out ${dir}: cannot write ${current} (${why}); nothing was written, and the temporary files were removed.`);
  }
}
