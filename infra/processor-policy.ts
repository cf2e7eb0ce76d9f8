import { OUTPUT_LAYOUT } from "../handler/core/layout";

/** Every ARN and name the processor's permissions are scoped to, resolved. */
export interface ProcessorScope {
  rawBucketArn: string;
  outputBucketArn: string;
  workgroupArn: string;
  kmsKeyArn: string;
  queueArn: string;
  deadLetterQueueArn: string;
  logGroupArn: string;
  region: string;
  accountId: string;
  partition: string;
  database: string;
  table: string;
  inVpc: boolean;
}

export interface IdentityStatement {
  Sid: string;
  Effect: "Allow";
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface IdentityPolicy {
  Version: "2012-10-17";
  Statement: IdentityStatement[];
}

/**
 * Lambda actions that only accept `Resource: "*"` (AWS offers no resource-level permission for them).
 * They are granted only when the function runs in a VPC. Listed in the README too.
 */
export const UNSCOPED_ACTIONS = [
  "ec2:CreateNetworkInterface",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses",
] as const;

/**
 * Exactly what the processor does, on exactly the resources it does it to. A pure function of the
 * resolved ARNs: the program renders it into the role's inline policy, and the offline AWS twin in
 * `test/support/` authorizes every SDK call of the handler tests against the very same document.
 */
export function processorPolicy(a: ProcessorScope): IdentityPolicy {
  const out = (prefix: string) => `${a.outputBucketArn}/${prefix}*`;
  const glue = (suffix: string) => `arn:${a.partition}:glue:${a.region}:${a.accountId}:${suffix}`;
  const listed = [OUTPUT_LAYOUT.curated, OUTPUT_LAYOUT.current, OUTPUT_LAYOUT.quarantine, OUTPUT_LAYOUT.athenaScratch];
  const statements: IdentityStatement[] = [
    {
      Sid: "ReadUploads",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:GetObjectVersion"],
      Resource: `${a.rawBucketArn}/*`,
    },
    {
      // Without s3:ListBucket, S3 answers GetObject on a missing key (or one whose current version is a
      // delete marker) with 403 AccessDenied instead of 404 NoSuchKey, and a deleted upload could not be
      // told apart from a permission error. The processor may read every upload anyway, so listing
      // their names discloses nothing more. No prefix condition: object requests carry no s3:prefix.
      Sid: "TellMissingUploadsApart",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: a.rawBucketArn,
    },
    {
      // Athena runs with the caller's permissions and lists the table location and its scratch prefix;
      // the processor lists an upload's curated and quarantine objects to remove superseded versions,
      // and the current-state shards so that it never reads one that does not exist yet (403, not 404).
      Sid: "ListCuratedCurrentQuarantineAndScratch",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: a.outputBucketArn,
      Condition: { StringLike: { "s3:prefix": listed.flatMap((p) => [p, `${p}*`]) } },
    },
    {
      Sid: "LocateOutputBucket",
      Effect: "Allow",
      Action: "s3:GetBucketLocation",
      Resource: a.outputBucketArn,
    },
    {
      Sid: "WriteCurated",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
      Resource: out(OUTPUT_LAYOUT.curated),
    },
    {
      // The current state: shards are read, then replaced by compare-and-swap (If-Match/If-None-Match
      // need only s3:PutObject). Never deleted, and small enough for a single PUT (no multipart).
      Sid: "MaintainCurrentState",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject"],
      Resource: out(OUTPUT_LAYOUT.current),
    },
    {
      Sid: "WriteQuarantine",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
      Resource: out(OUTPUT_LAYOUT.quarantine),
    },
    {
      // GetObject (HeadObject): `latest` is created with If-None-Match and only then compared and
      // replaced with If-Match, so the processor never reads a report key that may not exist.
      Sid: "WriteReports",
      Effect: "Allow",
      // AbortMultipartUpload: a streamed `latest` copy over one part that loses its conditional
      // completion (409/412) is aborted by lib-storage, so its parts are not left behind.
      Action: ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
      Resource: out(OUTPUT_LAYOUT.reports),
    },
    {
      Sid: "AthenaScratchResults",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      Resource: out(OUTPUT_LAYOUT.athenaScratch),
    },
    {
      Sid: "RunReportQueries",
      Effect: "Allow",
      Action: ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution", "athena:GetWorkGroup"],
      Resource: a.workgroupArn,
    },
    {
      Sid: "ReadFacilityTable",
      Effect: "Allow",
      Action: ["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
      Resource: [glue("catalog"), `${glue("database")}/${a.database}`, `${glue("table")}/${a.database}/${a.table}`],
    },
    {
      Sid: "UseDataKey",
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: a.kmsKeyArn,
    },
    {
      Sid: "ConsumeUploads",
      Effect: "Allow",
      Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
      Resource: a.queueArn,
    },
    {
      // An upload a batch did not start (its time ran short) goes back as a fresh message, so waiting
      // its turn uses none of the upload's retries.
      Sid: "RequeueNotStarted",
      Effect: "Allow",
      Action: "sqs:SendMessage",
      Resource: a.queueArn,
    },
    {
      Sid: "DeadLetterWithReason",
      Effect: "Allow",
      Action: "sqs:SendMessage",
      Resource: a.deadLetterQueueArn,
    },
    {
      Sid: "WriteOwnLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `${a.logGroupArn}:*`,
    },
  ];
  if (a.inVpc) statements.push({ Sid: "AttachToVpc", Effect: "Allow", Action: [...UNSCOPED_ACTIONS], Resource: "*" });
  return { Version: "2012-10-17", Statement: statements };
}
