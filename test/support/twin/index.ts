import type { ProcessorSettings } from "../../../handler/aws/settings";
import { IdentityPolicy, processorPolicy, ProcessorScope } from "../../../infra/processor-policy";
import { AthenaTwin } from "./athena";
import { Authorizer } from "./iam";
import { S3Twin } from "./s3";
import { SqsTwin } from "./sqs";

/** The deployment the twin stands for: names and ARNs as a stack would resolve them. */
export const TWIN = {
  accountId: "123456789012",
  region: "us-east-1",
  rawBucket: "raw-uploads",
  outputBucket: "facility-output",
  workgroup: "facility-reports",
  database: "facility_db",
  table: "facilities",
  queueName: "facility-uploads",
  deadLetterQueueName: "facility-dlq",
  role: "arn:aws:iam::123456789012:role/facility-processor",
} as const;

export const queueUrl = (name: string) => `https://sqs.${TWIN.region}.amazonaws.com/${TWIN.accountId}/${name}`;

/** The processor's permission scope for the twin's deployment: what the program resolves for a stack. */
export function twinScope(inVpc = false): ProcessorScope {
  const { region, accountId } = TWIN;
  return {
    rawBucketArn: `arn:aws:s3:::${TWIN.rawBucket}`,
    outputBucketArn: `arn:aws:s3:::${TWIN.outputBucket}`,
    workgroupArn: `arn:aws:athena:${region}:${accountId}:workgroup/${TWIN.workgroup}`,
    kmsKeyArn: `arn:aws:kms:${region}:${accountId}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
    queueArn: `arn:aws:sqs:${region}:${accountId}:${TWIN.queueName}`,
    deadLetterQueueArn: `arn:aws:sqs:${region}:${accountId}:${TWIN.deadLetterQueueName}`,
    logGroupArn: `arn:aws:logs:${region}:${accountId}:log-group:/facility-pipeline/twin/processor`,
    region,
    accountId,
    partition: "aws",
    database: TWIN.database,
    table: TWIN.table,
    inVpc,
  };
}

/** The processor's settings (its environment) for the twin's deployment. */
export function twinSettings(overrides: Partial<ProcessorSettings> = {}): ProcessorSettings {
  return {
    rawBucket: TWIN.rawBucket,
    outputBucket: TWIN.outputBucket,
    workgroup: TWIN.workgroup,
    database: TWIN.database,
    table: TWIN.table,
    deadLetterQueueUrl: queueUrl(TWIN.deadLetterQueueName),
    uploadQueueUrl: queueUrl(TWIN.queueName),
    maxReceiveCount: 3,
    expiringWithinMonths: 6,
    maxRecordBytes: 1024 * 1024,
    ...overrides,
  };
}

export interface AwsTwinOptions {
  /**
   * The processor's identity policy. Default: the program's own statement builder over the twin's ARNs,
   * so every test runs under exactly the permissions a deployed function gets.
   */
  policy?: IdentityPolicy;
  /** The workgroup's bytes-scanned cutoff. */
  bytesScannedCutoff?: number;
}

/**
 * An offline AWS for the processor: S3, Athena and SQS behind the real SDK clients, each call
 * authorized against the processor role's identity policy and answered as AWS documents.
 */
export class AwsTwin {
  readonly policy: IdentityPolicy;
  readonly authorizer: Authorizer;
  readonly s3: S3Twin;
  readonly athena: AthenaTwin;
  readonly sqs: SqsTwin;

  constructor(options: AwsTwinOptions = {}) {
    this.policy = options.policy ?? processorPolicy(twinScope());
    this.authorizer = new Authorizer({ principal: TWIN.role, accountId: TWIN.accountId, policies: [this.policy] });
    this.s3 = new S3Twin({ authorizer: this.authorizer, kmsBuckets: [TWIN.rawBucket, TWIN.outputBucket] });
    this.athena = new AthenaTwin(
      this.s3,
      {
        region: TWIN.region,
        accountId: TWIN.accountId,
        workgroup: TWIN.workgroup,
        database: TWIN.database,
        table: TWIN.table,
        outputBucket: TWIN.outputBucket,
        bytesScannedCutoff: options.bytesScannedCutoff,
      },
      this.authorizer,
    );
    this.sqs = new SqsTwin(this.authorizer);
  }

  restore(): void {
    this.s3.restore();
    this.athena.restore();
    this.sqs.restore();
  }
}

export { AthenaTwin, Authorizer, S3Twin, SqsTwin };
export { CUTOFF_REASON } from "./athena";
export type { Outcome, TableStore } from "./athena";
export { athenaError, jsonError, S3_ERRORS, s3Error } from "./errors";
export type { StoredObject } from "./s3";
