import { createHash } from "crypto";
import { once } from "events";
import { Readable } from "stream";
import { finished } from "stream/promises";
import { StringDecoder } from "string_decoder";
import { createGunzip, createGzip, Gzip } from "zlib";
import { retryableError } from "./errors";
import { derivedPrefix, sha256, versionPrefix } from "./keys";
import { OUTPUT_LAYOUT } from "./layout";
import { mapLimit } from "./map-limit";
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

/** Where the ingest fields begin in a curated row (curatedLineWriter writes them last, in this order). */
const INGEST_FIELDS_START = ',"ingest_source_key":';
const FACILITY_ID = /"facility_id":("(?:[^"\\]|\\.)*")/;

export function entryOf(line: string): CurrentEntry {
  // Ingest ends every curated row with the ingest fields, in this order (curatedLineWriter), and a
  // top-level "facility_id" is the only place that name can occur as a key: no other schema object has
  // it, and inside a JSON string its quotes would be escaped. Parsing just those parts keeps the merge
  // about as cheap as the ingest it follows; anything else is parsed whole.
  const at = line.lastIndexOf(INGEST_FIELDS_START);
  const id = FACILITY_ID.exec(line);
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

/** The facility id of a curated row, parsed alone: joining a shard's rows by id needs nothing else. */
function idOf(line: string): string {
  const id = FACILITY_ID.exec(line);
  return id ? (JSON.parse(id[1]) as string) : entryOf(line).id;
}

/**
 * A gzip NDJSON body written line by line. Text goes to zlib in pieces whose boundaries depend only on
 * the text, so the same rows always give the same bytes.
 */
class GzipLines {
  private readonly gzip: Gzip;
  private readonly out: Buffer[] = [];
  private pending: string[] = [];
  private pendingLength = 0;
  constructor(level = 6) {
    this.gzip = createGzip({ level });
    this.gzip.on("data", (c: Buffer) => this.out.push(c));
  }
  async add(line: string): Promise<void> {
    this.pending.push(line, "\n");
    this.pendingLength += line.length + 1;
    if (this.pendingLength >= GZIP_PIECE) await this.flush();
  }
  async end(): Promise<Buffer> {
    await this.flush();
    this.gzip.end();
    await finished(this.gzip);
    return Buffer.concat(this.out);
  }
  private async flush(): Promise<void> {
    if (this.pendingLength === 0) return;
    const text = this.pending.join("");
    this.pending = [];
    this.pendingLength = 0;
    if (!this.gzip.write(text)) await once(this.gzip, "drain");
  }
}
const GZIP_PIECE = 1 << 18;

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
    // Ingest ends every curated row with its ingest fields (see entryOf): the text before them is what
    // the reports see. A row without that ending is reduced by parsing it.
    const at = line.lastIndexOf(INGEST_FIELDS_START);
    hash.update(at >= 0 ? line.slice(0, at) : withoutIngestFields(line));
    hash.update("}\n");
    rows++;
  }
  return rows === 0 ? undefined : hash.digest("hex");
}

function withoutIngestFields(line: string): string {
  const row = JSON.parse(line) as Record<string, unknown>;
  for (const k of Object.keys(row)) if (k.startsWith("ingest_")) delete row[k];
  return JSON.stringify(row).slice(0, -1);
}

/** What one pass over a shard does to it. */
interface ShardEdit {
  /** Rows to merge in, at most one per facility, sorted by id: each replaces the held row it is later than. */
  incoming: CurrentEntry[];
  /** Asked about every held row that stays; undefined keeps it, null drops it, an entry replaces it (same id). */
  held?: (e: CurrentEntry) => CurrentEntry | null | undefined;
}

/** A shard's rows are not in id order (written by something else): merged after sorting them. */
class UnsortedShard extends Error {}

/**
 * One shard rewritten as a stream: its rows (sorted by id, as every writer here leaves them) are joined
 * with the sorted incoming rows, so memory holds the incoming rows and the compressed output, never the
 * shard's parsed rows. Undefined when nothing changed.
 */
