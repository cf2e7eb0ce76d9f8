/**
 * `time-to-report`: upload to `latest` updated, on a simulated clock. Each invocation runs the real
 * batch (`processChanges`: ingest, current-state merge and fallback check, the three reports at once,
 * the summary page) against a real in-memory output store whose every request takes one S3 round trip
 * on the clock, a source store whose GET and HEAD take one each, and the real Athena adapter (its
 * adaptive polling, result paging) against a mocked Athena whose answers come from the latency model
 * below. The store's state is real: the shards exist and grow, listings list what is there, and
 * concurrent invocations race on the shards with compare-and-swap as they would on S3. The SQS poller
 * (batching window, batch size, concurrency, cold start) is modelled, with the defaults from
 * infra/config.ts. The CPU the real code spends does not move the clock; it is measured in the same
 * run and charged per batch. Everything else is a constant below, with where its number comes from.
 */
import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from "@aws-sdk/client-athena";
import { mockClient } from "aws-sdk-client-mock";
import * as os from "os";
import { isMainThread, parentPort, Worker, workerData } from "worker_threads";
import * as zlib from "zlib";
import { athenaEngine } from "../handler/aws/athena-engine";
import { BatchDeps, BatchResult, processChanges } from "../handler/core/batch";
import { messageOf } from "../handler/core/errors";
import { Change } from "../handler/core/events";
import { OUTPUT_LAYOUT } from "../handler/core/layout";
import { NO_DEADLINE, OutputStore, QueryEngine, SILENT_TELEMETRY, SourceStore } from "../handler/core/ports";
import { REPORTS } from "../handler/reports/registry";
import { createFacilityValidator, FacilityValidator } from "../handler/schema/validator";
import { MemoryStore } from "../test/support/memory-store";
import { facility } from "./generate";

/** The model's parameters. Change one here and both designs see it. */
export interface LatencyModel {
  /** S3 event notification to the queue / to the function. AWS: "typically ... in seconds"; assumed 1 s. */
  s3EventMs: number;
  /** One S3 request (GET, PUT, conditional PUT, LIST). AWS S3 performance guide: 100-200 ms first byte for small objects; 100 ms assumed. */
  s3RequestMs: number;
  /** One Athena API call (Start/GetQueryExecution/GetQueryResults page). Assumed 50 ms. */
  athenaApiMs: number;
  /** Lambda cold start: runtime init + archive download (assumed 500 ms for a 4.4 MB Node archive) + our module load (bench cold-start row, ~140 ms). */
  coldStartMs: number;
  /** Athena's queueing before a query runs. AWS documents it as variable ("QueryQueueTimeInMillis"); assumed 500 ms, sensitivity row at 3 s. */
  athenaQueueMs: number;
  /** Athena execution: a fixed part (planning, worker start; assumed 800 ms) plus bytes scanned / throughput (assumed 100 MB/s for gzip JSON text). */
  athenaFixedMs: number;
  athenaMBps: number;
  /** DDL queries (the original design's CREATE DATABASE / CREATE TABLE IF NOT EXISTS): metadata only, assumed 600 ms. */
  athenaDdlMs: number;
  /** Active query quota (DESIGN.md: 20-25 per account; the lower bound assumed); a query over it waits for a slot. */
  athenaSlots: number;
  /** StartQueryExecution 20/s per account (DESIGN.md); modelled as a queue, which is generous to the original (real Athena throttles). */
  athenaStartsPerSecond: number;
}

export const DEFAULT_MODEL: LatencyModel = {
  s3EventMs: 1_000,
  s3RequestMs: 100,
  athenaApiMs: 50,
  coldStartMs: 640,
  athenaQueueMs: 500,
  athenaFixedMs: 800,
  athenaMBps: 100,
  athenaDdlMs: 600,
  athenaSlots: 20,
  athenaStartsPerSecond: 20,
};

