/**
 * Child process of the integration tier: the serialized processor (module path in argv) with S3 and
 * SQS served by moto_server (AWS_ENDPOINT_URL) and only Athena faked. Reads the SQS event to process
 * from stdin; prints `RESULT <json>`.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as path from "path";
import { AthenaTwin, TableStore } from "../support/twin";
import { TWIN } from "../support/twin";

async function main(): Promise<void> {
  const [modulePath, exportName] = process.argv.slice(2);
  const s3 = new S3Client({});
  const bucket = process.env.OUTPUT_BUCKET!;
  // Athena itself is not served by moto: the twin runs the queries over the curated objects in moto.
  const store: TableStore = {
    keys: async (b, prefix) => ((await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!),
    read: async (b, key) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: b, Key: key }))).Body!.transformToByteArray()),
    write: async (b, key, body) => void (await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: body }))),
  };
  const athena = new AthenaTwin(store, {
    region: TWIN.region,
    accountId: TWIN.accountId,
    workgroup: process.env.ATHENA_WORKGROUP!,
    database: process.env.GLUE_DATABASE!,
    table: process.env.GLUE_TABLE!,
    outputBucket: bucket,
  });
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const event = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  const handler = ((await import(path.resolve(modulePath))) as Record<string, (e: unknown, c: unknown) => Promise<unknown>>)[exportName];
  const response = await handler(event, { getRemainingTimeInMillis: () => 120_000 });
  process.stdout.write(`\nRESULT ${JSON.stringify({ response, started: athena.started.length })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