async function rewriteShard(stored: Buffer | undefined, edit: ShardEdit): Promise<Buffer | undefined> {
  const rows = stored ? gzLines(stored) : ([] as string[]);
  try {
    return await joinSorted(rows, edit);
  } catch (error) {
    if (!(error instanceof UnsortedShard) || !stored) throw error;
    const byId = new Map<string, CurrentEntry>();
    for await (const line of gzLines(stored)) {
      const e = entryOf(line);
      const prev = byId.get(e.id);
      if (!prev || compareRecency(e, prev) > 0) byId.set(e.id, e);
    }
    const sorted = [...byId.values()].sort((a, b) => compareText(a.id, b.id)).map((e) => e.line);
    // Rewritten in order even when the edit changes nothing: the next pass can stream it again.
    return (await joinSorted(sorted, edit)) ?? (await joinSorted(sorted, edit, true));
  }
}

async function joinSorted(rows: AsyncIterable<string> | Iterable<string>, edit: ShardEdit, force = false): Promise<Buffer | undefined> {
  const out = new GzipLines();
  const { incoming, held } = edit;
  let changed = force;
  let next = 0;
  let previous: string | undefined;
  const keep = async (line: string, entry?: CurrentEntry) => {
    const e = held ? (entry ?? entryOf(line)) : undefined;
    const replacement = e && held ? held(e) : undefined;
    if (replacement === undefined) return out.add(line);
    changed = true;
    if (replacement !== null) await out.add(replacement.line);
  };
  for await (const line of rows) {
    const id = idOf(line);
    if (previous !== undefined && compareText(id, previous) <= 0) throw new UnsortedShard();
    previous = id;
    while (next < incoming.length && compareText(incoming[next].id, id) < 0) {
      await out.add(incoming[next++].line);
      changed = true;
    }
    if (next < incoming.length && incoming[next].id === id) {
      const arriving = incoming[next++];
      const current = entryOf(line);
      if (compareRecency(arriving, current) > 0) {
        await out.add(arriving.line);
        changed = true;
        continue;
      }
      await keep(line, current);
      continue;
    }
    await keep(line);
  }
  for (; next < incoming.length; next++) {
    await out.add(incoming[next].line);
    changed = true;
  }
  const body = await out.end();
  return changed ? body : undefined;
}

/** Attempts at one shard before the batch is retried later: each lost attempt means another writer progressed. */
const MAX_ATTEMPTS = 12;
/** Shards rewritten at once when their incoming rows are small: every shard's round trips overlap. */
const SHARDS_AT_ONCE = CURRENT_SHARDS;
/** Curated objects read at once. */
const OBJECTS_AT_ONCE = 4;
const LISTINGS_AT_ONCE = 16;

type Held = ShardEdit["held"];

/**
 * Rewrites shards with compare-and-swap. Each shard's incoming rows are loaded once; `heldFor` is asked
 * again after a lost race, and its answer applied to the fresh contents, so it must not depend on what
 * an earlier attempt saw.
 */
async function updateShards(
  output: OutputStore,
  shards: number[],
  incomingFor: (shard: number) => Promise<CurrentEntry[]>,
  options: { heldFor?: (shard: number) => Held | Promise<Held>; oneAtATime?: boolean; existing?: Set<string> } = {},
): Promise<number> {
  // A listing (the role may list current/) says which shards exist: reading one that does not would
  // answer 403, not 404, to a role without an unconditional s3:ListBucket on the bucket.
  const existing = options.existing ?? new Set((await output.list(OUTPUT_LAYOUT.current)).map((o) => o.key));
  const written = await mapLimit(shards, options.oneAtATime ? 1 : SHARDS_AT_ONCE, async (shard): Promise<number> => {
    const key = shardKey(shard);
    const incoming = await incomingFor(shard);
    let known = existing.has(key);
    for (let attempt = 0; ; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw retryableError(`merging into ${key}: ${MAX_ATTEMPTS} concurrent writers in a row`);
      if (attempt > 0 && !known) known = (await output.list(key)).some((o) => o.key === key);
      const stored = known ? await output.read(key) : undefined;
      const body = await rewriteShard(stored?.body, { incoming, held: await options.heldFor?.(shard) });
      if (!body) return 0;
      if (await output.putIfUnchanged(key, body, "application/x-ndjson", stored ? stored.tag : null)) return 1;
      // Lost: another writer created or replaced the shard since it was read. Look again.
      known = stored !== undefined;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * (attempt + 1)));
    }
  });
  return written.reduce((a, b) => a + b, 0);
}