/** The workload: what is uploaded and what is already there (assumptions, stated in BENCHMARKS.md). */
export const WORKLOAD = {
  /** Facilities in the table (the history-growth bench uses the same size). */
  tableFacilities: 10_000,
  /** Facilities per upload: a burst of 1,000 uploads of 100 facilities each (about 31 KB each). */
  uploadFacilities: 100,
  /** The burst arrives over this long (a `aws s3 cp --recursive` of 1,000 small files: ~100/s). */
  burstSpreadMs: 10_000,
  /** Bytes of one facility as raw JSON (bench/generate.ts records, ~311 bytes). */
  facilityBytes: 311,
  /** Rows each report returns per table facility (accreditation-by-state: 15 states; facility-metrics: 1 per facility; expiring: ~0.3). */
  rowsPerFacility: { "accreditation-by-state": 0, "facility-metrics": 1, "expiring-accreditations": 0.3 } as Record<string, number>,
};

/** A discrete-event clock: `sleep` resolves when the simulation reaches its time. */
export class SimClock {
  now = 0;
  private timers: Array<{ at: number; seq: number; resolve: () => void }> = [];
  private seq = 0;
  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      this.timers.push({ at: this.now + Math.max(0, ms), seq: this.seq++, resolve });
    });
  /**
   * Runs until no process waits on the clock. One waiting process moves at a time, and the clock moves
   * on only once everything it set off has settled, real work included (`watchRealWork`): which process
   * goes next never depends on how fast this machine is, so a run is repeatable.
   */
  async run(): Promise<void> {
    const real = watchRealWork();
    try {
      for (;;) {
        await real.settled();
        if (this.timers.length === 0) return;
        let best = 0;
        for (let i = 1; i < this.timers.length; i++) {
          const t = this.timers[i];
          const b = this.timers[best];
          if (t.at < b.at || (t.at === b.at && t.seq < b.seq)) best = i;
        }
        const [t] = this.timers.splice(best, 1);
        this.now = t.at;
        t.resolve();
      }
    } finally {
      real.stop();
    }
  }
}

/** Real work that outlasts this is taken for a stream blocked on the simulated clock, which would never end. */
const REAL_WORK_STALL_MS = 60_000;

/**
 * Work the clock must wait for before it moves: zlib streams (ingest's gzip, reading curated objects and
 * shards) run on libuv's thread pool, and a compare-and-swap lost on a shard backs off on a real timer
 * (handler/core/current-state.ts). Both take real time and no simulated time; moving the clock while
 * they run would let other invocations overtake by however long this machine took, which is neither the
 * model nor repeatable. So the backoff (at most 10 ms x attempt, random) is free on the clock, beside
 * round trips of 100 ms, and its randomness changes only how long the benchmark takes. zlib's stream
 * work is counted by wrapping the `_transform` its streams share (the thread pool is not observable
 * otherwise) while a simulation runs; timers by Node's list of active resources.
 */
function watchRealWork(): { settled(): Promise<void>; stop(): void } {
  let zlibInFlight = 0;
  let zlibIdle: (() => void) | undefined;
  type TransformFn = (this: unknown, chunk: unknown, encoding: string, done: (...args: unknown[]) => void) => void;
  // Gzip, Gunzip and the others inherit `_transform` from one internal base class.
  let owner: { _transform?: TransformFn } | null = (zlib as unknown as { Gzip: { prototype: object } }).Gzip.prototype;
  while (owner && !Object.prototype.hasOwnProperty.call(owner, "_transform")) owner = Object.getPrototypeOf(owner) as typeof owner;
  const base = owner as { _transform: TransformFn };
  const original = base._transform;
  base._transform = function (chunk, encoding, done) {
    zlibInFlight++;
    original.call(this, chunk, encoding, (...args: unknown[]) => {
      if (--zlibInFlight === 0) zlibIdle?.();
      done(...args);
    });
  };
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const timersBefore = timers();
  const stalled = () =>
    new Error(`the simulation waited ${REAL_WORK_STALL_MS / 1000} s for real work (zlib or a timer): is a stream waiting on the simulated clock?`);
  const zlibDone = () =>
    new Promise<void>((resolve, reject) => {
      const stall = setTimeout(() => reject(stalled()), REAL_WORK_STALL_MS);
      zlibIdle = () => {
        zlibIdle = undefined;
        clearTimeout(stall);
        resolve();
      };
    });
  return {
    async settled() {
      const since = Date.now();
      for (;;) {
        // Every microtask the last step set off runs before this.
        await new Promise<void>((r) => setImmediate(r));
        if (zlibInFlight > 0) await zlibDone();
        else if (timers() > timersBefore) await new Promise<void>((r) => setTimeout(r, 1));
        else return;
        if (Date.now() - since > REAL_WORK_STALL_MS) throw stalled();
      }
    },
    stop() {
      base._transform = original;
    },
  };
}

