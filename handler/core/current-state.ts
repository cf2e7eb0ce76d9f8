import { createHash } from "crypto";
import { Readable } from "stream";
import { StringDecoder } from "string_decoder";
import { createGunzip, gunzipSync, gzipSync } from "zlib";
import { retryableError } from "./errors";
import { derivedPrefix, sha256 } from "./keys";
import { OUTPUT_LAYOUT } from "./layout";
import { OutputStore } from "./ports";

/**
 * The current state: the winning curated row of every facility, kept by the processor in
 * `current/shard-XX.ndjson.gz` (facilities spread over the shards by a hash of their id). Reports read
 * this instead of the whole history under `curated/`, so what a report scans is bounded by the number
 * of facilities, not by the number of uploads ever made.
 *
 * The state is a pure function of the curated history: per facility, the row that sorts last under
 * RECENCY_ORDER, the same total order the report SQL's `latest` step uses. Merging is therefore a max
 * per facility (commutative, associative, idempotent), so re-delivered and out-of-order uploads
 * converge, and each shard is replaced by compare-and-swap (If-Match / If-None-Match), so two batches
 * merging at once cannot lose each other's rows: the loser re-reads and merges again.
 */

export const CURRENT_SHARDS = 16;

/**
 * "Latest record wins", most significant first; every field compares ascending, the later row wins.
 * The report SQL orders by exactly these columns, descending (test/handler/current-state.test.ts keeps
 * the two in agreement).
 */
export const RECENCY_ORDER = ["ingest_time", "ingest_upload_time", "ingest_source_key", "ingest_index"] as const;

/** What the merge needs of a curated row; the row itself is kept as its text, never re-serialized. */
export interface CurrentEntry {
  id: string;
  sourceKey: string;
  sourceVersion: string;
  time: string;
  uploadTime: string;
  index: number;
  line: string;
}

export function entryOf(line: string): CurrentEntry {
  // Ingest ends every curated row with the ingest fields, in this order (curatedLineWriter), and a
  // top-level "facility_id" is the only place that name can occur as a key: no other schema object has
  // it, and inside a JSON string its quotes would be escaped. Parsing just those parts keeps the merge
  // about as cheap as the ingest it follows; anything else is parsed whole.
  const at = line.lastIndexOf(',"ingest_source_key":');
  const id = /"facility_id":("(?:[^"\\]|\\.)*")/.exec(line);
  const row = (at >= 0 && id ? { ...JSON.parse(`{${line.slice(at + 1)}`), facility_id: JSON.parse(id[1]) } : JSON.parse(line)) as Record<string, unknown>;
  const text = (name: string) => {
    const v = row[name];
    if (typeof v !== "string") throw new Error(`a curated row without ${name}`);
    return v;
  };
  const index = row.ingest_index;
  if (typeof index !== "number") throw new Error("a curated row without ingest_index");
  return {
    id: text("facility_id"),
    sourceKey: text("ingest_source_key"),
    sourceVersion: text("ingest_source_version"),
    time: text("ingest_time"),
    uploadTime: text("ingest_upload_time"),
    index,
    line,
  };
}

/**
 * Strings compare as Athena (Trino) and DuckDB compare VARCHAR: by UTF-8 bytes, which is code point
 * order. JavaScript's `<` compares UTF-16 code units, which puts U+E000-U+FFFF after astral characters;
 * shifting the code units restores code point order without allocating.
 */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return shift(x) - shift(y);
  }
  return a.length - b.length;
}
const shift = (u: number) => (u >= 0xd800 && u <= 0xdfff ? u + 0x2000 : u >= 0xe000 ? u - 0x800 : u);

/** > 0 when `a` is the later record under RECENCY_ORDER. */
export function compareRecency(a: CurrentEntry, b: CurrentEntry): number {
  return compareText(a.time, b.time) || compareText(a.uploadTime, b.uploadTime) || compareText(a.sourceKey, b.sourceKey) || a.index - b.index;
}

export const shardOf = (facilityId: string) => parseInt(sha256(facilityId).slice(0, 8), 16) % CURRENT_SHARDS;
export const shardKey = (shard: number) => `${OUTPUT_LAYOUT.current}shard-${String(shard).padStart(2, "0")}.ndjson.gz`;

/** Lines of a gzip NDJSON object small enough to hold as one string (a shard). */
export function linesOf(gz: Buffer): string[] {
  return gunzipSync(gz)
    .toString("utf8")
    .split("\n")
    .filter((l) => l.length > 0);
}

/**
 * Lines of a gzip NDJSON object of any size, decompressed as a stream: one upload's curated rows can
 * hold more text than a JavaScript string can (about 512 MiB), and need not all be in memory at once.
 */
