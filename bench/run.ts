import { Readable } from "stream";
/**
 * `npm run bench` (quick), `npm run bench -- --full` (adds 1 GB inputs), `--smoke` (tiny, seconds).
 * Every figure is reported next to a baseline measured in the same run, as a ratio. Writes
 * bench/results.json; BENCHMARKS.md explains the method.
 */
import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from "@aws-sdk/client-athena";
import * as pulumi from "@pulumi/pulumi";
import { mockClient } from "aws-sdk-client-mock";
import { execFileSync } from "child_process";
import { createReadStream, createWriteStream, promises as fsp, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { pipeline } from "stream/promises";
import { parseArgs } from "util";
import { createGzip, deflateRawSync, gzipSync } from "zlib";
import { athenaEngine } from "../handler/aws/athena-engine";
import { processorFactory } from "../handler/aws/entry";
import { reconcileCurrent } from "../handler/core/current-state";
import { ingestObject } from "../handler/core/ingest";
import { OUTPUT_LAYOUT } from "../handler/core/layout";
import { duckDbEngine } from "../handler/local/duckdb-engine";
import { bindParameters, REPORTS } from "../handler/reports/registry";
import { createFacilityValidator, curatedLineWriter } from "../handler/schema/validator";
import type { Facility } from "../handler/schema/facility";
import { MemoryStore } from "../test/support/memory-store";
import { processorEnv, ProcessorHarness, s3EventBody, sqsRecord } from "../test/support/processor-harness";
import { CONFIG_KEYS } from "../infra/config";
import { facility, writeNdjson } from "./generate";
import {
  DEFAULT_MODEL,
  LatencyModel,
  measureCoreCosts,
  Outcome,
  percentile,
  prepareTable,
  roundTrips,
  simulateAll,
  simulateOriginal,
  Task,
  WORKLOAD,
} from "./time-to-report";

// The SDK's notice that its 2027 releases need Node 22 (see test/support/setup.ts), once per worker
// thread and child otherwise; they inherit this environment.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const root = path.resolve(__dirname, "..");
const DATA = path.join(root, "bench/data");

interface Result {
  group: string;
  metric: string;
  value: number;
  unit: string;
  baseline?: number;
  baselineLabel?: string;
  ratio?: number;
  target?: string;
  met?: boolean;
}

const results: Result[] = [];
function record(r: Result): void {
  results.push(r);
  const ratio = r.ratio === undefined ? "" : `ratio ${r.ratio.toFixed(2)}`;
  const base = r.baseline === undefined ? "" : `vs ${fmt(r.baseline)} ${r.baselineLabel ?? ""}`;
  const target = r.target ? `[${r.target}: ${r.met ? "met" : "MISSED"}]` : "";
  console.log(`  ${r.metric.padEnd(46)} ${`${fmt(r.value)} ${r.unit}`.padEnd(22)} ${base.padEnd(34)} ${ratio.padEnd(12)} ${target}`);
}

const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toFixed(3));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MB = 1024 * 1024;

function child(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const loader = script.endsWith(".ts") ? ["-r", "ts-node/register/transpile-only"] : [];
  return execFileSync(process.execPath, [...loader, script, ...args], {
    cwd: root,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    maxBuffer: 64 * MB,
  });
}

async function ensureInput(bytes: number): Promise<{ plain: string; gz: string; plainBytes: number }> {
  const plain = path.join(DATA, `facilities-${bytes}.ndjson`);
  const gz = `${plain}.gz`;
  if (!existsSync(plain)) await writeNdjson(plain, bytes);
  if (!existsSync(gz)) await pipeline(createReadStream(plain), createGzip({ level: 6 }), createWriteStream(gz));
  return { plain, gz, plainBytes: statSync(plain).size };
}

interface ChildMeasure {
  seconds: number;
  bytes: number;
  peakRssMb: number;
  rssHalfMb: number;
  rssEndMb: number;
  curatedBytes: number;
  accepted: number;
}

/** Measurements run the compiled JavaScript, as Lambda does: no TypeScript compiler in the process. */
const BUILD = path.join(DATA, "build");
function compile(): void {
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(root, "tsconfig.json"), "--noEmit", "false", "--outDir", BUILD], {
    cwd: root,
    stdio: "inherit",
  });
  // The report registry reads its SQL files next to its module.
  const sqlDir = path.join(root, "handler/reports");
  for (const f of readdirSync(sqlDir).filter((n) => n.endsWith(".sql")))
    writeFileSync(path.join(BUILD, "handler/reports", f), readFileSync(path.join(sqlDir, f)));
}
const measure = (mode: string, file: string): ChildMeasure =>
  JSON.parse(child(path.join(BUILD, "bench/ingest-child.js"), [mode, file]).trim().split("\n").pop()!) as ChildMeasure;

