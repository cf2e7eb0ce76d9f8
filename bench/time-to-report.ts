/**
 * `time-to-report`: upload to `latest` updated, on a simulated clock. The real pieces run where that is
 * cheap and faithful: the Athena adapter (its adaptive polling, result paging) against a mocked
 * Athena whose answers come from the latency model below, the real report run (three reports side by
 * side, Promise.allSettled, JSON + CSV + `latest` copies) against a store whose requests take
 * S3_REQUEST_MS, the batch size and concurrency from infra/config.ts, and ingest and merge times
 * measured in this process with the real core on an in-memory store. Everything else is a constant
 * below, with where its number comes from.
 */
import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from "@aws-sdk/client-athena";
import { mockClient } from "aws-sdk-client-mock";
import { athenaEngine } from "../handler/aws/athena-engine";
import { mergeCuratedObject } from "../handler/core/current-state";
import { ingestObject } from "../handler/core/ingest";
import { ListedObject, OutputStore, SILENT_TELEMETRY } from "../handler/core/ports";
import { runReports } from "../handler/core/report-run";
import { REPORTS } from "../handler/reports/registry";
import { createFacilityValidator } from "../handler/schema/validator";
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
  /** Curated gzip bytes / raw bytes (BENCHMARKS.md, athena-bytes row: 0.10). */
  gzipRatio: 0.1,
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
  /** Runs until no process waits on the clock (every microtask settled between steps). */
  async run(): Promise<void> {
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
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
  }
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

/** An output store whose every request takes one S3 round trip on the simulated clock; bytes are discarded. */
function simStore(clock: SimClock, m: LatencyModel): OutputStore {
  const rt = () => clock.sleep(m.s3RequestMs);
  return {
    async put() {
      await rt();
    },
    async putStream(_k, body) {
      for await (const chunk of body) void chunk;
      await rt();
    },
    async *stream(): AsyncIterable<Uint8Array> {
      await rt();
      yield Buffer.from("{}");
    },
    async delete() {
      await rt();
    },
    async list(): Promise<ListedObject[]> {
      await rt();
      return [];
    },
    // Read the current stamp, then a conditional PUT.
    async replaceIfNewer() {
      await rt();
      await rt();
      return true;
    },
    async read() {
      await rt();
      return undefined;
    },
    async putIfUnchanged() {
      await rt();
      return true;
    },
  };
}

/** Measured core costs (ms) with the real code on an in-memory store. */
export interface CoreCosts {
  ingestMs: number;
  mergeMs: number;
}

export async function measureCoreCosts(tableFacilities: number, uploadFacilities: number, samples = 5): Promise<CoreCosts> {
  const store = new MemoryStore();
  const validate = createFacilityValidator();
  const body = (from: number, n: number) =>
    Buffer.from(`${Array.from({ length: n }, (_, i) => JSON.stringify(facility((from + i) % tableFacilities))).join("\n")}\n`);
  const ingest = async (key: string, b: Buffer) =>
    ingestObject(
      {
        key,
        version: "v1",
        lastModified: "2026-11-27T00:00:00.000Z",
        body: (async function* () {
          yield b;
        })(),
      },
      { output: store, validate, maxRecordBytes: 1 << 20 },
    );
  const base = await ingest("table/base.ndjson", body(0, tableFacilities));
  if (base.curatedKey) await mergeCuratedObject(store, base.curatedKey);
  const ingestTimes: number[] = [];
  const mergeTimes: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = process.hrtime.bigint();
    const r = await ingest(`burst/u-${s}.ndjson`, body(s * 997, uploadFacilities));
    const t1 = process.hrtime.bigint();
    if (r.curatedKey) await mergeCuratedObject(store, r.curatedKey);
    const t2 = process.hrtime.bigint();
    ingestTimes.push(Number(t1 - t0) / 1e6);
    mergeTimes.push(Number(t2 - t1) / 1e6);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { ingestMs: med(ingestTimes), mergeMs: med(mergeTimes) };
}

export interface Scenario {
  /** Upload times (ms on the simulated clock). */
  uploads: number[];
  batchSize: number;
  maxConcurrency: number;
  batchWindowMs: number;
}

export interface Outcome {
  /** Upload to `latest` updated, per upload (ms). */
  latencies: number[];
  queries: number;
}

/** The current design: S3 -> SQS (batching window, bounded concurrency) -> processor -> three reports at once. */
export async function simulateCurrent(s: Scenario, m: LatencyModel, costs: CoreCosts): Promise<Outcome> {
  const clock = new SimClock();
  const athena = new AthenaModel(m);
  const mock = mockClient(AthenaClient);
  const tableBytes = WORKLOAD.tableFacilities * WORKLOAD.facilityBytes * WORKLOAD.gzipRatio;
  mock.on(StartQueryExecutionCommand).callsFake(async (input: { QueryString?: string }) => {
    await clock.sleep(m.athenaApiMs);
    const report = REPORTS.find((r) => r.sql === input.QueryString);
    const rows = Math.max(15, Math.round(WORKLOAD.tableFacilities * (WORKLOAD.rowsPerFacility[report?.name ?? ""] ?? 0)));
    return { QueryExecutionId: athena.submit(clock.now, tableBytes, rows, false, report?.name) };
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
  const output = simStore(clock, m);
  const latencies: number[] = [];
  // Messages reach the queue s3EventMs after their upload.
  const queue = s.uploads.map((u) => u + m.s3EventMs).sort((a, b) => a - b);
  let next = 0;
  let batchNo = 0;
  const poller = async (): Promise<void> => {
    let warm = false;
    for (;;) {
      if (next >= queue.length) return;
      // Wait for the first message, then gather until the batch is full or the window closes.
      if (queue[next] > clock.now) await clock.sleep(queue[next] - clock.now);
      const windowEnds = clock.now + s.batchWindowMs;
      const fullAt = queue[Math.min(queue.length - 1, next + s.batchSize - 1)];
      const have = queue.length - next >= s.batchSize ? fullAt : Infinity;
      const invokeAt = Math.min(windowEnds, Math.max(clock.now, have));
      if (invokeAt > clock.now) await clock.sleep(invokeAt - clock.now);
      const batch: number[] = [];
      while (next < queue.length && queue[next] <= clock.now && batch.length < s.batchSize) batch.push(queue[next++] - m.s3EventMs);
      if (batch.length === 0) continue;
      batchNo++;
      if (!warm) await clock.sleep(m.coldStartMs);
      warm = true;
      const invoked = clock.now;
      // Ingest (uploads in parallel, four at a time, on one CPU): GET + PUT round trips overlap, CPU adds up.
      await clock.sleep(Math.ceil(batch.length / 4) * 2 * m.s3RequestMs + batch.length * costs.ingestMs);
      // Merges take turns: each reads the curated object and the shards it touches, then conditional PUTs.
      await clock.sleep(batch.length * (costs.mergeMs + 3 * m.s3RequestMs));
      await runReports(REPORTS, { asOf: "2026-11-27", monthsAhead: 6 }, [`batch-${batchNo}`], {
        output,
        engine,
        telemetry: SILENT_TELEMETRY,
        deadline: { remainingMs: () => 900_000 - (clock.now - invoked) },
        now: () => new Date(Date.UTC(2026, 10, 27) + clock.now),
      });
      for (const u of batch) latencies.push(clock.now - u);
    }
  };
  const done = Promise.all(Array.from({ length: s.maxConcurrency }, () => poller()));
  await clock.run();
  await done;
  mock.restore();
  return { latencies, queries: athena.started };
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
