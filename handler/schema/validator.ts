import Ajv, { ErrorObject } from "ajv";
import type { SchemaNode } from "./columns";
import { CuratedRow, Facility, facilitySchema } from "./facility";

export interface FieldProblem {
  /** Dotted path of the field, e.g. `location.state` or `accreditations[1].valid_until`; "" for the record itself. */
  field: string;
  reason: string;
}

export type Validation =
  | { ok: true; facility: Facility; unknownFields: string[] }
  | { ok: false; problems: FieldProblem[] };

export type FacilityValidator = (value: unknown) => Validation;

/** A real calendar date written YYYY-MM-DD (rejects 2026-02-30). */
export function isCalendarDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/**
 * Builds the validator. Call once per process (cold start): compiling the schema generates code, which
 * is what makes per-record validation fast.
 */
export function createFacilityValidator(): FacilityValidator {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: false });
  ajv.addFormat("date", { type: "string", validate: isCalendarDate });
  const check = ajv.compile(facilitySchema);
  return (value) => {
    const normalized = normalize(value);
    if (!check(normalized)) return { ok: false, problems: describe(check.errors ?? []) };
    const unknownFields: string[] = [];
    const facility = project(normalized as Facility, unknownFields, value);
    return { ok: true, facility, unknownFields };
  };
}

/**
 * Forgiving clean-up before validation: trims strings, upper-cases the state code, and treats a
 * missing list as empty. Anything of the wrong type is left alone for the validator to report.
 */
function normalize(value: unknown): unknown {
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = trimDeep(v);
  for (const list of ["services", "labs", "accreditations"]) {
    if (out[list] === undefined || out[list] === null) out[list] = [];
  }
  const location = out.location;
  if (isObject(location) && typeof location.state === "string") location.state = location.state.toUpperCase();
  return out;
}

function trimDeep(v: unknown): unknown {
  if (typeof v === "string") return v.trim();
  if (Array.isArray(v)) return v.map(trimDeep);
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, trimDeep(x)]));
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Keeps only schema fields (unknown ones are listed, not fatal), in schema order. */
function project(f: Facility, unknown: string[], original: unknown): Facility {
  noteUnknown(original, facilitySchema.properties, "", unknown);
  return {
    facility_id: f.facility_id,
    facility_name: f.facility_name,
    location: { address: f.location.address, city: f.location.city, state: f.location.state, zip: f.location.zip },
    employee_count: f.employee_count,
    services: f.services,
    labs: f.labs.map((l) => ({ lab_name: l.lab_name, certifications: l.certifications })),
    accreditations: f.accreditations.map((a) => ({
      accreditation_body: a.accreditation_body,
      accreditation_id: a.accreditation_id,
      valid_until: a.valid_until,
    })),
  };
}

function noteUnknown(value: unknown, known: Readonly<Record<string, SchemaNode>>, path: string, out: string[]): void {
  if (!isObject(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const spec = known[k];
    const here = path ? `${path}.${k}` : k;
    if (!spec) {
      out.push(here);
    } else if (spec.properties) {
      noteUnknown(v, spec.properties, here, out);
    } else if (spec.items?.properties && Array.isArray(v)) {
      for (const item of v) noteUnknown(item, spec.items.properties, `${here}[]`, out);
    }
  }
}

/** Turns ajv errors into one problem per field, in words a data engineer reads without the schema. */
function describe(errors: ErrorObject[]): FieldProblem[] {
  const seen = new Map<string, string>();
  for (const e of errors) {
    let field = e.instancePath
      .split("/")
      .slice(1)
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p.replace(/~1/g, "/").replace(/~0/g, "~")}`))
      .join("")
      .replace(/^\./, "");
    let reason: string;
    switch (e.keyword) {
      case "required":
        field = field ? `${field}.${String(e.params.missingProperty)}` : String(e.params.missingProperty);
        reason = "is required";
        break;
      case "type":
        reason = `must be ${article(String(e.params.type))}`;
        break;
      case "minLength":
        reason = "must not be empty";
        break;
      case "maxLength":
        reason = `must be at most ${String(e.params.limit)} characters`;
        break;
      case "enum":
        reason = "must be a two-letter US state or territory code (e.g. CA, NY, PR)";
        break;
      case "pattern":
        reason = field.endsWith("zip") ? "must be a US ZIP code: 5 digits, optionally -4 more" : `must match ${String(e.params.pattern)}`;
        break;
      case "format":
        reason = "must be a real calendar date written YYYY-MM-DD";
        break;
      case "minimum":
        reason = `must be at least ${String(e.params.limit)}`;
        break;
      case "maximum":
        reason = `must be at most ${String(e.params.limit)}`;
        break;
      default:
        reason = e.message ?? e.keyword;
    }
    if (!seen.has(field)) seen.set(field, reason);
  }
  return [...seen].map(([field, reason]) => ({ field, reason }));
}

function article(type: string): string {
  if (type === "integer") return "a whole number";
  if (type === "object") return "an object";
  if (type === "array") return "a list";
  return `a ${type}`;
}

/** The curated row for a valid facility: the facility plus where it came from. */
export function curatedRow(f: Facility, ingest: { sourceKey: string; sourceVersion: string; ingestTime: string; line: number }): CuratedRow {
  return {
    ...f,
    ingest_source_key: ingest.sourceKey,
    ingest_source_version: ingest.sourceVersion,
    ingest_time: ingest.ingestTime,
    ingest_line: ingest.line,
  };
}
