import { ReportContext, ReportDefinition } from "../reports/registry";
import { FacilityValidator } from "../schema/validator";
import { mergeCuratedObject, revertRemovedVersions } from "./current-state";
import { messageOf } from "./errors";
import { Change } from "./events";
import { forgetOtherVersions, ingestObject, IngestResult } from "./ingest";
import { curatedKey, isAcceptedName, quarantineKey } from "./keys";
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
  // Uploads of one batch ingest in parallel but take turns at the current state: they would otherwise
  // only make each other's compare-and-swap fail and re-read the same shards.
  const inTurn = serial();
  const files = await mapLimit(keys, deps.concurrency ?? 4, (key) =>
    applyChange(
      key,
      changes.filter((c) => c.key === key),
      deps,
      inTurn,
    ),
  );
  const changed = files.filter((f) => f.status === "ingested" || f.status === "removed" || f.status === "superseded");
  if (changed.length === 0) return { files };
  try {
    const run = await runReports(
      deps.reports,
      deps.context,
      changed.map((f) => f.key),
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
async function applyChange(key: string, events: Change[], deps: BatchDeps, inTurn: Serial): Promise<FileOutcome> {
  let outcome = await applyChangeOnce(key, events, deps, inTurn);
  for (let again = 0; again < 2 && outcome.status === "superseded" && outcome.currentVersion !== undefined; again++) {
    outcome = await applyChangeOnce(key, events, deps, inTurn);
  }
  return outcome;
}

async function applyChangeOnce(key: string, events: Change[], deps: BatchDeps, inTurn: Serial): Promise<FileOutcome> {
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
      await forgetOtherVersions(key, undefined, deps.output);
      // Its facilities fall back to their previous latest record, before the reports run.
      await inTurn(() => revertRemovedVersions(deps.output, key, undefined));
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
    await inTurn(async () => {
      // The current state follows the curated history before the reports run: this version's rows are
      // merged if it is still the upload's version, and rows of the upload's other versions fall back.
      // The fallback is checked even when nothing was just removed here: an earlier attempt may have
      // removed the objects and failed before the shards followed.
      if (currentVersion === object.version && result.curatedKey) await mergeCuratedObject(deps.output, result.curatedKey);
      await revertRemovedVersions(deps.output, key, currentVersion);
    });
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

type Serial = <T>(step: () => Promise<T>) => Promise<T>;

/** Runs the steps given to it one at a time, in the order given. */
function serial(): Serial {
  let tail: Promise<unknown> = Promise.resolve();
  return (step) => {
    const run = tail.then(step);
    tail = run.catch(() => undefined);
    return run;
  };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
