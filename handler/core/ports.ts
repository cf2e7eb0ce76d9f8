/**
 * What the processing core needs from the outside world. The AWS adapters (S3, Athena, Powertools)
 * and the local adapters (a folder, DuckDB, the console) implement these; the core never sees either.
 */

/** One object of the upload (raw) store, opened for reading. */
export interface SourceObject {
  key: string;
  /** Version id, or the ETag where the store is not versioned. */
  version: string;
  /** When this version was written (ISO 8601): the record's ingest time, stable across re-deliveries. */
  lastModified: string;
  /**
   * When this version's upload completed, to the millisecond (ISO 8601), where the store or the
   * upload's event tells: orders uploads that share a LastModified second.
   */
  uploadedAt?: string;
  body: AsyncIterable<Uint8Array>;
}

export interface SourceStore {
  /** Opens the current version of an object; undefined when it no longer exists. */
  open(key: string): Promise<SourceObject | undefined>;
  /**
   * The object's current version, undefined when it no longer exists. Asked after an ingest: an upload
   * replaced or deleted while it was being read must not leave its stale rows behind.
   */
  currentVersion(key: string): Promise<string | undefined>;
}

/** Opens a body anew for each attempt to write it. */
export type BodySource = () => AsyncIterable<Uint8Array>;

export interface ListedObject {
  key: string;
  etag: string;
  size: number;
}

export interface OutputStore {
  put(key: string, body: string, contentType: string): Promise<void>;
  /** Streams a body of unknown length; the object appears only if the stream ends without error. */
  putStream(key: string, body: AsyncIterable<Uint8Array>, contentType: string): Promise<void>;
  /** Reads an object this store holds, as a stream (report outputs are copied to `latest` this way). */
  stream(key: string): AsyncIterable<Uint8Array>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<ListedObject[]>;
  /**
   * Writes `body` with `stamp` unless the current object carries a stamp that sorts after it
   * (an equal stamp is replaced: the later writer wins a tie).
   * Atomic against concurrent writers (compare-and-swap). Returns whether it wrote. A body of unknown
   * size is given as a function that opens it, since a lost race writes it again.
   */
  replaceIfNewer(key: string, body: string | BodySource, contentType: string, stamp: string): Promise<boolean>;
  /**
   * Reads an object with the tag to compare-and-swap on; undefined when it does not exist. Only for
   * keys a listing has just shown, or under a prefix where the caller may list: S3 answers a missing
   * key with 403 to a role without an unconditional s3:ListBucket, not 404.
   */
  read(key: string): Promise<StoredBody | undefined>;
  /**
   * Writes `body` only if the object still carries `expectedTag` (from `read`), or, with `null`, only if
   * it does not exist yet. Returns false when that condition failed or another conditional write raced
   * this one: the caller re-reads and tries again.
   */
  putIfUnchanged(key: string, body: Buffer, contentType: string, expectedTag: string | null): Promise<boolean>;
}

export interface StoredBody {
  body: Buffer;
  /** Changes on every write (an S3 ETag): compare-and-swap only, never a content identity. */
  tag: string;
}

export type ParamValue = { type: "date"; value: string } | { type: "integer"; value: number };

export interface QueryRequest {
  /** Report name, for logs and errors. */
  name: string;
  sql: string;
  params: ParamValue[];
  /** Identifies this exact computation: the same token finds the same execution instead of paying again. */
  token: string;
  deadline: Deadline;
}

export interface QueryResult {
  executionId: string;
  columns: string[];
  /**
   * Raw cell values, converted to report types by the core: all at once, or as pages the engine
   * reads while the core writes them out, so a million-row result never sits in memory. Pages must
   * be read to the end (or the iteration ended) for the engine to release what it holds.
   */
  rows: unknown[][] | AsyncIterable<unknown[][]>;
  bytesScanned?: number;
  engineMs?: number;
}

export interface QueryEngine {
  readonly name: string;
  /** Reports run side by side at most (default: all at once, as Athena queues and runs them apart). */
  readonly runsAtOnce?: number;
  run(request: QueryRequest): Promise<QueryResult>;
}

export interface Deadline {
  /** Milliseconds left before the caller must stop (Infinity locally). */
  remainingMs(): number;
}

export interface Telemetry {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  count(metric: string, value: number): void;
  milliseconds(metric: string, value: number): void;
  bytes(metric: string, value: number): void;
}

export const NO_DEADLINE: Deadline = { remainingMs: () => Number.POSITIVE_INFINITY };

/** Telemetry that records nothing: where the caller reports by other means (the local CLI, benchmarks). */
export const SILENT_TELEMETRY: Telemetry = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  count: () => undefined,
  milliseconds: () => undefined,
  bytes: () => undefined,
};