/** Athena as a queue in front of `athenaSlots` workers, FIFO by submission. */
class AthenaModel {
  private slots: number[];
  private nextStart = 0;
  readonly queries = new Map<string, { done: number; submitted: number; bytes: number; rows: number; report: string }>();
  started = 0;
  constructor(private readonly m: LatencyModel) {
    this.slots = Array.from({ length: m.athenaSlots }, () => 0);
  }
  submit(now: number, bytes: number, rows: number, ddl: boolean, report = ""): string {
    const accepted = Math.max(now, this.nextStart);
    this.nextStart = accepted + 1000 / this.m.athenaStartsPerSecond;
    const ready = accepted + this.m.athenaQueueMs;
    let i = 0;
    for (let k = 1; k < this.slots.length; k++) if (this.slots[k] < this.slots[i]) i = k;
    const begin = Math.max(ready, this.slots[i]);
    const exec = ddl ? this.m.athenaDdlMs : this.m.athenaFixedMs + (bytes / (1024 * 1024) / this.m.athenaMBps) * 1000;
    this.slots[i] = begin + exec;
    const id = `q${++this.started}`;
    this.queries.set(id, { done: begin + exec, submitted: now, bytes, rows, report });
    return id;
  }
}

/** Simulated time 0 as a date: uploads' LastModified and event times, report stamps. */
const SIM_EPOCH = Date.UTC(2026, 10, 27);
/** The table's facilities were uploaded the day before anything simulated. */
const TABLE_UPLOADED = new Date(SIM_EPOCH - 86_400_000).toISOString();
const CONTEXT = { asOf: "2026-11-27", monthsAhead: 6 };

/** Store requests of the real code by kind (its `OutputStore`/`SourceStore` methods). */
export type Calls = Record<string, number>;

/** Round trips per request kind: `replaceIfNewer` reads the stamp, then PUTs on a condition. */
const ROUND_TRIPS: Record<string, number> = { replaceIfNewer: 2 };
export const roundTrips = (calls: Calls): number => Object.entries(calls).reduce((n, [kind, c]) => n + c * (ROUND_TRIPS[kind] ?? 1), 0);