async function benchIngest(sizes: number[]): Promise<void> {
  console.log("\nIngest (streaming parse, validate, curate; outputs counted and discarded) vs gzip of the same bytes alone, level 6");
  compile();
  let bytesRatio: { curated: number; raw: number } | undefined;
  for (const size of sizes) {
    const input = await ensureInput(size);
    const runs = size <= 10e6 ? 3 : 1;
    const ceiling = median(Array.from({ length: runs }, () => measure("gzip", input.plain).seconds));
    const ceilingMBs = input.plainBytes / MB / ceiling;
    for (const [label, file] of [
      ["plain", input.plain],
      ["gz", input.gz],
    ] as const) {
      const m = Array.from({ length: runs }, () => measure("ingest", file));
      const seconds = median(m.map((x) => x.seconds));
      const mbs = input.plainBytes / MB / seconds;
      const peak = Math.max(...m.map((x) => x.peakRssMb));
      const growth = Math.max(...m.map((x) => (x.rssHalfMb > 0 ? x.rssEndMb / x.rssHalfMb : 1)));
      const largest = size === sizes[sizes.length - 1];
      record({
        group: "ingest",
        metric: `${label} ${(size / 1e6).toFixed(0)} MB: throughput`,
        value: mbs,
        unit: "MB/s",
        baseline: ceilingMBs,
        baselineLabel: "MB/s gzip",
        ratio: mbs / ceilingMBs,
        target: ">= 0.5x",
        met: mbs / ceilingMBs >= 0.5,
      });
      record({
        group: "ingest",
        metric: `${label} ${(size / 1e6).toFixed(0)} MB: peak RSS`,
        value: peak,
        unit: "MB",
        target: size >= 1e9 ? "<= 256 MB" : undefined,
        met: size >= 1e9 ? peak <= 256 : undefined,
      });
      // Memory that grew with the file would show as RSS rising between the middle and the end.
      record({
        group: "ingest",
        metric: `${label} ${(size / 1e6).toFixed(0)} MB: RSS at end / half-way`,
        value: growth,
        unit: "x",
        target: largest ? "flat (<= 1.1x)" : undefined,
        met: largest ? growth <= 1.1 : undefined,
      });
      if (label === "plain") bytesRatio = { curated: m[0].curatedBytes, raw: input.plainBytes };
    }
  }
  if (bytesRatio) {
    const ratio = bytesRatio.curated / bytesRatio.raw;
    record({
      group: "athena-bytes",
      metric: "curated bytes Athena scans / raw upload bytes",
      value: bytesRatio.curated / MB,
      unit: "MB",
      baseline: bytesRatio.raw / MB,
      baselineLabel: "MB raw",
      ratio,
      target: "<= 0.3",
      met: ratio <= 0.3,
    });
  }
}

function benchValidator(records: number): void {
  console.log("\nValidator vs JSON.parse alone, same lines");
  const lines = Array.from({ length: records }, (_, i) => JSON.stringify(facility(i)));
  const validate = createFacilityValidator();
  const time = (f: () => void) => {
    const s = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - s) / 1e9;
  };
  for (let w = 0; w < 2; w++) lines.slice(0, 2000).forEach((l) => validate(JSON.parse(l)));
  const parseOnly = median([0, 1, 2].map(() => time(() => lines.forEach((l) => void JSON.parse(l)))));
  const both = median([0, 1, 2].map(() => time(() => lines.forEach((l) => validate(JSON.parse(l))))));
  const rate = records / both;
  const base = records / parseOnly;
  record({
    group: "validator",
    metric: `parse + validate, ${records} records`,
    value: rate,
    unit: "records/s",
    baseline: base,
    baselineLabel: "records/s parse",
    ratio: rate / base,
  });
}

/** Size of a zip of these files with per-file deflate, as the Lambda code archive would be. */
function zipSize(files: Array<{ name: string; body: Buffer }>): number {
  // Local header (30) + central directory entry (46) + the name twice, per file, plus the end record.
  return files.reduce((sum, f) => sum + deflateRawSync(f.body).length + 76 + 2 * Buffer.byteLength(f.name), 22);
}

function filesUnder(dir: string, base = dir): Array<{ name: string; body: Buffer }> {
  const out: Array<{ name: string; body: Buffer }> = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, base));
    else if (e.isFile()) out.push({ name: path.relative(base, p), body: readFileSync(p) });
  }
  return out;
}

