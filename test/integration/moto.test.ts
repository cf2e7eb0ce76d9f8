import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutBucketNotificationConfigurationCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { ChildProcess, execFile, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { processorFactory } from "../../handler/aws/entry";
import { processorEnv, sqsRecord } from "../support/processor-harness";

const root = path.resolve(__dirname, "../..");
const RAW = "it-raw-uploads";
const OUTPUT = "it-output";

function motoInstalled(): boolean {
  try {
    execFileSync("moto_server", ["-h"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

describe("integration: the serialized processor against S3 and SQS served by moto_server (Athena faked)", function () {
  this.timeout(120_000);
  let moto: ChildProcess | undefined;
  let endpoint: string;
  let modulePath: string;
  let exportName: string;
  let s3: S3Client;
  let sqs: SQSClient;
  const clientConfig = () => ({ region: "us-east-1", endpoint, credentials: { accessKeyId: "test", secretAccessKey: "test" } });

  before(async function () {
    if (!motoInstalled()) {
      console.log("    moto_server is not installed: skipping the integration tier (it needs Python's moto[server]).");
      this.skip();
    }
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    moto = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    s3 = new S3Client({ ...clientConfig(), forcePathStyle: true });
    sqs = new SQSClient(clientConfig());
    for (let i = 0; ; i++) {
      try {
        await s3.send(new CreateBucketCommand({ Bucket: RAW }));
        break;
      } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await s3.send(new CreateBucketCommand({ Bucket: OUTPUT }));
    const serialized = await pulumi.runtime.serializeFunction(processorFactory, { isFactoryFunction: true });
    exportName = serialized.exportName;
    fs.mkdirSync(path.join(root, "test/.serialized"), { recursive: true });
    modulePath = path.join(root, "test/.serialized/integration.js");
    fs.writeFileSync(modulePath, serialized.text);
  });

  after(() => moto?.kill());

  async function invoke(event: unknown, dlqUrl: string): Promise<{ response: { batchItemFailures: unknown[] }; started: number }> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      POWERTOOLS_METRICS_DISABLED: "true",
      ...processorEnv({ rawBucket: RAW, outputBucket: OUTPUT, deadLetterQueueUrl: dlqUrl }),
    };
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = execFile(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(root, "test/integration/run-against-moto.ts"), modulePath, exportName],
        { cwd: root, env, maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)));
      child.stdin!.end(JSON.stringify(event));
    });
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    if (!line) throw new Error(stdout);
    return JSON.parse(line.slice("RESULT ".length));
  }

  it("turns a real S3 notification into curated data and reports, and dead-letters junk with its reason", async () => {
    const uploads = (await sqs.send(new CreateQueueCommand({ QueueName: "it-uploads" }))).QueueUrl!;
    const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: "it-dlq" }))).QueueUrl!;
    const uploadsArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: uploads, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn;
    await s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket: RAW,
      NotificationConfiguration: { QueueConfigurations: [{ QueueArn: uploadsArn, Events: ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"] }] },
    }));
    await s3.send(new PutObjectCommand({ Bucket: RAW, Key: "incoming/sample data.json", Body: fs.readFileSync(path.join(root, "sample-data/sample_data.json")) }));

    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: uploads, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }));
    const bodies = (received.Messages ?? []).map((m) => m.Body!).filter((b) => b.includes("ObjectCreated"));
    expect(bodies, "moto delivered the S3 event to the queue").to.have.length(1);
    expect(bodies[0]).to.include("sample+data.json");

    const result = await invoke({ Records: [sqsRecord(bodies[0]), sqsRecord("not an event")] }, dlq);
    expect(result.response).to.deep.equal({ batchItemFailures: [] });
    expect(result.started).to.equal(3);

    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: OUTPUT }))).Contents ?? []).map((o) => o.Key!);
    expect(keys.filter((k) => k.startsWith("curated/"))).to.have.length(1);
    const latest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: OUTPUT, Key: "reports/facility-metrics/latest.json" }))).Body!.transformToString());
    expect(latest.results.map((r: { facility_id: string }) => r.facility_id)).to.deep.equal(["F001", "F006", "F007"]);

    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MessageAttributeNames: ["All"], WaitTimeSeconds: 1 }));
    expect(dead.Messages?.[0]?.Body).to.equal("not an event");
    expect(dead.Messages?.[0]?.MessageAttributes?.reason.StringValue).to.match(/not an upload event/);
  });
});
