import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { createHash } from "crypto";
import { Readable } from "stream";

export interface StoredObject {
  body: Buffer;
  etag: string;
  versionId: string;
  lastModified: Date;
  contentType?: string;
  metadata: Record<string, string>;
}

/** An S3 error as the SDK raises it: a name and an HTTP status. */
export function s3Error(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status } });
}

async function bytes(body: unknown): Promise<Buffer> {
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * An in-memory S3 behind aws-sdk-client-mock: the real S3Client, lib-storage and our adapters run,
 * only the network is replaced. Faults are injected per command with `failNext`.
 */
export class FakeS3 {
  readonly buckets = new Map<string, Map<string, StoredObject>>();
  readonly mock = mockClient(S3Client);
  readonly calls: string[] = [];
  private version = 0;
  private clock = Date.UTC(2026, 10, 27, 8, 0, 0);
  private faults: Array<{ command: string; key?: string; error: () => Error; body?: (o: StoredObject) => AsyncIterable<Uint8Array> }> = [];

  constructor() {
    this.mock.on(GetObjectCommand).callsFake(async (input) => {
      this.calls.push(`GetObject ${input.Key}`);
      const fault = this.take("GetObject", input.Key);
      const o = this.get(input.Bucket, input.Key);
      if (fault && !fault.body) throw fault.error();
      if (!o) throw s3Error("NoSuchKey", 404);
      return {
        Body: fault?.body ? Readable.from(fault.body(o)) : Readable.from([o.body]),
        ETag: o.etag,
        VersionId: o.versionId,
        LastModified: o.lastModified,
        ContentType: o.contentType,
      };
    });
    this.mock.on(HeadObjectCommand).callsFake(async (input) => {
      this.calls.push(`HeadObject ${input.Key}`);
      const fault = this.take("HeadObject", input.Key);
      if (fault) throw fault.error();
      const o = this.get(input.Bucket, input.Key);
      if (!o) throw s3Error("NotFound", 404);
      return { ETag: o.etag, VersionId: o.versionId, LastModified: o.lastModified, Metadata: o.metadata };
    });
    this.mock.on(PutObjectCommand).callsFake(async (input) => {
      this.calls.push(`PutObject ${input.Key}`);
      const fault = this.take("PutObject", input.Key);
      if (fault) throw fault.error();
      const current = this.get(input.Bucket, input.Key);
      if (input.IfNoneMatch === "*" && current) throw s3Error("PreconditionFailed", 412);
      if (input.IfMatch !== undefined && current?.etag !== input.IfMatch) throw s3Error("PreconditionFailed", 412);
      const stored = this.store(input.Bucket!, input.Key!, await bytes(input.Body), input.ContentType, input.Metadata ?? {});
      return { ETag: stored.etag, VersionId: stored.versionId };
    });
    this.mock.on(DeleteObjectCommand).callsFake(async (input) => {
      this.calls.push(`DeleteObject ${input.Key}`);
      const fault = this.take("DeleteObject", input.Key);
      if (fault) throw fault.error();
      this.bucket(input.Bucket!).delete(input.Key!);
      return {};
    });
    this.mock.on(ListObjectsV2Command).callsFake(async (input) => {
      this.calls.push(`ListObjectsV2 ${input.Prefix}`);
      const fault = this.take("ListObjectsV2");
      if (fault) throw fault.error();
      const contents = [...this.bucket(input.Bucket!).entries()]
        .filter(([k]) => k.startsWith(input.Prefix ?? ""))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([Key, o]) => ({ Key, ETag: o.etag, Size: o.body.length, LastModified: o.lastModified }));
      return { Contents: contents, KeyCount: contents.length, IsTruncated: false };
    });
  }

  /** A client for the adapters under test; its `send` is the mock above. */
  client(): S3Client {
    return new S3Client({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  }

  bucket(name: string): Map<string, StoredObject> {
    let b = this.buckets.get(name);
    if (!b) this.buckets.set(name, (b = new Map()));
    return b;
  }

  get(bucket: string | undefined, key: string | undefined): StoredObject | undefined {
    return this.bucket(bucket ?? "").get(key ?? "");
  }

  /** Writes an object as an upload would; each write is a new version, a second later than the last. */
  store(bucket: string, key: string, body: Buffer | string, contentType?: string, metadata: Record<string, string> = {}): StoredObject {
    const buf = Buffer.from(body);
    this.clock += 1000;
    const o: StoredObject = {
      body: buf,
      etag: `"${createHash("md5").update(buf).digest("hex")}"`,
      versionId: `v${++this.version}`,
      lastModified: new Date(this.clock),
      contentType,
      metadata,
    };
    this.bucket(bucket).set(key, o);
    return o;
  }

  text(bucket: string, key: string): string {
    const o = this.get(bucket, key);
    if (!o) throw new Error(`no object s3://${bucket}/${key}; have: ${[...this.bucket(bucket).keys()].join(", ")}`);
    return o.body.toString("utf8");
  }

  keys(bucket: string, prefix = ""): string[] {
    return [...this.bucket(bucket).keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** The next command of that name (for a key starting with `key`) fails with `error`, or for GetObject returns a body that breaks. */
  failNext(command: string, error: () => Error, options: { key?: string; body?: (o: StoredObject) => AsyncIterable<Uint8Array> } = {}): void {
    this.faults.push({ command, error, ...options });
  }

  private take(command: string, key?: string) {
    const i = this.faults.findIndex((f) => f.command === command && (f.key === undefined || (key ?? "").startsWith(f.key)));
    return i < 0 ? undefined : this.faults.splice(i, 1)[0];
  }

  restore(): void {
    this.mock.restore();
  }
}
