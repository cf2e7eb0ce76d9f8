/**
 * One measurement in a fresh process (so peak RSS is this work's alone):
 *   ingest FILE  - the streaming ingest of FILE, outputs counted and discarded
 *   gzip FILE    - the ceiling: gzip-compressing the same (uncompressed) bytes at the same level, alone
 * Prints one JSON line: seconds, bytes read from the file, peak RSS in MB, RSS half-way through and at
 * the end (memory that grows with the file shows as a difference), curated bytes, records accepted.
 */
import { createReadStream, statSync } from "fs";
import { pipeline } from "stream/promises";
import { Writable } from "stream";
import { createGzip } from "zlib";
import { ingestObject } from "../handler/core/ingest";
import { ListedObject, OutputStore } from "../handler/core/ports";
import { createFacilityValidator } from "../handler/schema/validator";
import { peakRssMb as peakRss } from "./peak-rss";

function countingStore(): OutputStore & { bytes: Map<string, number> } {
  const bytes = new Map<string, number>();
  return {
    bytes,
    put(key, body) {
      bytes.set(key, Buffer.byteLength(body));
      return Promise.resolve();
    },
    async putStream(key, body) {
      let n = 0;
      for await (const c of body) n += c.length;
      bytes.set(key, n);
    },
    async *stream(): AsyncIterable<Uint8Array> {
      // Ingest reads nothing back.
    },
    async delete(key) {
      bytes.delete(key);
      return Promise.resolve();
    },
    list(): Promise<ListedObject[]> {
      return Promise.resolve([]);
    },
    replaceIfNewer() {
      return Promise.resolve(true);
    },
    // Ingest alone never reads back or merges: the current state is not part of this measurement.
    read: () => Promise.resolve(undefined),
    putIfUnchanged: () => Promise.resolve(true),
  };
}

async function main(): Promise<void> {
  const [mode, file] = process.argv.slice(2);
  const gz = file.endsWith(".gz");
  const started = process.hrtime.bigint();
  let bytes = 0;
  let curatedBytes = 0;
  let accepted = 0;
  let rssHalfMb = 0;
  const half = statSync(file).size / 2;
  if (mode === "gzip") {
    const count = new Writable({ write: (_c, _e, cb) => cb() });
    const source = createReadStream(file, { highWaterMark: 1 << 20 });
    source.on("data", (c) => (bytes += (c as Buffer).length));
    await pipeline(source, createGzip({ level: 6 }), count);
  } else {
    const store = countingStore();
    // The ingest recognises gzip by its bytes, as in the Lambda.
    const body = createReadStream(file, { highWaterMark: 1 << 20 });
    const result = await ingestObject(
      { key: gz ? "bench/upload.ndjson.gz" : "bench/upload.ndjson", version: "v1", lastModified: "2026-11-27T00:00:00.000Z", body },
      {
        output: store,
        validate: createFacilityValidator(),
        maxRecordBytes: 1 << 20,
        onProgress: (p) => {
          if (rssHalfMb === 0 && p.bytesRead >= half) rssHalfMb = process.memoryUsage().rss / (1024 * 1024);
        },
      },
    );
    bytes = result.bytesRead;
    accepted = result.accepted;
    curatedBytes = [...store.bytes].filter(([k]) => k.startsWith("curated/")).reduce((s, [, v]) => s + v, 0);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakRssMb = peakRss();
  const rssEndMb = process.memoryUsage().rss / (1024 * 1024);
  process.stdout.write(`${JSON.stringify({ seconds, bytes, peakRssMb, rssHalfMb, rssEndMb, curatedBytes, accepted })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