async function benchColdStart(runs: number): Promise<void> {
  console.log("\nCold start in a fresh Node process (module load + factory) vs a module that only constructs the same SDK clients");
  const serialized = await pulumi.runtime.serializeFunction(processorFactory, { isFactoryFunction: true });
  const processor = path.join(DATA, "processor.js");
  writeFileSync(processor, serialized.text);
  const bare = path.join(DATA, "bare-clients.js");
  writeFileSync(
    bare,
    [
      'const { S3Client } = require("@aws-sdk/client-s3");',
      'const { AthenaClient } = require("@aws-sdk/client-athena");',
      'const { SQSClient } = require("@aws-sdk/client-sqs");',
      "new S3Client({}); new AthenaClient({}); new SQSClient({});",
    ].join("\n"),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, ...processorEnv(), AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" };
  const script = path.join(root, "bench/coldstart-child.js");
  const timesOf = (module: string) => Array.from({ length: runs }, () => Number(child(script, [module], env).trim()));
  timesOf(bare); // warm the file cache
  const p = median(timesOf(processor));
  const b = median(timesOf(bare));
  record({
    group: "cold-start",
    metric: "load + factory, median",
    value: p,
    unit: "ms",
    baseline: b,
    baselineLabel: "ms bare clients",
    ratio: p / b,
    target: "<= 1.5x",
    met: p / b <= 1.5,
  });

  const codePaths = await pulumi.runtime.computeCodePaths();
  const files: Array<{ name: string; body: Buffer }> = [{ name: "__index.js", body: Buffer.from(serialized.text) }];
  for (const dir of codePaths.keys()) files.push(...filesUnder(path.join(root, dir), root));
  const zipped = zipSize(files) / MB;
  record({
    group: "cold-start",
    metric: `Lambda code archive (${files.length} files, zip estimate)`,
    value: zipped,
    unit: "MB",
    target: "<= 10 MB",
    met: zipped <= 10,
  });
}

async function benchLatency(samples: number): Promise<void> {
  console.log("\nResult latency: mocked Athena finishing after 0.5, 3 and 20 s (simulated clock) vs fixed 2-second polling");
  const mock = mockClient(AthenaClient);
  let clock = 0;
  let doneAt = 0;
  let calls = 0;
  mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: "q" });
  mock.on(GetQueryExecutionCommand).callsFake(() => {
    calls++;
    return Promise.resolve({ QueryExecution: { Status: { State: clock >= doneAt ? "SUCCEEDED" : "RUNNING" }, Statistics: {} } });
  });
  mock.on(GetQueryResultsCommand).resolves({ ResultSet: { ResultSetMetadata: { ColumnInfo: [] }, Rows: [{ Data: [] }] } });
  const engine = athenaEngine(new AthenaClient({ region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } }), {
    workgroup: "w",
    database: "d",
    sleep: (ms) => {
      clock += ms;
      return Promise.resolve();
    },
  });
  const oursMedians: number[] = [];
  const baseMedians: number[] = [];
  for (const seconds of [0.5, 3, 20]) {
    const ours: number[] = [];
    const base: number[] = [];
    let maxCallsPerSecond = 0;
    for (let k = 0; k < samples; k++) {
      // Spread completion times across a second, so neither schedule gains from a lucky alignment.
      const d = (seconds + k / samples) * 1000;
      clock = 0;
      calls = 0;
      doneAt = d;
      await engine.run({ name: "r", sql: "SELECT 1", params: [], token: "t".repeat(64), deadline: { remainingMs: () => 900_000 - clock } });
      ours.push(clock - d);
      maxCallsPerSecond = Math.max(maxCallsPerSecond, calls / (d / 1000));
      base.push(Math.ceil(d / 2000) * 2000 - d);
    }
    const o = median(ours) / 1000;
    const b = median(base) / 1000;
    oursMedians.push(o);
    baseMedians.push(b);
    record({
      group: "latency",
      metric: `${seconds} s query: median delay to results`,
      value: o,
      unit: "s",
      baseline: b,
      baselineLabel: "s fixed 2 s",
      ratio: o / b,
    });
    record({
      group: "latency",
      metric: `${seconds} s query: status calls per second (max)`,
      value: maxCallsPerSecond,
      unit: "calls/s",
      baseline: 0.5,
      baselineLabel: "calls/s fixed 2 s",
      target: seconds >= 20 ? "<= 1" : undefined,
      met: seconds >= 20 ? maxCallsPerSecond <= 1 : undefined,
    });
  }
  const ratio = median(oursMedians) / median(baseMedians);
  record({
    group: "latency",
    metric: "median delay over the three durations",
    value: median(oursMedians),
    unit: "s",
    baseline: median(baseMedians),
    baselineLabel: "s fixed 2 s",
    ratio,
    target: "<= 0.25x",
    met: ratio <= 0.25,
  });
  mock.restore();
}

