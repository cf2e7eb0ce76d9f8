import * as pulumi from "@pulumi/pulumi";
import { longestLegitimateAgeSeconds } from "../handler/core/retry-schedule";

/**
 * Every stack config key of the project, in one table. `Pulumi.yaml`'s `config:` schema and the README's
 * config reference are checked against this table by test/infra/config-docs.test.ts, so the three cannot drift.
 */

export const SUPPORTED_RUNTIMES = ["nodejs22.x", "nodejs24.x"] as const;
export type LambdaRuntime = (typeof SUPPORTED_RUNTIMES)[number];

/** The values CloudWatch Logs accepts for a log group's retention. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

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
  bytesScannedAlarmPercent: number;
  reportSchedule: string;
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
  /** What the README's config table shows as allowed. */
  readonly allowed: string;
  /** Returns what is allowed when the value is not, or undefined when it is fine. */
  readonly check?: (value: never) => string | undefined;
}

type TypeOf<K extends Kind> = K extends "integer" ? number : K extends "boolean" ? boolean : string;

/** A constraint on a value: its short form for the README and the check that explains a violation. */
interface Rule<T> {
  allowed: string;
  check: (value: T) => string | undefined;
}

const ANY_TEXT = "any text";

function spec<K extends Kind>(key: keyof PipelineConfig, kind: K, defaultValue: TypeOf<K>, description: string, rule?: Rule<TypeOf<K>>): ConfigKeySpec {
  const allowed = rule?.allowed ?? (kind === "boolean" ? "`true`, `false`" : ANY_TEXT);
  return { key, kind, default: defaultValue, description, allowed, check: rule?.check };
}

const between = (min: number, max: number): Rule<number> => ({
  allowed: `${min} to ${max}`,
  check: (n) => (n >= min && n <= max ? undefined : `an integer from ${min} to ${max}`),
});

const oneOf = <T extends string | number>(values: readonly T[], allowed = values.join(", ")): Rule<T> => ({
  allowed,
  check: (v) => (values.includes(v) ? undefined : `one of ${values.join(", ")}`),
});

const matching = (pattern: RegExp, allowed: string, expected: string): Rule<string> => ({
  allowed,
  check: (v) => (pattern.test(v) ? undefined : expected),
});

const bucketName: Rule<string> = { allowed: "an S3 bucket name without dots", check: bucketNameProblem };

