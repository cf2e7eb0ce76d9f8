/**
 * Runs in a fresh Node process, as Lambda would: loads a module produced by Pulumi's closure
 * serializer, takes `exports[name]`, and runs one SQS batch through it against the AWS twin (every
 * call authorized against the processor role's policy as the program declares it).
 * Prints `RESULT <json>` on its own line.
 */
import * as fs from "fs";
import * as path from "path";
import { OUTPUT, RAW, s3EventBody, sqsRecord } from "./processor-harness";
import { AwsTwin } from "./twin";

async function main(): Promise<void> {
  const [modulePath, exportName] = process.argv.slice(2);
  const twin = new AwsTwin();
  const { s3, athena } = twin;
  s3.store(RAW, "incoming/facilities.ndjson", fs.readFileSync(path.resolve(__dirname, "../../sample-data/facilities.ndjson")));

  const loaded = (await import(path.resolve(modulePath))) as Record<string, unknown>;
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
  const deadLetters = twin.sqs.sent.map((m) => m.MessageAttributes?.reason?.StringValue);
  const denied = twin.authorizer.denied().map((d) => `${d.action} ${d.resource}`);
  process.stdout.write(
    `\nRESULT ${JSON.stringify({ response, keys: s3.keys(OUTPUT), started: athena.started.length, byState: latest.results, deadLetters, denied })}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