async function benchLocalEngine(count: number): Promise<void> {
  console.log(`\nLocal engine: all reports over ${count.toLocaleString("en-US")} facilities on DuckDB vs a full scan of the same table`);
  // Named by the row layout, so data generated before a curated column was added is not reused.
  const dir = path.join(DATA, `curated-${count}-idx`);
  if (!existsSync(dir)) {
    await fsp.mkdir(dir, { recursive: true });
    const files = 8;
    const line = curatedLineWriter({
      sourceKey: "bench/facilities.ndjson",
      sourceVersion: "v1",
      ingestTime: "2026-11-27T00:00:00.000Z",
      uploadTime: "2026-11-27T00:00:00.000Z",
    });
    for (let f = 0; f < files; f++) {
      const rows: string[] = [];
      for (let i = f; i < count; i += files) rows.push(line(facility(i) as unknown as Facility, i + 1, i));
      writeFileSync(path.join(dir, `part-${f}.ndjson.gz`), gzipSync(`${rows.join("\n")}\n`, { level: 1 }));
    }
  }
  const engine = await duckDbEngine(dir);
  const deadline = { remainingMs: () => Infinity };
  const context = { asOf: "2026-11-27", monthsAhead: 6 };
  const time = async (f: () => Promise<unknown>) => {
    const s = process.hrtime.bigint();
    await f();
    return Number(process.hrtime.bigint() - s) / 1e9;
  };
  const scan = await time(() => engine.run({ name: "scan", sql: "SELECT count(*), sum(employee_count) FROM facilities", params: [], token: "scan", deadline }));
  const all = await time(async () => {
    for (const r of REPORTS) await engine.run({ name: r.name, sql: r.sql, params: bindParameters(r, context), token: r.name, deadline });
  });
  engine.close();
  record({
    group: "local-engine",
    metric: `three reports, ${count.toLocaleString("en-US")} facilities`,
    value: all,
    unit: "s",
    baseline: scan,
    baselineLabel: "s one scan",
    ratio: all / scan,
  });
  record({ group: "local-engine", metric: "facilities per second (three reports)", value: count / all, unit: "facilities/s" });
}

async function benchBurst(uploads: number, batchSize: number): Promise<void> {
  console.log(`\nBurst: ${uploads} upload events delivered in batches of ${batchSize} vs the original three queries per upload`);
  const h = new ProcessorHarness();
  h.athena.runQueries = false;
  const body = readFileSync(path.join(root, "sample-data/facilities.ndjson"));
  let runs = 0;
  try {
    for (let start = 0; start < uploads; start += batchSize) {
      const records = [];
      for (let i = start; i < Math.min(uploads, start + batchSize); i++) {
        const key = `burst/upload-${i}.ndjson`;
        // Each upload brings its own facilities: identical content would leave the table, and so the
        // report tokens, unchanged, and no run would be needed at all.
        h.s3.store("raw-uploads", key, body.toString("utf8").replace(/"facility_id":"([^"]+)"/g, `"facility_id":"$1-${i}"`));
        records.push(sqsRecord(s3EventBody([{ key }])));
      }
      const before = h.athena.started.length;
      const res = await h.invoke(records);
      if (res.batchItemFailures.length > 0) throw new Error("a burst batch failed");
      if (h.athena.started.length > before) runs++;
    }
  } finally {
    h.restore();
  }
  const queries = h.athena.started.length;
  const baseline = 3 * uploads;
  const allowed = Math.ceil(uploads / batchSize);
  record({
    group: "burst",
    metric: "report runs (one per batch)",
    value: runs,
    unit: "runs",
    baseline: uploads,
    baselineLabel: "runs, one per upload",
    ratio: runs / uploads,
    target: `<= ${allowed}`,
    met: runs <= allowed,
  });
  record({
    group: "burst",
    metric: "Athena queries started (3 reports per run)",
    value: queries,
    unit: "queries",
    baseline,
    baselineLabel: "queries (2 DDL + 1 per upload)",
    ratio: queries / baseline,
  });
}

/**
 * A year of daily full snapshots under new keys, through the same core steps the processor runs per
 * upload (ingest, merge into the current state, fall back for the upload's other versions), on an
 * in-memory output store. What a report query scans is what Athena would: every object under its
 * table's location, gzip counted compressed (the Athena twin measures it the same way).
 */
