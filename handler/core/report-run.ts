import { bindParameters, parameterValues, ReportContext, ReportDefinition } from "../reports/registry";
import { isRetryable, messageOf, permanentError, retryableError } from "./errors";
import { curatedRowSchema } from "../schema/facility";
import { buildCurrentIfMissing, CURRENT_SHARDS, reportedDigest } from "./current-state";
import { mapLimit } from "./map-limit";
import { sha256 } from "./keys";
import { OUTPUT_LAYOUT } from "./layout";
import { Deadline, OutputStore, QueryEngine, QueryResult, Telemetry } from "./ports";
import { checkColumns, estimatedCostUsd, pagesOf, PREVIEW_ROWS, ReportDocument, reportCsvWriter, Row, typedRow } from "./results";
import { TextStream } from "./text-stream";

export interface ReportRunDeps {
  output: OutputStore;
  engine: QueryEngine;
  telemetry: Telemetry;
  deadline: Deadline;
  now: () => Date;
}

export interface ReportWritten {
  report: string;
  executionId: string;
  rows: number;
  jsonKey: string;
  csvKey: string;
  /** False when a newer run had already replaced the `latest` copy. */
  latestUpdated: boolean;
  bytesScanned?: number;
  document: ReportDocument;
}

export interface ReportRunResult {
  fingerprint: string;
  curatedObjects: number;
  reports: ReportWritten[];
}

/**
 * Runs every report once over the current-state table and writes JSON and CSV for each.
 *
 * The query token is derived from the report, its SQL, its parameters, the as-of date and the
 * fingerprint of the table the reports read (`tableFingerprint`). A retried invocation over unchanged data therefore presents the
 * same token, and Athena hands back the execution it already ran or is running instead of billing a
 * new one; output keys derive from the same token, so a retry overwrites instead of duplicating.
 */
export async function runReports(
  reports: readonly ReportDefinition[],
  context: ReportContext,
  sourceFiles: string[],
  deps: ReportRunDeps,
): Promise<ReportRunResult> {
  // Stamped before listing: a run stamped later started listing later, so it saw at least every object
  // committed before this one began, and `latest` never moves to a listing that could have missed more.
  const rebuilt = await buildCurrentIfMissing(deps.output, deps.now);
  if (rebuilt > 0) deps.telemetry.warn("built the current state from the curated history (it had none yet)", { curatedObjects: rebuilt });
  const listedAt = deps.now().toISOString();
  const [listed, shards] = await Promise.all([deps.output.list(OUTPUT_LAYOUT.curated), deps.output.list(OUTPUT_LAYOUT.current)]);
  // Read side by side: each is one S3 round trip, and the shards are small (about one snapshot in all).
  const digested = await mapLimit(
    shards.filter((s) => s.key.endsWith(".ndjson.gz")),
    CURRENT_SHARDS,
    async (o) => {
      const stored = await deps.output.read(o.key);
      // A shard left empty by a removal holds nothing the reports see, as a shard that was never written.
      const digest = stored ? await reportedDigest(stored.body) : undefined;
      return digest === undefined ? undefined : `${o.key}\t${digest}`;
    },
  );
  const digests = digested.filter((d): d is string => d !== undefined);
  const fingerprint = tableFingerprint(digests);

  const settled = await mapLimit(reports, deps.engine.runsAtOnce ?? reports.length, (r) =>
    runOne(r, { context, sourceFiles, listedAt, fingerprint, curatedObjects: listed.length }, deps).then(
      (value): PromiseSettledResult<Awaited<ReturnType<typeof runOne>>> => ({ status: "fulfilled", value }),
      (reason: unknown): PromiseRejectedResult => ({ status: "rejected", reason }),
    ),
  );
  const failures = settled.flatMap((s, i) => (s.status === "rejected" ? [{ report: reports[i].name, error: s.reason as unknown }] : []));
  if (failures.length > 0) {
    const reason = failures.map((f) => `${f.report}: ${messageOf(f.error)}`).join("; ");
    // Retrying cannot fix a permanent failure, so one permanent failure makes the whole run permanent.
    throw failures.every((f) => isRetryable(f.error)) ? retryableError(reason) : permanentError(reason);
  }
  return {
    fingerprint,
    curatedObjects: listed.length,
    reports: settled.map((s) => (s as PromiseFulfilledResult<ReportWritten>).value),
  };
}

/**
 * Raise when the rows written for the same upload version change in a way the schema does not show
 * (normalization, ingest fields): the fingerprint then changes and reports are recomputed.
 */
export const CURATED_FORMAT = 1;

/**
 * The content identity of the table the reports read: a digest of every current-state shard's rows
 * as the reports see them (`reportedDigest`), which the processor reads (the shards hold about one
 * snapshot) and hashes itself, plus the row schema and format. Never ETags: S3 gives SSE-KMS and multipart objects ETags that are
 * not content digests and change on every rewrite (Amazon S3 API Reference, Object: "ETag"), so a
 * re-delivered batch that rewrites identical rows would present new tokens and pay again. Not the
 * curated keys either: an upload whose curated object was written but whose merge failed would leave
 * the keys ahead of the table, and its successful retry would then find the stale result under the
 * same token.
 */