export const CONFIG_KEYS: readonly ConfigKeySpec[] = [
  spec("rawBucketName", "string", "", "Name of the upload bucket. Empty: auto-named per stack.", bucketName),
  spec("outputBucketName", "string", "", "Name of the output bucket (curated, quarantine, reports). Empty: auto-named per stack.", bucketName),
  spec("accessLogBucketName", "string", "", "Name of the S3 server access log bucket. Empty: auto-named per stack.", bucketName),
  spec("forceDestroy", "boolean", false, "Allow `pulumi destroy` to delete non-empty buckets and the KMS key. Off: buckets and key are retained on delete."),
  spec("maxRetries", "integer", 3, "Times a failed upload batch is retried before it goes to the dead-letter queue.", between(0, 10)),
  spec("lambdaRuntime", "string", "nodejs22.x", `Lambda runtime of the processor: ${SUPPORTED_RUNTIMES.join(" or ")}.`, oneOf<string>(SUPPORTED_RUNTIMES)),
  spec("lambdaMemoryMb", "integer", 1024, "Processor memory in MB.", between(128, 10240)),
  spec("lambdaTimeoutSeconds", "integer", 300, "Processor timeout in seconds. Reports stop polling Athena before it and retry later.", between(1, 900)),
  spec(
    "batchSize",
    "integer",
    50,
    "Upload events per processor invocation (one report run per batch). 50 with maxConcurrency 4: on the time-to-report model a burst of 1,000 uploads reaches its reports at p95 55 s against the original design's 148 s, with 60 report queries instead of 3,000 (10 x 2 took 259 s); lower it when single uploads are large (hundreds of MB), so a batch stays well inside lambdaTimeoutSeconds.",
    between(1, 10000),
  ),
  spec(
    "batchWindowSeconds",
    "integer",
    2,
    "Seconds the queue gathers events before invoking the processor. 2: on the time-to-report model a lone upload then reaches its reports sooner than the original design (7.7 s vs 8.2 s p50; 5 s gives 10.7 s), and a burst still forms full batches (0 s splits it into more queries); see BENCHMARKS.md.",
    between(0, 300),
  ),
  spec(
    "maxConcurrency",
    "integer",
    4,
    "Most processor invocations the queue runs at once. Each runs three report queries at once, so keep maxConcurrency x 3 below the account's active Athena query quota (20 to 25); 4 uses 12.",
    between(2, 1000),
  ),
  spec("athenaBytesScannedCutoffMb", "integer", 1024, "Athena cancels any query that would scan more than this many MB.", {
    allowed: "10 or more",
    check: (n) => (n >= 10 ? undefined : "an integer of at least 10 (Athena's minimum cutoff is 10 MB)"),
  }),
  spec(
    "bytesScannedAlarmPercent",
    "integer",
    80,
    "Alarm when one report query scans more than this percentage of athenaBytesScannedCutoffMb: a warning before the cutoff cancels reports.",
    between(1, 100),
  ),
  spec(
    "reportSchedule",
    "string",
    "cron(0 5 * * ? *)",
    "When EventBridge Scheduler reruns the reports without an upload (UTC), so date-dependent reports stay current. `off`: no schedule.",
    {
      allowed: "`cron(...)` or `rate(...)`, or `off`",
      check: (v: string) =>
        v === "off" || /^(cron|rate)\([^()]+\)$/.test(v) ? undefined : "an EventBridge Scheduler expression like cron(0 5 * * ? *) or rate(12 hours), or off",
    },
  ),
  spec("expiringWithinMonths", "integer", 6, "The expiring-accreditations report looks this many months ahead.", between(1, 120)),
  spec(
    "maxRecordBytes",
    "integer",
    1048576,
    "Largest single record (or NDJSON line) accepted, in bytes; larger ones are quarantined.",
    between(1024, 16777216),
  ),
  spec(
    "logRetentionDays",
    "integer",
    90,
    "Retention of the processor's log group, in days.",
    oneOf<number>(LOG_RETENTION_DAYS, "a CloudWatch Logs retention: 1, 3, 5, 7, 14, 30, 60, 90, ... 3653"),
  ),
  spec(
    "alarmEmail",
    "string",
    "",
    "Email address subscribed to the alarm topic. Empty: no subscription.",
    matching(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, "an email address", "an email address like ops@example.org"),
  ),
  spec(
    "oldestUploadAgeAlarmSeconds",
    "integer",
    0,
    "Alarm when the oldest upload event (waiting or in flight) is older than this. 0: the longest legitimate wait, derived from the batching window, timeout, retries and retry backoff; a smaller value would fire on ordinary retries and is rejected.",
    {
      allowed: "0 (automatic) or 60 to 1209600, and at least the longest legitimate wait",
      check: (n) => (n === 0 || (n >= 60 && n <= 1209600) ? undefined : "0 (automatic) or an integer from 60 to 1209600"),
    },
  ),
  spec("scratchExpirationDays", "integer", 7, "Days before Athena's scratch results are deleted.", between(1, 365)),
  spec("noncurrentVersionExpirationDays", "integer", 90, "Days before overwritten or deleted object versions are removed.", between(1, 3650)),
  spec("enableVpc", "boolean", false, "Run the processor in a private VPC with no internet route (S3 gateway, Athena and SQS interface endpoints)."),
  spec(
    "dataClassification",
    "string",
    "phi",
    "Value of the data-classification tag on every resource.",
    matching(/^[a-z0-9][a-z0-9-]{0,62}$/, "lowercase letters, digits, hyphens; at most 63", "lowercase letters, digits and hyphens, at most 63 characters"),
  ),
];

