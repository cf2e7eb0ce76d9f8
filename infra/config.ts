import * as pulumi from "@pulumi/pulumi";
import { longestLegitimateAgeSeconds } from "../handler/core/retry-schedule";

/**
 * Every stack config key of the project, in one table. `Pulumi.yaml`'s `config:` schema and the README's
 * config reference are checked against this table by test/infra/config-docs.test.ts, so the three cannot drift.
 */

export const SUPPORTED_RUNTIMES = ["nodejs22.x", "nodejs24.x"] as const;
export type LambdaRuntime = (typeof SUPPORTED_RUNTIMES)[number];

/** The values CloudWatch Logs accepts for a log group's retention. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export interface PipelineConfig {
  /** Explicit bucket names; undefined means "auto-named per stack". */
  rawBucketName?: string;
  outputBucketName?: string;
  accessLogBucketName?: string;
  forceDestroy: boolean;
  maxRetries: number;
  lambdaRuntime: LambdaRuntime;
  lambdaMemoryMb: number;
  lambdaTimeoutSeconds: number;
  batchSize: number;
  batchWindowSeconds: number;
  maxConcurrency: number;
  athenaBytesScannedCutoffMb: number;
  expiringWithinMonths: number;
  maxRecordBytes: number;
  logRetentionDays: number;
  alarmEmail?: string;
  oldestUploadAgeAlarmSeconds: number;
  scratchExpirationDays: number;
  noncurrentVersionExpirationDays: number;
  enableVpc: boolean;
  dataClassification: string;
}

type Kind = "string" | "integer" | "boolean";
type Value = string | number | boolean;

export interface ConfigKeySpec {
  readonly key: keyof PipelineConfig;
  readonly kind: Kind;
  /** The default written in Pulumi.yaml. An empty string means "not set". */
  readonly default: Value;
  readonly description: string;
  /** Returns what is allowed when the value is not, or undefined when it is fine. */
  readonly check?: (value: never) => string | undefined;
}

function spec<K extends Kind>(
  key: keyof PipelineConfig,
  kind: K,
  defaultValue: K extends "integer" ? number : K extends "boolean" ? boolean : string,
  description: string,
  check?: (value: K extends "integer" ? number : K extends "boolean" ? boolean : string) => string | undefined,
): ConfigKeySpec {
  return { key, kind, default: defaultValue, description, check: check as ConfigKeySpec["check"] };
}

const between = (min: number, max: number) => (n: number) =>
  n >= min && n <= max ? undefined : `an integer from ${min} to ${max}`;

export const CONFIG_KEYS: readonly ConfigKeySpec[] = [
  spec("rawBucketName", "string", "", "Name of the upload bucket. Empty: auto-named per stack.", bucketNameProblem),
  spec("outputBucketName", "string", "", "Name of the output bucket (curated, quarantine, reports). Empty: auto-named per stack.", bucketNameProblem),
  spec("accessLogBucketName", "string", "", "Name of the S3 server access log bucket. Empty: auto-named per stack.", bucketNameProblem),
  spec("forceDestroy", "boolean", false, "Allow `pulumi destroy` to delete non-empty buckets and the KMS key. Off: buckets and key are retained on delete."),
  spec("maxRetries", "integer", 3, "Times a failed upload batch is retried before it goes to the dead-letter queue.", between(0, 10)),
  spec("lambdaRuntime", "string", "nodejs22.x", `Lambda runtime of the processor: ${SUPPORTED_RUNTIMES.join(" or ")}.`, (v) =>
    (SUPPORTED_RUNTIMES as readonly string[]).includes(v) ? undefined : `one of ${SUPPORTED_RUNTIMES.join(", ")}`),
  spec("lambdaMemoryMb", "integer", 1024, "Processor memory in MB.", between(128, 10240)),
  spec("lambdaTimeoutSeconds", "integer", 300, "Processor timeout in seconds. Reports stop polling Athena before it and retry later.", between(1, 900)),
  spec("batchSize", "integer", 10, "Upload events per processor invocation (one report run per batch).", between(1, 10000)),
  spec("batchWindowSeconds", "integer", 20, "Seconds the queue gathers events before invoking the processor.", between(0, 300)),
  spec("maxConcurrency", "integer", 2, "Most processor invocations the queue runs at once (bounds concurrent Athena queries).", between(2, 1000)),
  spec("athenaBytesScannedCutoffMb", "integer", 1024, "Athena cancels any query that would scan more than this many MB.", (n) =>
    n >= 10 ? undefined : "an integer of at least 10 (Athena's minimum cutoff is 10 MB)"),
  spec("expiringWithinMonths", "integer", 6, "The expiring-accreditations report looks this many months ahead.", between(1, 120)),
  spec("maxRecordBytes", "integer", 1048576, "Largest single record (or NDJSON line) accepted, in bytes; larger ones are quarantined.", between(1024, 16777216)),
  spec("logRetentionDays", "integer", 90, "Retention of the processor's log group, in days.", (n) =>
    (LOG_RETENTION_DAYS as readonly number[]).includes(n) ? undefined : `one of ${LOG_RETENTION_DAYS.join(", ")}`),
  spec("alarmEmail", "string", "", "Email address subscribed to the alarm topic. Empty: no subscription.", (v) =>
    /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v) ? undefined : "an email address like ops@example.org"),
  spec("oldestUploadAgeAlarmSeconds", "integer", 0, "Alarm when the oldest upload event (waiting or in flight) is older than this. 0: the longest legitimate wait, derived from the batching window, timeout, retries and retry backoff; a smaller value would fire on ordinary retries and is rejected.", (n) =>
    n === 0 || (n >= 60 && n <= 1209600) ? undefined : "0 (automatic) or an integer from 60 to 1209600"),
  spec("scratchExpirationDays", "integer", 7, "Days before Athena's scratch results are deleted.", between(1, 365)),
  spec("noncurrentVersionExpirationDays", "integer", 90, "Days before overwritten or deleted object versions are removed.", between(1, 3650)),
  spec("enableVpc", "boolean", false, "Run the processor in a private VPC with no internet route (S3 gateway, Athena and SQS interface endpoints)."),
  spec("dataClassification", "string", "phi", "Value of the data-classification tag on every resource.", (v) =>
    /^[a-z0-9][a-z0-9-]{0,62}$/.test(v) ? undefined : "lowercase letters, digits and hyphens, at most 63 characters"),
];

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Validates raw config strings (as `pulumi config` stores them) into a PipelineConfig. Every problem is
 * collected so one `pulumi preview` shows all of them.
 */
