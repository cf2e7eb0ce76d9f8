import type { SendMessageCommandInput } from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import * as fs from "fs";
import * as path from "path";
import { handleEvent, handleUploadBatch, ProcessorDeps } from "../../handler/aws/entry";
import { ProcessorSettings, settingsEnv } from "../../handler/aws/settings";
import { LambdaTelemetry } from "../../handler/aws/telemetry";
import { derivedPrefix } from "../../handler/core/keys";
import { createFacilityValidator } from "../../handler/schema/validator";
import { AwsTwin, AwsTwinOptions, TWIN, twinSettings } from "./twin";

export const RAW = TWIN.rawBucket;
export const OUTPUT = TWIN.outputBucket;
export const SAMPLE_DIR = path.resolve(__dirname, "../../sample-data");
export const SAMPLE_FILES = ["facilities.ndjson", "facilities-array.json", "sample_data.json", "facilities-extra.jsonl.gz"];

export const SETTINGS: ProcessorSettings = twinSettings();

/** Environment variables for a processor process, from SETTINGS with any overrides. */
export function processorEnv(overrides: Partial<ProcessorSettings> = {}): Record<string, string> {
  const s = { ...SETTINGS, ...overrides };
  return settingsEnv<string>({
    ...s,
    maxReceiveCount: String(s.maxReceiveCount),
    expiringWithinMonths: String(s.expiringWithinMonths),
    maxRecordBytes: String(s.maxRecordBytes),
  });
}

export interface RecordedTelemetry extends LambdaTelemetry {
  logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
  metrics: Array<{ name: string; value: number }>;
}

export function recordingTelemetry(): RecordedTelemetry {
  const logs: RecordedTelemetry["logs"] = [];
  const metrics: RecordedTelemetry["metrics"] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => logs.push({ level, message, fields });
  const metric = (name: string, value: number) => metrics.push({ name, value });
  return {
    logs,
    metrics,
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    count: metric,
    milliseconds: metric,
    bytes: metric,
    flush: () => undefined,
  };
}

/** S3 writes keys into events URL-encoded, with `+` for a space. */
export function encodeS3Key(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+")
    .replace(/%2F/g, "/");
}

export function s3EventBody(events: Array<{ key: string; removed?: boolean; bucket?: string }>): string {
  return JSON.stringify({
    Records: events.map((e) => ({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      eventName: e.removed ? "ObjectRemoved:Delete" : "ObjectCreated:Put",
      s3: { bucket: { name: e.bucket ?? RAW }, object: { key: encodeS3Key(e.key) } },
    })),
  });
}

let messageCounter = 0;
export function sqsRecord(body: string, receiveCount = 1): SQSRecord {
  const id = `msg-${++messageCounter}`;
  return {
    messageId: id,
    receiptHandle: `rh-${id}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: "0",
      SenderId: "s3",
      ApproximateFirstReceiveTimestamp: "0",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: `arn:aws:sqs:${TWIN.region}:${TWIN.accountId}:${TWIN.queueName}`,
    awsRegion: "us-east-1",
  };
}

/**
 * The processor wired to the AWS twin (S3, Athena with DuckDB underneath, SQS), every call authorized
 * against the processor role's policy as the program declares it, with a simulated clock.
 */
export class ProcessorHarness {
  readonly twin: AwsTwin;
  readonly s3;
  readonly athena;
  readonly telemetry = recordingTelemetry();
  /** Simulated milliseconds spent sleeping between Athena status checks. */
  clock = 0;
  now = new Date("2026-11-27T09:00:00Z");
  settings: ProcessorSettings = SETTINGS;
  /** Time budget of the next invocation, in simulated milliseconds. */
  budgetMs = 300_000;

  constructor(options: AwsTwinOptions = {}) {
    this.twin = new AwsTwin(options);
    this.s3 = this.twin.s3;
    this.athena = this.twin.athena;
    this.athena.now = () => this.now.getTime() + this.clock;
  }

  /** Messages the processor sent to the dead-letter queue. */
  get deadLetters(): SendMessageCommandInput[] {
    return this.twin.sqs.sent.filter((m) => m.QueueUrl === this.settings.deadLetterQueueUrl);
  }

  set failDeadLetterSends(n: number) {
    this.twin.sqs.failSends = n;
  }

  upload(key: string, body: Buffer | string): SQSRecord {
    this.s3.store(RAW, key, body);
    return sqsRecord(s3EventBody([{ key }]));
  }

  uploadSample(name: string, key = `incoming/${name}`): SQSRecord {
    return this.upload(key, fs.readFileSync(path.join(SAMPLE_DIR, name)));
  }

  remove(key: string): SQSRecord {
    this.s3.remove(RAW, key);
    return sqsRecord(s3EventBody([{ key, removed: true }]));
  }

  /** Invokes the handler with a time budget measured on the simulated clock. */
  async invoke(records: SQSRecord[], budgetMs = 300_000) {
    const event: SQSEvent = { Records: records };
    return handleUploadBatch(event, this.context(budgetMs), this.deps());
  }

  /** Invokes the function's entry with any event, as Lambda would (the scheduled refresh, or junk). */
  async invokeEvent(event: unknown, budgetMs = 300_000) {
    return handleEvent(event, this.context(budgetMs), this.deps());
  }

  private context(budgetMs: number) {
    const started = this.clock;
    return { getRemainingTimeInMillis: () => budgetMs - (this.clock - started) };
  }

  private deps(): ProcessorDeps {
    return {
      settings: this.settings,
      s3: this.s3.client(),
      athena: this.athena.client(),
      sqs: this.twin.sqs.client(),
      telemetry: this.telemetry,
      validate: createFacilityValidator(),
      now: () => this.now,
      athenaOptions: {
        sleep: (ms) => {
          this.clock += ms;
          return Promise.resolve();
        },
        safetyMarginMs: 5_000,
        now: () => this.now.getTime() + this.clock,
      },
    };
  }

  json<T = Record<string, unknown>>(key: string): T {
    return JSON.parse(this.s3.text(OUTPUT, key)) as T;
  }

  ndjson(key: string): Array<Record<string, unknown>> {
    return this.s3
      .text(OUTPUT, key)
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** The single curated (or quarantine) object of an upload, whatever its version. */
  derivedKey(area: "curated" | "quarantine", sourceKey: string): string {
    const found = this.s3.keys(OUTPUT, derivedPrefix(area, sourceKey));
    if (found.length !== 1) throw new Error(`expected one ${area} object for ${sourceKey}, found ${found.join(", ") || "none"}`);
    return found[0];
  }

  restore(): void {
    this.twin.restore();
  }
}
