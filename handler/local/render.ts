import stringWidth from "string-width";
import { FileOutcome } from "../core/batch";
import { messageOf } from "../core/errors";
import { ReportWritten } from "../core/report-run";
import { Cell } from "../core/results";

/** How many rows of a report the terminal shows before pointing at the CSV. */
export const SHOWN_ROWS = 20;

/**
 * Characters a terminal would act on instead of showing: C0 and C1 controls (line breaks, escape
 * sequences that recolour or move the cursor), DEL, and the bidirectional overrides that reorder
 * what follows them. Data values are untrusted, so each is shown as an escape.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's job
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** A value as one line of visible text. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Pads to a display width: emoji and CJK take two columns, combining marks none. */
function pad(s: string, width: number, start: boolean): string {
  const fill = " ".repeat(Math.max(0, width - stringWidth(s)));
  return start ? fill + s : s + fill;
}

/** A report as an aligned text table; numbers right-aligned, NULL shown as a dash. */
export function table(columns: string[], rows: Array<Record<string, Cell>>): string {
  const cells = rows.map((r) => columns.map((c) => (r[c] === null ? "-" : printable(String(r[c])))));
  const widths = columns.map((c, i) => Math.max(stringWidth(c), ...cells.map((row) => stringWidth(row[i]))));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === null || typeof r[c] === "number"));
  const line = (values: string[]) =>
    values
      .map((v, i) => pad(v, widths[i], numeric[i]))
      .join("  ")
      .trimEnd();
  return [line(columns), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

export function renderReport(r: ReportWritten, outDir: string): string {
  const doc = r.document;
  const shown = doc.results.slice(0, SHOWN_ROWS);
  const more = r.rows - shown.length;
  const params = Object.entries(doc.parameters)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return [
    `== ${doc.report}${params ? ` (${params})` : ""}`,
    doc.description,
    "",
    doc.results.length === 0
      ? "(no rows)"
      : table(
          doc.columns.map((c) => c.name),
          shown,
        ),
    more > 0 ? `... and ${more} more rows in ${outDir}/reports/${doc.report}/latest.csv` : "",
    "",
  ]
    .filter((l, i, all) => !(l === "" && all[i - 1] === ""))
    .join("\n");
}

/** One line per file, plus the first few rejects with line, field and reason. */
export function renderFile(outcome: FileOutcome, outDir: string, rejectLines: string[]): string {
  // A file name can hold a line break or an escape sequence too.
  const f = { ...outcome, key: printable(outcome.key) };
  switch (f.status) {
    case "ignored":
      return `- ${f.key}: skipped (${f.reason})`;
    case "removed":
      return `- ${f.key}: gone, its rows were removed from the table`;
    case "failed":
      return `x ${f.key}: could not be processed: ${messageOf(f.error)}`;
    case "superseded":
      return `- ${f.key}: changed while it was read; the table keeps its current version`;
    case "ingested": {
      const r = f.result;
      const head = r.outcome === "curated" || r.outcome === "empty" ? "ok" : r.outcome === "rejected" ? "x " : "! ";
      const parts = [`${count(r.accepted)} accepted`];
      if (r.rejected > 0) parts.push(`${count(r.rejected)} rejected`);
      if (r.duplicateIds > 0) parts.push(`${count(r.duplicateIds)} repeated facility_id (the last record of each counts)`);
      if (r.fileProblems.length > 0) parts.push(r.fileProblems.join("; "));
      const unknown = Object.keys(r.unknownFields);
      if (unknown.length > 0) parts.push(`fields not in the schema, left out: ${printable(unknown.join(", "))}`);
      const lines = [`${head} ${f.key}: ${parts.join(", ")}`];
      lines.push(...rejectLines.map((l) => `     ${printable(l)}`));
      if (r.quarantineKey) lines.push(`     rejects and reasons: ${outDir}/${r.quarantineKey}`);
      return lines.join("\n");
    }
  }
}

/** Binary units, named as such: the divisor is 1024, so the unit is KiB, not KB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A count with thousands separators, the same on every machine whatever its locale. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}
