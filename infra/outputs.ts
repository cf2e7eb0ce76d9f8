import { OUTPUT_LAYOUT } from "../handler/core/layout";
import { REPORTS } from "../handler/reports/registry";

/**
 * Texts the stack exports for operators. Pure functions of the physical names, so tests can run the
 * commands they build against a local output folder laid out like the bucket.
 */

/** Where the reports live: `<report>/latest.{json,csv}`, the per-run files and `latest.html`. */
export function reportsUri(outputBucket: string): string {
  return `s3://${outputBucket}/${OUTPUT_LAYOUT.reports}`;
}

/**
 * A POSIX shell command that prints each report's latest CSV under a `== <report>` heading. It names
 * the reports explicitly rather than listing the prefix, so it needs only s3:GetObject (and KMS
 * decrypt) and shows every report even before one has run (the copy then says the key is missing).
 */
export function latestReportsCommand(outputBucket: string): string {
  const names = REPORTS.map((r) => r.name).join(" ");
  return `for r in ${names}; do echo "== $r"; aws s3 cp "${reportsUri(outputBucket)}$r/latest.csv" -; done`;
}
