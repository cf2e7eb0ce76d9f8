import { AthenaClient } from "@aws-sdk/client-athena";
import { S3Client } from "@aws-sdk/client-s3";
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { processChanges } from "../core/batch";
import { runReports } from "../core/report-run";
import { writeSummaryPage } from "../core/summary-page";
import { isNotStarted, isRetryable, messageOf, permanentError } from "../core/errors";
import { Change, parseS3Notification } from "../core/events";
import { retryDelaySeconds } from "../core/retry-schedule";
import { REPORTS } from "../reports/registry";
import { createFacilityValidator, FacilityValidator } from "../schema/validator";
import { AthenaEngineOptions, athenaEngine } from "./athena-engine";
import { s3OutputStore, s3SourceStore } from "./s3-store";
import { ProcessorSettings, readSettings } from "./settings";
import { LambdaTelemetry, powertoolsTelemetry } from "./telemetry";

export interface ProcessorDeps {
  settings: ProcessorSettings;
  s3: S3Client;
  athena: AthenaClient;
  sqs: SQSClient;
  telemetry: LambdaTelemetry;
  validate: FacilityValidator;
  now: () => Date;
  /** Overrides for tests (a fake sleep, a shorter safety margin). */
  athenaOptions?: Partial<AthenaEngineOptions>;
}

export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

export type ProcessorHandler = (event: ProcessorEvent, context: InvocationContext) => Promise<SQSBatchResponse | RefreshResult>;

/**
 * The scheduled refresh: EventBridge Scheduler invokes the function with this input, so the
 * date-dependent reports move on on days without uploads. `scheduledTime` is the schedule's
 * `<aws.scheduler.scheduled-time>`: a retry of the same fire computes the same as-of date.
 */
export interface RefreshEvent {
  facilityPipeline: typeof REFRESH_EVENT;
  scheduledTime?: string;
}

export const REFRESH_EVENT = "refresh-reports";

export type ProcessorEvent = SQSEvent | RefreshEvent;

export interface RefreshResult {
  refreshed: true;
  asOf: string;
  reports: Array<{ report: string; rows: number; latestUpdated: boolean }>;
}

/**
 * Which event this is, checked strictly: an SQS batch has a `Records` array of `aws:sqs` records;
 * a refresh has exactly the refresh marker (and optionally a valid scheduled time). Anything else
 * is neither, and is refused rather than guessed at.
 */
export function eventKind(event: unknown): "sqs" | "refresh" | "unknown" {
  if (typeof event !== "object" || event === null || Array.isArray(event)) return "unknown";
  const e = event as Record<string, unknown>;
  if (
    Array.isArray(e.Records) &&
    Object.keys(e).length === 1 &&
    e.Records.every((r) => typeof r === "object" && r !== null && (r as { eventSource?: unknown }).eventSource === "aws:sqs")
  )
    return "sqs";
  const keys = Object.keys(e).sort().join(",");
  if (e.facilityPipeline === REFRESH_EVENT && (keys === "facilityPipeline" || (keys === "facilityPipeline,scheduledTime" && isTimestamp(e.scheduledTime))))
    return "refresh";
  return "unknown";
}

const isTimestamp = (v: unknown) => typeof v === "string" && /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v));

/**
 * The processor Lambda, as a factory: Pulumi serializes this function, and Lambda runs it once per
 * cold start, so SDK clients and the compiled validator are built there rather than serialized.
 */
export function processorFactory(): ProcessorHandler {
  const settings = readSettings(process.env);
  // Adaptive retry mode backs off client-side when Athena or S3 throttle, before an error surfaces.
  const deps: ProcessorDeps = {
    settings,
    s3: new S3Client({ retryMode: "adaptive", maxAttempts: 5 }),
    athena: new AthenaClient({ retryMode: "adaptive", maxAttempts: 5 }),
    sqs: new SQSClient({}),
    telemetry: powertoolsTelemetry(),
    validate: createFacilityValidator(),
    now: () => new Date(),
  };
  return (event, context) => handleEvent(event, context, deps);
}

/** Routes an invocation: an upload batch from the queue, or the scheduled refresh. */
export async function handleEvent(event: unknown, context: InvocationContext, deps: ProcessorDeps): Promise<SQSBatchResponse | RefreshResult> {
  switch (eventKind(event)) {
    case "sqs":
      return handleUploadBatch(event as SQSEvent, context, deps);
    case "refresh":
      return handleRefresh(event as RefreshEvent, context, deps);
    case "unknown": {
      // Thrown, not acknowledged: an asynchronous invoke is retried and counted in Errors, so an
      // event from a misconfigured trigger is seen instead of silently doing nothing.
      const shape = typeof event === "object" && event !== null ? `an object with keys [${Object.keys(event).slice(0, 10).join(", ")}]` : typeof event;
      deps.telemetry.error("unknown event refused: neither an SQS batch nor the scheduled refresh", { shape });
      deps.telemetry.flush();
      throw permanentError(`unknown event: expected an SQS batch of upload events or {"facilityPipeline":"${REFRESH_EVENT}"}, got ${shape}`);
    }
  }
}