export function tableFingerprint(shardDigests: string[]): string {
  const format = sha256(JSON.stringify({ format: CURATED_FORMAT, schema: curatedRowSchema }));
  return sha256([format, ...[...shardDigests].sort()].join("\n"));
}

interface RunInputs {
  context: ReportContext;
  sourceFiles: string[];
  listedAt: string;
  fingerprint: string;
  curatedObjects: number;
}

async function runOne(report: ReportDefinition, inputs: RunInputs, deps: ReportRunDeps): Promise<ReportWritten> {
  const params = bindParameters(report, inputs.context);
  // The as-of date is part of every token, even of reports that do not depend on it: Athena does not
  // document how long it honours a ClientRequestToken, and an execution found again after its scratch
  // results expired (`scratchExpirationDays`) could not be read. A new day costs one query per report.
  const token = sha256(JSON.stringify({ report: report.name, sql: sha256(report.sql), params, asOf: inputs.context.asOf, inputs: inputs.fingerprint }));
  const started = Date.now();
  const result = await deps.engine.run({ name: report.name, sql: report.sql, params, token, deadline: deps.deadline });
  const base = `${OUTPUT_LAYOUT.reports}${report.name}`;
  const run = `${base}/runs/${inputs.context.asOf}/${token.slice(0, 16)}`;

  const header: Omit<ReportDocument, "results" | "result_count"> = {
    report: report.name,
    description: report.description,
    engine: deps.engine.name,
    query_execution_id: result.executionId,
    source_file: inputs.sourceFiles[0] ?? null,
    source_files: inputs.sourceFiles,
    execution_time: deps.now().toISOString(),
    as_of: inputs.context.asOf,
    parameters: parameterValues(report, inputs.context),
    inputs: { curated_objects: inputs.curatedObjects, fingerprint: inputs.fingerprint, listed_at: inputs.listedAt },
    statistics: {
      bytes_scanned: result.bytesScanned ?? null,
      engine_execution_ms: result.engineMs ?? null,
      estimated_cost_usd: estimatedCostUsd(result.bytesScanned),
    },
    columns: report.columns,
  };
  const { count, preview } = await writeRunObjects(report, header, result.rows, run, deps.output);
  deps.telemetry.milliseconds("ReportQueryTime", Date.now() - started);
  deps.telemetry.count("ReportsRun", 1);
  if (result.bytesScanned !== undefined) deps.telemetry.bytes("BytesScanned", result.bytesScanned);

  // `latest` only moves forward: a slower run over an older view of the table must not replace it.
  // It is a copy of this run's objects, streamed from the store, so its size never has to fit in memory.
  const stamp = inputs.listedAt;
  const [jsonUpdated, csvUpdated] = await Promise.all([
    deps.output.replaceIfNewer(`${base}/latest.json`, () => deps.output.stream(`${run}.json`), "application/json", stamp),
    deps.output.replaceIfNewer(`${base}/latest.csv`, () => deps.output.stream(`${run}.csv`), "text/csv", stamp),
  ]);
  return {
    report: report.name,
    executionId: result.executionId,
    rows: count,
    jsonKey: `${run}.json`,
    csvKey: `${run}.csv`,
    latestUpdated: jsonUpdated && csvUpdated,
    bytesScanned: result.bytesScanned,
    document: { ...header, result_count: count, results: preview },
  };
}

/**
 * Writes a run's JSON and CSV a page of rows at a time, as the engine delivers them: memory holds a
 * page and the first PREVIEW_ROWS rows, whatever the result's size. The JSON stays one valid
 * document: its metadata first, then `results`, then `result_count` (known only at the end), one
 * row per line.
 */
async function writeRunObjects(
  report: ReportDefinition,
  header: Omit<ReportDocument, "results" | "result_count">,
  rows: QueryResult["rows"],
  run: string,
  output: OutputStore,
): Promise<{ count: number; preview: Row[] }> {
  checkColumns(
    report,
    header.columns.map((c) => c.name),
  );
  const json = new TextStream(output, `${run}.json`, "application/json");
  const csv = new TextStream(output, `${run}.csv`, "text/csv");
  const csvText = reportCsvWriter(header);
  const preview: Row[] = [];
  let count = 0;
  try {
    const head = JSON.stringify(header, null, 2);
    await Promise.all([json.write(`${head.slice(0, head.lastIndexOf("}")).trimEnd()},\n  "results": [`), csv.write(csvText.header)]);
    for await (const page of pagesOf(rows)) {
      const typed = page.map((raw) => typedRow(report, raw));
      let text = "";
      for (const row of typed) text += `${count++ === 0 ? "" : ","}\n    ${JSON.stringify(row)}`;
      for (const row of typed) if (preview.length < PREVIEW_ROWS) preview.push(row);
      await Promise.all([json.write(text), csv.write(csvText.lines(typed))]);
    }
    await json.write(`${count === 0 ? "" : "\n  "}],\n  "result_count": ${count}\n}\n`);
    await Promise.all([json.close(), csv.close()]);
  } catch (error) {
    json.abort(error as Error);
    csv.abort(error as Error);
    throw error;
  }
  return { count, preview };
}
