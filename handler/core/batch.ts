import { ReportContext, ReportDefinition } from "../reports/registry";
import { FacilityValidator } from "../schema/validator";
import { CurrentChanges, markNewOutput, reconcileCurrent } from "./current-state";
import { messageOf, notStartedError } from "./errors";
import { Change } from "./events";
import { forgetOtherVersions, ingestObject, IngestResult } from "./ingest";
import { curatedKey, isAcceptedName, quarantineKey } from "./keys";
import { mapLimit } from "./map-limit";
import { Deadline, OutputStore, QueryEngine, SourceStore, Telemetry } from "./ports";
import { ReportRunResult, runReports } from "./report-run";
import { SummaryPageWritten, writeSummaryPage } from "./summary-page";

export interface BatchDeps {
  source: SourceStore;
  output: OutputStore;
  engine: QueryEngine;
  validate: FacilityValidator;
  telemetry: Telemetry;
  deadline: Deadline;
  reports: readonly ReportDefinition[];
  context: ReportContext;
  maxRecordBytes: number;
  now: () => Date;
  /** Uploads processed at once. Each streams, so memory grows with this, not with file size. */
  concurrency?: number;
  onProgress?: (key: string, progress: { bytesRead: number; accepted: number; rejected: number }) => void;
}

export type FileOutcome =
  | { key: string; status: "ingested"; result: IngestResult }
  | { key: string; status: "removed" }
  /** Replaced or deleted while it was being read: its rows were dropped in favour of the current state. */
  | { key: string; status: "superseded"; result: IngestResult; currentVersion: string | undefined }
  | { key: string; status: "ignored"; reason: string }
  | { key: string; status: "failed"; error: unknown };

export interface BatchResult {
  files: FileOutcome[];
  /** Absent when nothing changed; an error when the report run failed. */
  reports?: { ok: true; run: ReportRunResult; summary: SummaryPageWritten } | { ok: false; error: unknown };
}

/**
 * One batch of upload changes: bring each upload's curated and quarantine objects in line with the
 * upload's current state, then run every report once for the whole batch.
 */
export async function processChanges(changes: Change[], deps: BatchDeps): Promise<BatchResult> {
  const keys = [...new Set(changes.map((c) => c.key))];
  // Best effort: unmarked, the first report run merges the history once more, which is correct, only slower.
  if (keys.some(isAcceptedName))
    await markNewOutput(deps.output, deps.now).catch((error: unknown) => deps.telemetry.warn("could not mark a new output", { error: messageOf(error) }));
  // Time kept for the merge and the reports: an upload is not started once less than this is left, so a
  // batch of large uploads ends with the ones it finished merged and reported, and the rest retried,
  // instead of timing out with all of them.
  const budgetMs = deps.deadline.remainingMs();
  const reserveMs = Math.max(RESERVE_SHARE * budgetMs, Math.min(MIN_RESERVE_MS, budgetMs / 2));
  let files = await mapLimit(keys, deps.concurrency ?? 4, (key) => {
    if (deps.deadline.remainingMs() < reserveMs) return Promise.resolve(deferred(key, deps));
    return applyChange(
      key,
      changes.filter((c) => c.key === key),
      deps,
    );
  });
  const changed = files.filter(changesHistory);
  if (changed.length === 0) return { files };
  try {
    // The current state follows the whole batch's changes in one pass over its shards, before the reports run.
    const { unsettled } = await reconcileCurrent(deps.output, currentChanges(changed));
    // An upload the state could not follow yet (its curated rows unreadable, or its versions moving) is
    // retried alone; the others are reported.
    files = files.map((f): FileOutcome => {
      const error = changesHistory(f) && unsettled.has(f.key) ? (unsettled.get(f.key) ?? new Error("not followed")) : undefined;
      if (error === undefined) return f;
      deps.telemetry.error("upload failed", { sourceKey: f.key, error: messageOf(error) });
      return { key: f.key, status: "failed", error };
    });
  } catch (error) {
    // The shards are shared by the whole batch: every change is retried, and a retry merges its curated objects again.
    deps.telemetry.error("current state update failed", { error: messageOf(error) });
    files = files.map((f): FileOutcome => (changesHistory(f) ? { key: f.key, status: "failed", error } : f));
    return { files };
  }
  const reported = files.filter(changesHistory);
  if (reported.length === 0) return { files };
  try {
    const run = await runReports(
      deps.reports,
      deps.context,
      reported.map((f) => f.key),
      deps,
    );
    // A separate step after the reports: one page over all of them and this batch's uploads.
    const summary = await writeSummaryPage(run, files, deps.output);
    return { files, reports: { ok: true, run, summary } };
  } catch (error) {
    deps.telemetry.error("report run failed", { error: messageOf(error) });
    return { files, reports: { ok: false, error } };
  }
}

/**
 * This share of the invocation's time at its start is kept for the merge and the reports, and at least
 * a minute (at most half of a short invocation's time, so its first uploads always start).
 */
const MIN_RESERVE_MS = 60_000;
const RESERVE_SHARE = 0.25;

function deferred(key: string, deps: BatchDeps): FileOutcome {
  deps.telemetry.warn("upload not started: the invocation's time is kept for the merge and the reports; retried later", { sourceKey: key });
  return { key, status: "failed", error: notStartedError("not started before the invocation's time ran short (a large batch); back in a few seconds") };
}