export async function* gzLines(gz: Buffer): AsyncGenerator<string> {
  const decoder = new StringDecoder("utf8");
  let carry = "";
  for await (const chunk of Readable.from([gz]).pipe(createGunzip())) {
    const lines = (carry + decoder.write(chunk as Buffer)).split("\n");
    carry = lines.pop() ?? "";
    for (const line of lines) if (line.length > 0) yield line;
  }
  const last = carry + decoder.end();
  if (last.length > 0) yield last;
}

/** Rows merged into the shards at a time: bounds memory for an upload of any size. */
const MERGE_CHUNK_ROWS = 100_000;

/**
 * A digest of what the reports can see in a shard (undefined when it holds no row): every row without its `ingest_*` provenance. The
 * state holds one row per facility, so provenance no longer decides anything the reports show; a row
 * re-ingested with a new upload time (a local file touched again) leaves the digest, and so the report
 * tokens and run names, as they were.
 */
export async function reportedDigest(gz: Buffer): Promise<string | undefined> {
  const hash = createHash("sha256");
  let rows = 0;
  for await (const line of gzLines(gz)) {
    const row = JSON.parse(line) as Record<string, unknown>;
    for (const k of Object.keys(row)) if (k.startsWith("ingest_")) delete row[k];
    hash.update(`${JSON.stringify(row)}\n`);
    rows++;
  }
  return rows === 0 ? undefined : hash.digest("hex");
}

/** Attempts at one shard before the batch is retried later: each lost attempt means another writer progressed. */
const MAX_ATTEMPTS = 12;

/**
 * Rewrites shards with compare-and-swap. `update` changes the shard's entries in place and says whether
 * it changed anything; it runs again on fresh contents after a lost race, so it must decide from what
 * it is given, not from what it saw before.
 */
async function updateShards(output: OutputStore, shards: number[], update: (shard: number, entries: Map<string, CurrentEntry>) => boolean): Promise<number> {
  // A listing (the role may list current/) says which shards exist: reading one that does not would
  // answer 403, not 404, to a role without an unconditional s3:ListBucket on the bucket.
  const existing = new Set((await output.list(OUTPUT_LAYOUT.current)).map((o) => o.key));
  let written = 0;
  for (const shard of shards) {
    const key = shardKey(shard);
    let known = existing.has(key);
    for (let attempt = 0; ; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw retryableError(`merging into ${key}: ${MAX_ATTEMPTS} concurrent writers in a row`);
      if (attempt > 0 && !known) known = (await output.list(key)).some((o) => o.key === key);
      const stored = known ? await output.read(key) : undefined;
      const entries = new Map<string, CurrentEntry>();
      for (const line of stored ? linesOf(stored.body) : []) {
        const e = entryOf(line);
        entries.set(e.id, e);
      }
      if (!update(shard, entries)) break;
      const ok = await output.putIfUnchanged(key, serializeShard(entries), "application/x-ndjson", stored ? stored.tag : null);
      if (ok) {
        written++;
        break;
      }
      // Lost: another writer created or replaced the shard since it was read. Look again.
      known = stored !== undefined;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * (attempt + 1)));
    }
  }
  return written;
}

/** Sorted by facility id and compressed at a fixed level: the same state always gives the same bytes. */
export function serializeShard(entries: Map<string, CurrentEntry>): Buffer {
  const lines = [...entries.values()].sort((a, b) => compareText(a.id, b.id)).map((e) => `${e.line}\n`);
  return gzipSync(lines.join(""), { level: 6 });
}

function byShard(entries: Iterable<CurrentEntry>): Map<number, Map<string, CurrentEntry>> {
  const out = new Map<number, Map<string, CurrentEntry>>();
  for (const e of entries) {
    const shard = shardOf(e.id);
    let m = out.get(shard);
    if (!m) out.set(shard, (m = new Map<string, CurrentEntry>()));
    const prev = m.get(e.id);
    if (!prev || compareRecency(e, prev) > 0) m.set(e.id, e);
  }
  return out;
}

/**
 * Merges curated rows into the current state: each facility keeps whichever row is later. Rows that
 * lose change nothing and shards that do not change are not written. Returns the shards written.
 */
export async function mergeIntoCurrent(output: OutputStore, lines: Iterable<string>): Promise<number> {
  const incoming = byShard([...lines].map(entryOf));
  return updateShards(
    output,
    [...incoming.keys()].sort((a, b) => a - b),
    (shard, entries) => {
      let changed = false;
      for (const e of incoming.get(shard)!.values()) {
        const held = entries.get(e.id);
        if (!held || compareRecency(e, held) > 0) {
          entries.set(e.id, e);
          changed = true;
        }
      }
      return changed;
    },
  );
}

