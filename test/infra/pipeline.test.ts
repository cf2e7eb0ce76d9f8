import type * as aws from "@pulumi/aws";
import { expect } from "chai";
import { OUTPUT_LAYOUT } from "../../handler/core/layout";
import { glueColumns } from "../../handler/schema/columns";
import { asArray, inputsOf, ProgramRun, redriveOf, runProgram, statementsOf } from "./harness";

const S3 = "aws:s3/bucket:Bucket";
const BUCKET_PARTS = ["raw", "output", "access-logs"];
const subOf = (run: ProgramRun, type: string, bucketPart: string) =>
  run.ofType(type).find((r) => r.name.startsWith(`facility-dev-${bucketPart}-`) && !r.name.slice(`facility-dev-${bucketPart}-`.length).includes("-logs"));

describe("pipeline program (dev stack, mocked provider)", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runProgram("dev");
  });

  describe("KMS key", () => {
    it("rotates and is aliased", () => {
      const key = run.one("aws:kms/key:Key");
      expect(key.inputs.enableKeyRotation).to.equal(true);
      expect(run.one("aws:kms/alias:Alias").inputs.name).to.equal("alias/facility-dev-data");
    });

    it("lets S3, CloudWatch Logs and CloudWatch alarms use the key, each scoped", () => {
      const statements = statementsOf(run.one("aws:kms/keyPolicy:KeyPolicy").inputs.policy);
      const bySid = Object.fromEntries(statements.map((s) => [String(s.Sid), s] as const));
      expect(bySid.S3NotifiesEncryptedQueue.Principal).to.deep.equal({ Service: "s3.amazonaws.com" });
      expect(JSON.stringify(bySid.S3NotifiesEncryptedQueue.Condition)).to.include("arn:aws:s3:::facility-dev-raw-a1b2c3d");
      expect(bySid.LogsEncryptsLogGroup.Principal).to.deep.equal({ Service: "logs.us-east-1.amazonaws.com" });
      expect(JSON.stringify(bySid.LogsEncryptsLogGroup.Condition)).to.include(
        "arn:aws:logs:us-east-1:123456789012:log-group:/facility-pipeline/facility-dev/processor",
      );
      expect(bySid.AlarmsPublishToEncryptedTopic.Principal).to.deep.equal({ Service: "cloudwatch.amazonaws.com" });
    });
  });

  describe("buckets", () => {
    it("creates raw, output and access-log buckets", () => {
      expect(
        run
          .ofType(S3)
          .map((b) => b.name)
          .sort(),
      ).to.deep.equal(BUCKET_PARTS.map((b) => `facility-dev-${b}`).sort());
    });

    for (const part of ["raw", "output", "access-logs"]) {
      it(`${part}: blocks all public access, enforces bucket-owner ownership and versions objects`, () => {
        const pab = subOf(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", part)!;
        expect(pab.inputs).to.include({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
        const own = subOf(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", part)!;
        expect(own.inputs.rule).to.deep.equal({ objectOwnership: "BucketOwnerEnforced" });
        const ver = subOf(run, "aws:s3/bucketVersioning:BucketVersioning", part)!;
        expect(ver.inputs.versioningConfiguration).to.deep.equal({ status: "Enabled" });
      });

      it(`${part}: denies requests without TLS`, () => {
        const policy = subOf(run, "aws:s3/bucketPolicy:BucketPolicy", part)!;
        const deny = statementsOf(policy.inputs.policy).find((s) => s.Sid === "DenyInsecureTransport")!;
        expect(deny.Effect).to.equal("Deny");
        expect(deny.Condition).to.deep.equal({ Bool: { "aws:SecureTransport": "false" } });
      });

      it(`${part}: expires noncurrent versions and aborts incomplete multipart uploads`, () => {
        const lc = subOf(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", part)!;
        const rules = lc.inputs.rules as Array<Record<string, unknown>>;
        expect(rules.find((r) => r.id === "expire-noncurrent-versions")?.noncurrentVersionExpiration).to.deep.equal({ noncurrentDays: 14 });
        expect(rules.find((r) => r.id === "abort-incomplete-multipart-uploads")?.abortIncompleteMultipartUpload).to.deep.equal({ daysAfterInitiation: 7 });
      });
    }

    for (const part of ["raw", "output"]) {
      it(`${part}: encrypts with the customer-managed key (bucket key on) and logs access`, () => {
        const enc = subOf(run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", part)!;
        const rule = inputsOf<aws.s3.BucketServerSideEncryptionConfigurationArgs>(enc).rules[0];
        expect(rule.applyServerSideEncryptionByDefault?.sseAlgorithm).to.equal("aws:kms");
        expect(rule.applyServerSideEncryptionByDefault?.kmsMasterKeyId).to.match(/^arn:aws:kms:/);
        expect(rule.bucketKeyEnabled).to.equal(true);
        const logging = subOf(run, "aws:s3/bucketLogging:BucketLogging", part)!;
        expect(logging.inputs.targetBucket).to.equal("facility-dev-access-logs-a1b2c3d");
        expect(logging.inputs.targetPrefix).to.equal(`${part}/`);
      });
    }

    it("encrypts the access-log bucket with SSE-S3, the only default encryption S3 log delivery supports", () => {
      const enc = subOf(run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "access-logs")!;
      expect(inputsOf<aws.s3.BucketServerSideEncryptionConfigurationArgs>(enc).rules[0].applyServerSideEncryptionByDefault).to.deep.equal({
        sseAlgorithm: "AES256",
      });
    });

    it("lets only S3 log delivery for this account's two buckets write access logs", () => {
      const policy = subOf(run, "aws:s3/bucketPolicy:BucketPolicy", "access-logs")!;
      const allow = statementsOf(policy.inputs.policy).find((s) => s.Effect === "Allow")!;
      expect(allow.Principal).to.deep.equal({ Service: "logging.s3.amazonaws.com" });
      expect(allow.Condition).to.deep.equal({
        ArnLike: { "aws:SourceArn": ["arn:aws:s3:::facility-dev-raw-a1b2c3d", "arn:aws:s3:::facility-dev-output-a1b2c3d"] },
        StringEquals: { "aws:SourceAccount": "123456789012" },
      });
    });

    it("expires Athena scratch results in the output bucket", () => {
      const lc = subOf(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "output")!;
      const rule = inputsOf<aws.s3.BucketLifecycleConfigurationArgs>(lc).rules?.find((r) => r.filter?.prefix === OUTPUT_LAYOUT.athenaScratch);
      expect(rule?.expiration).to.deep.equal({ days: 3 });
    });

    it("honours forceDestroy from the dev stack config", () => {
      for (const b of run.ofType(S3)) expect(b.inputs.forceDestroy, b.name).to.equal(true);
    });
  });

  describe("queues", () => {
    it("encrypts both queues with the key and keeps dead letters 14 days", () => {
      const dlq = run.one("aws:sqs/queue:Queue", "dlq");
      const uploads = run.one("aws:sqs/queue:Queue", "uploads");
      for (const q of [dlq, uploads]) expect(q.inputs.kmsMasterKeyId).to.match(/^arn:aws:kms:/);
      expect(dlq.inputs.messageRetentionSeconds).to.equal(14 * 24 * 3600);
    });

    it("redrives after maxRetries + 1 receives and keeps messages invisible for 6x the timeout", () => {
      const uploads = run.one("aws:sqs/queue:Queue", "uploads");
      const redrive = redriveOf(uploads);
      expect(redrive.maxReceiveCount).to.equal(3); // dev: maxRetries 2
      expect(redrive.deadLetterTargetArn).to.match(/:facility-dev-processor-dlq-/);
      expect(uploads.inputs.visibilityTimeoutSeconds).to.be.at.least(6 * 300);
    });

    it("lets only the raw bucket of this account send upload events", () => {
      const policy = run.one("aws:sqs/queuePolicy:QueuePolicy", "uploads-policy");
      const allow = statementsOf(policy.inputs.policy).find((s) => s.Effect === "Allow")!;
      expect(allow.Principal).to.deep.equal({ Service: "s3.amazonaws.com" });
      expect(allow.Action).to.equal("sqs:SendMessage");
      expect(allow.Condition).to.deep.equal({
        ArnEquals: { "aws:SourceArn": "arn:aws:s3:::facility-dev-raw-a1b2c3d" },
        StringEquals: { "aws:SourceAccount": "123456789012" },
      });
    });

    it("notifies the queue of every created and removed object, without a (case-sensitive) suffix filter", () => {
      const n = run.one("aws:s3/bucketNotification:BucketNotification");
      expect(n.inputs.bucket).to.equal("facility-dev-raw-a1b2c3d");
      const queues = n.inputs.queues as Array<Record<string, unknown>>;
      expect(queues).to.have.length(1);
      expect(queues[0].events).to.deep.equal(["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]);
      expect(queues[0].queueArn).to.match(/:facility-dev-processor-uploads-/);
      // S3 matches filters case-sensitively; the processor accepts `X.JSON`, so a filter would hide it.
      expect(queues[0]).to.not.have.property("filterSuffix");
      expect(queues[0]).to.not.have.property("filterPrefix");
    });
  });

  describe("catalog", () => {
    it("declares the facilities table (reports) over the current state and facilities_history over the curated prefix, Hive JSON SerDe, columns from the schema", () => {
      const tables = run.ofType("aws:glue/catalogTable:CatalogTable");
      expect(tables.map((t) => t.inputs.name).sort()).to.deep.equal(["facilities", "facilities_history"]);
      const locations: Record<string, string | undefined> = {};
      for (const table of tables) {
        const sd = inputsOf<aws.glue.CatalogTableArgs>(table).storageDescriptor!;
        locations[String(table.inputs.name)] = sd.location;
        expect(sd.serDeInfo?.serializationLibrary).to.equal("org.apache.hive.hcatalog.data.JsonSerDe");
        expect(sd.columns).to.deep.equal(glueColumns.map((c) => ({ name: c.name, type: c.type })));
        expect(sd.columns?.find((c) => c.name === "accreditations")?.type).to.equal(
          "array<struct<accreditation_body:string,accreditation_id:string,valid_until:date>>",
        );
      }
      expect(locations).to.deep.equal({
        facilities: `s3://facility-dev-output-a1b2c3d/${OUTPUT_LAYOUT.current}`,
        facilities_history: `s3://facility-dev-output-a1b2c3d/${OUTPUT_LAYOUT.curated}`,
      });
    });

    it("runs reports in an enforced, encrypted, metered engine-3 workgroup with the configured cutoff", () => {
      const wg = run.one("aws:athena/workgroup:Workgroup");
      const c = inputsOf<aws.athena.WorkgroupArgs>(wg).configuration!;
      expect(c.enforceWorkgroupConfiguration).to.equal(true);
      expect(c.publishCloudwatchMetricsEnabled).to.equal(true);
      expect(c.bytesScannedCutoffPerQuery).to.equal(100 * 1024 * 1024);
      expect(c.engineVersion?.selectedEngineVersion).to.equal("Athena engine version 3");
      expect(c.resultConfiguration?.outputLocation).to.equal(`s3://facility-dev-output-a1b2c3d/${OUTPUT_LAYOUT.athenaScratch}`);
      expect(c.resultConfiguration?.encryptionConfiguration).to.deep.include({ encryptionOption: "SSE_KMS" });
      expect(c.resultConfiguration?.encryptionConfiguration?.kmsKeyArn).to.match(/^arn:aws:kms:/);
    });
  });

  describe("processor", () => {
    it("runs on arm64 with the configured runtime, memory and timeout and JSON logs to its own group", () => {
      const fn = run.one("aws:lambda/function:Function");
      expect(fn.inputs).to.include({ runtime: "nodejs22.x", memorySize: 1024, timeout: 300 });
      expect(fn.inputs.architectures).to.deep.equal(["arm64"]);
      expect(fn.inputs.loggingConfig).to.deep.include({ logFormat: "JSON", logGroup: "/facility-pipeline/facility-dev/processor" });
      const group = run.one("aws:cloudwatch/logGroup:LogGroup");
      expect(group.inputs.retentionInDays).to.equal(30);
      expect(group.inputs.kmsKeyId).to.match(/^arn:aws:kms:/);
    });

    it("passes bucket names, workgroup, database, table and limits in the environment", () => {
      const vars = (run.one("aws:lambda/function:Function").inputs.environment as { variables: Record<string, string> }).variables;
      expect(vars).to.include({
        RAW_BUCKET: "facility-dev-raw-a1b2c3d",
        OUTPUT_BUCKET: "facility-dev-output-a1b2c3d",
        ATHENA_WORKGROUP: "facility-dev-catalog-reports-a1b2c3d",
        GLUE_DATABASE: "facility_dev_catalog",
        GLUE_TABLE: "facilities",
        MAX_RECEIVE_COUNT: "3",
        EXPIRING_WITHIN_MONTHS: "6",
      });
      expect(vars.DEAD_LETTER_QUEUE_URL).to.match(/facility-dev-processor-dlq-/);
    });

    it("uses its own role with one inline policy, never the CallbackFunction default managed policies", () => {
      expect(run.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")).to.have.length(0);
      const role = run.one("aws:iam/role:Role", "-processor-role");
      const trust = statementsOf(role.inputs.assumeRolePolicy);
      expect(trust).to.have.length(1);
      expect(trust[0].Principal).to.deep.equal({ Service: "lambda.amazonaws.com" });
      expect(run.one("aws:lambda/function:Function").inputs.role).to.equal(`arn:aws:iam::123456789012:role/${role.name}-a1b2c3d`);
    });

    it("consumes the uploads queue in bounded batches and reports partial failures", () => {
      const esm = run.one("aws:lambda/eventSourceMapping:EventSourceMapping");
      expect(esm.inputs).to.include({ batchSize: 50, maximumBatchingWindowInSeconds: 10 });
      expect(esm.inputs.scalingConfig).to.deep.equal({ maximumConcurrency: 4 });
      expect(esm.inputs.functionResponseTypes).to.deep.equal(["ReportBatchItemFailures"]);
      expect(esm.inputs.eventSourceArn).to.match(/:facility-dev-processor-uploads-/);
    });

    it("has no network attachment unless enableVpc is set", () => {
      expect(run.one("aws:lambda/function:Function").inputs.vpcConfig).to.equal(undefined);
      expect(run.ofType("awsx:ec2:Vpc")).to.have.length(0);
    });
  });

  describe("monitoring", () => {
    it("encrypts the alarm topic and adds no email subscription when none is configured", () => {
      expect(run.one("aws:sns/topic:Topic").inputs.kmsMasterKeyId).to.match(/^arn:aws:kms:/);
      expect(run.ofType("aws:sns/topicSubscription:TopicSubscription")).to.have.length(0);
    });

    const alarms: Array<[string, string, string, number]> = [
      ["errors", "Errors", "Sum", 5],
      ["duration", "Duration", "Maximum", 240_000],
      ["throttles", "Throttles", "Sum", 0],
      ["dead-letters", "ApproximateNumberOfMessagesVisible", "Maximum", 0],
      // dev: 10 s window, 3 receives of up to 300 s, 30 s and 60 s backoff between them = 1000 s, to the minute.
      ["oldest-upload", "ApproximateAgeOfOldestMessage", "Maximum", 1020],
      ["ignored-uploads", "UploadsIgnored", "Sum", 0],
    ];
    for (const [suffix, metric, statistic, threshold] of alarms) {
      it(`alarms on ${metric} above ${threshold} and notifies the topic`, () => {
        const a = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", `-${suffix}`);
        expect(a.inputs).to.include({ metricName: metric, statistic, threshold, comparisonOperator: "GreaterThanThreshold" });
        expect(asArray(a.inputs.alarmActions as string[])).to.deep.equal(["arn:aws:sns:us-east-1:123456789012:facility-dev-monitoring-alarms-a1b2c3d"]);
      });
    }

    it("counts errors over 5 minutes, as the original design did", () => {
      expect(run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "-errors").inputs.period).to.equal(300);
    });
  });

  it("tags every resource through one explicit provider with project, stack and data classification", () => {
    const provider = run.one("pulumi:providers:aws");
    expect(JSON.parse(provider.inputs.defaultTags as string)).to.deep.equal({
      tags: { project: "facility-pipeline", stack: "dev", "data-classification": "phi-synthetic" },
    });
    const custom = run.resources.filter((r) => r.type.startsWith("aws:"));
    expect(custom.length).to.be.greaterThan(40);
    for (const r of custom) expect(r.provider, `${r.type} ${r.name}`).to.equal("aws");
  });

  it("exports names, URLs and a ready-to-paste upload command", () => {
    expect(run.outputs).to.include({
      rawBucketName: "facility-dev-raw-a1b2c3d",
      outputBucketName: "facility-dev-output-a1b2c3d",
      glueDatabase: "facility_dev_catalog",
      glueTable: "facilities",
      athenaWorkgroup: "facility-dev-catalog-reports-a1b2c3d",
      processorFunctionName: "facility-dev-processor-fn-a1b2c3d",
    });
    expect(run.outputs.uploadQueueUrl).to.match(/^https:\/\/sqs\./);
    expect(run.outputs.deadLetterQueueUrl).to.match(/dlq/);
    expect(run.outputs.uploadCommand).to.equal("aws s3 cp sample-data/facilities.ndjson s3://facility-dev-raw-a1b2c3d/incoming/facilities.ndjson");
  });
});
