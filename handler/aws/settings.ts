/**
 * The processor's environment contract: infra sets these variables, the Lambda entry reads them.
 * Only names, prefixes and limits travel here, never data or secrets.
 */
export interface ProcessorSettings {
  rawBucket: string;
  outputBucket: string;
  workgroup: string;
  database: string;
  table: string;
  deadLetterQueueUrl: string;
  /** The queue the function consumes: a failed message's visibility is set there for its retry. */
  uploadQueueUrl: string;
  /** The uploads queue's maxReceiveCount: on this receive a failing message is sent to the DLQ with its reason. */
  maxReceiveCount: number;
  expiringWithinMonths: number;
  maxRecordBytes: number;
}

export const SETTINGS_ENV: { readonly [K in keyof ProcessorSettings]: string } = {
  rawBucket: "RAW_BUCKET",
  outputBucket: "OUTPUT_BUCKET",
  workgroup: "ATHENA_WORKGROUP",
  database: "GLUE_DATABASE",
  table: "GLUE_TABLE",
  deadLetterQueueUrl: "DEAD_LETTER_QUEUE_URL",
  uploadQueueUrl: "UPLOAD_QUEUE_URL",
  maxReceiveCount: "MAX_RECEIVE_COUNT",
  expiringWithinMonths: "EXPIRING_WITHIN_MONTHS",
  maxRecordBytes: "MAX_RECORD_BYTES",
};

/** The environment variables that carry these settings: what `readSettings` reads back. */
export function settingsEnv<T>(values: { readonly [K in keyof ProcessorSettings]: T }): Record<string, T> {
  const env: Record<string, T> = {};
  for (const field of Object.keys(SETTINGS_ENV) as (keyof ProcessorSettings)[]) env[SETTINGS_ENV[field]] = values[field];
  return env;
}

// Arrays, not Sets: Pulumi's closure serializer copies module-level values, and a Set does not survive it.
const NUMERIC: readonly (keyof ProcessorSettings)[] = ["maxReceiveCount", "expiringWithinMonths", "maxRecordBytes"];

/** Reads and checks the settings; a missing or malformed variable fails the cold start with its name. */
export function readSettings(env: Readonly<Record<string, string | undefined>>): ProcessorSettings {
  const out: Record<string, string | number> = {};
  const problems: string[] = [];
  for (const [field, variable] of Object.entries(SETTINGS_ENV) as [keyof ProcessorSettings, string][]) {
    const raw = env[variable];
    if (raw === undefined || raw === "") {
      problems.push(`${variable} is not set`);
    } else if (NUMERIC.includes(field)) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) problems.push(`${variable}=${JSON.stringify(raw)} is not a positive integer`);
      out[field] = n;
    } else {
      out[field] = raw;
    }
  }
  if (problems.length > 0) throw new Error(`processor environment is incomplete: ${problems.join("; ")}`);
  return out as unknown as ProcessorSettings;
}
