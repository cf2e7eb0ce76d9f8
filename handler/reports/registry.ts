import * as fs from "fs";
import * as path from "path";
import { ParamValue } from "../core/ports";

/**
 * The reports. Each is a SQL file in the dialect both Athena (Trino) and DuckDB execute, with `?`
 * placeholders bound by the engines (never string-built), plus the typed columns it returns.
 *
 * The SQL is read when this module loads; Pulumi's closure serializer then embeds the text in the
 * Lambda code, so the files need not ship with it.
 */

export type ColumnType = "string" | "integer" | "date";

export interface ReportColumn {
  name: string;
  type: ColumnType;
}

/** Values a report can bind. `horizon` is the as-of date plus the configured months. */
export type ParameterName = "as_of" | "horizon";

export interface ReportDefinition {
  name: string;
  description: string;
  sql: string;
  /** One entry per `?` in the SQL, in order. */
  parameters: ParameterName[];
  columns: ReportColumn[];
}

export interface ReportContext {
  /** YYYY-MM-DD (UTC). */
  asOf: string;
  /** How far ahead the expiring-accreditations report looks. */
  monthsAhead: number;
}

const sqlOf = (name: string) => fs.readFileSync(path.join(__dirname, `${name}.sql`), "utf8").trim();

export const REPORTS: readonly ReportDefinition[] = [
  {
    name: "accreditation-by-state",
    description:
      "Facilities with at least one accreditation valid on the as-of date, per state, with their employees (each facility counted once) and valid accreditations",
    sql: sqlOf("accreditation-by-state"),
    parameters: ["as_of"],
    columns: [
      { name: "state", type: "string" },
      { name: "accredited_facilities", type: "integer" },
      { name: "total_employees", type: "integer" },
      { name: "active_accreditations", type: "integer" },
    ],
  },
  {
    name: "facility-metrics",
    description: "Per facility: employees, number of services offered, expiry date of its first listed accreditation",
    sql: sqlOf("facility-metrics"),
    parameters: [],
    columns: [
      { name: "facility_id", type: "string" },
      { name: "facility_name", type: "string" },
      { name: "employee_count", type: "integer" },
      { name: "number_of_offered_services", type: "integer" },
      { name: "expiry_date_of_first_accreditation", type: "date" },
    ],
  },
  {
    name: "expiring-accreditations",
    description: "Accreditations valid on the as-of date that expire within the configured number of months",
    sql: sqlOf("expiring-accreditations"),
    parameters: ["as_of", "as_of", "horizon"],
    columns: [
      { name: "facility_id", type: "string" },
      { name: "facility_name", type: "string" },
      { name: "state", type: "string" },
      { name: "accreditation_body", type: "string" },
      { name: "accreditation_id", type: "string" },
      { name: "valid_until", type: "date" },
      { name: "days_remaining", type: "integer" },
    ],
  },
];

/** Counts `?` placeholders outside string literals and comments. */
export function placeholderCount(sql: string): number {
  const code = sql.replace(/--[^\n]*/g, "").replace(/'(?:[^']|'')*'/g, "''");
  return (code.match(/\?/g) ?? []).length;
}

for (const r of REPORTS) {
  if (placeholderCount(r.sql) !== r.parameters.length) {
    throw new Error(`report ${r.name}: the SQL has ${placeholderCount(r.sql)} placeholders but ${r.parameters.length} parameters are declared`);
  }
}

/** The values to bind, in placeholder order. */
export function bindParameters(report: ReportDefinition, context: ReportContext): ParamValue[] {
  const horizon = addMonths(context.asOf, context.monthsAhead);
  return report.parameters.map((p) => ({ type: "date", value: p === "as_of" ? context.asOf : horizon }));
}

/** The named parameter values a report used, for its output document. */
export function parameterValues(report: ReportDefinition, context: ReportContext): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  if (report.parameters.includes("as_of")) out.as_of = context.asOf;
  if (report.parameters.includes("horizon")) {
    out.months_ahead = context.monthsAhead;
    out.horizon = addMonths(context.asOf, context.monthsAhead);
  }
  return out;
}

/** Calendar month arithmetic, clamped to the month's last day (2026-08-31 + 6 months = 2027-02-28). */
export function addMonths(isoDate: string, months: number): string {
  const [y, m, d] = isoDate.split("-").map(Number);
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0-99 as 1900-1999.
  const target = new Date(0);
  target.setUTCFullYear(y, m - 1 + months, 1);
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(target.getUTCFullYear(), target.getUTCMonth() + 1, 0);
  target.setUTCDate(Math.min(d, lastDay.getUTCDate()));
  return target.toISOString().slice(0, 10);
}

export function reportNamed(name: string): ReportDefinition {
  const r = REPORTS.find((x) => x.name === name);
  if (!r) throw new Error(`unknown report "${name}"; known: ${REPORTS.map((x) => x.name).join(", ")}`);
  return r;
}
