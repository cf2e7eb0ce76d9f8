import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { CreateQueueCommand, GetQueueAttributesCommand, PurgeQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { processorFactory } from "../../handler/aws/entry";
import { processorPolicy } from "../../infra/processor-policy";
import { processorEnv, SETTINGS, sqsRecord } from "../support/processor-harness";
import { Credentials, Moto, MOTO_REGION, motoInstalled, motoProcessorScope, startMoto } from "./moto-iam";

const root = path.resolve(__dirname, "../..");
const RAW = "it-raw-uploads";
const OUTPUT = "it-output";
/** A bucket the processor has no grant on. */
const OTHER = "it-unrelated";
const UPLOADS_QUEUE = "it-uploads";
const DLQ = "it-dlq";

/**
 * The error code of a rejected SDK call, or "no error". moto answers JSON-protocol clients (SQS) with
 * an XML error body when it denies a request, which the SDK cannot parse: such an error reads as its
 * HTTP status, and the test pairs it with an allowed request of the same client (so it is not the
 * signature).
 */
async function errorOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "no error";
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    return e instanceof SyntaxError ? `HTTP ${status}` : (e as Error).name;
  }
}

describe("integration: the serialized processor against S3 and SQS served by moto_server, IAM enforced (Athena faked)", function () {
  this.timeout(120_000);
  let moto: Moto | undefined;
  let modulePath: string;
  let exportName: string;
  let s3: S3Client;
  let sqs: SQSClient;
  let uploadsUrl: string;
  let dlqUrl: string;
  /** The processor's permissions: exactly what the program renders into the role's inline policy. */
  let processor: Credentials;
  const scope = () =>
    motoProcessorScope({
      rawBucket: RAW,
      outputBucket: OUTPUT,
      queue: UPLOADS_QUEUE,
      deadLetterQueue: DLQ,
      workgroup: SETTINGS.workgroup,
      database: SETTINGS.database,
      table: SETTINGS.table,
    });
  const s3As = (credentials: Credentials) => new S3Client({ region: MOTO_REGION, endpoint: moto!.endpoint, credentials, forcePathStyle: true, maxAttempts: 1 });
  const sqsAs = (credentials: Credentials) => new SQSClient({ region: MOTO_REGION, endpoint: moto!.endpoint, credentials, maxAttempts: 1 });

  before(async function () {
    if (!motoInstalled()) {
      console.log("    moto_server is not installed: skipping the integration tier (it needs Python's moto[server]).");
      this.skip();
    }
    moto = await startMoto();
    s3 = s3As(moto.admin);
    sqs = sqsAs(moto.admin);
    for (const bucket of [RAW, OUTPUT, OTHER]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    uploadsUrl = (await sqs.send(new CreateQueueCommand({ QueueName: UPLOADS_QUEUE }))).QueueUrl!;
    dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: DLQ }))).QueueUrl!;
    processor = await moto.userWithPolicy("it-processor", processorPolicy(scope()));

    const serialized = await pulumi.runtime.serializeFunction(processorFactory, { isFactoryFunction: true });
    exportName = serialized.exportName;
    fs.mkdirSync(path.join(root, "test/.serialized"), { recursive: true });
    modulePath = path.join(root, "test/.serialized/integration.js");
    fs.writeFileSync(modulePath, serialized.text);
  });

  after(() => moto?.stop());

  /** Runs one batch through the serialized processor in a fresh process, signed as `as`. */
  type Invocation = { response: { batchItemFailures: Array<{ itemIdentifier: string }> }; started: number };
  async function invoke(event: unknown, as: Credentials): Promise<Invocation & { logs: string }> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_ENDPOINT_URL: moto!.endpoint,
      AWS_REGION: MOTO_REGION,
      AWS_ACCESS_KEY_ID: as.accessKeyId,
      AWS_SECRET_ACCESS_KEY: as.secretAccessKey,
      POWERTOOLS_METRICS_DISABLED: "true",
      ...processorEnv({ rawBucket: RAW, outputBucket: OUTPUT, deadLetterQueueUrl: dlqUrl }),
    };
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", path.join(root, "test/integration/run-against-moto.ts"), modulePath, exportName],
        { cwd: root, env, maxBuffer: 16 * 1024 * 1024 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(`${out}\n${errOut}`)),
      );
      child.stdin!.end(JSON.stringify(event));
    });
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    if (!line) throw new Error(stdout);
    return { ...(JSON.parse(line.slice("RESULT ".length)) as Invocation), logs: stdout };
  }

  it("enforces IAM: unknown keys are refused, and the processor's key only does what its policy grants", async () => {
    await s3.send(new PutObjectCommand({ Bucket: RAW, Key: "probe/allowed.json", Body: "[]" }));
    await s3.send(new PutObjectCommand({ Bucket: OTHER, Key: "elsewhere.json", Body: "[]" }));
    const mine = s3As(processor);
    const stranger = s3As({ accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "x" });

    expect(await errorOf(stranger.send(new GetObjectCommand({ Bucket: RAW, Key: "probe/allowed.json" })))).to.equal("InvalidAccessKeyId");
    // Granted (ReadUploads): the same signed client succeeds, so the denials below are authorization.
    expect(await errorOf(mine.send(new GetObjectCommand({ Bucket: RAW, Key: "probe/allowed.json" })))).to.equal("no error");
    expect(await errorOf(mine.send(new PutObjectCommand({ Bucket: RAW, Key: "probe/forged.json", Body: "[]" }))), "write an upload").to.equal("AccessDenied");
    expect(await errorOf(mine.send(new GetObjectCommand({ Bucket: OTHER, Key: "elsewhere.json" }))), "read another bucket").to.equal("AccessDenied");
    expect(await errorOf(mine.send(new PutObjectCommand({ Bucket: OUTPUT, Key: "elsewhere/x.json", Body: "[]" }))), "write outside its prefixes").to.equal(
      "AccessDenied",
    );
    const mySqs = sqsAs(processor);
    expect(await errorOf(mySqs.send(new PurgeQueueCommand({ QueueUrl: uploadsUrl }))), "purge the uploads queue").to.equal("HTTP 403");
    // Granted (RequeueNotStarted): an upload a batch did not start goes back as a new message.
    expect(await errorOf(mySqs.send(new SendMessageCommand({ QueueUrl: uploadsUrl, MessageBody: "probe" })))).to.equal("no error");
    await sqs.send(new PurgeQueueCommand({ QueueUrl: uploadsUrl }));
    // Granted (DeadLetterWithReason); drained again so the dead-letter test below starts from empty.
    expect(await errorOf(mySqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: "probe" })))).to.equal("no error");
    await sqs.send(new PurgeQueueCommand({ QueueUrl: dlqUrl }));
  });

  it("turns a real S3 notification into curated data and reports, and dead-letters junk with its reason", async () => {
    const uploadsArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: uploadsUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn;
    expect(uploadsArn, "the scope names moto's real queue ARN").to.equal(scope().queueArn);
    await s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: RAW,
        NotificationConfiguration: { QueueConfigurations: [{ QueueArn: uploadsArn, Events: ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"] }] },
      }),
    );
    await s3.send(
      new PutObjectCommand({ Bucket: RAW, Key: "incoming/sample data.json", Body: fs.readFileSync(path.join(root, "sample-data/sample_data.json")) }),
    );

    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: uploadsUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }));
    const bodies = (received.Messages ?? []).map((m) => m.Body!).filter((b) => b.includes("ObjectCreated"));
    expect(bodies, "moto delivered the S3 event to the queue").to.have.length(1);
    expect(bodies[0]).to.include("sample+data.json");

    const result = await invoke({ Records: [sqsRecord(bodies[0]), sqsRecord("not an event")] }, processor);
    expect(result.response, result.logs).to.deep.equal({ batchItemFailures: [] });
    expect(result.started, result.logs).to.equal(3);

    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: OUTPUT }))).Contents ?? []).map((o) => o.Key!);
    expect(keys.filter((k) => k.startsWith("curated/"))).to.have.length(1);
    const latest = JSON.parse(
      await (await s3.send(new GetObjectCommand({ Bucket: OUTPUT, Key: "reports/facility-metrics/latest.json" }))).Body!.transformToString(),
    ) as { results: Array<{ facility_id: string }> };
    expect(latest.results.map((r) => r.facility_id)).to.deep.equal(["F001", "F006", "F007"]);

    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MessageAttributeNames: ["All"], WaitTimeSeconds: 1 }));
    expect(dead.Messages?.[0]?.Body).to.equal("not an event");
    expect(dead.Messages?.[0]?.MessageAttributes?.reason.StringValue).to.match(/not an upload event/);
  });

  it("fails where the policy lacks a grant the code needs: without DeadLetterWithReason the junk message is left to SQS", async () => {
    const full = processorPolicy(scope());
    const withoutDlq = { ...full, Statement: full.Statement.filter((s) => s.Sid !== "DeadLetterWithReason") };
    expect(withoutDlq.Statement).to.have.length(full.Statement.length - 1);
    const lacking = await moto!.userWithPolicy("it-processor-no-dlq", withoutDlq);
    const junk = sqsRecord("still not an event");

    const result = await invoke({ Records: [junk] }, lacking);
    expect(result.response).to.deep.equal({ batchItemFailures: [{ itemIdentifier: junk.messageId }] });
    // moto's XML denial reaches the SQS client as an unparsable body, so the log names no AccessDenied;
    // the same message under the full policy is dead-lettered in the test above.
    expect(result.logs).to.include("sending to the dead-letter queue failed");
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 1 }));
    expect((dead.Messages ?? []).map((m) => m.Body)).to.not.include("still not an event");
  });
});
