import { constants, promises as fsp, readdirSync, rmSync } from "fs";
import * as path from "path";
import { REPORTS } from "../reports/registry";

/** The lock file of an output folder: which process is using it, since when. */
const LOCK = ".lock";

export interface HeldOutput {
  /** Removes this run's temporary files and the lock. */
  release(): Promise<void>;
  /** The same, synchronously: for a signal handler that is about to exit. */
  releaseNow(): void;
}

/**
 * Checks that `out` is a folder this process can write, and takes it for this run. Two runs on one
 * folder would list, query and write each other's half-done objects (one failed with DuckDB's
 * "Cannot open file", and a report's inputs disagreed with what it had queried), so the second one is
 * refused. A lock left by a process that no longer exists (killed, machine restarted) is taken over.
 * Temporary files are swept on the way in: nothing else can be writing them while the lock is held.
 */
export async function acquireOutput(out: string): Promise<HeldOutput> {
  await ensureWritableFolder(out);
  const lockFile = path.join(out, LOCK);
  await takeLock(lockFile, out);
  removeTemporaryFiles(out);
  let released = false;
  const releaseNow = () => {
    if (released) return;
    released = true;
    removeTemporaryFiles(out);
    rmSync(lockFile, { force: true });
  };
  return { release: () => Promise.resolve(releaseNow()), releaseNow };
}

async function ensureWritableFolder(out: string): Promise<void> {
  const stat = await fsp.stat(out).catch(() => undefined);
  if (stat && !stat.isDirectory()) throw new Error(`--out ${out}: not a folder (a file of that name exists); name a folder to write the outputs to`);
  try {
    await fsp.mkdir(out, { recursive: true });
    await fsp.access(out, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOTDIR"
        ? "a part of the path is a file, not a folder"
        : code === "EACCES" || code === "EPERM" || code === "EROFS"
          ? "no permission to write there"
          : (e as Error).message;
    throw new Error(`--out ${out}: cannot create or write the folder (${why}); name a folder you can write to`, { cause: e });
  }
}

interface LockContent {
  pid: number;
  started: string;
}

let candidates = 0;

/**
 * Creates the lock with its content in one step: written to a file of its own, then hard-linked to
 * the lock's name, which fails if the lock exists. A lock created empty and filled afterwards could be
 * read in between, taken for one left by a dead process, and removed while its owner runs.
 */
async function createLock(lockFile: string, content: LockContent): Promise<boolean> {
  const candidate = `${lockFile}-${process.pid}-${++candidates}`;
  await fsp.writeFile(candidate, JSON.stringify(content));
  try {
    await fsp.link(candidate, lockFile);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    return false;
  } finally {
    await fsp.rm(candidate, { force: true });
  }
}

async function takeLock(lockFile: string, out: string): Promise<void> {
  const content: LockContent = { pid: process.pid, started: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await createLock(lockFile, content)) return;
    const holder = await readLock(lockFile);
    if (holder && isAlive(holder.pid)) {
      throw new Error(`another run is using ${out} (process ${holder.pid}, started ${holder.started}); wait for it to finish, or use another --out`);
    }
    // Left by a process that is gone: take it over.
    await fsp.rm(lockFile, { force: true });
  }
  throw new Error(`another run is using ${out}: it took the folder at the same moment; run again`);
}

async function readLock(lockFile: string): Promise<LockContent | undefined> {
  try {
    const parsed = JSON.parse(await fsp.readFile(lockFile, "utf8")) as Partial<LockContent>;
    return typeof parsed.pid === "number" ? { pid: parsed.pid, started: String(parsed.started ?? "at an unknown time") } : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes the `*.tmp` files writes leave when a run is interrupted before it renames them into place. */
function removeTemporaryFiles(out: string): void {
  let names: string[];
  try {
    names = readdirSync(out, { recursive: true, encoding: "utf8" });
  } catch {
    return;
  }
  for (const name of names) if (name.endsWith(".tmp")) rmSync(path.join(out, name), { force: true });
}

/** Everything a run writes at the top of the output folder, and what each folder may hold. */
const OWNED_FOLDERS: Readonly<Record<string, (name: string, isDir: boolean) => boolean>> = {
  curated: (name, isDir) => !isDir && (name.endsWith(".ndjson.gz") || name.endsWith(".tmp")),
  current: (name, isDir) => !isDir && (name.endsWith(".ndjson.gz") || name === "_history-merged.json" || name.endsWith(".tmp")),
  quarantine: (name, isDir) => !isDir && (name.endsWith(".ndjson") || name.endsWith(".tmp")),
  reports: (name, isDir) => (isDir ? name === "runs" || REPORTS.some((r) => r.name === name) : name === "latest.html" || name.endsWith(".tmp")),
};
const OWNED_FILES = [".latest-stamps.json", LOCK];

/**
 * `--fresh`: removes what the pipeline wrote in `out` (curated/, current/, quarantine/, reports/, its state
 * files), so the table holds only this run's uploads. Refuses, removing nothing, when the folder holds
 * anything else: `--out ~ --fresh` or `--out src --fresh` is a slip of the keyboard, not a request to
 * delete a home folder. Call with the folder's lock held.
 */
export async function emptyOutput(out: string): Promise<void> {
  const foreign: string[] = [];
  for (const entry of await fsp.readdir(out, { withFileTypes: true })) {
    const allowed = OWNED_FOLDERS[entry.name];
    if (allowed && entry.isDirectory()) {
      for (const inner of await fsp.readdir(path.join(out, entry.name), { withFileTypes: true })) {
        if (!allowed(inner.name, inner.isDirectory())) foreign.push(`${entry.name}/${inner.name}`);
      }
    } else if (!(entry.isFile() && (OWNED_FILES.includes(entry.name) || entry.name.startsWith(`${LOCK}-`)))) {
      foreign.push(entry.isDirectory() ? `${entry.name}/` : entry.name);
    }
  }
  if (foreign.length > 0) {
    const named = foreign.slice(0, 3).join(", ") + (foreign.length > 3 ? ` and ${foreign.length - 3} more` : "");
    throw new Error(
      `--fresh: refusing to empty ${out}: it holds ${named}, which this tool does not write. ` +
        "Name the pipeline's own output folder with --out (default .pipeline), or remove those files first. Nothing was deleted.",
    );
  }
  for (const name of Object.keys(OWNED_FOLDERS)) await fsp.rm(path.join(out, name), { recursive: true, force: true });
  await fsp.rm(path.join(out, ".latest-stamps.json"), { force: true });
}