type HistoryChange = Extract<FileOutcome, { status: "ingested" | "removed" | "superseded" }>;

const changesHistory = (f: FileOutcome): f is HistoryChange => f.status === "ingested" || f.status === "removed" || f.status === "superseded";

/**
 * What the current state must follow: ingested versions' rows join it, and every changed upload's rows
 * must come from a version still curated. That is checked even when nothing was just removed here: an
 * earlier attempt may have removed the objects and failed before the shards followed.
 */
function currentChanges(changed: HistoryChange[]): CurrentChanges {
  const merge = changed.flatMap((f) => (f.status === "ingested" && f.result.curatedKey ? [f.result.curatedKey] : []));
  return { merge, follow: changed.map((f) => f.key) };
}

export const IGNORED_NAME_REASON = "not a .json, .jsonl or .ndjson upload (optionally .gz; any letter case)";

/**
 * The precise upload time of the version that was read, when one of its events names that version:
 * an event about an older version says nothing about the current one.
 */
function uploadedAt(version: string, events: Change[]): string | undefined {
  return events.find((c) => c.kind === "created" && c.version === version && c.eventTime)?.eventTime;
}

/**
 * An upload replaced while it was read is read again, at most twice more: in local mode no later event
 * would ingest the new version, and in Lambda this saves waiting for that event. A deleted upload is not.
 */
async function applyChange(key: string, events: Change[], deps: BatchDeps): Promise<FileOutcome> {
  let outcome = await applyChangeOnce(key, events, deps);
  for (let again = 0; again < 2 && outcome.status === "superseded" && outcome.currentVersion !== undefined; again++) {
    outcome = await applyChangeOnce(key, events, deps);
  }
  return outcome;
}

async function applyChangeOnce(key: string, events: Change[], deps: BatchDeps): Promise<FileOutcome> {
  if (!isAcceptedName(key)) {
    // The bucket notifies for every object so that nothing is ignored silently: a created object that is
    // not an upload is logged and counted (the ignored-uploads alarm watches this metric). A console
    // "folder" (a zero-byte key ending in `/`) and the removal of a non-upload are nobody's mistake.
    const folder = key.endsWith("/");
    const created = events.some((e) => e.kind === "created");
    if (folder || !created) {
      deps.telemetry.info("not an upload: nothing to do", { sourceKey: key });
      return { key, status: "ignored", reason: folder ? "a folder marker" : IGNORED_NAME_REASON };
    }
    deps.telemetry.warn("upload ignored: its name is not an accepted upload name", { sourceKey: key, reason: IGNORED_NAME_REASON });
    deps.telemetry.count("UploadsIgnored", 1);
    return { key, status: "ignored", reason: IGNORED_NAME_REASON };
  }
  try {
    const opened = await deps.source.open(key);
    const eventTime = opened && uploadedAt(opened.version, events);
    const object = opened && eventTime ? { ...opened, uploadedAt: eventTime } : opened;
    if (!object) {
      // Its facilities fall back to their previous latest record when the batch reconciles the current state.
      await forgetOtherVersions(key, undefined, deps.output);
      deps.telemetry.info("upload removed", { sourceKey: key });
      return { key, status: "removed" };
    }
    const result = await ingestObject(object, {
      output: deps.output,
      validate: deps.validate,
      maxRecordBytes: deps.maxRecordBytes,
      onProgress: deps.onProgress && ((p) => deps.onProgress?.(key, p)),
    });
    // Another invocation may have ingested a newer version, or removed the upload, while this one was
    // reading. S3 reads are strongly consistent, so asking now, after this version's objects are
    // written, is enough: whichever invocation asks last sees the final state and leaves only that.
    const currentVersion = await deps.source.currentVersion(key);
    // The version just read keeps exactly what was just written (rows of the same version written with
    // a different upload-time precision go); a newer current version keeps whatever it has.
    const written = [curatedKey(key, object.version, object.uploadedAt), quarantineKey(key, object.version, object.uploadedAt)];
    const keep =
      currentVersion === undefined ? undefined : currentVersion === object.version ? { version: currentVersion, keys: written } : { version: currentVersion };
    await forgetOtherVersions(key, keep, deps.output);
    if (currentVersion !== object.version) {
      deps.telemetry.warn("upload changed while it was read; its rows were dropped for the current state", {
        sourceKey: key,
        sourceVersion: object.version,
        currentVersion: currentVersion ?? null,
      });
      return { key, status: "superseded", result, currentVersion };
    }
    deps.telemetry.info("upload ingested", {
      sourceKey: key,
      sourceVersion: result.sourceVersion,
      outcome: result.outcome,
      accepted: result.accepted,
      rejected: result.rejected,
      fileProblems: result.fileProblems.length,
      unknownFields: Object.keys(result.unknownFields),
      duplicateIds: result.duplicateIds,
      bytesRead: result.bytesRead,
    });
    deps.telemetry.count("RecordsAccepted", result.accepted);
    deps.telemetry.count("RecordsRejected", result.rejected);
    if (result.outcome === "rejected") deps.telemetry.count("FilesRejected", 1);
    return { key, status: "ingested", result };
  } catch (error) {
    deps.telemetry.error("upload failed", { sourceKey: key, error: messageOf(error) });
    return { key, status: "failed", error };
  }
}
