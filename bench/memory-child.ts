/**
 * One memory measurement in a fresh process (peak RSS is this work's alone):
 *   report N   - the real report writer (handler/core/report-run.ts) over a fake engine that yields N
 *                rows of facility-metrics in pages of 1,000, into a store that discards the bytes
 *   materialize N - the baseline: the same N rows built in memory at once, as the old code held them
 *   load       - only loads the modules
 * Prints one JSON line: peak RSS in MB, rows written, seconds.
 */
import { ListedObject, OutputStore, QueryEngine, QueryResult, SILENT_TELEMETRY } from "../handler/core/ports";
import { runReports } from "../handler/core/report-run";
import { REPORTS } from "../handler/reports/registry";
import { peakRssMb } from "./peak-rss";

const report = REPORTS.find((r) => r.name === "facility-metrics")!;
const row = (i: number): unknown[] => [`FAC${String(i).padStart(8, "0")}`, `Facility ${i} Medical Center`, BigInt(i % 5000), i % 6, "2027-03-14"];

function discardingStore(): OutputStore & { bytes: number } {
  const store = {
    bytes: 0,
    async put(_k: string, body: string) {
      store.bytes += Buffer.byteLength(body);
    },
    async putStream(_k: string, body: AsyncIterable<Uint8Array>) {
      for await (const c of body) store.bytes += c.length;
    },
    async *stream(): AsyncIterable<Uint8Array> {
      /* `latest` copies read nothing back here */
    },
    async delete() {},
    async list(): Promise<ListedObject[]> {
      return [];
    },
    async replaceIfNewer() {
      return true;
    },
    async read() {
      return undefined;
    },
    async putIfUnchanged() {
      return true;
    },
  };
  return store;
}

async function main(): Promise<void> {
  const [mode, n] = [process.argv[2], Number(process.argv[3] ?? "0")];
  const started = process.hrtime.bigint();
  let rows = 0;
  if (mode === "report") {
    async function* pages(): AsyncGenerator<unknown[][]> {
      for (let from = 0; from < n; from += 1000) yield Array.from({ length: Math.min(1000, n - from) }, (_, k) => row(from + k));
    }
    const engine: QueryEngine = {
      name: "fake",
      run: async (): Promise<QueryResult> => ({ executionId: "fake-1", columns: report.columns.map((c) => c.name), rows: pages() }),
    };
    const run = await runReports([report], { asOf: "2026-11-27", monthsAhead: 6 }, ["bench/upload.ndjson"], {
      output: discardingStore(),
      engine,
      telemetry: SILENT_TELEMETRY,
      deadline: { remainingMs: () => Infinity },
      now: () => new Date(),
    });
    rows = run.reports[0].rows;
  } else if (mode === "materialize") {
    const all = Array.from({ length: n }, (_, i) => row(i));
    rows = all.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${JSON.stringify({ peakRssMb: peakRssMb(), rows, seconds })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