async function benchHistoryGrowth(days: number, facilities: number): Promise<void> {
  console.log(
    `\nHistory growth: ${days} daily snapshots of ${facilities.toLocaleString("en-US")} facilities under new keys; bytes a report query scans vs the original table over all of curated/`,
  );
  const store = new MemoryStore();
  const validate = createFacilityValidator();
  const base = Array.from({ length: facilities }, (_, i) => JSON.stringify(facility(i)));
  const sizeUnder = (prefix: string) => [...store.objects].filter(([k]) => k.startsWith(prefix)).reduce((n, [, o]) => n + o.body.length, 0);
  let ingestSeconds = 0;
  let upkeepSeconds = 0;
  let snapshotBytes = 0;
  for (let day = 1; day <= days; day++) {
    // A full snapshot in which about 1% of the facilities changed since yesterday.
    const lines = base.slice();
    for (let k = 0; k < Math.ceil(facilities / 100); k++) {
      const i = (day * 7919 + k * 104729) % facilities;
      lines[i] = JSON.stringify({ ...facility(i), employee_count: day });
    }
    const date = new Date(Date.UTC(2026, 0, day)).toISOString();
    const key = `daily/facilities-${date.slice(0, 10)}.ndjson`;
    const body = Buffer.from(`${lines.join("\n")}\n`);
    const t0 = process.hrtime.bigint();
    const result = await ingestObject(
      { key, version: "v1", lastModified: date, body: Readable.from([body]) },
      { output: store, validate, maxRecordBytes: 1024 * 1024 },
    );
    const t1 = process.hrtime.bigint();
    if (!result.curatedKey) throw new Error(`day ${day}: nothing curated`);
    // What a batch does after its ingests: one pass that merges and checks for retired versions.
    await reconcileCurrent(store, { merge: [result.curatedKey], follow: [key] });
    const t2 = process.hrtime.bigint();
    ingestSeconds += Number(t1 - t0) / 1e9;
    upkeepSeconds += Number(t2 - t1) / 1e9;
    snapshotBytes = store.objects.get(result.curatedKey)!.body.length;
  }
  const scanned = sizeUnder(OUTPUT_LAYOUT.current);
  const history = sizeUnder(OUTPUT_LAYOUT.curated);
  const ratio = scanned / snapshotBytes;
  record({
    group: "history-growth",
    metric: `report query scan after day ${days} / one snapshot`,
    value: ratio,
    unit: "snapshots",
    baseline: history / snapshotBytes,
    baselineLabel: "snapshots, all of curated/",
    ratio: scanned / history,
    target: "<= 2",
    met: ratio <= 2,
  });
  record({
    group: "history-growth",
    metric: `bytes a report query scans after day ${days}`,
    value: scanned / MB,
    unit: "MB",
    baseline: history / MB,
    baselineLabel: "MB, all of curated/",
    ratio: scanned / history,
  });
  record({
    group: "history-growth",
    metric: "current-state upkeep per snapshot (merge + fallback check)",
    value: upkeepSeconds / days,
    unit: "s",
    baseline: ingestSeconds / days,
    baselineLabel: "s ingest of the snapshot",
    ratio: upkeepSeconds / ingestSeconds,
  });
}

const configDefault = (key: string): number => Number(CONFIG_KEYS.find((k) => k.key === key)?.default);

/**
 * Upload to `latest` updated on a simulated clock (bench/time-to-report.ts has the model and where each
 * number comes from), for one upload on a quiet pipeline and a burst, vs the original design; and the
 * burst over a grid of batch sizes and concurrencies, to choose the defaults from.
 */
