import {
  AbortMultipartUploadCommand,
  AbortMultipartUploadCommandInput,
  CompleteMultipartUploadCommand,
  CompleteMultipartUploadCommandInput,
  CreateMultipartUploadCommand,
  CreateMultipartUploadCommandInput,
  DeleteObjectCommand,
  DeleteObjectCommandInput,
  GetObjectCommand,
  GetObjectCommandInput,
  HeadObjectCommand,
  HeadObjectCommandInput,
  ListObjectsV2Command,
  ListObjectsV2CommandInput,
  PutObjectCommand,
  PutObjectCommandInput,
  S3Client,
  UploadPartCommand,
  UploadPartCommandInput,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { createHash, randomBytes } from "crypto";
import { Readable } from "stream";
import { s3Error, s3HeadError, S3_ERRORS } from "./errors";
import { Authorizer } from "./iam";

export interface StoredObject {
  body: Buffer;
  etag: string;
  versionId: string;
  lastModified: Date;
  contentType?: string;
  metadata: Record<string, string>;
}

interface DeleteMarker {
  deleteMarker: true;
  versionId: string;
  lastModified: Date;
}

type Version = StoredObject | DeleteMarker;
const isMarker = (v: Version | undefined): v is DeleteMarker => v !== undefined && "deleteMarker" in v;

interface Fault {
  command: string;
  key?: string;
  error: () => Error;
  body?: (o: StoredObject) => AsyncIterable<Uint8Array>;
}

export interface S3TwinOptions {
  /** Who the processor's clients call as; absent: every call is allowed (a test's own setup). */
  authorizer?: Authorizer;
  /** Buckets encrypted with SSE-KMS (every bucket of the program is). */
  kmsBuckets?: string[];
}

/** The S3 commands the twin answers; any other command fails the test that sends it. */
export const S3_COMMANDS = [
  "GetObject",
  "HeadObject",
  "PutObject",
  "DeleteObject",
  "ListObjectsV2",
  "CreateMultipartUpload",
  "UploadPart",
  "CompleteMultipartUpload",
  "AbortMultipartUpload",
] as const;

const md5 = (b: Buffer) => createHash("md5").update(b).digest();

async function bytes(body: unknown): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * S3 as the processor meets it, in memory, behind aws-sdk-client-mock (the real S3Client, lib-storage
 * and our adapters run; only the network is replaced). Each behaviour below is one AWS documents:
 *
 * - Authorization: every request is decided against the caller's identity policy, with the action and
 *   resource S3 uses (Amazon S3 User Guide, "Actions, resources, and condition keys for Amazon S3").
 *   HeadObject is s3:GetObject; ListObjectsV2 is s3:ListBucket on the bucket with the `s3:prefix` key;
 *   multipart parts are s3:PutObject.
 * - A missing key, or one whose current version is a delete marker, answers 404 (NoSuchKey; NotFound to
 *   a HEAD) only if the caller has s3:ListBucket on the bucket, else 403 AccessDenied (API Reference,
 *   GetObject and HeadObject, "Permissions"). Object requests carry no `s3:prefix`, so a ListBucket
 *   grant conditioned on it does not count.
 * - Versioned buckets: a delete writes a delete marker; reads see the newest version.
 * - ETags: SSE-KMS objects get a fresh ETag on every write, not an MD5 of the data; multipart objects
 *   `<hex>-<parts>` (API Reference, Object: "ETag").
 * - Conditional writes: If-None-Match `*` and If-Match answer 412 PreconditionFailed when the condition
 *   fails, 409 ConditionalRequestConflict when another conditional write raced (User Guide,
 *   "conditional requests").
 * - LastModified has one-second resolution: two writes in one second tie.
 * - ListObjectsV2 returns at most MaxKeys (1,000) keys a page, in UTF-8 binary order.
 */
export class S3Twin {
  readonly mock = mockClient(S3Client);
  readonly calls: string[] = [];
  private readonly buckets = new Map<string, Map<string, Version[]>>();
  private readonly uploads = new Map<
    string,
    { bucket: string; key: string; parts: Map<number, Buffer>; contentType?: string; metadata: Record<string, string> }
  >();
  private faults: Fault[] = [];
  private hooks: Array<{ command: string; key?: string; run: () => Promise<void> }> = [];
  private races: Array<{ key?: string }> = [];
  private version = 0;
  private clock = Date.UTC(2026, 10, 27, 8, 0, 0);
  /** Milliseconds the clock moves per write. */
  tickMs = 1000;

  constructor(private readonly options: S3TwinOptions = {}) {
    this.mock
      .onAnyCommand()
      .callsFake((input: unknown) =>
        Promise.reject(
          new Error(`the S3 twin does not model this call (input ${JSON.stringify(input)}): add it to test/support/twin/s3.ts with its AWS semantics`),
        ),
      );
    this.mock.on(GetObjectCommand).callsFake(async (input: GetObjectCommandInput) => {
      const { Bucket, Key } = this.named(input, "GetObject");
      const action = input.VersionId ? "s3:GetObjectVersion" : "s3:GetObject";
      await this.authorize(action, this.objectArn(Bucket, Key));
      const fault = this.take("GetObject", Key);
      if (fault && !fault.body) throw fault.error();
      const found = input.VersionId ? this.versions(Bucket, Key).find((v) => v.versionId === input.VersionId) : this.current(Bucket, Key);
      await this.runHooks("GetObject", Key);
      if (!found || isMarker(found)) throw await this.missing(Bucket, false);
      return {
        Body: fault?.body ? Readable.from(fault.body(found)) : Readable.from([found.body]),
        ETag: found.etag,
        VersionId: found.versionId,
        LastModified: found.lastModified,
        ContentType: found.contentType,
        ContentLength: found.body.length,
        Metadata: found.metadata,
      };
    });
    this.mock.on(HeadObjectCommand).callsFake(async (input: HeadObjectCommandInput) => {
      const { Bucket, Key } = this.named(input, "HeadObject");
      await this.authorize("s3:GetObject", this.objectArn(Bucket, Key), true);
      const fault = this.take("HeadObject", Key);
      if (fault) throw fault.error();
      await this.runHooks("HeadObject", Key);
      const o = this.current(Bucket, Key);
      if (!o || isMarker(o)) throw await this.missing(Bucket, true);
      return { ETag: o.etag, VersionId: o.versionId, LastModified: o.lastModified, Metadata: o.metadata, ContentLength: o.body.length };
    });
    this.mock.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      const { Bucket, Key } = this.named(input, "PutObject");
      await this.authorize("s3:PutObject", this.objectArn(Bucket, Key));
      const fault = this.take("PutObject", Key);
      if (fault) throw fault.error();
      const body = await bytes(input.Body);
      await this.runHooks("PutObject", Key);
      this.checkConditions(Bucket, Key, input.IfNoneMatch, input.IfMatch);
      const stored = this.write(Bucket, Key, body, input.ContentType, input.Metadata ?? {});
      return { ETag: stored.etag, VersionId: stored.versionId };
    });
    this.mock.on(DeleteObjectCommand).callsFake(async (input: DeleteObjectCommandInput) => {
      const { Bucket, Key } = this.named(input, "DeleteObject");
      await this.authorize("s3:DeleteObject", this.objectArn(Bucket, Key));
      const fault = this.take("DeleteObject", Key);
      if (fault) throw fault.error();
      const marker = this.remove(Bucket, Key);
      return { DeleteMarker: true, VersionId: marker.versionId };
    });
    this.mock.on(ListObjectsV2Command).callsFake(async (input: ListObjectsV2CommandInput) => {
      if (!input.Bucket) throw new Error("ListObjectsV2 without Bucket");
      this.calls.push(`ListObjectsV2 ${input.Prefix ?? ""}`);
      await this.authorize("s3:ListBucket", this.bucketArn(input.Bucket), false, input.Prefix === undefined ? {} : { "s3:prefix": input.Prefix });
      const fault = this.take("ListObjectsV2", input.Prefix);
      if (fault) throw fault.error();
      const all = this.keys(input.Bucket, input.Prefix ?? "");
      const start = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
      const size = Math.min(input.MaxKeys ?? 1000, 1000);
      const page = all.slice(start, start + size);
      const more = start + size < all.length;
      return {
        Contents: page.map((Key) => {
          const o = this.get(input.Bucket, Key)!;
          return { Key, ETag: o.etag, Size: o.body.length, LastModified: o.lastModified };
        }),
        KeyCount: page.length,
        IsTruncated: more,
        NextContinuationToken: more ? String(start + size) : undefined,
      };
    });
    this.mock.on(CreateMultipartUploadCommand).callsFake(async (input: CreateMultipartUploadCommandInput) => {
      const { Bucket, Key } = this.named(input, "CreateMultipartUpload");
      await this.authorize("s3:PutObject", this.objectArn(Bucket, Key));
      const id = `upload-${++this.version}`;
      this.uploads.set(id, { bucket: Bucket, key: Key, parts: new Map(), contentType: input.ContentType, metadata: input.Metadata ?? {} });
      return { UploadId: id, Bucket, Key };
    });
    this.mock.on(UploadPartCommand).callsFake(async (input: UploadPartCommandInput) => {
      const { Bucket, Key } = this.named(input, "UploadPart");
      await this.authorize("s3:PutObject", this.objectArn(Bucket, Key));
      const fault = this.take("UploadPart", Key);
      if (fault) throw fault.error();
      const upload = this.uploads.get(input.UploadId ?? "");
      if (!upload) throw S3_ERRORS.noSuchUpload();
      const body = await bytes(input.Body);
      upload.parts.set(input.PartNumber ?? 0, body);
      return { ETag: `"${md5(body).toString("hex")}"` };
    });
    this.mock.on(CompleteMultipartUploadCommand).callsFake(async (input: CompleteMultipartUploadCommandInput) => {
      const { Bucket, Key } = this.named(input, "CompleteMultipartUpload");
      await this.authorize("s3:PutObject", this.objectArn(Bucket, Key));
      const upload = this.uploads.get(input.UploadId ?? "");
      if (!upload) throw S3_ERRORS.noSuchUpload();
      this.uploads.delete(input.UploadId ?? "");
      const numbers: number[] = (input.MultipartUpload?.Parts ?? []).map((p) => p.PartNumber ?? 0);
      const parts = numbers.map((n) => upload.parts.get(n) ?? Buffer.alloc(0));
      this.checkConditions(Bucket, Key, input.IfNoneMatch, input.IfMatch);
      const stored = this.write(Bucket, Key, Buffer.concat(parts), upload.contentType, upload.metadata, parts);
      return { ETag: stored.etag, VersionId: stored.versionId, Bucket, Key };
    });
    this.mock.on(AbortMultipartUploadCommand).callsFake(async (input: AbortMultipartUploadCommandInput) => {
      const { Bucket, Key } = this.named(input, "AbortMultipartUpload");
      await this.authorize("s3:AbortMultipartUpload", this.objectArn(Bucket, Key));
      if (!this.uploads.delete(input.UploadId ?? "")) throw S3_ERRORS.noSuchUpload();
      return {};
    });
  }

  /** A client like the processor's; its `send` is answered by the twin. */
  client(): S3Client {
    return new S3Client({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  }

  bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`;
  objectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;

  /** Writes an object as an uploader would (not authorized as the processor). */
  store(bucket: string, key: string, body: Buffer | string, contentType?: string, metadata: Record<string, string> = {}): StoredObject {
    return this.write(bucket, key, Buffer.from(body), contentType, metadata);
  }

  /** Deletes an object as an uploader would: versioned buckets get a delete marker. */
  remove(bucket: string, key: string): DeleteMarker {
    this.clock += this.tickMs;
    const marker: DeleteMarker = { deleteMarker: true, versionId: `v${++this.version}`, lastModified: this.second() };
    this.versions(bucket, key).push(marker);
    return marker;
  }

  /** The current version of an object; undefined when missing or deleted. */
  get(bucket: string | undefined, key: string | undefined): StoredObject | undefined {
    const v = this.current(bucket ?? "", key ?? "");
    return isMarker(v) ? undefined : v;
  }

  text(bucket: string, key: string): string {
    const o = this.get(bucket, key);
    if (!o) throw new Error(`no object s3://${bucket}/${key}; have: ${this.keys(bucket).join(", ")}`);
    return o.body.toString("utf8");
  }

  /** Keys whose current version is an object, in S3's order (UTF-8 binary). */
  keys(bucket: string, prefix = ""): string[] {
    const b = this.buckets.get(bucket) ?? new Map<string, Version[]>();
    return [...b.keys()]
      .filter((k) => k.startsWith(prefix) && this.get(bucket, k) !== undefined)
      .sort((a, b2) => Buffer.compare(Buffer.from(a), Buffer.from(b2)));
  }

  /** The next command of that name (for a key starting with `key`) fails with `error`, or for GetObject returns a body that breaks. */
  failNext(command: string, error: () => Error, options: { key?: string; body?: (o: StoredObject) => AsyncIterable<Uint8Array> } = {}): void {
    this.faults.push({ command, error, ...options });
  }

  /**
   * Runs `run` when the next such command reaches S3 (after authorization, before it takes effect):
   * how a test makes another writer act in the middle of a request.
   */
  beforeNext(command: string, run: () => Promise<void>, key?: string): void {
    this.hooks.push({ command, key, run });
  }

  /** The next conditional write (for a key starting with `key`) loses a race: 409 ConditionalRequestConflict. */
  raceNext(key?: string): void {
    this.races.push({ key });
  }

  restore(): void {
    this.mock.restore();
  }

  private named<T extends { Bucket?: string; Key?: string }>(input: T, command: string): { Bucket: string; Key: string } {
    if (!input.Bucket || !input.Key) throw new Error(`${command} without Bucket or Key`);
    this.calls.push(`${command} ${input.Key}`);
    return { Bucket: input.Bucket, Key: input.Key };
  }

  private async authorize(action: string, resource: string, head = false, context: Record<string, string> = {}): Promise<void> {
    const authorizer = this.options.authorizer;
    if (!authorizer || (await authorizer.allows(action, resource, context))) return;
    throw head ? s3HeadError(403) : s3Error("AccessDenied", 403, authorizer.deniedMessage(action, resource));
  }

  /** S3 tells a missing key apart from a denied one only to a caller who may list the bucket. */
  private async missing(bucket: string, head: boolean): Promise<Error> {
    const authorizer = this.options.authorizer;
    const mayList = !authorizer || (await authorizer.allows("s3:ListBucket", this.bucketArn(bucket)));
    if (head) return s3HeadError(mayList ? 404 : 403);
    return mayList ? S3_ERRORS.noSuchKey() : S3_ERRORS.accessDenied();
  }

  private checkConditions(bucket: string, key: string, ifNoneMatch?: string, ifMatch?: string): void {
    if (ifNoneMatch === undefined && ifMatch === undefined) return;
    const race = this.races.findIndex((r) => r.key === undefined || key.startsWith(r.key));
    if (race >= 0) {
      this.races.splice(race, 1);
      throw S3_ERRORS.conditionalRequestConflict();
    }
    const current = this.get(bucket, key);
    if (ifNoneMatch === "*" && current) throw S3_ERRORS.preconditionFailed();
    if (ifMatch !== undefined && current?.etag !== ifMatch) throw S3_ERRORS.preconditionFailed();
  }

  private write(bucket: string, key: string, body: Buffer, contentType: string | undefined, metadata: Record<string, string>, parts?: Buffer[]): StoredObject {
    this.clock += this.tickMs;
    const kms = (this.options.kmsBuckets ?? []).includes(bucket);
    const digest = kms ? randomBytes(16).toString("hex") : parts ? md5(Buffer.concat(parts.map(md5))).toString("hex") : md5(body).toString("hex");
    const o: StoredObject = {
      body,
      etag: `"${digest}${parts ? `-${parts.length}` : ""}"`,
      versionId: `v${++this.version}`,
      lastModified: this.second(),
      contentType,
      // S3 stores user metadata keys in lower case.
      metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v])),
    };
    this.versions(bucket, key).push(o);
    return o;
  }

  private second(): Date {
    return new Date(Math.floor(this.clock / 1000) * 1000);
  }

  private versions(bucket: string, key: string): Version[] {
    let b = this.buckets.get(bucket);
    if (!b) this.buckets.set(bucket, (b = new Map<string, Version[]>()));
    let list = b.get(key);
    if (!list) b.set(key, (list = []));
    return list;
  }

  private current(bucket: string, key: string): Version | undefined {
    const list = this.buckets.get(bucket)?.get(key);
    return list?.[list.length - 1];
  }

  private take(command: string, key?: string): Fault | undefined {
    const i = this.faults.findIndex((f) => f.command === command && (f.key === undefined || (key ?? "").startsWith(f.key)));
    return i < 0 ? undefined : this.faults.splice(i, 1)[0];
  }

  private async runHooks(command: string, key: string): Promise<void> {
    const i = this.hooks.findIndex((h) => h.command === command && (h.key === undefined || key.startsWith(h.key)));
    if (i < 0) return;
    const [hook] = this.hooks.splice(i, 1);
    await hook.run();
  }
}
