import * as path from "path";
import { renderSummaryPage, SummaryUpload } from "../reports/html";
import { messageOf } from "./errors";
import type { FileOutcome } from "./batch";
import { sha256 } from "./keys";
import { OUTPUT_LAYOUT } from "./layout";
import { OutputStore } from "./ports";
import { ReportRunResult } from "./report-run";

/** The summary page every report run leaves in the output store. */
export interface SummaryPageWritten {
  /** `reports/runs/<as-of>/<run>.html`: this run's page, overwritten by a retry of the same run. */
  runKey: string;
  /** `reports/latest.html`. */
  latestKey: string;
  /** False when a run over a newer view of the table had already replaced `latest.html`. */
  latestUpdated: boolean;
  bytes: number;
}

export const LATEST_SUMMARY_KEY = `${OUTPUT_LAYOUT.reports}latest.html`;
const HTML = "text/html; charset=utf-8";

/**
 * Writes the HTML summary of a report run (see handler/reports/html.ts): once under a key derived from
 * the run's report outputs and uploads, so a retried batch overwrites its own page, and as
 * `reports/latest.html` with the same move-forward-only rule as each report's `latest` copies.
 */
export async function writeSummaryPage(run: ReportRunResult, files: FileOutcome[], output: OutputStore): Promise<SummaryPageWritten> {
  const documents = run.reports.map((r) => r.document);
  const first = documents[0];
  const asOf = first?.as_of ?? "";
  const uploads = files.map(uploadLine);
  const id = sha256(JSON.stringify({ outputs: run.reports.map((r) => r.jsonKey), uploads })).slice(0, 16);
  const runKey = `${OUTPUT_LAYOUT.reports}runs/${asOf}/${id}.html`;
  const page = (pageKey: string, csvOf: (r: ReportRunResult["reports"][number]) => string) =>
    renderSummaryPage({
      asOf,
      generatedAt: first?.execution_time ?? "",
      engine: first?.engine ?? "",
      curatedObjects: run.curatedObjects,
      reports: documents,
      uploads,
      // Relative links, so the page and its CSVs can be downloaded or synced as a folder and still work.
      csvHrefs: Object.fromEntries(run.reports.map((r) => [r.report, path.posix.relative(path.posix.dirname(pageKey), csvOf(r))])),
    });
  const perRun = page(runKey, (r) => r.csvKey);
  const latest = page(LATEST_SUMMARY_KEY, (r) => `${OUTPUT_LAYOUT.reports}${r.report}/latest.csv`);
  await output.put(runKey, perRun, HTML);
  const latestUpdated = await output.replaceIfNewer(LATEST_SUMMARY_KEY, latest, HTML, first?.inputs.listed_at ?? "");
  return { runKey, latestKey: LATEST_SUMMARY_KEY, latestUpdated, bytes: Buffer.byteLength(latest) };
}

function uploadLine(f: FileOutcome): SummaryUpload {
  switch (f.status) {
    case "ingested": {
      const r = f.result;
      return { file: f.key, status: r.outcome, accepted: r.accepted, rejected: r.rejected, problems: r.fileProblems, quarantine: r.quarantineKey };
    }
    case "removed":
      return { file: f.key, status: "removed", accepted: 0, rejected: 0, problems: [] };
    case "ignored":
      return { file: f.key, status: "ignored", accepted: 0, rejected: 0, problems: [f.reason] };
    case "failed":
      return { file: f.key, status: "failed", accepted: 0, rejected: 0, problems: [messageOf(f.error)] };
    case "superseded":
      return { file: f.key, status: "superseded", accepted: 0, rejected: 0, problems: ["changed while it was read: the table keeps its current version"] };
  }
}
