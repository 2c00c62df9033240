import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { InputError } from "../scenario/load.js";

/**
 * An output set that is complete or absent.
 *
 * Before anything is simulated, checkOutputFolder() refuses an --out that cannot be made. At the
 * end, writeOutputSet() writes every file into a temporary folder beside --out
 * (`.<out name>.<pid>.tmp`), then moves it into place: the folder itself when --out does not exist
 * yet, else file by file (a rename each). run, compare and sweep open the set (OutputSet.open)
 * before they simulate, and the lookups CSVs are written into it as the runs go. On an error the
 * temporaries (and any folders made for --out) are removed. SIGINT and SIGTERM while simulating
 * stop the workers, remove the temporaries and exit 130 or 143; during the moving into place they
 * wait until the set is complete. A SIGKILL can leave a `.<out name>.<pid>.tmp` folder beside --out (or, for an
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

/** What a signal must undo before the process exits: workers to stop, then sets to remove. */
const stoppers = new Set<() => Promise<void>>();
const openSets = new Set<OutputSet>();
let handlersInstalled = false;

/**
 * From now on SIGINT and SIGTERM stop what runs (the stoppers: worker pools), remove every open
 * output set's temporaries, and exit 130 and 143. They act between two pieces of synchronous work
 * only: a set being moved into place is complete before they run (and then has nothing to remove).
 */
export function handleSignals(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      void Promise.all([...stoppers].map((s) => s().catch(() => {}))).finally(() => {
        for (const set of openSets) set.abort();
        process.exit(sig === "SIGINT" ? 130 : 143);
      });
    });
  }
}

/** Registers work a signal must stop first (a worker pool's terminate); returns its unregistration. */
export function onSignalStop(stop: () => Promise<void>): () => void {
  handleSignals();
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

function outputError(dir: string, current: string, e: unknown): OutputError {
  const c = code(e);
  const why = c === "ENOSPC" ? "ENOSPC: no space left on the device" : c === "EDQUOT" ? "EDQUOT: the disk quota is used up" : c;
  return new OutputError(`--out ${dir}: cannot write ${current} (${why}); nothing was written, and the temporary files were removed.`);
}

/**
 * An output set being made: its temporary folder exists from open() on, so that files can be
 * written into it while the simulation runs (path()), or whole (write()); commit() moves them
 * into place, abort() (and a signal, or a failure) removes every temporary. See the module's comment.
 */
export class OutputSet {
  private readonly out: string;
  private readonly made: string[] = [];
  private tmp: string | null = null;
  private exists = false;

  private constructor(
    readonly dir: string,
    private readonly fs: OutputFs,
  ) {
    this.out = resolve(dir);
  }

  /** Makes the folders above --out and the temporary folder (an OutputError if it cannot). */
  static open(dir: string, fs: OutputFs = NODE_FS): OutputSet {
    handleSignals();
    removeStaleTemporaries(dir);
    const set = new OutputSet(dir, fs);
    openSets.add(set);
    let current = "";
    try {
      // The folders above --out, made one by one so that an error can remove them again.
      const missing: string[] = [];
      for (let d = dirname(set.out); !existsSync(d); d = dirname(d)) missing.unshift(d);
      for (const d of missing) {
        current = d;
        mkdirSync(d);
        set.made.push(d);
      }
      set.exists = existsSync(set.out);
      let beside = true;
      try {
        accessSync(dirname(set.out), constants.W_OK | constants.X_OK);
      } catch {
        beside = false;
      }
      if (!beside && !set.exists) throw Object.assign(new Error("EACCES"), { code: "EACCES" });
      const tmp = beside ? join(dirname(set.out), `.${basename(set.out)}.${process.pid}.tmp`) : join(set.out, `.dnsrace.${process.pid}.tmp`);
      current = tmp;
      mkdirSync(tmp);
      set.tmp = tmp;
    } catch (e) {
      throw set.fail(current, e);
    }
    return set;
  }

  /** Where file `name` is to be written until commit() (for a writer of its own: a worker streaming it). */
  path(name: string): string {
    return join(this.tmp!, name);
  }

  /** Writes file `name` whole. */
  write(name: string, text: string): void {
    try {
      this.fs.writeFile(this.path(name), text);
    } catch (e) {
      throw this.fail(join(this.dir, name), e);
    }
  }

  /** Moves the files `names` (every one written) into place: the folder at once when --out is new, else file by file. */
  commit(names: readonly string[]): void {
    let current = this.dir;
    try {
      if (!this.exists) {
        renameSync(this.tmp!, this.out);
        this.tmp = null;
      } else {
        for (const n of names) {
          current = join(this.dir, n);
          renameSync(this.path(n), join(this.out, n));
        }
        rmdirSync(this.tmp!);
        this.tmp = null;
      }
    } catch (e) {
      throw this.fail(current, e);
    }
    this.made.length = 0;
    openSets.delete(this);
  }

  /** Removes the temporaries and the folders made for --out (nothing once committed). */
  abort(): void {
    openSets.delete(this);
    if (this.tmp !== null) rmSync(this.tmp, { recursive: true, force: true });
    this.tmp = null;
    for (const d of this.made.splice(0).reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // Not empty: something else was put there meanwhile.
      }
    }
  }

  /** Aborts, and gives the OutputError that says why (`current`: what could not be written). */
  fail(current: string, e: unknown): OutputError {
    this.abort();
    return outputError(this.dir, current, e);
  }
}

/** Writes the whole set, or nothing: see the module's comment. */
export function writeOutputSet(dir: string, files: OutputFile[], fs: OutputFs = NODE_FS): void {
  const set = OutputSet.open(dir, fs);
  for (const f of files) set.write(f.name, f.text);
  set.commit(files.map((f) => f.name));
}

/** Opens the set for `dir`, runs `fill` (which writes and commits it), and removes the temporaries if it fails. */
export async function withOutputSet<T>(dir: string, fill: (set: OutputSet) => Promise<T>): Promise<T> {
  const set = OutputSet.open(dir);
  try {
    return await fill(set);
  } catch (e) {
    set.abort();
    throw e;
  }
}