async function benchTimeToReport(burst: number, windows: number[]): Promise<void> {
  const started = Date.now();
  const group = "time-to-report";
  const batchSize = configDefault("batchSize");
  const maxConcurrency = configDefault("maxConcurrency");
  const chosen = configDefault("batchWindowSeconds");
  const timeoutSeconds = configDefault("lambdaTimeoutSeconds");
  const threads = os.cpus().length;
  console.log(
    `\nTime to report: upload to latest updated, simulated clock, the real batch on a store whose every request is an S3 round trip; batchSize ${batchSize}, maxConcurrency ${maxConcurrency}, vs the original (S3 invokes per upload, 2 DDL + 1 query in turn, 2 s polling)`,
  );
  const table = await prepareTable();
  const costs = await measureCoreCosts(table, [1, Math.max(2, batchSize)]);
  const [one, full] = costs.measured;
  record({
    group,
    metric: `measured: CPU of processChanges, ${full.uploads} uploads x ${WORKLOAD.uploadFacilities} facilities into ${WORKLOAD.tableFacilities.toLocaleString("en-US")}`,
    value: full.cpuMs,
    unit: "ms",
    baseline: one.cpuMs,
    baselineLabel: "ms for one upload",
  });
  record({
    group,
    metric: `measured: S3 round trips of that batch`,
    value: roundTrips(full.calls),
    unit: "requests",
    baseline: roundTrips(one.calls),
    baselineLabel: "requests for one upload",
  });
  const byKind = (calls: Record<string, number>) =>
    Object.entries(calls)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
  console.log(`  requests by kind, batch of ${full.uploads}: ${byKind(full.calls)}`);
  console.log(`  requests by kind, one upload: ${byKind(one.calls)}`);

  // Single upload: 20 trials at different phases (the original's polling grid and Athena's finish time align differently).
  const singles = Array.from({ length: 20 }, (_, k) => [k * 97]);
  const burstTimes = Array.from({ length: burst }, (_, i) => (i * WORKLOAD.burstSpreadMs) / burst);
  const queued: LatencyModel = { ...DEFAULT_MODEL, athenaQueueMs: 3_000 };
  const variants = [
    { label: `window ${chosen} s (default): `, model: DEFAULT_MODEL, window: chosen },
    ...windows.filter((w) => w !== chosen).map((w) => ({ label: `window ${w} s: `, model: DEFAULT_MODEL, window: w })),
    { label: `Athena queueing 3 s, window ${chosen} s: `, model: queued, window: chosen },
  ];
  // The burst over batch sizes and concurrencies at the default window, to choose the defaults from.
  const grid = [10, 25, 50, 100].flatMap((b) => [2, 4, 6].map((c) => ({ batchSize: b, maxConcurrency: c })));
  if (!grid.some((g) => g.batchSize === batchSize && g.maxConcurrency === maxConcurrency)) grid.unshift({ batchSize, maxConcurrency });
  const atDefaults = grid.findIndex((g) => g.batchSize === batchSize && g.maxConcurrency === maxConcurrency);
  const scenario = (uploads: number[], window: number, g = { batchSize, maxConcurrency }) => ({ uploads, ...g, batchWindowMs: window * 1000 });
  // Bursts first: they take the longest, and the threads finish together.
  const tasks: Task[] = [
    ...grid.map((g) => ({ scenario: scenario(burstTimes, chosen, g), model: DEFAULT_MODEL })),
    ...variants.slice(1).map((v) => ({ scenario: scenario(burstTimes, v.window), model: v.model })),
    ...variants.flatMap((v) => singles.map((u) => ({ scenario: scenario(u, v.window), model: v.model }))),
  ];
  const outcomes = await simulateAll(tasks, costs, table, threads);
  const gridBursts = outcomes.slice(0, grid.length);
  const variantBursts = [gridBursts[atDefaults], ...outcomes.slice(grid.length, grid.length + variants.length - 1)];
  const singleOutcomes = outcomes.slice(grid.length + variants.length - 1);

  const original = new Map<LatencyModel, { single: number; burst: Outcome }>();
  for (const m of [DEFAULT_MODEL, queued]) {
    const base: number[] = [];
    for (const u of singles) base.push(...(await simulateOriginal(u, m)).latencies);
    original.set(m, { single: percentile(base, 50) / 1000, burst: await simulateOriginal(burstTimes, m) });
  }
  const allowed = Math.ceil(burst / batchSize) * 3;
  variants.forEach((v, k) => {
    const base = original.get(v.model)!;
    const p50 =
      percentile(
        singleOutcomes.slice(k * singles.length, (k + 1) * singles.length).flatMap((o) => o.latencies),
        50,
      ) / 1000;
    record({
      group,
      metric: `${v.label}one upload, quiet: p50`,
      value: p50,
      unit: "s",
      baseline: base.single,
      baselineLabel: "s original",
      ratio: p50 / base.single,
      target: "<= 1x",
      met: p50 <= base.single,
    });
    const o = variantBursts[k];
    const [o50, o95] = [50, 95].map((p) => percentile(o.latencies, p) / 1000);
    const [b50, b95] = [50, 95].map((p) => percentile(base.burst.latencies, p) / 1000);
    const label = `${v.label}burst of ${burst}`;
    record({ group, metric: `${label}: p50`, value: o50, unit: "s", baseline: b50, baselineLabel: "s original", ratio: o50 / b50 });
    record({
      group,
      metric: `${label}: p95`,
      value: o95,
      unit: "s",
      baseline: b95,
      baselineLabel: "s original",
      ratio: o95 / b95,
      target: "<= 0.5x",
      met: o95 <= 0.5 * b95,
    });
    record({
      group,
      metric: `${label}: Athena queries`,
      value: o.queries,
      unit: "queries",
      baseline: base.burst.queries,
      baselineLabel: "queries original",
      ratio: o.queries / base.burst.queries,
      target: `<= ${allowed}`,
      met: o.queries <= allowed,
    });
    if (k === 0) console.log(`  requests by kind, that burst: ${byKind(o.calls)} (${o.invocations} invocations)`);
  });

  const b = original.get(DEFAULT_MODEL)!.burst;
  const [b50, b95] = [50, 95].map((p) => percentile(b.latencies, p) / 1000);
  console.log(`  Burst of ${burst} at window ${chosen} s by batchSize x maxConcurrency (no targets: numbers to choose the defaults from)`);
  grid.forEach((g, k) => {
    const r = gridBursts[k];
    const at = `burst of ${burst}, batchSize ${g.batchSize} x maxConcurrency ${g.maxConcurrency}`;
    const p50 = percentile(r.latencies, 50) / 1000;
    const p95 = percentile(r.latencies, 95) / 1000;
    const longest = r.longestInvocationMs / 1000;
    record({ group, metric: `${at}: p50`, value: p50, unit: "s", baseline: b50, baselineLabel: "s original", ratio: p50 / b50 });
    record({ group, metric: `${at}: p95`, value: p95, unit: "s", baseline: b95, baselineLabel: "s original", ratio: p95 / b95 });
    record({
      group,
      metric: `${at}: Athena queries`,
      value: r.queries,
      unit: "queries",
      baseline: b.queries,
      baselineLabel: "queries original",
      ratio: r.queries / b.queries,
    });
    record({
      group,
      metric: `${at}: longest invocation`,
      value: longest,
      unit: "s",
      baseline: timeoutSeconds,
      baselineLabel: "s lambdaTimeoutSeconds",
      ratio: longest / timeoutSeconds,
    });
  });
  const seconds = (Date.now() - started) / 1000;
  console.log(`  simulations on ${threads} threads`);
  record({ group, metric: "run time of this group (real)", value: seconds, unit: "s" });
}