/** Incoming text held parsed; past it, incoming rows are kept compressed, per shard. */
const SPOOL_AFTER_BYTES = 16 * 1024 * 1024;

/**
 * Incoming rows by shard, the later row per facility. Up to SPOOL_AFTER_BYTES of text they are held
 * parsed; past that, each row goes compressed into its shard's spool. So an upload of any size is read
 * once and each shard rewritten once, in memory bounded by one shard's incoming rows, not the upload's.
 */
class Incoming {
  private readonly parsed = new Map<number, Map<string, CurrentEntry>>();
  /** Per shard, finished gzip members of spooled rows. */
  private readonly spooled = new Map<number, Buffer[]>();
  private writers: Map<number, GzipLines> | undefined;
  private parsedBytes = 0;
  constructor(private readonly spoolAfterBytes: number) {}

  /** True once rows were spooled: shards are then rewritten one at a time, each loading its spool. */
  get large(): boolean {
    return this.spooled.size > 0 || this.writers !== undefined;
  }

  async add(line: string): Promise<void> {
    if (this.writers) return this.spool(shardOf(idOf(line)), line);
    return this.addEntry(entryOf(line));
  }

  async addEntry(e: CurrentEntry): Promise<void> {
    if (this.writers) return this.spool(shardOf(e.id), e.line);
    this.keep(e);
    if (this.parsedBytes >= this.spoolAfterBytes) await this.startSpooling();
  }

  /** Takes over another set's rows (its spools must be sealed). */
  async absorb(other: Incoming): Promise<void> {
    for (const [shard, members] of other.spooled) this.spooled.set(shard, [...(this.spooled.get(shard) ?? []), ...members]);
    for (const m of other.parsed.values()) for (const e of m.values()) await this.addEntry(e);
  }

  /** Finishes the open spools. */
  async seal(): Promise<void> {
    const writers = this.writers;
    this.writers = undefined;
    for (const [shard, w] of writers ?? []) this.spooled.set(shard, [...(this.spooled.get(shard) ?? []), await w.end()]);
  }

  shards(): number[] {
    return [...new Set([...this.parsed.keys(), ...this.spooled.keys()])].sort((a, b) => a - b);
  }

  /** A shard's incoming rows, sorted by id; a spooled shard's are read back now and released after. */
  async entries(shard: number): Promise<CurrentEntry[]> {
    const byId = new Map(this.parsed.get(shard));
    for (const member of this.spooled.get(shard) ?? []) {
      for await (const line of gzLines(member)) {
        const e = entryOf(line);
        const prev = byId.get(e.id);
        if (!prev || compareRecency(e, prev) > 0) byId.set(e.id, e);
      }
    }
    return [...byId.values()].sort((a, b) => compareText(a.id, b.id));
  }

  private keep(e: CurrentEntry): void {
    const shard = shardOf(e.id);
    let m = this.parsed.get(shard);
    if (!m) this.parsed.set(shard, (m = new Map<string, CurrentEntry>()));
    const prev = m.get(e.id);
    if (!prev || compareRecency(e, prev) > 0) m.set(e.id, e);
    this.parsedBytes += e.line.length;
  }

  private async startSpooling(): Promise<void> {
    this.writers = new Map();
    const parsed = [...this.parsed];
    this.parsed.clear();
    this.parsedBytes = 0;
    for (const [shard, m] of parsed) for (const e of m.values()) await this.spool(shard, e.line);
  }

  private async spool(shard: number, line: string): Promise<void> {
    let w = this.writers!.get(shard);
    // Level 1: a spool lives only until its shard is rewritten.
    if (!w) this.writers!.set(shard, (w = new GzipLines(1)));
    await w.add(line);
  }
}

