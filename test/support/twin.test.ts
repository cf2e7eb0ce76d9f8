import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { HttpResponse } from "@smithy/core/transport";
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { Readable } from "stream";
import { ATHENA_COMMANDS } from "./twin/athena";
import { S3_COMMANDS } from "./twin/s3";
import { SQS_COMMANDS } from "./twin/sqs";
import { AwsTwin, s3Error, S3_ERRORS, TWIN } from "./twin";

/** What the real SDK makes of an HTTP answer: the shape the twin's errors must have. */
async function sdkErrorFor(status: number, body: string, send: (c: S3Client) => Promise<unknown>): Promise<Record<string, unknown>> {
  const requestHandler = {
    handle: () =>
      Promise.resolve({
        response: new HttpResponse({ statusCode: status, headers: { "content-type": "application/xml" }, body: Readable.from([Buffer.from(body)]) }),
      }),
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
  const client = new S3Client({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" }, maxAttempts: 1, requestHandler });
  try {
    await send(client);
  } catch (e) {
    const err = e as { name: string; message: string; $fault: string; $metadata: { httpStatusCode: number } };
    return { name: err.name, message: err.message, fault: err.$fault, status: err.$metadata.httpStatusCode };
  }
  throw new Error("expected the SDK to raise");
}
const shape = (e: Error) => {
  const x = e as Error & { $fault: string; $metadata: { httpStatusCode: number } };
  return { name: x.name, message: x.message, fault: x.$fault, status: x.$metadata.httpStatusCode };
};
const xml = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>R</RequestId></Error>`;

describe("the AWS twin answers as AWS does", () => {
  describe("its errors have the shape the real SDK gives the documented HTTP answers", () => {
    const get = (c: S3Client) => c.send(new GetObjectCommand({ Bucket: "b", Key: "k" }));
    const head = (c: S3Client) => c.send(new HeadObjectCommand({ Bucket: "b", Key: "k" }));
    const put = (c: S3Client) => c.send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x", IfNoneMatch: "*" }));
    const cases: Array<[string, () => Error, number, string, (c: S3Client) => Promise<unknown>]> = [
      ["GET 403 AccessDenied", S3_ERRORS.accessDenied, 403, xml("AccessDenied", "Access Denied"), get],
      ["GET 404 NoSuchKey", S3_ERRORS.noSuchKey, 404, xml("NoSuchKey", "The specified key does not exist."), get],
      [
        "PUT 412 PreconditionFailed",
        S3_ERRORS.preconditionFailed,
        412,
        xml("PreconditionFailed", "At least one of the pre-conditions you specified did not hold"),
        put,
      ],
      [
        "PUT 409 ConditionalRequestConflict",
        S3_ERRORS.conditionalRequestConflict,
        409,
        xml("ConditionalRequestConflict", "A conflicting conditional action is currently in progress against this resource. Try again."),
        put,
      ],
    ];
    for (const [name, twinError, status, body, send] of cases) {
      it(name, async () => expect(shape(twinError())).to.deep.equal(await sdkErrorFor(status, body, send)));
    }
    it("HEAD 403 and 404 (no body: the SDK names them Unknown and NotFound)", async () => {
      const twin = new AwsTwin({
        policy: { Version: "2012-10-17", Statement: [{ Sid: "Read", Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${TWIN.rawBucket}/*` }] },
      });
      try {
        const missing = await twin.s3
          .client()
          .send(new HeadObjectCommand({ Bucket: TWIN.rawBucket, Key: "nope" }))
          .catch((e: Error) => e);
        expect(shape(missing as Error)).to.deep.equal(await sdkErrorFor(403, "", head));
      } finally {
        twin.restore();
      }
      expect(shape(s3Error("NotFound", 404, "UnknownError"))).to.deep.equal(await sdkErrorFor(404, "", head));
    });
  });

  describe("S3", () => {
    let twin: AwsTwin;
    beforeEach(() => (twin = new AwsTwin()));
    afterEach(() => twin.restore());

    it("answers a missing upload 404 to the processor (it may list the raw bucket) and a missing report 403 (it may not)", async () => {
      const c = twin.s3.client();
      const raw = await c.send(new GetObjectCommand({ Bucket: TWIN.rawBucket, Key: "gone.json" })).catch((e: Error) => e);
      expect((raw as Error).name).to.equal("NoSuchKey");
      const report = await c.send(new HeadObjectCommand({ Bucket: TWIN.outputBucket, Key: "reports/x/latest.json" })).catch((e: Error) => e);
      expect((report as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).to.equal(403);
    });

    it("reads a delete marker as missing, and keeps the older version", async () => {
      twin.s3.store(TWIN.rawBucket, "a.json", "[]");
      twin.s3.remove(TWIN.rawBucket, "a.json");
      const got = await twin.s3
        .client()
        .send(new GetObjectCommand({ Bucket: TWIN.rawBucket, Key: "a.json" }))
        .catch((e: Error) => e);
      expect((got as Error).name).to.equal("NoSuchKey");
      expect(twin.s3.keys(TWIN.rawBucket)).to.deep.equal([]);
    });

    it("gives SSE-KMS objects a fresh ETag on every write of the same bytes, and multipart objects <hex>-<parts>", async () => {
      const a = twin.s3.store(TWIN.outputBucket, "curated/x", "same");
      const b = twin.s3.store(TWIN.outputBucket, "curated/x", "same");
      expect(a.etag).to.not.equal(b.etag);
      const body = Buffer.alloc(11 * 1024 * 1024, 7);
      await new Upload({ client: twin.s3.client(), params: { Bucket: TWIN.outputBucket, Key: "curated/big", Body: body }, partSize: 5 * 1024 * 1024 }).done();
      expect(twin.s3.get(TWIN.outputBucket, "curated/big")!.etag).to.match(/^"[0-9a-f]{32}-3"$/);
      expect(twin.s3.get(TWIN.outputBucket, "curated/big")!.body.equals(body)).to.equal(true);
    });

    it("stamps LastModified to the second: two writes in one second tie", () => {
      twin.s3.tickMs = 300;
      const a = twin.s3.store(TWIN.rawBucket, "a.json", "[]");
      const b = twin.s3.store(TWIN.rawBucket, "b.json", "[]");
      expect(a.lastModified.getTime() % 1000).to.equal(0);
      expect(b.lastModified.getTime()).to.equal(a.lastModified.getTime());
    });

    it("authorizes ListObjectsV2 as s3:ListBucket with the s3:prefix it asks for", async () => {
      const c = twin.s3.client();
      await c.send(new ListObjectsV2Command({ Bucket: TWIN.outputBucket, Prefix: "curated/" }));
      const denied = await c.send(new ListObjectsV2Command({ Bucket: TWIN.outputBucket, Prefix: "reports/" })).catch((e: Error) => e);
      expect((denied as Error).name).to.equal("AccessDenied");
      expect((denied as Error).message).to.include("s3:ListBucket");
    });

    it("refuses a conditional create over an existing object (412) and a stale If-Match (412)", async () => {
      const c = twin.s3.client();
      const put = (extra: { IfNoneMatch?: string; IfMatch?: string }) =>
        c.send(new PutObjectCommand({ Bucket: TWIN.outputBucket, Key: "reports/r/latest.json", Body: "x", ...extra }));
      const first = await put({ IfNoneMatch: "*" });
      expect(((await put({ IfNoneMatch: "*" }).catch((e: Error) => e)) as Error).name).to.equal("PreconditionFailed");
      await put({ IfMatch: first.ETag });
      expect(((await put({ IfMatch: first.ETag }).catch((e: Error) => e)) as Error).name).to.equal("PreconditionFailed");
    });
  });

  it("models every AWS SDK command the processor sends (a new, unmodelled call fails its tests)", () => {
    const dir = path.resolve(__dirname, "../../handler/aws");
    const sent = new Set<string>();
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      for (const m of fs.readFileSync(path.join(dir, file), "utf8").matchAll(/new (\w+)Command\(/g)) sent.add(m[1]);
      // lib-storage's Upload sends single puts or the multipart sequence.
      if (/new Upload\(/.test(fs.readFileSync(path.join(dir, file), "utf8"))) {
        for (const c of ["PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"]) sent.add(c);
      }
    }
    if (/paginateListObjectsV2/.test(fs.readFileSync(path.join(dir, "s3-store.ts"), "utf8"))) sent.add("ListObjectsV2");
    const modelled: string[] = [...S3_COMMANDS, ...ATHENA_COMMANDS, ...SQS_COMMANDS];
    expect([...sent].filter((c) => !modelled.includes(c))).to.deep.equal([]);
    expect(sent.size).to.be.greaterThan(8);
  });
});
