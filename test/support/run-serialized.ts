/**
 * Runs in a fresh Node process, as Lambda would: loads a module produced by Pulumi's closure
 * serializer, takes `exports[name]`, and runs one SQS batch through it with the AWS SDK faked.
 * Prints `RESULT <json>` on its own line.
 */
import * as fs from "fs";
import * as path from "path";
import { FakeAthena } from "./fake-athena";
import { FakeS3 } from "./fake-s3";
import { OUTPUT, RAW, s3EventBody, sqsRecord } from "./processor-harness";
import { mockClient } from "aws-sdk-client-mock";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";

async function main(): Promise<void> {
  const [modulePath, exportName] = process.argv.slice(2);
  const s3 = new FakeS3();
  const athena = new FakeAthena(s3, OUTPUT);
  const deadLetters: unknown[] = [];
  mockClient(SQSClient).on(SendMessageCommand).callsFake(async (input) => {
    deadLetters.push(input.MessageAttributes?.reason?.StringValue);
    return { MessageId: "dlq-1" };
  });
  s3.store(RAW, "incoming/facilities.ndjson", fs.readFileSync(path.resolve(__dirname, "../../sample-data/facilities.ndjson")));

  const loaded = require(path.resolve(modulePath)) as Record<string, unknown>;
  const handler = loaded[exportName] as (event: unknown, context: unknown) => Promise<{ batchItemFailures: unknown[] }>;
  const event = {
    Records: [
      sqsRecord(JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent" })),
      sqsRecord(s3EventBody([{ key: "incoming/facilities.ndjson" }])),
      sqsRecord("{not an event"),
    ],
  };
  const response = await handler(event, { getRemainingTimeInMillis: () => 120_000 });
  const latest = JSON.parse(s3.text(OUTPUT, "reports/accreditation-by-state/latest.json")) as { results: unknown[] };
  process.stdout.write(`\nRESULT ${JSON.stringify({ response, keys: s3.keys(OUTPUT), started: athena.started.length, byState: latest.results, deadLetters })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