export interface Reconciled {
  /** Shards written. */
  written: number;
  /** Curated objects that could not be read, with the error: their rows were not merged. */
  unreadable: Map<string, unknown>;
  /**
   * Followed uploads the state may not follow yet, with the reason: one of their curated objects could
   * not be read, or their versions kept changing while they were followed. Each is to be retried; the
   * rest of the batch is in the state.
   */
  unsettled: Map<string, unknown>;
}

/** What a batch changed in the curated history, to be followed by the current state. */
export interface CurrentChanges {
  /** Curated objects just written whose rows join the state. */
  merge: readonly string[];
  /**
   * Uploads whose rows in the state must come from a version that still has curated objects: rows of
   * any other version (deleted, replaced, superseded) leave, falling back to earlier rows.
   */
  follow: readonly string[];
}

/**
 * Brings the current state in line with a batch's changes in one pass over the shards: each shard is
 * read once, gets every incoming row that is later than the one it holds, and is written once. Rows of
 * retired versions found on the way fall back to their facility's previous latest row, which needs the
 * history and so a second pass over just the shards affected (rare: a delete or a replaced upload).
 *
 * Which versions are retired is read from `curated/` here, after the batch's objects were read, not
 * decided when each upload was ingested: another batch may have replaced an upload since (a corrected
 * file uploaded while this batch was busy with others), and its newer rows must not be retired by a
 * batch that saw the older version.
 *
 * A curated object that cannot be read costs only its own upload: the others are merged, its upload is
 * not followed (its retry will), and it is named in `unreadable` for its upload to be retried.
 */
export async function reconcileCurrent(output: OutputStore, changes: CurrentChanges, spoolAfterBytes = SPOOL_AFTER_BYTES): Promise<Reconciled> {
  return reconcile(output, changes, spoolAfterBytes, 0);
}

/** Passes over the shards for changes that keep moving under one batch before it is retried instead. */
const MAX_ROUNDS = 3;

async function reconcile(output: OutputStore, changes: CurrentChanges, spoolAfterBytes: number, round: number): Promise<Reconciled> {
  const unreadable = new Map<string, unknown>();
  const incoming = new Incoming(spoolAfterBytes);
  // Read a few at a time: each read is a round trip, and each object's rows join as soon as it is read.
  await mapLimit(changes.merge, OBJECTS_AT_ONCE, async (key) => {
    // An object's rows join the batch's only once all were read, so a failed read adds none of them.
    const own = new Incoming(spoolAfterBytes);
    try {
      const stored = await output.read(key);
      // Gone already: a newer version or a removal replaced it, and that change maintains the state.
      if (!stored) return;
      for await (const line of gzLines(stored.body)) await own.add(line);
      await own.seal();
    } catch (error) {
      unreadable.set(key, error);
      return;
    }
    await incoming.absorb(own);
  });
  await incoming.seal();
  const owns = (upload: string, key: string) => key.startsWith(derivedPrefix("curated", upload));
  const follow = changes.follow.filter((u) => ![...unreadable.keys()].some((k) => owns(u, k)));
  const curated = await curatedNames(output, follow);
  const retired = retiredBy(curated);
  // With uploads followed, every shard that exists is looked at for their rows, not only those with incoming rows.
  const existing = new Set((await output.list(OUTPUT_LAYOUT.current)).map((o) => o.key));
  const withRows = new Set(incoming.shards());
  const shards = Array.from({ length: CURRENT_SHARDS }, (_, s) => s).filter((s) => withRows.has(s) || (follow.length > 0 && existing.has(shardKey(s))));
  const affected = new Map<number, Set<string>>();
  // Incoming rows of a version retired since they were read (replaced or deleted meanwhile) stay out too.
  let written = await updateShards(output, shards, async (shard) => (await incoming.entries(shard)).filter((e) => !retired(e)), {
    existing,
    oneAtATime: incoming.large,
    heldFor:
      follow.length > 0
        ? (shard) => {
            // Found afresh on every attempt: a retry sees the shard as another writer left it.
            const ids = new Set<string>();
            affected.set(shard, ids);
            return (e) => {
              if (retired(e)) ids.add(e.id);
              return undefined;
            };
          }
        : undefined,
  });
  const ids = new Set([...affected.values()].flatMap((found) => [...found]));
  const shardsAffected = [...affected].filter(([, found]) => found.size > 0).map(([shard]) => shard);
  if (ids.size > 0) written += await fallBack(output, { follow, retired, ids, shards: shardsAffected, skip: new Set(unreadable.keys()), spoolAfterBytes });
  // Another batch may have curated or removed a version of a followed upload after the listing above
  // and reconciled before this pass wrote: then this pass decided from a stale listing (retiring the
  // newer rows, or keeping rows of a deleted version). Asked again after writing: a change made later
  // is followed by the batch that made it, whose pass starts after it and so sees this one's writes.
  const now = await curatedNames(output, follow);
  const moved = follow.filter((u) => (curated.get(u) ?? []).join("\n") !== (now.get(u) ?? []).join("\n"));
  const unsettled = new Map<string, unknown>(
    changes.follow.filter((u) => !follow.includes(u)).map((u) => [u, [...unreadable].find(([k]) => owns(u, k))?.[1]] as const),
  );
  if (moved.length === 0) return { written, unreadable, unsettled };
  if (round + 1 >= MAX_ROUNDS) {
    // Only these uploads are retried: the others of the batch are followed, and their reports can run.
    const error = retryableError(`the upload's versions changed while the current state followed them, ${MAX_ROUNDS} times in a row`);
    for (const u of moved) unsettled.set(u, error);
    return { written, unreadable, unsettled };
  }
  const again = await reconcile(
    output,
    { merge: moved.flatMap((u) => (now.get(u) ?? []).map((name) => `${derivedPrefix("curated", u)}${name}`)), follow: moved },
    spoolAfterBytes,
    round + 1,
  );
  for (const [key, error] of again.unreadable) unreadable.set(key, error);
  for (const [upload, error] of again.unsettled) unsettled.set(upload, error);
  return { written: written + again.written, unreadable, unsettled };
}