/** Peak RSS of one child process (bench/memory-child.ts, compiled) or of a command under /usr/bin/time -v. */
async function benchMemory(reportRows: number, cliBytes: number): Promise<void> {
  console.log(
    `\nMemory: peak RSS writing a ${reportRows.toLocaleString("en-US")}-row report, and of the local CLI on a ${(cliBytes / 1e6).toFixed(0)} MB input`,
  );
  if (!existsSync(path.join(BUILD, "bench/memory-child.js")) || !existsSync(path.join(BUILD, "handler/reports/facility-metrics.sql"))) compile();
  const mem = (mode: string, n: number) =>
    JSON.parse(
      child(path.join(BUILD, "bench/memory-child.js"), [mode, String(n)])
        .trim()
        .split("\n")
        .pop()!,
    ) as { peakRssMb: number; rows: number };
  const loaded = mem("load", 0).peakRssMb;
  const report = mem("report", reportRows);
  const materialized = mem("materialize", reportRows).peakRssMb;
  record({
    group: "memory",
    metric: `report of ${reportRows.toLocaleString("en-US")} rows: peak RSS`,
    value: report.peakRssMb,
    unit: "MB",
    baseline: materialized,
    baselineLabel: "MB rows materialized",
    ratio: report.peakRssMb / materialized,
    target: "<= 256 MB",
    met: report.peakRssMb <= 256 && report.rows === reportRows,
  });
  record({ group: "memory", metric: "same process, modules loaded only", value: loaded, unit: "MB" });

  const input = path.join(DATA, `facilities-${cliBytes}.ndjson`);
  if (!existsSync(input)) await writeNdjson(input, cliBytes);
  const out = path.join(DATA, "cli-out");
  await fsp.rm(out, { recursive: true, force: true });
  if (!existsSync("/usr/bin/time")) {
    console.log("  /usr/bin/time not found: CLI memory not measured");
    return;
  }
  // Peak RSS from /usr/bin/time -v (stderr); the command's stdout goes to `stdoutFile`.
  const stdoutFile = path.join(DATA, "cli-stdout.json");
  const peakOf = (args: string[]) => {
    const res = execFileSync(
      "sh",
      ["-c", `out="$1"; shift; /usr/bin/time -v "$@" 2>&1 >"$out" | grep "Maximum resident" ; exit 0`, "sh", stdoutFile, ...args],
      { cwd: root, encoding: "utf8" },
    );
    return Number(/(\d+)\s*$/.exec(res.trim())?.[1] ?? "0") / 1024;
  };
  // Exactly what `npm start` runs (its Node flags included), so the figure is the one users get.
  const start = startCommand();
  const cli = peakOf([process.execPath, ...start.nodeArgs, start.script, input, "--out", out, "--as-of", "2026-11-27", "--json"]);
  let failure: string;
  try {
    const summary = JSON.parse(readFileSync(stdoutFile, "utf8")) as { exit_code?: number; files?: Array<{ error?: string }>; report_error?: string | null };
    failure = summary.exit_code === 0 ? "" : (summary.files?.find((f) => f.error)?.error ?? summary.report_error ?? `exit ${summary.exit_code}`);
  } catch {
    failure = "no --json summary";
  }
  if (failure) console.log(`  the CLI run failed: ${failure}`);
  const bare = peakOf([
    process.execPath,
    ...start.nodeArgs,
    "-e",
    "require('sucrase/register/ts'); require('./handler/local/cli'); require('@duckdb/node-api')",
  ]);
  record({
    group: "memory",
    metric: `local CLI, ${(cliBytes / 1e6).toFixed(0)} MB NDJSON: peak RSS${failure ? " (run FAILED)" : ""}`,
    value: cli,
    unit: "MB",
    baseline: bare,
    baselineLabel: "MB CLI modules loaded",
    ratio: cli / bare,
    target: "<= 512 MB",
    met: cli <= 512 && !failure,
  });
  await fsp.rm(out, { recursive: true, force: true });
}