/** Merges the rows of one curated object (just written by an ingest) into the current state. */
export async function mergeCuratedObject(output: OutputStore, curatedKey: string): Promise<number> {
  const stored = await output.read(curatedKey);
  // Gone already: a newer version or a removal replaced it, and that change maintains the state.
  if (!stored) return 0;
  // In chunks: taking the later row per facility is associative, so merging part by part gives the
  // same state as merging all at once, in memory bounded by the chunk.
  let written = 0;
  let chunk: string[] = [];
  for await (const line of gzLines(stored.body)) {
    chunk.push(line);
    if (chunk.length >= MERGE_CHUNK_ROWS) {
      written += await mergeIntoCurrent(output, chunk);
      chunk = [];
    }
  }
  if (chunk.length > 0) written += await mergeIntoCurrent(output, chunk);
  return written;
}

/**
 * After an upload's other versions were removed (the upload deleted, replaced, or superseded while it
 * was read): every facility whose current row came from one of them falls back to its previous latest
 * row, found in the remaining history. Deletes are rare, so this reads every curated object (cost:
 * the history's size in S3 GETs and Lambda time, never in Athena scans).
 *
 * A batch merging a new upload at the same time is kept: shards are rewritten by compare-and-swap and
 * only rows from the removed versions are replaced; and an upload curated after the history was read
 * (so missing from the fallback) is merged once more when the curated prefix is listed again at the end.
 */
export async function revertRemovedVersions(output: OutputStore, sourceKey: string, keepVersion: string | undefined): Promise<number> {
  const removed = (e: CurrentEntry) => e.sourceKey === sourceKey && e.sourceVersion !== keepVersion;
  const existing = (await output.list(OUTPUT_LAYOUT.current)).map((o) => o.key);
  const affected = new Set<string>();
  const shards: number[] = [];
  for (let shard = 0; shard < CURRENT_SHARDS; shard++) {
    if (!existing.includes(shardKey(shard))) continue;
    const stored = await output.read(shardKey(shard));
    // Only rows naming the upload can be affected; ingest writes the key in exactly this form, so the
    // other rows (nearly all, on every ingest) are skipped without being parsed.
    const named = `"ingest_source_key":${JSON.stringify(sourceKey)}`;
    const ids = (stored ? linesOf(stored.body) : [])
      .filter((l) => l.includes(named))
      .map(entryOf)
      .filter(removed)
      .map((e) => e.id);
    if (ids.length > 0) shards.push(shard);
    for (const id of ids) affected.add(id);
  }
  if (affected.size === 0) return 0;

  const uploadPrefix = derivedPrefix("curated", sourceKey);
  const historyKeys = async () => (await output.list(OUTPUT_LAYOUT.curated)).map((o) => o.key).filter((k) => !k.startsWith(uploadPrefix));
  const before = await historyKeys();
  const fallback = new Map<string, CurrentEntry>();
  const consider = (e: CurrentEntry) => {
    if (!affected.has(e.id) || removed(e)) return;
    const prev = fallback.get(e.id);
    if (!prev || compareRecency(e, prev) > 0) fallback.set(e.id, e);
  };
  // The kept version's own rows are history too.
  const own = (await output.list(uploadPrefix)).map((o) => o.key);
  for (const key of [...before, ...own]) {
    const stored = await output.read(key);
    if (stored) for await (const line of gzLines(stored.body)) consider(entryOf(line));
  }

  const written = await updateShards(output, shards, (_shard, entries) => {
    let changed = false;
    for (const [id, e] of entries) {
      if (!removed(e)) continue;
      const replacement = fallback.get(id);
      if (replacement) entries.set(id, replacement);
      else entries.delete(id);
      changed = true;
    }
    return changed;
  });

  const seen = new Set(before);
  for (const key of (await historyKeys()).filter((k) => !seen.has(k))) await mergeCuratedObject(output, key);
  return written;
}

/**
 * Says that every curated object has been merged at least once. Athena skips files whose names start
 * with `_`, and the local engine reads only `.ndjson.gz` files, so neither takes it for table data.
 */
export const HISTORY_MERGED_KEY = `${OUTPUT_LAYOUT.current}_history-merged.json`;

/**
 * Merges the whole curated history into the current state once: an output bucket (or local folder)
 * whose uploads were curated before the current state existed would otherwise report only the uploads
 * made since, however many of them have been merged already. Merging is idempotent, so two batches
 * doing this at once converge; the marker is written only after every object was merged.
 */
export async function buildCurrentIfMissing(output: OutputStore, now: () => Date): Promise<number> {
  if ((await output.list(HISTORY_MERGED_KEY)).some((o) => o.key === HISTORY_MERGED_KEY)) return 0;
  const history = await output.list(OUTPUT_LAYOUT.curated);
  for (const o of history) await mergeCuratedObject(output, o.key);
  await output.put(HISTORY_MERGED_KEY, `${JSON.stringify({ merged_at: now().toISOString(), curated_objects: history.length })}\n`, "application/json");
  return history.length;
}