/**
 * A RunError, because Pulumi's program runner prints a RunError's message alone, without the stack
 * trace it prints for any other exception: `pulumi preview` then shows the problems and how to fix them.
 */
export class ConfigError extends pulumi.RunError {
  constructor(readonly problems: readonly string[]) {
    super(
      [
        "Invalid stack configuration:",
        ...problems.map((p) => `  - ${p}`),
        "Set a value with `pulumi config set <key> <value>` (`--type int` for integers, `--type bool` for booleans),",
        'remove one with `pulumi config rm <key>`. Every key, its type and allowed values: README, "Config reference".',
      ].join("\n"),
    );
    this.name = "ConfigError";
  }
}

/**
 * Validates raw config strings (as `pulumi config` stores them) into a PipelineConfig. Every problem is
 * collected so one `pulumi preview` shows all of them.
 *
 * `setKeys` are the keys set in the project's namespace (without the `project:` prefix). Pulumi reads
 * only the keys a program asks for, so a misspelt key (`maxRetry`) would otherwise be ignored silently
 * and the default used instead of the value the operator meant.
 */
export function parseConfig(read: (key: string) => string | undefined, project: string, setKeys: readonly string[] = []): PipelineConfig {
  const problems: string[] = [];
  const known = CONFIG_KEYS.map((s) => s.key as string);
  for (const key of setKeys.filter((k) => !known.includes(k))) {
    const near = CONFIG_KEYS.find((s) => s.key === closestKey(key, known));
    problems.push(
      near
        ? `${project}:${key} is not a setting of this program; did you mean ${near.key}? (\`pulumi config rm ${key}\`, then \`${setCommand(near)}\`)`
        : `${project}:${key} is not a setting of this program (\`pulumi config rm ${key}\`); the settings are ${known.join(", ")}`,
    );
  }
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
      problems.push(
        `${project}:oldestUploadAgeAlarmSeconds = ${config.oldestUploadAgeAlarmSeconds} is below ${longest} s, the longest an upload can legitimately take with these settings (it would fire on ordinary retries): set at least ${longest}, or 0 for automatic`,
      );
    }
  }
  const named = [config.rawBucketName, config.outputBucketName, config.accessLogBucketName].filter((n) => n !== undefined);
  if (new Set(named).size !== named.length) {
    problems.push(`${project}:rawBucketName, outputBucketName and accessLogBucketName must differ`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * The known key an unknown one most likely means: the same ignoring case, one containing it (`timeout`
 * for lambdaTimeoutSeconds), or the nearest by edit distance when few edits apart (`maxRetry`).
 */
export function closestKey(unknown: string, known: readonly string[]): string | undefined {
  const u = unknown.toLowerCase();
  const exact = known.find((k) => k.toLowerCase() === u);
  if (exact) return exact;
  const containing = known.filter((k) => u.length >= 4 && k.toLowerCase().includes(u));
  if (containing.length === 1) return containing[0];
  let best: { key: string; distance: number } | undefined;
  for (const k of known) {
    const distance = editDistance(u, k.toLowerCase());
    if (distance <= Math.max(2, Math.floor(k.length / 3)) && (!best || distance < best.distance)) best = { key: k, distance };
  }
  return best?.key;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
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

/** The command that sets a key with the type Pulumi.yaml declares (untyped values are stored as strings). */
export function setCommand(s: ConfigKeySpec): string {
  const flag = s.kind === "integer" ? "--type int " : s.kind === "boolean" ? "--type bool " : "";
  return `pulumi config set ${flag}${s.key} <value>`;
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
  const project = pulumi.getProject();
  const prefix = `${project}:`;
  const setKeys = Object.keys(pulumi.runtime.allConfig())
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length));
  return parseConfig((key) => config.get(key), project, setKeys);
}
