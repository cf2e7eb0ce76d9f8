import Ajv, { ErrorObject } from "ajv";
import type { SchemaNode } from "./columns";
import { CuratedRow, Facility, facilitySchema } from "./facility";

export interface FieldProblem {
  /** Dotted path of the field, e.g. `location.state` or `accreditations[1].valid_until`; "" for the record itself. */
  field: string;
  reason: string;
}

export type Validation =
  /** `asWritten`: normalizing changed nothing and nothing was dropped, so the record's own text is its JSON. */
  | { ok: true; facility: Facility; unknownFields: string[]; asWritten: boolean }
  /** `duplicateKeys`: the text writes more keys than the parsed value has, so some key repeats. */
  | { ok: false; problems: FieldProblem[]; duplicateKeys?: boolean };

/**
 * Validates one parsed record, normalizing it in place. `writtenKeys` is how many keys the record's
 * text writes (colons outside strings, counted by the splitter): more than the parsed value holds
 * means a repeated key, which `JSON.parse` would otherwise resolve silently.
 */
export type FacilityValidator = (value: unknown, writtenKeys?: number) => Validation;

/** Keys a valid facility has when it holds nothing outside the schema. */
function schemaKeyCount(f: Facility): number {
  return 7 + 4 + 2 * f.labs.length + 3 * f.accreditations.length;
}

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
  return (value, writtenKeys) => {
    const normalized = normalizeInPlace(value);
    if (writtenKeys !== undefined && writtenKeys !== normalized.keys) return { ok: false, problems: [], duplicateKeys: true };
    if (!check(value)) return { ok: false, problems: describe(check.errors ?? []) };
    const f = value as Facility;
    const unknownFields: string[] = [];
    if (normalized.keys + normalized.listsAdded !== schemaKeyCount(f)) {
      noteUnknown(value, facilitySchema.properties, "", unknownFields);
    }
    // The common case, no unknown fields, keeps the parsed object as it is: no copy per record.
    const facility = unknownFields.length === 0 ? f : project(f);
    return { ok: true, facility, unknownFields, asWritten: unknownFields.length === 0 && !normalized.changed };
  };
}

/**
 * Forgiving clean-up before validation, in place (the parsed record is ours): trims strings,
 * upper-cases the state code, and treats a missing list as empty. Anything of the wrong type is left
 * alone for the validator to report.
 */
function normalizeInPlace(value: unknown): { changed: boolean; listsAdded: number; keys: number } {
  if (!isObject(value)) return { changed: false, listsAdded: 0, keys: 0 };
  const walk = { changed: false, keys: 0 };
  trimStrings(value, walk);
  let changed = walk.changed;
  let listsAdded = 0;
  for (const list of ["services", "labs", "accreditations"]) {
    if (value[list] === undefined) listsAdded++;
    if (value[list] === undefined || value[list] === null) {
      value[list] = [];
      changed = true;
    }
  }
  const location = value.location;
  if (isObject(location) && typeof location.state === "string") {
    const upper = location.state.toUpperCase();
    if (upper !== location.state) {
      location.state = upper;
      changed = true;
    }
  }
  return { changed, listsAdded, keys: walk.keys };
}

/** Trims every string in place, noting whether any changed, and counts the keys of every object. */
function trimStrings(v: Record<string, unknown> | unknown[], walk: { changed: boolean; keys: number }): void {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === "string") {
        const t = x.trim();
        if (t.length !== x.length) {
          v[i] = t;
          walk.changed = true;
        }
      } else if (typeof x === "object" && x !== null) {
        trimStrings(x as Record<string, unknown>, walk);
      }
    }
    return;
  }
  for (const k in v) {
    walk.keys++;
    const x = v[k];
    if (typeof x === "string") {
      const t = x.trim();
      if (t.length !== x.length) {
        v[k] = t;
        walk.changed = true;
      }
    } else if (typeof x === "object" && x !== null) {
      trimStrings(x as Record<string, unknown>, walk);
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Keeps only schema fields, in schema order. */
function project(f: Facility): Facility {
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

export interface IngestFields {
  sourceKey: string;
  sourceVersion: string;
  ingestTime: string;
}

/**
 * Serializes curated rows: the facility plus where it came from (see `curatedRowSchema`). The part
 * that is the same for every row of an upload is encoded once.
 */
/** `text`, when given, must be the record's own JSON on one line, as it validated. */
export function curatedLineWriter(ingest: IngestFields): (f: Facility, line: number, text?: string) => string {
  const suffix = `"ingest_source_key":${JSON.stringify(ingest.sourceKey)},"ingest_source_version":${JSON.stringify(ingest.sourceVersion)},"ingest_time":${JSON.stringify(ingest.ingestTime)},"ingest_line":`;
  return (f, line, text) => {
    // A one-line record that validated as written is reused as text: no re-serialization.
    const json = text !== undefined ? text.slice(0, text.lastIndexOf("}")) : JSON.stringify(f).slice(0, -1);
    return `${json},${suffix}${line}}`;
  };
}

/** The curated row as an object (for tests and tools; ingest writes `curatedLineWriter` output). */
export function curatedRow(f: Facility, ingest: IngestFields & { line: number }): CuratedRow {
  return JSON.parse(curatedLineWriter(ingest)(f, ingest.line)) as CuratedRow;
}
