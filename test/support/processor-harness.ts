import { SendMessageCommand, SendMessageCommandInput, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import * as fs from "fs";
import * as path from "path";
import { handleUploadBatch } from "../../handler/aws/entry";
import { ProcessorSettings, settingsEnv } from "../../handler/aws/settings";
import { LambdaTelemetry } from "../../handler/aws/telemetry";
import { createFacilityValidator } from "../../handler/schema/validator";
import { FakeAthena } from "./fake-athena";
import { FakeS3 } from "./fake-s3";

export const RAW = "raw-uploads";
export const OUTPUT = "facility-output";
export const SAMPLE_DIR = path.resolve(__dirname, "../../sample-data");
export const SAMPLE_FILES = ["facilities.ndjson", "facilities-array.json", "sample_data.json", "facilities-extra.jsonl.gz"];

export const SETTINGS: ProcessorSettings = {
  rawBucket: RAW,
  outputBucket: OUTPUT,
  workgroup: "facility-reports",
  database: "facility_db",
  table: "facilities",
  deadLetterQueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
  maxReceiveCount: 3,
  expiringWithinMonths: 6,
  maxRecordBytes: 1024 * 1024,
};

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
  return { logs, metrics, info: log("info"), warn: log("warn"), error: log("error"), count: metric, milliseconds: metric, bytes: metric, flush: () => undefined };
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
    eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:uploads",
    awsRegion: "us-east-1",
  };
}

/** The processor wired to fake S3, Athena (DuckDB underneath) and SQS, with a simulated clock. */
export class ProcessorHarness {
  readonly s3 = new FakeS3();
  readonly athena = new FakeAthena(this.s3, OUTPUT);
  readonly sqs = mockClient(SQSClient);
  readonly deadLetters: SendMessageCommandInput[] = [];
  readonly telemetry = recordingTelemetry();
  /** Simulated milliseconds spent sleeping between Athena status checks. */
  clock = 0;
  now = new Date("2026-11-27T09:00:00Z");
  failDeadLetterSends = 0;
  /** Time budget of the next invocation, in simulated milliseconds. */
  budgetMs = 300_000;

  constructor() {
    this.sqs.on(SendMessageCommand).callsFake(async (input: SendMessageCommandInput) => {
      if (this.failDeadLetterSends > 0) {
        this.failDeadLetterSends--;
        throw Object.assign(new Error("ServiceUnavailable"), { name: "ServiceUnavailable", $metadata: { httpStatusCode: 503 } });
      }
      this.deadLetters.push(input);
      return { MessageId: `dlq-${this.deadLetters.length}` };
    });
  }

  upload(key: string, body: Buffer | string): SQSRecord {
    this.s3.store(RAW, key, body);
    return sqsRecord(s3EventBody([{ key }]));
  }

  uploadSample(name: string, key = `incoming/${name}`): SQSRecord {
    return this.upload(key, fs.readFileSync(path.join(SAMPLE_DIR, name)));
  }

  remove(key: string): SQSRecord {
    this.s3.bucket(RAW).delete(key);
    return sqsRecord(s3EventBody([{ key, removed: true }]));
  }

  /** Invokes the handler with a time budget measured on the simulated clock. */
  async invoke(records: SQSRecord[], budgetMs = 300_000) {
    const started = this.clock;
    const event: SQSEvent = { Records: records };
    return handleUploadBatch(event, { getRemainingTimeInMillis: () => budgetMs - (this.clock - started) }, {
      settings: SETTINGS,
      s3: this.s3.client(),
      athena: this.athena.client(),
      sqs: new SQSClient({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 }),
      telemetry: this.telemetry,
      validate: createFacilityValidator(),
      now: () => this.now,
      athenaOptions: {
        sleep: async (ms) => {
          this.clock += ms;
        },
        safetyMarginMs: 5_000,
      },
    });
  }

  json<T = Record<string, unknown>>(key: string): T {
    return JSON.parse(this.s3.text(OUTPUT, key)) as T;
  }

  ndjson(key: string): Array<Record<string, unknown>> {
    return this.s3.text(OUTPUT, key).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  restore(): void {
    this.s3.restore();
    this.athena.restore();
    this.sqs.restore();
  }
}