/**
 * The scheduled refresh: every report over the current table, as of the scheduled day. Nothing is
 * ingested. The query tokens derive from the table and the as-of date, so a second fire of the same
 * day (Scheduler delivers at least once, Lambda retries async invokes) finds the same executions and
 * overwrites the same run objects: it costs no new query. A failure is thrown, so Lambda's async
 * retries run it again and the Errors metric and the refresh alarm see it.
 */
export async function handleRefresh(event: RefreshEvent, context: InvocationContext, deps: ProcessorDeps): Promise<RefreshResult> {
  const { settings, telemetry } = deps;
  const asOf = (event.scheduledTime ? new Date(event.scheduledTime) : deps.now()).toISOString().slice(0, 10);
  const output = s3OutputStore(deps.s3, settings.outputBucket);
  try {
    const run = await runReports(REPORTS, { asOf, monthsAhead: settings.expiringWithinMonths }, [], {
      output,
      engine: athenaEngine(deps.athena, { workgroup: settings.workgroup, database: settings.database, ...deps.athenaOptions }),
      telemetry,
      deadline: { remainingMs: () => context.getRemainingTimeInMillis() },
      now: deps.now,
    });
    const summary = await writeSummaryPage(run, [], output);
    telemetry.info("reports refreshed", {
      asOf,
      reports: run.reports.map((r) => ({ report: r.report, rows: r.rows, executionId: r.executionId, latestUpdated: r.latestUpdated })),
      curatedObjects: run.curatedObjects,
      summaryPage: summary.runKey,
    });
    return { refreshed: true, asOf, reports: run.reports.map((r) => ({ report: r.report, rows: r.rows, latestUpdated: r.latestUpdated })) };
  } catch (error) {
    telemetry.error("scheduled report refresh failed", { asOf, error: messageOf(error), retryable: isRetryable(error) });
    telemetry.count("RefreshesFailed", 1);
    throw error;
  } finally {
    telemetry.flush();
  }
}

interface MessageFailure {
  error: unknown;
}

/**
 * One SQS batch of S3 notifications. Returns the messages to retry as batch item failures. A message
 * whose failure no retry can fix, or that is on its last receive, is sent to the dead-letter queue by
 * the function itself with the reason attached, then acknowledged.
 */
