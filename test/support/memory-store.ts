import { gunzipSync } from "zlib";
import { ingestObject, QuarantineEntry } from "../../handler/core/ingest";
import { curatedKey, quarantineKey } from "../../handler/core/keys";
import { createFacilityValidator } from "../../handler/schema/validator";
import { BodySource, ListedObject, OutputStore, SourceObject, SourceStore, StoredBody } from "../../handler/core/ports";

/** An OutputStore in memory, for testing the core without any adapter. */
export class MemoryStore implements OutputStore {
  readonly objects = new Map<string, { body: Buffer; contentType: string; stamp?: string; tag?: number }>();
  private writes = 0;
  failStreamAfterBytes: number | undefined;

  put(key: string, body: string, contentType: string): Promise<void> {
    this.objects.set(key, { body: Buffer.from(body), contentType });
    return Promise.resolve();
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, contentType: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c));
    this.objects.set(key, { body: Buffer.concat(chunks), contentType });
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- an async generator is the store's stream shape; there is nothing to wait for in memory
  async *stream(key: string): AsyncIterable<Uint8Array> {
    const o = this.objects.get(key);
    if (!o) throw new Error(`no object ${key}`);
    yield o.body;
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
    return Promise.resolve();
  }

  list(prefix: string): Promise<ListedObject[]> {
    return Promise.resolve(
      [...this.objects].filter(([k]) => k.startsWith(prefix)).map(([key, o]) => ({ key, etag: String(o.body.length), size: o.body.length })),
    );
  }

  async replaceIfNewer(key: string, body: string | BodySource, contentType: string, stamp: string): Promise<boolean> {
    const current = this.objects.get(key);
    if (current?.stamp !== undefined && current.stamp > stamp) return false;
    const chunks: Buffer[] = [];
    if (typeof body === "string") chunks.push(Buffer.from(body));
    else for await (const c of body()) chunks.push(Buffer.from(c));
    this.objects.set(key, { body: Buffer.concat(chunks), contentType, stamp });
    return true;
  }

  read(key: string): Promise<StoredBody | undefined> {
    const o = this.objects.get(key);
    if (!o) return Promise.resolve(undefined);
    o.tag ??= ++this.writes;
    return Promise.resolve({ body: o.body, tag: String(o.tag) });
  }

  putIfUnchanged(key: string, body: Buffer, contentType: string, expectedTag: string | null): Promise<boolean> {
    const current = this.objects.get(key);
    if (current === undefined ? expectedTag !== null : expectedTag === null || String(current.tag) !== expectedTag) return Promise.resolve(false);
    this.objects.set(key, { body, contentType, tag: ++this.writes });
    return Promise.resolve(true);
  }

  text(key: string): string {
    const o = this.objects.get(key);
    if (!o) throw new Error(`no object ${key}; have ${[...this.objects.keys()].join(", ")}`);
    return o.body.toString("utf8");
  }
}

/** A source object over bytes, delivered in chunks of `chunkSize` (or broken after `breakAfter` bytes). */
export function sourceOf(key: string, bytes: Buffer, options: { chunkSize?: number; breakAfter?: number } = {}): SourceObject {
  const size = options.chunkSize ?? 64 * 1024;
  return {
    key,
    version: "v1",
    lastModified: "2026-11-27T08:00:00.000Z",
    // eslint-disable-next-line @typescript-eslint/require-await -- an AsyncIterable like a stream's body: async without awaiting anything
    body: (async function* () {
      for (let i = 0; i < bytes.length; i += size) {
        if (options.breakAfter !== undefined && i >= options.breakAfter) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        yield bytes.subarray(i, i + size);
      }
    })(),
  };
}

export function memorySource(files: Record<string, Buffer>): SourceStore {
  return {
    open(key) {
      const b = files[key];
      return Promise.resolve(b ? sourceOf(key, b) : undefined);
    },
    currentVersion(key) {
      return Promise.resolve(files[key] ? sourceOf(key, files[key]).version : undefined);
    },
  };
}

/** Ingests bytes into a fresh MemoryStore and reads back its curated rows and quarantine entries. */
export async function ingestIntoMemory(key: string, bytes: Buffer, options: { chunkSize?: number; maxRecordBytes: number }) {
  const store = new MemoryStore();
  const result = await ingestObject(sourceOf(key, bytes, { chunkSize: options.chunkSize }), {
    output: store,
    validate: memoryValidator,
    maxRecordBytes: options.maxRecordBytes,
  });
  const curatedBody = store.objects.get(curatedKey(key, "v1"))?.body;
  const lines = (text: string) => text.trim().split("\n");
  const curated = curatedBody ? lines(gunzipSync(curatedBody).toString()).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  const quarantine = store.objects.has(quarantineKey(key, "v1"))
    ? lines(store.text(quarantineKey(key, "v1"))).map((l) => JSON.parse(l) as QuarantineEntry)
    : [];
  return { result, curated, quarantine, store };
}

const memoryValidator = createFacilityValidator();