/** The `start` script of package.json: `node [flags] <script>`. */
function startCommand(): { nodeArgs: string[]; script: string } {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const words = pkg.scripts.start.split(/\s+/);
  if (words[0] !== "node") throw new Error(`npm start is not "node ...": ${pkg.scripts.start}`);
  return { nodeArgs: words.slice(1, -1), script: words[words.length - 1] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      full: { type: "boolean" },
      smoke: { type: "boolean" },
      only: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "Usage: npm run bench [-- --full | --smoke] [--out FILE] [--only GROUP,...]\n  default: 10 MB and 100 MB inputs, 1M facilities (under ten minutes)\n  --full:  adds 1 GB inputs\n  --smoke: tiny inputs, to check the harness runs\n  --only:  run only these groups (ingest, validator, cold-start, latency, local-engine, burst, history-growth, time-to-report, memory)",
    );
    return;
  }
  const mode = values.smoke ? "smoke" : values.full ? "full" : "quick";
  await fsp.mkdir(DATA, { recursive: true });
  const started = Date.now();
  console.log(
    `Benchmarks (${mode}) on ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}`,
  );
  const only = values.only?.split(",").map((g) => g.trim());
  const wanted = (group: string) => !only || only.includes(group);
  if (wanted("ingest")) await benchIngest(mode === "smoke" ? [1e6] : mode === "full" ? [10e6, 100e6, 1000e6] : [10e6, 100e6]);
  if (wanted("validator")) benchValidator(mode === "smoke" ? 5_000 : 100_000);
  if (wanted("cold-start")) await benchColdStart(mode === "smoke" ? 2 : 7);
  if (wanted("latency")) await benchLatency(mode === "smoke" ? 4 : 20);
  if (wanted("local-engine")) await benchLocalEngine(mode === "smoke" ? 10_000 : 1_000_000);
  if (wanted("burst")) await benchBurst(mode === "smoke" ? 30 : 1_000, 10);
  if (wanted("history-growth")) await benchHistoryGrowth(mode === "smoke" ? 20 : 365, mode === "smoke" ? 1_000 : 10_000);
  if (wanted("time-to-report")) await benchTimeToReport(mode === "smoke" ? 50 : 1_000, mode === "smoke" ? [] : [0, 5, 10, 20]);
  if (wanted("memory")) await benchMemory(mode === "smoke" ? 10_000 : 1_000_000, mode === "smoke" ? 5e6 : 300e6);
  const out = values.out ?? path.join(root, "bench/results.json");
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        mode,
        date: new Date().toISOString(),
        machine: {
          cpus: os.cpus().length,
          model: os.cpus()[0]?.model,
          memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
          node: process.version,
          platform: `${os.platform()} ${os.arch()}`,
        },
        seconds: Math.round((Date.now() - started) / 1000),
        results,
      },
      null,
      2,
    )}\n`,
  );
  const missed = results.filter((r) => r.met === false);
  console.log(
    `\n${results.length} figures in ${Math.round((Date.now() - started) / 1000)} s, written to ${path.relative(process.cwd(), out)}; targets missed: ${missed.length ? missed.map((r) => `${r.group}: ${r.metric}`).join("; ") : "none"}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