export async function handleUploadBatch(event: SQSEvent, context: InvocationContext, deps: ProcessorDeps): Promise<SQSBatchResponse> {
  const { settings, telemetry } = deps;
  const failures = new Map<string, MessageFailure>();
  const changesOf = new Map<string, Change[]>();

  for (const record of event.Records) {
    const parsed = parseS3Notification(record.body, settings.rawBucket);
    if (parsed.kind === "test") {
      telemetry.info("S3 test event acknowledged", { messageId: record.messageId });
    } else if (parsed.kind === "invalid") {
      failures.set(record.messageId, { error: permanentError(`not an upload event: ${parsed.reason}`) });
    } else {
      changesOf.set(record.messageId, parsed.changes);
    }
  }

  // Messages tried most often, then those put back most often, first: a batch short of time leaves the
  // uploads it reaches last for later, so none waits behind newer ones twice.
  const rank = new Map(event.Records.map((r) => [r.messageId, Number(r.attributes?.ApproximateReceiveCount ?? "1") * 1000 + deferralsOf(r)]));
  const ordered = [...changesOf].sort(([a], [b]) => (rank.get(b) ?? 0) - (rank.get(a) ?? 0));
  const changes = ordered.flatMap(([, list]) => list);
  if (changes.length > 0) {
    const now = deps.now();
    const result = await processChanges(changes, {
      source: s3SourceStore(deps.s3, settings.rawBucket),
      output: s3OutputStore(deps.s3, settings.outputBucket),
      engine: athenaEngine(deps.athena, { workgroup: settings.workgroup, database: settings.database, ...deps.athenaOptions }),
      validate: deps.validate,
      telemetry,
      deadline: { remainingMs: () => context.getRemainingTimeInMillis() },
      reports: REPORTS,
      context: { asOf: now.toISOString().slice(0, 10), monthsAhead: settings.expiringWithinMonths },
      maxRecordBytes: settings.maxRecordBytes,
      now: deps.now,
    });
    const failedKeys = new Map(result.files.flatMap((f) => (f.status === "failed" ? [[f.key, f.error] as const] : [])));
    for (const [messageId, list] of changesOf) {
      // A real failure of one of the message's uploads outweighs another's deferral.
      const failed = list.find((c) => failedKeys.has(c.key) && !isNotStarted(failedKeys.get(c.key))) ?? list.find((c) => failedKeys.has(c.key));
      if (failed) failures.set(messageId, { error: failedKeys.get(failed.key) });
      else if (result.reports && !result.reports.ok) failures.set(messageId, { error: result.reports.error });
    }
    if (result.reports?.ok) {
      telemetry.info("reports written", {
        reports: result.reports.run.reports.map((r) => ({ report: r.report, rows: r.rows, executionId: r.executionId, latestUpdated: r.latestUpdated })),
        curatedObjects: result.reports.run.curatedObjects,
        summaryPage: result.reports.summary.runKey,
      });
    }
  }

  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  let deferred = 0;
  for (const record of event.Records) {
    const failure = failures.get(record.messageId);
    if (!failure) continue;
    const receives = Number(record.attributes?.ApproximateReceiveCount ?? "1");
    if (isNotStarted(failure.error)) {
      // Not a failure of the upload: put back as a new message (its receives, and so its retries, stay
      // unused) after a short delay, and not counted as failed.
      if (await requeue(deps, record)) continue;
      deferred++;
      const delaySeconds = await scheduleRetry(deps, record.receiptHandle, receives, record.messageId, NOT_STARTED_DELAY_SECONDS);
      telemetry.info("upload message not started; back soon", { messageId: record.messageId, receives, retryInSeconds: delaySeconds ?? null });
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    const permanent = !isRetryable(failure.error);
    const reason = messageOf(failure.error);
    if (permanent || receives >= settings.maxReceiveCount) {
      const sent = await deadLetter(deps, record.body, {
        reason,
        errorClass: permanent ? "permanent" : "retries-exhausted",
        sourceMessageId: record.messageId,
        receives,
      });
      if (sent) continue;
    } else {
      const delaySeconds = await scheduleRetry(deps, record.receiptHandle, receives, record.messageId);
      telemetry.warn("upload message will be retried", { messageId: record.messageId, receives, reason, retryInSeconds: delaySeconds ?? null });
    }
    batchItemFailures.push({ itemIdentifier: record.messageId });
  }
  telemetry.count("MessagesFailed", batchItemFailures.length - deferred);
  telemetry.flush();
  return { batchItemFailures };
}

/** A message whose upload the batch did not start comes back after this, not after the backoff. */
const NOT_STARTED_DELAY_SECONDS = 10;

const DEFERRALS = "deferrals";
const deferralsOf = (record: SQSRecord) => Number(record.messageAttributes?.[DEFERRALS]?.stringValue ?? "0") || 0;

/**
 * Puts a message whose upload was not started back on the queue as a new message, counting how often
 * (the next batch starts it before others), and acknowledges the original. False when it could not be
 * sent: the message then comes back through its visibility instead, using one receive.
 */
async function requeue(deps: ProcessorDeps, record: SQSRecord): Promise<boolean> {
  const deferrals = deferralsOf(record) + 1;
  try {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.settings.uploadQueueUrl,
        MessageBody: record.body,
        DelaySeconds: NOT_STARTED_DELAY_SECONDS,
        MessageAttributes: { [DEFERRALS]: { DataType: "Number", StringValue: String(deferrals) } },
      }),
    );
    deps.telemetry.info("upload message not started; put back", { messageId: record.messageId, deferrals, backInSeconds: NOT_STARTED_DELAY_SECONDS });
    return true;
  } catch (e) {
    deps.telemetry.warn("could not put a message back; it returns through its visibility", { messageId: record.messageId, error: messageOf(e) });
    return false;
  }
}

/**
 * Brings a failed message back after the backoff instead of the queue's visibility timeout (30-60
 * minutes). Lambda leaves a reported batch item failure in the queue as it is, so the visibility set
 * here is what decides when it is received again. Returns the delay, or undefined when it could not be
 * set (the message then waits out the queue's visibility timeout: later, but not lost).
 */
async function scheduleRetry(
  deps: ProcessorDeps,
  receiptHandle: string,
  receives: number,
  messageId: string,
  delaySeconds = retryDelaySeconds(receives),
): Promise<number | undefined> {
  try {
    await deps.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: deps.settings.uploadQueueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: delaySeconds,
      }),
    );
    return delaySeconds;
  } catch (e) {
    deps.telemetry.warn("could not shorten the retry delay; the message waits out the queue's visibility timeout", { messageId, error: messageOf(e) });
    return undefined;
  }
}

async function deadLetter(
  deps: ProcessorDeps,
  body: string,
  info: { reason: string; errorClass: string; sourceMessageId: string; receives: number },
): Promise<boolean> {
  const text = (value: string) => ({ DataType: "String", StringValue: value.slice(0, 4000) || "-" });
  try {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.settings.deadLetterQueueUrl,
        // The original S3 notification, so a redrive to the uploads queue reprocesses it as it was.
        MessageBody: body,
        MessageAttributes: {
          reason: text(info.reason),
          errorClass: text(info.errorClass),
          sourceMessageId: text(info.sourceMessageId),
          receiveCount: { DataType: "Number", StringValue: String(info.receives) },
        },
      }),
    );
    deps.telemetry.error("upload message sent to the dead-letter queue", { messageId: info.sourceMessageId, errorClass: info.errorClass, reason: info.reason });
    deps.telemetry.count("DeadLettered", 1);
    return true;
  } catch (e) {
    // Not lost: returned as a failure, SQS redelivers it and finally moves it to the DLQ itself.
    deps.telemetry.error("sending to the dead-letter queue failed; leaving the message to SQS", { messageId: info.sourceMessageId, error: messageOf(e) });
    return false;
  }
}
