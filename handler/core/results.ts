import { ReportColumn, ReportDefinition } from "../reports/registry";
import { permanentError } from "./errors";
import { QueryResult } from "./ports";

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

/** Athena bills $5 per TB scanned, with a 10 MB minimum per query. */
export function estimatedCostUsd(bytesScanned: number | undefined): number | null {
  if (bytesScanned === undefined) return null;
  const billed = Math.max(bytesScanned, 10 * 1024 * 1024);
  return Math.round((billed / 1e12) * 5 * 1e6) / 1e6;
}

/** Fails with the difference when an engine's columns are not the report's declared ones. */
export function checkColumns(report: ReportDefinition, columns: string[]): void {
  const expected = report.columns.map((c) => c.name);
  if (columns.join(",") !== expected.join(",")) {
    throw permanentError(`report ${report.name} returned columns [${columns.join(", ")}], expected [${expected.join(", ")}]`);
  }
}

/** Converts one raw row to the report's declared column types. */
export function typedRow(report: ReportDefinition, raw: unknown[]): Row {
  const row: Row = {};
  report.columns.forEach((c, i) => {
    row[c.name] = convert(raw[i], c, report.name);
  });
  return row;
}

/** Converts an engine's raw rows held in memory (a small result) to the report's column types. */
export function typedRows(report: ReportDefinition, result: { executionId?: string; columns: string[]; rows: unknown[][] }): Row[] {
  checkColumns(report, result.columns);
  return result.rows.map((raw) => typedRow(report, raw));
}

/** The pages of a query result, whether the engine returned them at once or as a stream. */
export async function* pagesOf(rows: QueryResult["rows"]): AsyncGenerator<unknown[][]> {
  if (Array.isArray(rows)) {
    yield rows;
    return;
  }
  yield* rows;
}

function convert(value: unknown, column: ReportColumn, report: string): Cell {
  if (value === null || value === undefined) return null;
  const text = scalarText(value);
  const bad = () =>
    permanentError(
      `report ${report}: column ${column.name} (${column.type}) got ${text === undefined ? `a value of type ${typeof value}` : JSON.stringify(text)}`,
    );
  if (text === undefined) throw bad();
  switch (column.type) {
    case "integer": {
      const n = typeof value === "bigint" ? Number(value) : typeof value === "number" ? value : Number(text);
      if (!Number.isSafeInteger(n)) throw bad();
      return n;
    }
    case "date":
      if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) throw bad();
      return text;
    case "string":
      return text;
  }
}

/** The engines answer with scalars (Athena: text; DuckDB: text, numbers, bigints, booleans); anything else is a bug. */
function scalarText(value: unknown): string | undefined {
  return typeof value === "string" || typeof value === "number" || typeof value === "bigint" || typeof value === "boolean" ? String(value) : undefined;
}

/** A text cell a spreadsheet would evaluate as a formula when it starts with one of these. */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * RFC 4180 CSV with a header row; NULL is an empty field. Text cells that start like a formula are
 * written with a leading `'` and quoted (OWASP's CSV-injection guidance), so a facility named
 * `=HYPERLINK(...)` stays text when an analyst opens the file. Integer and date columns are data, not
 * text, and stay as they are: -5 is a number. The JSON keeps every value as it is.
 */
export function toCsv(columns: ReportColumn[], rows: Row[]): string {
  return csvHeader(columns) + csvLines(columns, rows);
}

const quoted = (s: string) => `"${s.replace(/"/g, '""')}"`;
function field(v: Cell | undefined, text: boolean): string {
  if (v === null || v === undefined) return "";
  const s = String(v);
  if (text && FORMULA_START.test(s)) return quoted(`'${s}`);
  return /[",\r\n]|^\s|\s$/.test(s) ? quoted(s) : s;
}

/** The header line of `toCsv`, so a long CSV can be written a page of rows at a time. */
export function csvHeader(columns: ReportColumn[]): string {
  return `${columns.map((c) => field(c.name, true)).join(",")}\r\n`;
}

/** Rows of `toCsv`, each line ending with CRLF. */
export function csvLines(columns: ReportColumn[], rows: Row[]): string {
  let out = "";
  for (const r of rows) out += `${columns.map((c) => field(r[c.name], c.type === "string")).join(",")}\r\n`;
  return out;
}

/**
 * Byte order mark written at the start of every report CSV. Excel decodes a CSV without one in the
 * machine's legacy code page (Windows-1252 in most of the Americas and Europe), so a facility named
 * "Clínica San José" would show as "ClÃ­nica San JosÃ©"; with it, Excel reads UTF-8. Programs should
 * read the JSON, whose values are typed; of CSV readers, DuckDB skips the mark, and Python's csv module
 * does with `encoding="utf-8-sig"` (plain "utf-8" keeps it in the first header).
 */
export const CSV_BOM = "\uFEFF";

/**
 * The CSV of one report run, readable on its own: a report whose results depend on the as-of date
 * carries it in a leading `as_of` column, since a CSV has no place for the JSON's metadata and
 * `latest.csv` is otherwise indistinguishable from yesterday's copy.
 */
export function reportCsv(document: Pick<ReportDocument, "as_of" | "parameters" | "columns" | "results">): string {
  const csv = reportCsvWriter(document);
  return csv.header + csv.lines(document.results);
}

/** `reportCsv` in pieces: the BOM and header once, then any number of pages of rows. */
export function reportCsvWriter(document: Pick<ReportDocument, "as_of" | "parameters" | "columns">): { header: string; lines: (rows: Row[]) => string } {
  const dated = document.parameters.as_of !== undefined && !document.columns.some((c) => c.name === "as_of");
  if (!dated) return { header: CSV_BOM + csvHeader(document.columns), lines: (rows) => csvLines(document.columns, rows) };
  const columns: ReportColumn[] = [{ name: "as_of", type: "date" }, ...document.columns];
  return {
    header: CSV_BOM + csvHeader(columns),
    lines: (rows) =>
      csvLines(
        columns,
        rows.map((r) => ({ as_of: document.as_of, ...r })),
      ),
  };
}

/** The JSON written per report run: a superset of the original output's fields, values typed. */
export interface ReportDocument {
  report: string;
  description: string;
  engine: string;
  query_execution_id: string;
  /** The first upload that triggered this run (the original field), and all of them. */
  source_file: string | null;
  source_files: string[];
  /** When these results were produced (ISO 8601). */
  execution_time: string;
  as_of: string;
  parameters: Record<string, string | number>;
  inputs: { curated_objects: number; fingerprint: string; listed_at: string };
  statistics: { bytes_scanned: number | null; engine_execution_ms: number | null; estimated_cost_usd: number | null };
  result_count: number;
  columns: ReportColumn[];
  /**
   * Every row in the JSON object written to the store. In the document a run returns in memory
   * (for the summary page and the console) only the first PREVIEW_ROWS: `result_count` has the total.
   */
  results: Row[];
}

/** Rows of a report kept in memory after a run: what the summary page and the console show at most. */
export const PREVIEW_ROWS = 200;
