import type { FromSchema } from "json-schema-to-ts";

/**
 * The facility record, defined once. Everything else is projected from these two schemas:
 * the TypeScript types below, the runtime validator (validator.ts), the Glue table columns and the
 * DuckDB column spec (columns.ts).
 *
 * `format: "date"` means a real calendar date written YYYY-MM-DD (checked by the validator, typed
 * `date` in Glue and `DATE` in DuckDB).
 */

const nonEmpty = { type: "string", minLength: 1, maxLength: 1024 } as const;

/** US Postal Service state and territory codes accepted in `location.state`. */
export const STATE_CODES = [
  "AL",
  "AK",
  "AZ",
  "AR",
  "CA",
  "CO",
  "CT",
  "DE",
  "DC",
  "FL",
  "GA",
  "HI",
  "ID",
  "IL",
  "IN",
  "IA",
  "KS",
  "KY",
  "LA",
  "ME",
  "MD",
  "MA",
  "MI",
  "MN",
  "MS",
  "MO",
  "MT",
  "NE",
  "NV",
  "NH",
  "NJ",
  "NM",
  "NY",
  "NC",
  "ND",
  "OH",
  "OK",
  "OR",
  "PA",
  "RI",
  "SC",
  "SD",
  "TN",
  "TX",
  "UT",
  "VT",
  "VA",
  "WA",
  "WV",
  "WI",
  "WY",
  "AS",
  "GU",
  "MP",
  "PR",
  "VI",
] as const;

const facilityProperties = {
  facility_id: nonEmpty,
  facility_name: nonEmpty,
  location: {
    type: "object",
    required: ["address", "city", "state", "zip"],
    properties: {
      address: nonEmpty,
      city: nonEmpty,
      state: { type: "string", enum: STATE_CODES },
      zip: { type: "string", pattern: "^[0-9]{5}(-[0-9]{4})?$" },
    },
  },
  employee_count: { type: "integer", minimum: 0, maximum: 10_000_000 },
  services: { type: "array", items: nonEmpty },
  labs: {
    type: "array",
    items: {
      type: "object",
      required: ["lab_name", "certifications"],
      properties: {
        lab_name: nonEmpty,
        certifications: { type: "array", items: nonEmpty },
      },
    },
  },
  accreditations: {
    type: "array",
    items: {
      type: "object",
      required: ["accreditation_body", "accreditation_id", "valid_until"],
      properties: {
        accreditation_body: nonEmpty,
        accreditation_id: nonEmpty,
        valid_until: { type: "string", format: "date" },
      },
    },
  },
} as const;

/** An incoming record, after normalization (see normalize.ts), as the validator checks it. */
export const facilitySchema = {
  type: "object",
  required: ["facility_id", "facility_name", "location", "employee_count", "services", "labs", "accreditations"],
  properties: facilityProperties,
} as const;

/**
 * Where a curated row came from. Written by the pipeline, never by uploaders; used to pick the latest
 * record of a facility and to trace any report row back to its upload.
 */
const ingestProperties = {
  ingest_source_key: { type: "string" },
  ingest_source_version: { type: "string" },
  /** The upload's LastModified (S3: one-second resolution). */
  ingest_time: { type: "string" },
  /**
   * When the upload completed, to the millisecond where known (the S3 event time of this version; a
   * local file's mtime), else equal to `ingest_time`: orders uploads within one LastModified second.
   */
  ingest_upload_time: { type: "string" },
  ingest_line: { type: "integer" },
  /** 0-based position of the record in its upload, whatever the layout: the last one wins a tie. */
  ingest_index: { type: "integer" },
} as const;

/** One row of the curated table (= the Glue table and the DuckDB view `facilities`). */
export const curatedRowSchema = {
  type: "object",
  required: [...facilitySchema.required, "ingest_source_key", "ingest_source_version", "ingest_time", "ingest_upload_time", "ingest_line", "ingest_index"],
  properties: { ...facilityProperties, ...ingestProperties },
} as const;

export type Facility = FromSchema<typeof facilitySchema>;
export type CuratedRow = FromSchema<typeof curatedRowSchema>;

/** The table name reports query, in Athena (Glue) and in the local engine alike. */
export const FACILITY_TABLE = "facilities";

/** Every curated row of every upload version present (Glue only; reports never read it). */
export const FACILITY_HISTORY_TABLE = "facilities_history";
