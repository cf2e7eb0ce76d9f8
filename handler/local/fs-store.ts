import { createReadStream, promises as fsp } from "fs";
import * as path from "path";
import { pipeline } from "stream/promises";
import { Readable } from "stream";
import { createWriteStream } from "fs";
import { ListedObject, OutputStore, SourceObject, SourceStore } from "../core/ports";

/** Upload keys for local files: the path relative to the working directory, with `/` separators. */
export function localKey(file: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, path.resolve(cwd, file));
  return (rel.startsWith("..") || path.isAbsolute(rel) ? path.resolve(cwd, file) : rel).split(path.sep).join("/");
}

/** Local files as the upload store: the key is a path relative to `cwd`. */
export function fsSourceStore(cwd = process.cwd()): SourceStore {
  const resolve = (key: string) => path.resolve(cwd, key);
  return {
    async open(key): Promise<SourceObject | undefined> {
      let stat;
      try {
        stat = await fsp.stat(resolve(key));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
      return {
        key,
        version: `${stat.size}-${Math.trunc(stat.mtimeMs)}`,
        lastModified: stat.mtime.toISOString(),
        uploadedAt: stat.mtime.toISOString(),
        body: createReadStream(resolve(key), { highWaterMark: 1024 * 1024 }),
      };
    },
  };
}

/**
 * A folder laid out like the output bucket. Writes go to a temporary file renamed into place, so a
 * reader never sees half an object and a failed stream leaves nothing behind.
 */
export function fsOutputStore(root: string): OutputStore {
  const file = (key: string) => path.join(root, ...key.split("/"));
  const stampsFile = path.join(root, ".latest-stamps.json");
  let writes = 0;
  let stampLock: Promise<unknown> = Promise.resolve();
  const temp = (target: string) => `${target}.${process.pid}.${++writes}.tmp`;

  async function readStamps(): Promise<Record<string, string>> {
    try {
      return JSON.parse(await fsp.readFile(stampsFile, "utf8")) as Record<string, string>;
    } catch {
      return {};
    }
  }

  async function write(key: string, body: string): Promise<void> {
    const target = file(key);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const tmp = temp(target);
    await fsp.writeFile(tmp, body);
    await fsp.rename(tmp, target);
  }

  return {
    put: (key, body) => write(key, body),
    async putStream(key, body) {
      const target = file(key);
      await fsp.mkdir(path.dirname(target), { recursive: true });
      const tmp = temp(target);
      try {
        await pipeline(Readable.from(body), createWriteStream(tmp));
        await fsp.rename(tmp, target);
      } catch (e) {
        await fsp.rm(tmp, { force: true });
        throw e;
      }
    },
    async delete(key) {
      await fsp.rm(file(key), { force: true });
    },
    async list(prefix): Promise<ListedObject[]> {
      const dir = file(prefix);
      let names: string[];
      try {
        names = await fsp.readdir(dir);
      } catch {
        return [];
      }
      const out: ListedObject[] = [];
      for (const name of names.filter((n) => !n.endsWith(".tmp")).sort()) {
        const stat = await fsp.stat(path.join(dir, name));
        if (stat.isFile()) out.push({ key: `${prefix}${name}`, etag: `${stat.size}-${Math.trunc(stat.mtimeMs)}`, size: stat.size });
      }
      return out;
    },
    replaceIfNewer(key, body, _contentType, stamp) {
      // One process writes the local folder; chaining the read-compare-write steps makes them atomic.
      const step = stampLock.then(async () => {
        const stamps = await readStamps();
        if ((stamps[key] ?? "") > stamp) return false;
        await write(key, body);
        stamps[key] = stamp;
        await fsp.writeFile(stampsFile, JSON.stringify(stamps, null, 2));
        return true;
      });
      stampLock = step.catch(() => undefined);
      return step;
    },
  };
}