/** Each followed upload's curated object names after its prefix, sorted (the role may list `curated/`). */
async function curatedNames(output: OutputStore, follow: readonly string[]): Promise<Map<string, string[]>> {
  const names = new Map<string, string[]>();
  // Listings are small and only round trips: many at once.
  await mapLimit(follow, LISTINGS_AT_ONCE, async (upload) => {
    const prefix = derivedPrefix("curated", upload);
    names.set(upload, (await output.list(prefix)).map((o) => o.key.slice(prefix.length)).sort());
  });
  return names;
}

/**
 * Whether a row comes from a version of a followed upload that has no curated object left: every
 * object name of a version starts with the upload's prefix and `versionPrefix(version)`.
 */
function retiredBy(names: ReadonlyMap<string, string[]>): (e: CurrentEntry) => boolean {
  const kept = new Map<string, boolean>();
  return (e) => {
    const curated = names.get(e.sourceKey);
    if (!curated) return false;
    const id = `${e.sourceKey}\n${e.sourceVersion}`;
    let keep = kept.get(id);
    if (keep === undefined) {
      const version = versionPrefix(e.sourceVersion);
      kept.set(id, (keep = curated.some((n) => n.startsWith(version))));
    }
    return !keep;
  };
}

/**
 * Facilities whose current row came from a retired version fall back to their previous latest row,
 * found in the remaining history. This reads every curated object (cost: the history's size in S3
 * GETs and Lambda time, never in Athena scans); deletes and replaced uploads are rare. Objects this
 * batch could not read are skipped: their uploads are retried, and merge their rows then.
 *
 * A batch merging a new upload at the same time is kept: shards are rewritten by compare-and-swap and
 * only rows from retired versions are replaced; and an upload curated after the history was read (so
 * missing from the fallback) is merged once more when the curated prefix is listed again at the end.
 */
