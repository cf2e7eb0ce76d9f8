import { anonymousPrincipal, runSimulation } from "@cloud-copilot/iam-simulate";
import { expect } from "chai";
import { processorPolicy } from "../../infra/processor-policy";
import { ACCOUNT, ProgramRun, REGION, runProgram } from "./harness";

type Decision = "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied";

interface Request {
  principal: string | typeof anonymousPrincipal;
  action: string;
  resource: string;
  context?: Record<string, string>;
  identity?: unknown;
  resourcePolicy?: unknown;
}

async function decide(r: Request): Promise<Decision> {
  const response = await runSimulation(
    {
      identityPolicies: r.identity ? [{ name: "processor", policy: r.identity }] : [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: r.resourcePolicy,
      request: {
        principal: r.principal,
        action: r.action,
        resource: { resource: r.resource, accountId: ACCOUNT },
        contextVariables: r.context ?? {},
      },
      additionalSettings: { s3: { blockPublicAccess: true } },
    },
    {},
  );
  if (response.resultType === "error") throw new Error(`simulation rejected ${r.action} on ${r.resource}: ${JSON.stringify(response.errors)}`);
  return response.overallResult;
}

const policyOf = (run: ProgramRun, type: string, nameContains: string) => JSON.parse(run.one(type, nameContains).inputs.policy as string) as unknown;

describe("least privilege, evaluated by an offline IAM policy simulator (dev stack)", () => {
  let run: ProgramRun;
  let role: string;
  let identity: unknown;
  let raw: string;
  let out: string;
  let key: string;
  let queue: string;
  let dlq: string;
  let workgroup: string;
  const glue = (suffix: string) => `arn:aws:glue:${REGION}:${ACCOUNT}:${suffix}`;

  before(async () => {
    run = await runProgram("dev");
    identity = policyOf(run, "aws:iam/rolePolicy:RolePolicy", "permissions");
    role = `arn:aws:iam::${ACCOUNT}:role/facility-dev-processor-role-a1b2c3d`;
    raw = `arn:aws:s3:::${String(run.outputs.rawBucketName)}`;
    out = `arn:aws:s3:::${String(run.outputs.outputBucketName)}`;
    key = String(run.one("aws:iam/rolePolicy:RolePolicy", "-permissions").inputs.policy).match(/arn:aws:kms:[^"]+/)![0];
    queue = `arn:aws:sqs:${REGION}:${ACCOUNT}:facility-dev-processor-uploads-a1b2c3d`;
    dlq = `arn:aws:sqs:${REGION}:${ACCOUNT}:facility-dev-processor-dlq-a1b2c3d`;
    workgroup = `arn:aws:athena:${REGION}:${ACCOUNT}:workgroup/${String(run.outputs.athenaWorkgroup)}`;
  });

  const processor = (action: string, resource: () => string, context?: Record<string, string>) => ({ action, resource, context });

  const allowed: Array<ReturnType<typeof processor> & { why: string }> = [
    { why: "read an upload", ...processor("s3:GetObject", () => `${raw}/incoming/a.json`) },
    { why: "read an upload's version", ...processor("s3:GetObjectVersion", () => `${raw}/incoming/a.json`) },
    { why: "write curated rows", ...processor("s3:PutObject", () => `${out}/curated/a-1.ndjson.gz`) },
    { why: "delete curated rows of a deleted upload", ...processor("s3:DeleteObject", () => `${out}/curated/a-1.ndjson.gz`) },
    { why: "write quarantine", ...processor("s3:PutObject", () => `${out}/quarantine/a-1.ndjson`) },
    {
      why: "read a current-state shard to merge into it (and let Athena read the table)",
      ...processor("s3:GetObject", () => `${out}/current/shard-03.ndjson.gz`),
    },
    { why: "replace a current-state shard (compare-and-swap)", ...processor("s3:PutObject", () => `${out}/current/shard-03.ndjson.gz`) },
    { why: "list the current-state shards (which exist, Athena)", ...processor("s3:ListBucket", () => out, { "s3:prefix": "current/" }) },
    { why: "read curated history to fall back from a removed upload", ...processor("s3:GetObject", () => `${out}/curated/a-1.ndjson.gz`) },
    { why: "write a report", ...processor("s3:PutObject", () => `${out}/reports/facility-metrics/latest.json`) },
    { why: "check the latest report before replacing it", ...processor("s3:GetObject", () => `${out}/reports/facility-metrics/latest.json`) },
    {
      why: "abort a streamed latest copy that lost its conditional completion",
      ...processor("s3:AbortMultipartUpload", () => `${out}/reports/facility-metrics/latest.json`),
    },
    { why: "let Athena write its results", ...processor("s3:PutObject", () => `${out}/athena-results/q.csv`) },
    { why: "list the curated objects (fingerprint, Athena)", ...processor("s3:ListBucket", () => out, { "s3:prefix": "curated/" }) },
    { why: "list an upload's quarantine versions to drop superseded ones", ...processor("s3:ListBucket", () => out, { "s3:prefix": "quarantine/a-1." }) },
    { why: "list the raw bucket, so a deleted upload reads 404 rather than 403", ...processor("s3:ListBucket", () => raw) },
    { why: "shorten a failed message's retry delay", ...processor("sqs:ChangeMessageVisibility", () => queue) },
    { why: "start a report query", ...processor("athena:StartQueryExecution", () => workgroup) },
    { why: "poll it", ...processor("athena:GetQueryExecution", () => workgroup) },
    { why: "read its results", ...processor("athena:GetQueryResults", () => workgroup) },
    { why: "read the table definition", ...processor("glue:GetTable", () => glue("table/facility_dev_catalog/facilities")) },
    { why: "decrypt with the data key", ...processor("kms:Decrypt", () => key) },
    { why: "encrypt with the data key", ...processor("kms:GenerateDataKey", () => key) },
    { why: "receive upload events", ...processor("sqs:ReceiveMessage", () => queue) },
    { why: "delete handled events", ...processor("sqs:DeleteMessage", () => queue) },
    { why: "dead-letter with a reason", ...processor("sqs:SendMessage", () => dlq) },
    { why: "requeue an upload the batch did not start", ...processor("sqs:SendMessage", () => queue) },
    {
      why: "write its logs",
      ...processor(
        "logs:PutLogEvents",
        () => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/facility-pipeline/facility-dev/processor:log-stream:2026/11/27/abc`,
      ),
    },
  ];

  const denied: Array<ReturnType<typeof processor> & { why: string }> = [
    { why: "overwrite an upload", ...processor("s3:PutObject", () => `${raw}/incoming/a.json`) },
    { why: "delete an upload", ...processor("s3:DeleteObject", () => `${raw}/incoming/a.json`) },
    { why: "read another bucket", ...processor("s3:GetObject", () => "arn:aws:s3:::someone-elses-bucket/x.json") },
    { why: "write another bucket", ...processor("s3:PutObject", () => "arn:aws:s3:::someone-elses-bucket/x.json") },
    { why: "write outside the output prefixes", ...processor("s3:PutObject", () => `${out}/elsewhere/x.json`) },
    { why: "delete reports", ...processor("s3:DeleteObject", () => `${out}/reports/facility-metrics/latest.json`) },
    { why: "delete a current-state shard (it is only ever replaced)", ...processor("s3:DeleteObject", () => `${out}/current/shard-03.ndjson.gz`) },
    { why: "read the access logs", ...processor("s3:GetObject", () => `arn:aws:s3:::${String(run.outputs.accessLogBucketName)}/raw/x`) },
    { why: "list the report prefix", ...processor("s3:ListBucket", () => out, { "s3:prefix": "reports/" }) },
    // An object request carries no s3:prefix, so this is what decides 403 vs 404 for a missing report key:
    // the processor never relies on it (it creates `latest` with If-None-Match first).
    { why: "list the output bucket without a prefix", ...processor("s3:ListBucket", () => out) },
    { why: "change a bucket policy", ...processor("s3:PutBucketPolicy", () => out) },
    { why: "run queries in another workgroup", ...processor("athena:StartQueryExecution", () => `arn:aws:athena:${REGION}:${ACCOUNT}:workgroup/primary`) },
    { why: "read another table", ...processor("glue:GetTable", () => glue("table/facility_dev_catalog/patients")) },
    { why: "read a table of another database", ...processor("glue:GetTable", () => glue("table/finance/ledger")) },
    { why: "change the table", ...processor("glue:UpdateTable", () => glue("table/facility_dev_catalog/facilities")) },
    { why: "decrypt with another key", ...processor("kms:Decrypt", () => `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`) },
    { why: "receive from another queue", ...processor("sqs:ReceiveMessage", () => `arn:aws:sqs:${REGION}:${ACCOUNT}:other`) },
    { why: "purge the dead letters", ...processor("sqs:PurgeQueue", () => dlq) },
    { why: "pass roles", ...processor("iam:PassRole", () => `arn:aws:iam::${ACCOUNT}:role/admin`) },
  ];

  // KMS also consults the key policy, which must delegate to the account's IAM policies.
  const resourcePolicyFor = (action: string) => (action.startsWith("kms:") ? policyOf(run, "aws:kms/keyPolicy:KeyPolicy", "key-policy") : undefined);

  for (const c of allowed) {
    it(`allows the processor to ${c.why} (${c.action})`, async () => {
      expect(
        await decide({ principal: role, action: c.action, resource: c.resource(), context: c.context, identity, resourcePolicy: resourcePolicyFor(c.action) }),
      ).to.equal("Allowed");
    });
  }
  for (const c of denied) {
    it(`denies the processor to ${c.why} (${c.action})`, async () => {
      expect(
        await decide({ principal: role, action: c.action, resource: c.resource(), context: c.context, identity, resourcePolicy: resourcePolicyFor(c.action) }),
      ).to.not.equal("Allowed");
    });
  }

  describe("resource policies against callers from outside", () => {
    const foreign = "arn:aws:iam::999999999999:root";

    it("keeps uploads from anonymous and foreign-account callers", async () => {
      const policy = policyOf(run, "aws:s3/bucketPolicy:BucketPolicy", "-raw-");
      for (const principal of [anonymousPrincipal, foreign]) {
        expect(
          await decide({ principal, action: "s3:GetObject", resource: `${raw}/incoming/a.json`, resourcePolicy: policy }),
          typeof principal === "string" ? principal : "anonymous",
        ).to.not.equal("Allowed");
      }
    });

    it("denies even the processor when a request does not use TLS", async () => {
      const policy = policyOf(run, "aws:s3/bucketPolicy:BucketPolicy", "-raw-");
      const read = (tls: boolean) =>
        decide({
          principal: role,
          action: "s3:GetObject",
          resource: `${raw}/incoming/a.json`,
          identity,
          resourcePolicy: policy,
          context: { "aws:SecureTransport": String(tls) },
        });
      expect(await read(false)).to.equal("ExplicitlyDenied");
      expect(await read(true)).to.equal("Allowed");
    });

    it("lets S3 send upload events only for this stack's raw bucket in this account", async () => {
      const policy = policyOf(run, "aws:sqs/queuePolicy:QueuePolicy", "uploads-policy");
      const send = (context: Record<string, string>, principal: string | typeof anonymousPrincipal = "s3.amazonaws.com") =>
        decide({ principal, action: "sqs:SendMessage", resource: queue, resourcePolicy: policy, context: { "aws:SecureTransport": "true", ...context } });
      expect(await send({ "aws:SourceArn": raw, "aws:SourceAccount": ACCOUNT })).to.equal("Allowed");
      expect(await send({ "aws:SourceArn": "arn:aws:s3:::another-bucket", "aws:SourceAccount": ACCOUNT })).to.not.equal("Allowed");
      expect(await send({ "aws:SourceArn": raw, "aws:SourceAccount": "999999999999" })).to.not.equal("Allowed");
      expect(await send({}, foreign)).to.not.equal("Allowed");
      expect(await send({}, anonymousPrincipal)).to.not.equal("Allowed");
    });

    it("lets only S3 log delivery for this account's buckets write access logs", async () => {
      const policy = policyOf(run, "aws:s3/bucketPolicy:BucketPolicy", "access-logs");
      const logs = `arn:aws:s3:::${String(run.outputs.accessLogBucketName)}`;
      const put = (principal: string | typeof anonymousPrincipal, context: Record<string, string>) =>
        decide({
          principal,
          action: "s3:PutObject",
          resource: `${logs}/raw/x`,
          resourcePolicy: policy,
          context: { "aws:SecureTransport": "true", ...context },
        });
      expect(await put("logging.s3.amazonaws.com", { "aws:SourceArn": raw, "aws:SourceAccount": ACCOUNT })).to.equal("Allowed");
      expect(await put("logging.s3.amazonaws.com", { "aws:SourceArn": "arn:aws:s3:::stranger", "aws:SourceAccount": ACCOUNT })).to.not.equal("Allowed");
      expect(await put(foreign, {})).to.not.equal("Allowed");
    });
  });
});

describe("one source for the processor's permissions", () => {
  it("the role policy the program registers is processorPolicy over the stack's resolved ARNs", async () => {
    const run = await runProgram("dev");
    const registered = JSON.parse(run.one("aws:iam/rolePolicy:RolePolicy", "-permissions").inputs.policy as string) as unknown;
    const arn = (type: string, nameContains: string) => String(run.one(type, nameContains).state.arn);
    const expected = processorPolicy({
      rawBucketArn: `arn:aws:s3:::${String(run.outputs.rawBucketName)}`,
      outputBucketArn: `arn:aws:s3:::${String(run.outputs.outputBucketName)}`,
      workgroupArn: arn("aws:athena/workgroup:Workgroup", ""),
      kmsKeyArn: arn("aws:kms/key:Key", ""),
      queueArn: arn("aws:sqs/queue:Queue", "uploads"),
      deadLetterQueueArn: arn("aws:sqs/queue:Queue", "dlq"),
      logGroupArn: arn("aws:cloudwatch/logGroup:LogGroup", ""),
      region: REGION,
      accountId: ACCOUNT,
      partition: "aws",
      database: String(run.outputs.glueDatabase),
      table: String(run.outputs.glueTable),
      inVpc: false,
    });
    expect(registered).to.deep.equal(expected);
  });
});