export function parseConfig(read: (key: string) => string | undefined, project: string): PipelineConfig {
  const problems: string[] = [];
  const values: Partial<Record<keyof PipelineConfig, Value | undefined>> = {};
  for (const s of CONFIG_KEYS) {
    const raw = read(s.key);
    const name = `${project}:${s.key}`;
    if (raw === undefined || raw === "") {
      values[s.key] = s.default === "" ? undefined : s.default;
      continue;
    }
    const parsed = parseValue(s.kind, raw.trim());
    if (parsed === undefined) {
      problems.push(`${name} = ${JSON.stringify(raw)}: expected ${kindText(s.kind)}`);
      continue;
    }
    const problem = s.check?.(parsed as never);
    if (problem) {
      problems.push(`${name} = ${JSON.stringify(raw)}: expected ${problem}`);
      continue;
    }
    values[s.key] = parsed;
  }
  const config = values as unknown as PipelineConfig;
  // Lambda rejects an SQS batch size above 10 without a batching window.
  if (config.batchSize > 10 && config.batchWindowSeconds < 1) {
    problems.push(`${project}:batchSize = ${config.batchSize} needs ${project}:batchWindowSeconds of at least 1 (SQS event source rule for batches over 10)`);
  }
  if (config.maxRetries !== undefined && config.lambdaTimeoutSeconds !== undefined && config.batchWindowSeconds !== undefined) {
    // ApproximateAgeOfOldestMessage counts messages in flight, so the alarm must sit above the longest
    // an upload legitimately takes to finish or reach the dead-letter queue.
    const longest = longestLegitimateAgeSeconds({
      maxReceiveCount: config.maxRetries + 1,
      timeoutSeconds: config.lambdaTimeoutSeconds,
      batchWindowSeconds: config.batchWindowSeconds,
    });
    if (config.oldestUploadAgeAlarmSeconds === 0) {
      config.oldestUploadAgeAlarmSeconds = Math.ceil(longest / 60) * 60;
    } else if (config.oldestUploadAgeAlarmSeconds !== undefined && config.oldestUploadAgeAlarmSeconds < longest) {
      problems.push(`${project}:oldestUploadAgeAlarmSeconds = ${config.oldestUploadAgeAlarmSeconds} is below ${longest} s, the longest an upload can legitimately take with these settings (it would fire on ordinary retries): set at least ${longest}, or 0 for automatic`);
    }
  }
  const named = [config.rawBucketName, config.outputBucketName, config.accessLogBucketName].filter((n) => n !== undefined);
  if (new Set(named).size !== named.length) {
    problems.push(`${project}:rawBucketName, outputBucketName and accessLogBucketName must differ`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function parseValue(kind: Kind, raw: string): Value | undefined {
  switch (kind) {
    case "string":
      return raw;
    case "integer":
      return /^-?\d+$/.test(raw) ? Number(raw) : undefined;
    case "boolean":
      return raw === "true" ? true : raw === "false" ? false : undefined;
  }
}

function kindText(kind: Kind): string {
  return kind === "integer" ? "a whole number" : kind === "boolean" ? "true or false" : "a string";
}

/** S3 bucket naming rules, plus no dots (they break TLS for virtual-hosted-style requests). */
export function bucketNameProblem(name: string): string | undefined {
  const rule = "3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit";
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name)) return `a bucket name of ${rule}`;
  if (/^xn--|^sthree-|^amzn-s3-demo-|-s3alias$|--ol-s3$|--x-s3$/.test(name)) {
    return `a bucket name without a prefix or suffix S3 reserves (xn--, sthree-, -s3alias, --ol-s3, --x-s3)`;
  }
  return undefined;
}

/** Reads the current stack's config. The only place the program touches pulumi.Config. */
export function loadConfig(): PipelineConfig {
  const config = new pulumi.Config();
  return parseConfig((key) => config.get(key), pulumi.getProject());
}