async function fallBack(
  output: OutputStore,
  p: { follow: readonly string[]; retired: (e: CurrentEntry) => boolean; ids: Set<string>; shards: number[]; skip: Set<string>; spoolAfterBytes: number },
): Promise<number> {
  const historyKeys = async () => (await output.list(OUTPUT_LAYOUT.curated)).map((o) => o.key).filter((k) => !p.skip.has(k));
  const before = await historyKeys();
  // The later row per affected facility, held like incoming rows (spooled past a size): replacing a
  // whole snapshot retires every facility, and their fallback rows are a snapshot's worth of text.
  const fallback = new Incoming(p.spoolAfterBytes);
  for (const key of before) {
    const stored = await output.read(key);
    if (!stored) continue;
    for await (const line of gzLines(stored.body)) {
      const e = entryOf(line);
      if (p.ids.has(e.id) && !p.retired(e)) await fallback.addEntry(e);
    }
  }
  await fallback.seal();
  const written = await updateShards(output, p.shards, () => Promise.resolve([]), {
    oneAtATime: fallback.large,
    // One shard's fallback rows in memory at a time.
    heldFor: async (shard) => {
      const rows = new Map((await fallback.entries(shard)).map((e) => [e.id, e]));
      return (e) => (p.retired(e) ? (rows.get(e.id) ?? null) : undefined);
    },
  });
  const seen = new Set(before);
  const late = (await historyKeys()).filter((k) => !seen.has(k) && !p.follow.some((u) => k.startsWith(derivedPrefix("curated", u))));
  return written + (late.length > 0 ? await mergeCurated(output, late) : 0);
}

/** Merges curated rows into the current state: each facility keeps whichever row is later. Returns the shards written. */
export async function mergeIntoCurrent(output: OutputStore, lines: Iterable<string>, spoolAfterBytes = SPOOL_AFTER_BYTES): Promise<number> {
  const incoming = new Incoming(spoolAfterBytes);
  for (const line of lines) await incoming.add(line);
  await incoming.seal();
  return updateShards(output, incoming.shards(), (shard) => incoming.entries(shard), { oneAtATime: incoming.large });
}

/** Merges the rows of curated objects into the current state; throws if one cannot be read. Returns the shards written. */
async function mergeCurated(output: OutputStore, keys: string[]): Promise<number> {
  const { written, unreadable, unsettled } = await reconcileCurrent(output, { merge: keys, follow: [] });
  for (const error of [...unreadable.values(), ...unsettled.values()]) throw error;
  return written;
}

/** Merges the rows of one curated object (just written by an ingest) into the current state. */
export const mergeCuratedObject = (output: OutputStore, curatedKey: string): Promise<number> => mergeCurated(output, [curatedKey]);

/**
 * Says that every curated object has been merged at least once. Athena skips files whose names start
 * with `_`, and the local engine reads only `.ndjson.gz` files, so neither takes it for table data.
 */
export const HISTORY_MERGED_KEY = `${OUTPUT_LAYOUT.current}_history-merged.json`;

const historyMerged = async (output: OutputStore) => (await output.list(HISTORY_MERGED_KEY)).some((o) => o.key === HISTORY_MERGED_KEY);
const markHistoryMerged = (output: OutputStore, now: () => Date, curatedObjects: number) =>
  output.put(HISTORY_MERGED_KEY, `${JSON.stringify({ merged_at: now().toISOString(), curated_objects: curatedObjects })}\n`, "application/json");

/**
 * Merges the whole curated history into the current state once: an output bucket (or local folder)
 * whose uploads were curated before the current state existed would otherwise report only the uploads
 * made since, however many of them have been merged already. Merging is idempotent, so two batches
 * doing this at once converge; the marker is written only after every object was merged.
 */
export async function buildCurrentIfMissing(output: OutputStore, now: () => Date): Promise<number> {
  if (await historyMerged(output)) return 0;
  const history = await output.list(OUTPUT_LAYOUT.curated);
  await mergeCurated(
    output,
    history.map((o) => o.key),
  );
  await markHistoryMerged(output, now, history.length);
  return history.length;
}

/**
 * An output with no curated object yet (a new stack or folder) has no history to merge: marked so
 * before its first upload is curated, every curated object is merged by the batch that writes it (or
 * that batch's retry), and the first report run does not merge the same rows a second time.
 */
export async function markNewOutput(output: OutputStore, now: () => Date): Promise<void> {
  if (await historyMerged(output)) return;
  if ((await output.list(OUTPUT_LAYOUT.curated)).length === 0) await markHistoryMerged(output, now, 0);
}
