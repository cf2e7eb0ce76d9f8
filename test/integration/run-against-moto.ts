/**
 * Child process of the integration tier: the serialized processor (module path in argv) with S3 and
 * SQS served by moto_server (AWS_ENDPOINT_URL) and only Athena faked. Reads the SQS event to process
 * from stdin; prints `RESULT <json>`.
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import * as path from "path";
import { FakeAthena } from "../support/fake-athena";

async function main(): Promise<void> {
  const [modulePath, exportName] = process.argv.slice(2);
  const s3 = new S3Client({});
  const bucket = process.env.OUTPUT_BUCKET!;
  const athena = new FakeAthena(async () => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "curated/" }));
    return Promise.all((listed.Contents ?? []).map(async (o) => {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      return { name: o.Key!.slice("curated/".length), body: Buffer.from(await got.Body!.transformToByteArray()) };
    }));
  });
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const event = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  const handler = (require(path.resolve(modulePath)) as Record<string, (e: unknown, c: unknown) => Promise<unknown>>)[exportName];
  const response = await handler(event, { getRemainingTimeInMillis: () => 120_000 });
  process.stdout.write(`\nRESULT ${JSON.stringify({ response, started: athena.started.length })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