async function* bodyOf(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

async function bytesOf(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * An output store over `inner` whose every request first takes `roundTrip` (on the simulated clock in a
 * simulation), counted by kind in `calls`; a listing takes one per page of 1,000 keys, as
 * ListObjectsV2 pages. `onLatest` hears of each report `latest` copy written.
 */
function meteredStore(inner: OutputStore, roundTrip: () => Promise<void>, calls: Calls, onLatest: () => void = () => undefined): OutputStore {
  const request = (kind: string) => {
    calls[kind] = (calls[kind] ?? 0) + 1;
    return roundTrip();
  };
  return {
    async put(key, body, contentType) {
      await request("put");
      await inner.put(key, body, contentType);
    },
    async putStream(key, body, contentType) {
      // Drained before the round trip: the body comes from real work (gzip on the thread pool) that the
      // clock waits for, and that work must never wait for the clock in turn. The object appears at the
      // end of the request, as on S3.
      const bytes = await bytesOf(body);
      await request("putStream");
      await inner.putStream(key, bodyOf(bytes), contentType);
    },
    async *stream(key) {
      await request("stream");
      yield* inner.stream(key);
    },
    async delete(key) {
      await request("delete");
      await inner.delete(key);
    },
    async list(prefix) {
      await request("list");
      const listed = await inner.list(prefix);
      for (let page = 1; page < Math.ceil(listed.length / 1000); page++) await request("list");
      return listed;
    },
    async replaceIfNewer(key, body, contentType, stamp) {
      await roundTrip();
      // A body given as a source is this store's `stream` of a run object: one more GET.
      const bytes = typeof body === "string" ? Buffer.from(body) : await bytesOf(body());
      await request("replaceIfNewer");
      const written = await inner.replaceIfNewer(key, () => bodyOf(bytes), contentType, stamp);
      if (key.startsWith(OUTPUT_LAYOUT.reports) && /\/latest\.(json|csv)$/.test(key)) onLatest();
      return written;
    },
    async read(key) {
      await request("read");
      return inner.read(key);
    },
    async putIfUnchanged(key, body, contentType, expectedTag) {
      await request("putIfUnchanged");
      return inner.putIfUnchanged(key, body, contentType, expectedTag);
    },
  };
}

/** One upload of a run: its key, body, and when it was uploaded (simulated ms). */
interface Upload {
  key: string;
  body: Buffer;
  at: number;
}

const bodies = new Map<number, Buffer>();
/**
 * Upload number `n`: the next WORKLOAD.uploadFacilities facilities of the table (wrapping around), each
 * with an employee count that neither the table nor any other upload has. Every batch therefore changes
 * what the reports see, as real uploads do: an unchanged table would repeat the report tokens.
 */
function uploadBody(n: number): Buffer {
  let body = bodies.get(n);
  if (!body) {
    const lines = Array.from({ length: WORKLOAD.uploadFacilities }, (_, i) =>
      JSON.stringify({ ...facility((n * WORKLOAD.uploadFacilities + i) % WORKLOAD.tableFacilities), employee_count: 10_000 + n }),
    );
    body = Buffer.from(`${lines.join("\n")}\n`);
    bodies.set(n, body);
  }
  return body;
}

/** The raw bucket over `uploads`: every GET and HEAD takes `roundTrip`. One version each, uploaded at `at`. */
function uploadSource(uploads: ReadonlyMap<string, Upload>, roundTrip: () => Promise<void>, calls: Calls): SourceStore {
  const stamp = (u: Upload) => new Date(SIM_EPOCH + u.at).toISOString();
  return {
    async open(key) {
      calls["source GET"] = (calls["source GET"] ?? 0) + 1;
      await roundTrip();
      const u = uploads.get(key);
      return u && { key, version: "v1", lastModified: stamp(u), body: bodyOf(u.body) };
    },
    async currentVersion(key) {
      calls["source HEAD"] = (calls["source HEAD"] ?? 0) + 1;
      await roundTrip();
      return uploads.has(key) ? "v1" : undefined;
    },
  };
}

/** S3 event notifications for `uploads`, as the processor parses them: the version and the upload time. */
const changesOf = (uploads: Upload[]): Change[] =>
  uploads.map((u) => ({ kind: "created", key: u.key, version: "v1", eventTime: new Date(SIM_EPOCH + u.at).toISOString() }));

/** Results with no rows: a stand-in engine where the query's time is not what is measured. */
const NO_ROWS_ENGINE: QueryEngine = { name: "no-rows", run: async () => ({ executionId: "none", columns: [], rows: [] }) };

let validator: FacilityValidator | undefined;

function batchDeps(source: SourceStore, output: OutputStore, engine: QueryEngine, now: () => Date): BatchDeps {
  validator ??= createFacilityValidator();
  return {
    source,
    output,
    engine,
    validate: validator,
    telemetry: SILENT_TELEMETRY,
    // No deadline: the longest invocation is reported against the Lambda timeout instead of cut by it.
    deadline: NO_DEADLINE,
    reports: REPORTS,
    context: CONTEXT,
    maxRecordBytes: 1024 * 1024,
    now,
  };
}

/** A batch every upload of which was ingested and whose reports were written, or an error saying what went wrong. */
function check(result: BatchResult, what: string): void {
  const bad = result.files.find((f) => f.status !== "ingested");
  if (bad) throw new Error(`${what}: ${bad.key} was ${bad.status}${bad.status === "failed" ? ` (${messageOf(bad.error)})` : ""}`);
  if (!result.reports?.ok) throw new Error(`${what}: the report run ${result.reports ? `failed (${messageOf(result.reports.error)})` : "did not happen"}`);
}

/** The output bucket every simulation starts from (objects by key), ready to copy. */
export type Table = Array<{ key: string; body: Uint8Array; contentType: string; stamp?: string }>;

/**
 * `WORKLOAD.tableFacilities` facilities uploaded and processed by the real batch (curated object,
 * current-state shards, reports), as the simulated uploads find them.
 */
export async function prepareTable(): Promise<Table> {
  const store = new MemoryStore();
  const lines = Array.from({ length: WORKLOAD.tableFacilities }, (_, i) => JSON.stringify(facility(i)));
  const upload: Upload = { key: "table/facilities.ndjson", body: Buffer.from(`${lines.join("\n")}\n`), at: -86_400_000 };
  const source = uploadSource(new Map([[upload.key, upload]]), () => Promise.resolve(), {});
  check(
    await processChanges(
      changesOf([upload]),
      batchDeps(source, store, NO_ROWS_ENGINE, () => new Date(TABLE_UPLOADED)),
    ),
    "the starting table",
  );
  return [...store.objects].map(([key, o]) => ({ key, body: o.body, contentType: o.contentType, stamp: o.stamp }));
}

function storeOf(table: Table): MemoryStore {
  const store = new MemoryStore();
  // Without compare-and-swap tags: the copy numbers its own writes.
  for (const o of table)
    store.objects.set(o.key, { body: Buffer.from(o.body.buffer, o.body.byteOffset, o.body.byteLength), contentType: o.contentType, stamp: o.stamp });
  return store;
}

/** CPU time of the real batch, measured in this process on an in-memory store with no latency. */
export interface CoreCosts {
  /** CPU of a batch of n uploads: fixedMs + perUploadMs x n, the line through the sizes measured. */
  fixedMs: number;
  perUploadMs: number;
  measured: Array<{ uploads: number; cpuMs: number; calls: Calls }>;
}

export const batchCpuMs = (c: CoreCosts, uploads: number): number => Math.max(0, c.fixedMs + c.perUploadMs * uploads);

/**
 * CPU time (every thread of the process: zlib runs on the thread pool) of `processChanges` for batches
 * of `sizes` uploads into the table, with the reports on an engine that returns no rows (the mocked
 * Athena of the simulation returns none either), the median of `samples` after one batch to warm up;
 * and the store requests of such a batch.
 */
export async function measureCoreCosts(table: Table, sizes: [number, number] = [1, 10], samples = 3): Promise<CoreCosts> {
  const store = storeOf(table);
  let n = 0;
  const batch = async (size: number) => {
    const uploads = Array.from({ length: size }, () => ({ key: `measure/upload-${n}.ndjson`, body: uploadBody(n), at: n++ * 1000 }));
    const calls: Calls = {};
    const free = () => Promise.resolve();
    const at = SIM_EPOCH + uploads[size - 1].at + 1000;
    const deps = batchDeps(
      uploadSource(new Map(uploads.map((u) => [u.key, u])), free, calls),
      meteredStore(store, free, calls),
      NO_ROWS_ENGINE,
      () => new Date(at),
    );
    const before = process.cpuUsage();
    const result = await processChanges(changesOf(uploads), deps);
    const used = process.cpuUsage(before);
    check(result, `a measured batch of ${size}`);
    return { cpuMs: (used.user + used.system) / 1000, calls };
  };
  await batch(sizes[1]);
  const runs = new Map<number, Array<{ cpuMs: number; calls: Calls }>>(sizes.map((s) => [s, []]));
  for (let k = 0; k < samples; k++) for (const size of sizes) runs.get(size)!.push(await batch(size));
  const measured = sizes.map((uploads) => {
    const sorted = runs.get(uploads)!.sort((a, b) => a.cpuMs - b.cpuMs);
    return { uploads, ...sorted[Math.floor(sorted.length / 2)] };
  });
  const [small, large] = measured;
  const perUploadMs = (large.cpuMs - small.cpuMs) / (large.uploads - small.uploads);
  return { fixedMs: small.cpuMs - perUploadMs * small.uploads, perUploadMs, measured };
}

export interface Scenario {
  /** Upload times (ms on the simulated clock). */
  uploads: number[];
  batchSize: number;
  maxConcurrency: number;
  batchWindowMs: number;
}

export interface Outcome {
  /** Upload to `latest` updated (the batch's last report `latest` copy written), per upload (ms). */
  latencies: number[];
  queries: number;
}

/** What the simulation of the current design also tells. */
export interface CurrentOutcome extends Outcome {
  invocations: number;
  /** The longest invocation on the simulated clock, from its start (after a cold start) to its end. */
  longestInvocationMs: number;
  /** Store requests of all invocations, by kind. */
  calls: Calls;
}

/** The current design: S3 -> SQS (batching window, bounded concurrency) -> the real batch, three reports at once. */
export async function simulateCurrent(s: Scenario, m: LatencyModel, costs: CoreCosts, table: Table): Promise<CurrentOutcome> {
  const clock = new SimClock();
  const athena = new AthenaModel(m);
  const mock = mockClient(AthenaClient);
  // One output bucket for every invocation: their compare-and-swap races on the shards are real.
  const bucket = storeOf(table);
  // A report scans the current-state shards as they are when it starts.
  const scanned = () => [...bucket.objects].reduce((n, [key, o]) => (key.startsWith(OUTPUT_LAYOUT.current) ? n + o.body.length : n), 0);
  mock.on(StartQueryExecutionCommand).callsFake(async (input: { QueryString?: string }) => {
    await clock.sleep(m.athenaApiMs);
    const report = REPORTS.find((r) => r.sql === input.QueryString);
    const rows = Math.max(15, Math.round(WORKLOAD.tableFacilities * (WORKLOAD.rowsPerFacility[report?.name ?? ""] ?? 0)));
    return { QueryExecutionId: athena.submit(clock.now, scanned(), rows, false, report?.name) };
  });
  mock.on(GetQueryExecutionCommand).callsFake(async (input: { QueryExecutionId?: string }) => {
    await clock.sleep(m.athenaApiMs);
    const q = athena.queries.get(input.QueryExecutionId ?? "");
    const state = q && clock.now >= q.done ? "SUCCEEDED" : "RUNNING";
    return {
      QueryExecution: {
        QueryExecutionId: input.QueryExecutionId,
        Status: { State: state, SubmissionDateTime: new Date(q?.submitted ?? 0) },
        Statistics: { DataScannedInBytes: q?.bytes },
      },
    };
  });
  mock.on(GetQueryResultsCommand).callsFake(async (input: { QueryExecutionId?: string; NextToken?: string }) => {
    await clock.sleep(m.athenaApiMs);
    const q = athena.queries.get(input.QueryExecutionId ?? "");
    const report = REPORTS.find((r) => r.name === q?.report) ?? REPORTS[0];
    // Empty rows: the page count is what costs time, and the writer's per-row work is not on the clock.
    const from = Number(input.NextToken ?? "0");
    const total = q?.rows ?? 0;
    const next = from + 1000 < total ? String(from + 1000) : undefined;
    const header = from === 0 ? [{ Data: report.columns.map((c) => ({ VarCharValue: c.name })) }] : [];
    return { ResultSet: { ResultSetMetadata: { ColumnInfo: report.columns.map((c) => ({ Name: c.name, Type: "varchar" })) }, Rows: header }, NextToken: next };
  });
  const engine = athenaEngine(new AthenaClient({ region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } }), {
    workgroup: "w",
    database: "d",
    sleep: clock.sleep,
    now: () => clock.now,
  });
  const calls: Calls = {};
  const roundTrip = () => clock.sleep(m.s3RequestMs);
  const uploads = s.uploads.map((at, n) => ({ key: `burst/upload-${n}.ndjson`, body: uploadBody(n), at })).sort((a, b) => a.at - b.at);
  const source = uploadSource(new Map(uploads.map((u) => [u.key, u])), roundTrip, calls);
  const latencies: number[] = [];
  let longestInvocationMs = 0;
  // Messages reach the queue s3EventMs after their upload.
  const queue = uploads.map((u) => ({ upload: u, ready: u.at + m.s3EventMs }));
  let next = 0;
  let invocations = 0;
  const poller = async (): Promise<void> => {
    let warm = false;
    for (;;) {
      if (next >= queue.length) return;
      // Wait for the first message, then gather until the batch is full or the window closes.
      if (queue[next].ready > clock.now) await clock.sleep(queue[next].ready - clock.now);
      const windowEnds = clock.now + s.batchWindowMs;
      const fullAt = queue[Math.min(queue.length - 1, next + s.batchSize - 1)].ready;
      const have = queue.length - next >= s.batchSize ? fullAt : Infinity;
      const invokeAt = Math.min(windowEnds, Math.max(clock.now, have));
      if (invokeAt > clock.now) await clock.sleep(invokeAt - clock.now);
      const batch: Upload[] = [];
      while (next < queue.length && queue[next].ready <= clock.now && batch.length < s.batchSize) batch.push(queue[next++].upload);
      if (batch.length === 0) continue;
      invocations++;
      if (!warm) await clock.sleep(m.coldStartMs);
      warm = true;
      const invoked = clock.now;
      // The batch's CPU, measured outside the clock. A Lambda function has about one vCPU at most at this
      // memory (AWS: one full vCPU at 1,769 MB, a proportional share below; the default is 1,024 MB), so
      // the CPU of uploads processed "at once" adds up and is charged whole, before the batch's
      // requests. Measured on this machine's core: if anything, optimistic.
      await clock.sleep(batchCpuMs(costs, batch.length));
      let latestAt: number | undefined;
      const output = meteredStore(bucket, roundTrip, calls, () => (latestAt = clock.now));
      const result = await processChanges(
        changesOf(batch),
        batchDeps(source, output, engine, () => new Date(SIM_EPOCH + clock.now)),
      );
      check(result, `invocation ${invocations} at ${(invoked / 1000).toFixed(1)} s`);
      for (const u of batch) latencies.push(latestAt! - u.at);
      longestInvocationMs = Math.max(longestInvocationMs, clock.now - invoked);
    }
  };
  const done = Promise.all(Array.from({ length: s.maxConcurrency }, () => poller()));
  try {
    await clock.run();
    await done;
  } finally {
    mock.restore();
  }
  return { latencies, queries: athena.started, invocations, longestInvocationMs, calls };
}

/** One simulation of the current design. */
export interface Task {
  scenario: Scenario;
  model: LatencyModel;
}

type TaskResult = { ok: true; outcome: CurrentOutcome } | { ok: false; error: string };
interface WorkerInput {
  timeToReport: true;
  costs: CoreCosts;
  table: Table;
}

/**
 * Runs the simulations on up to `threads` worker threads, in order of the list as threads free up. Each
 * simulation is independent of the others and of how fast it runs, so the outcomes are those of running
 * them one after another; only the real CPU of the real code (about 0.1 s per upload) is shared out.
 */
export async function simulateAll(tasks: Task[], costs: CoreCosts, table: Table, threads = os.cpus().length): Promise<CurrentOutcome[]> {
  const outcomes = new Array<CurrentOutcome>(tasks.length);
  // Under ts-node this module is TypeScript: the thread registers it too, unless its preload already did.
  const load = __filename.endsWith(".ts")
    ? `if (!require.extensions[".ts"]) require(${JSON.stringify(require.resolve("ts-node/register/transpile-only"))});`
    : "";
  let next = 0;
  const thread = async () => {
    const input: WorkerInput = { timeToReport: true, costs, table };
    const worker = new Worker(`${load} require(${JSON.stringify(__filename)});`, { eval: true, workerData: input });
    let waiting: { resolve: (r: TaskResult) => void; reject: (e: unknown) => void } | undefined;
    worker.on("message", (r: TaskResult) => waiting?.resolve(r));
    worker.on("error", (e) => waiting?.reject(e));
    worker.on("exit", (code) => waiting?.reject(new Error(`a time-to-report worker exited (${code}) during a simulation`)));
    try {
      while (next < tasks.length) {
        const i = next++;
        const result = await new Promise<TaskResult>((resolve, reject) => {
          waiting = { resolve, reject };
          worker.postMessage(tasks[i]);
        });
        if (!result.ok) throw new Error(`simulation ${i + 1} of ${tasks.length} failed: ${result.error}`);
        outcomes[i] = result.outcome;
      }
    } finally {
      waiting = undefined;
      await worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(threads, tasks.length)) }, thread));
  return outcomes;
}

