import { createHash } from "crypto";
import { createReadStream, promises as fsp, realpathSync, Stats } from "fs";
import * as path from "path";
import { pipeline } from "stream/promises";
import { Readable } from "stream";
import { createWriteStream } from "fs";
import { BodySource, ListedObject, OutputStore, SourceObject, SourceStore } from "../core/ports";

/**
 * The upload key of a local file: its folder's real path (symbolic links and `..` resolved) plus its
 * own name, with `/` separators. The same file is the same upload whatever the working directory; a
 * symbolic link is keyed where it lies, not where it points, so removing the link removes the upload.
 * The folder is resolved even when the file is gone, so a deletion finds the key it was ingested under.
 */
export function localKey(file: string, cwd = process.cwd()): string {
  const absolute = path.resolve(cwd, file);
  return path
    .join(realFolder(path.dirname(absolute)), path.basename(absolute))
    .split(path.sep)
    .join("/");
}

/** The real path of a folder, or the path as given when it does not exist (any more). */
export function realFolder(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/**
 * Local files as the upload store: the key is a path relative to `cwd`.
 *
 * A file's version is a SHA-256 of its bytes, not its size and mtime: the version names the curated
 * object, the curated names fingerprint the table, and the fingerprint names the report run. With
 * mtime in it, re-running identical data after a `touch` or a fresh copy wrote a new run file each
 * time. The digest costs one extra read of the file before it is ingested; it is remembered for the
 * same inode, size, mtime and ctime, so the check for a change after the read is a `stat`.
 */
export function fsSourceStore(cwd = process.cwd()): SourceStore {
  const resolve = (key: string) => path.resolve(cwd, key);
  const digests = new Map<string, { identity: string; digest: Promise<string> }>();
  const versionOf = (file: string, stat: Stats): Promise<string> => {
    const identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
    const known = digests.get(file);
    if (known?.identity === identity) return known.digest;
    const digest = contentDigest(file);
    digests.set(file, { identity, digest });
    digest.catch(() => digests.delete(file));
    return digest;
  };
  return {
    async open(key): Promise<SourceObject | undefined> {
      let stat;
      let version;
      try {
        stat = await fsp.stat(resolve(key));
        version = await versionOf(resolve(key), stat);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
      return {
        key,
        version,
        // The mtime, to the millisecond, orders local uploads (S3's LastModified has only seconds, which
        // is why the Lambda also carries the event time). It is not part of the version: the run name
        // follows the content, and DuckDB recomputes every run anyway.
        lastModified: stat.mtime.toISOString(),
        body: createReadStream(resolve(key), { highWaterMark: 1024 * 1024 }),
      };
    },
    async currentVersion(key): Promise<string | undefined> {
      try {
        return await versionOf(resolve(key), await fsp.stat(resolve(key)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
    },
  };
}

async function contentDigest(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  return `sha256-${hash.digest("hex")}`;
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

  async function write(key: string, body: string | Buffer | BodySource): Promise<void> {
    const target = file(key);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const tmp = temp(target);
    try {
      if (typeof body === "string" || Buffer.isBuffer(body)) await fsp.writeFile(tmp, body);
      else await pipeline(Readable.from(body()), createWriteStream(tmp));
      await fsp.rename(tmp, target);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  return {
    put: (key, body) => write(key, body),
    putStream: (key, body) => write(key, () => body),
    stream: (key) => createReadStream(file(key)),
    async delete(key) {
      await fsp.rm(file(key), { force: true });
    },
    async list(prefix): Promise<ListedObject[]> {
      // Like S3, a prefix may end inside a name (`curated/name.`): list its folder, keep what matches.
      const slash = prefix.lastIndexOf("/");
      const folder = prefix.slice(0, slash + 1);
      const start = prefix.slice(slash + 1);
      const dir = file(folder);
      let names: string[];
      try {
        names = await fsp.readdir(dir);
      } catch {
        return [];
      }
      const out: ListedObject[] = [];
      for (const name of names.filter((n) => n.startsWith(start) && !n.endsWith(".tmp")).sort()) {
        const stat = await fsp.stat(path.join(dir, name));
        if (stat.isFile()) out.push({ key: `${folder}${name}`, etag: `${stat.size}-${Math.trunc(stat.mtimeMs)}`, size: stat.size });
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
    async read(key) {
      try {
        const body = await fsp.readFile(file(key));
        return { body, tag: contentTag(body) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
    },
    putIfUnchanged(key, body, _contentType, expectedTag) {
      // One process writes the local folder, but uploads of one batch merge concurrently: the same
      // chain as replaceIfNewer makes compare-and-write atomic. The tag is a content digest here
      // (mtimes can repeat within a millisecond).
      const step = stampLock.then(async () => {
        const current = await fsp.readFile(file(key)).catch((e: NodeJS.ErrnoException) => {
          if (e.code === "ENOENT") return undefined;
          throw e;
        });
        if ((current === undefined ? null : contentTag(current)) !== expectedTag) return false;
        await write(key, body);
        return true;
      });
      stampLock = step.catch(() => undefined);
      return step;
    },
  };
}

const contentTag = (body: Buffer) => createHash("sha256").update(body).digest("hex");