/**
 * The original design on the same model: S3 invokes the function once per upload (one execution
 * environment per concurrent upload, each cold), which runs two DDL statements and the report query
 * one after another, each polled every 2 s, then writes the result (JSON and CSV).
 */
export async function simulateOriginal(uploads: number[], m: LatencyModel): Promise<Outcome> {
  const clock = new SimClock();
  const athena = new AthenaModel(m);
  const latencies: number[] = [];
  const rawBytes = WORKLOAD.uploadFacilities * WORKLOAD.facilityBytes;
  let uploaded = 0;
  const sorted = [...uploads].sort((a, b) => a - b);
  const invocation = async (at: number): Promise<void> => {
    await clock.sleep(at - clock.now + m.s3EventMs + m.coldStartMs);
    const query = async (ddl: boolean): Promise<void> => {
      await clock.sleep(m.athenaApiMs);
      // The original table is the raw bucket: every upload so far, uncompressed, plus the starting table.
      const bytes = ddl ? 0 : WORKLOAD.tableFacilities * WORKLOAD.facilityBytes + uploaded * rawBytes;
      const id = athena.submit(clock.now, bytes, 15, ddl);
      for (;;) {
        await clock.sleep(2000);
        await clock.sleep(m.athenaApiMs);
        if (clock.now >= athena.queries.get(id)!.done) return;
      }
    };
    await query(true);
    await query(true);
    await query(false);
    await clock.sleep(m.athenaApiMs); // results: one page
    await clock.sleep(2 * m.s3RequestMs); // JSON, then CSV
    latencies.push(clock.now - at);
  };
  const all = Promise.all(
    sorted.map(async (at) => {
      await clock.sleep(at);
      uploaded++;
      return invocation(at);
    }),
  );
  await clock.run();
  await all;
  return { latencies, queries: athena.started };
}

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

// A worker thread of `simulateAll`.
if (!isMainThread && (workerData as Partial<WorkerInput> | null)?.timeToReport) {
  const { costs, table } = workerData as WorkerInput;
  const port = parentPort!;
  port.on("message", (task: Task) => {
    simulateCurrent(task.scenario, task.model, costs, table).then(
      (outcome) => port.postMessage({ ok: true, outcome } satisfies TaskResult),
      (e: unknown) => port.postMessage({ ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies TaskResult),
    );
  });
}
