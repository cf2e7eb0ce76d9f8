import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { Readable } from "stream";
import { BodySource, ListedObject, OutputStore, SourceObject, SourceStore } from "../core/ports";
import { awsErrorName, classify, httpStatus } from "./aws-errors";

/**
 * S3 answers a missing key, or one whose current version is a delete marker, with 404 (NoSuchKey, or
 * NotFound for a HEAD) only when the caller may s3:ListBucket the bucket; otherwise with 403. The
 * processor's role lists the raw bucket for exactly this reason, so a 403 here is a real denial.
 * (Amazon S3 API Reference, GetObject and HeadObject: "Permissions".)
 */
const isNotFound = (e: unknown) => ["NoSuchKey", "NotFound"].includes(awsErrorName(e)) || httpStatus(e) === 404;
const isPreconditionFailed = (e: unknown) => awsErrorName(e) === "PreconditionFailed" || httpStatus(e) === 412;
/** Another conditional write to the same key was in progress: nothing is known yet, try again. */
const isRace = (e: unknown) => awsErrorName(e) === "ConditionalRequestConflict" || httpStatus(e) === 409;

const pause = (attempt: number) => new Promise<void>((resolve) => setTimeout(resolve, 20 * 2 ** attempt + Math.random() * 20));

/** The raw upload bucket, read-only. */
export function s3SourceStore(client: S3Client, bucket: string): SourceStore {
  return {
    async open(key): Promise<SourceObject | undefined> {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!res.Body) throw new Error("GetObject returned no body");
        return {
          key,
          version: res.VersionId ?? res.ETag ?? "unversioned",
          lastModified: (res.LastModified ?? new Date(0)).toISOString(),
          body: res.Body as Readable,
        };
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw classify(e, `reading s3://${bucket}/${key}`);
      }
    },
    async currentVersion(key): Promise<string | undefined> {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return head.VersionId ?? head.ETag ?? "unversioned";
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw classify(e, `checking s3://${bucket}/${key}`);
      }
    },
  };
}

/** The output bucket: curated, quarantine and report objects. */
export function s3OutputStore(client: S3Client, bucket: string): OutputStore {
  const where = (key: string) => `s3://${bucket}/${key}`;
  /** Whether a listing shows the key; undefined when the role may not list there either. */
  const listedExactly = async (key: string): Promise<boolean | undefined> => {
    try {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
      return (page.Contents ?? []).some((o) => o.Key === key);
    } catch {
      return undefined;
    }
  };
  return {
    async put(key, body, contentType) {
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
      } catch (e) {
        throw classify(e, `writing ${where(key)}`);
      }
    },
    async putStream(key, body, contentType) {
      try {
        // Multipart with small parts in flight: memory stays bounded whatever the object's size, and a
        // failed upload is aborted, so no partial object appears.
        await new Upload({
          client,
          params: { Bucket: bucket, Key: key, Body: Readable.from(body), ContentType: contentType },
          queueSize: 2,
          partSize: 8 * 1024 * 1024,
          leavePartsOnError: false,
        }).done();
      } catch (e) {
        throw classify(e, `streaming ${where(key)}`);
      }
    },
    async *stream(key) {
      let res;
      try {
        res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      } catch (e) {
        throw classify(e, `reading ${where(key)}`);
      }
      if (!res.Body) throw classify(new Error("GetObject returned no body"), `reading ${where(key)}`);
      yield* res.Body as Readable;
    },
    async delete(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (e) {
        if (!isNotFound(e)) throw classify(e, `deleting ${where(key)}`);
      }
    },
    async list(prefix) {
      const out: ListedObject[] = [];
      try {
        for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
          for (const o of page.Contents ?? []) {
            if (o.Key) out.push({ key: o.Key, etag: o.ETag ?? "", size: o.Size ?? 0 });
          }
        }
      } catch (e) {
        throw classify(e, `listing ${where(prefix)}`);
      }
      return out;
    },
    async replaceIfNewer(key, body, contentType, stamp) {
      const put = (condition: { IfNoneMatch: "*" } | { IfMatch: string }) =>
        conditionalPut(client, { Bucket: bucket, Key: key, ContentType: contentType, Metadata: { stamp }, ...condition }, body);
      for (let attempt = 0; attempt < 5; attempt++) {
        // Create first, and look only once S3 has said the object exists: a HEAD on a key that does not
        // exist answers 403, not 404, to a caller without s3:ListBucket, which the role does not grant on
        // reports/. Conditional writes answer 412 when the condition fails and 409 when another
        // conditional write raced this one (S3 User Guide, "Add preconditions to S3 operations with
        // conditional requests").
        try {
          await put({ IfNoneMatch: "*" });
          return true;
        } catch (e) {
          if (isRace(e)) {
            // The racing writer may not have finished: the key may still not exist, so no HEAD yet.
            await pause(attempt);
            continue;
          }
          if (!isPreconditionFailed(e)) throw classify(e, `writing ${where(key)}`);
        }
        let head;
        try {
          head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        } catch (e) {
          throw classify(e, `checking ${where(key)}`);
        }
        if ((head.Metadata?.stamp ?? "") > stamp) return false;
        if (!head.ETag) throw classify(new Error("HeadObject returned no ETag"), `checking ${where(key)}`);
        try {
          // Compare-and-swap on the ETag just read: fails if another writer replaced the object since.
          await put({ IfMatch: head.ETag });
          return true;
        } catch (e) {
          if (isRace(e)) await pause(attempt);
          else if (!isPreconditionFailed(e)) throw classify(e, `writing ${where(key)}`);
        }
      }
      throw classify(new Error("five concurrent writers in a row"), `replacing ${where(key)}`);
    },
    async read(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!res.Body || !res.ETag) throw new Error("GetObject returned no body or ETag");
        // Read as the stream it is at run time (a Node Readable), as the upload reader does.
        const chunks: Buffer[] = [];
        for await (const c of res.Body as Readable) chunks.push(Buffer.from(c as Uint8Array));
        return { body: Buffer.concat(chunks), tag: res.ETag };
      } catch (e) {
        if (isNotFound(e)) return undefined;
        // The role lists the output bucket only under prefix conditions, so S3 answers a key deleted since
        // it was named (a newer version's ingest removed it) with 403, not 404. Listing exactly that key,
        // which the role may do wherever it reads, tells a deletion from a real denial.
        if (httpStatus(e) === 403 && (await listedExactly(key)) === false) return undefined;
        throw classify(e, `reading ${where(key)}`);
      }
    },
    async putIfUnchanged(key, body, contentType, expectedTag) {
      // If-Match on the ETag read, or If-None-Match for a key that did not exist: 412 when another writer
      // got there first, 409 when its conditional write was in flight at the same time (S3 User Guide,
      // "Add preconditions to S3 operations with conditional requests"). Either way: re-read, merge again.
      const condition = expectedTag === null ? { IfNoneMatch: "*" } : { IfMatch: expectedTag };
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, ...condition }));
        return true;
      } catch (e) {
        if (isPreconditionFailed(e) || isRace(e)) return false;
        throw classify(e, `writing ${where(key)}`);
      }
    },
  };
}

/**
 * PutObject with a condition, or for a body of unknown size a multipart upload whose completion
 * carries it: lib-storage's Upload passes IfNoneMatch / IfMatch on to CompleteMultipartUpload (or to
 * PutObject when the body fits one part), which answers 412 and 409 like PutObject does (S3 User
 * Guide, "How to prevent object overwrites with conditional writes"). A failed multipart upload is
 * aborted, so the parts of a lost race are not left behind.
 */
async function conditionalPut(
  client: S3Client,
  params: { Bucket: string; Key: string; ContentType: string; Metadata: Record<string, string>; IfNoneMatch?: string; IfMatch?: string },
  body: string | BodySource,
): Promise<void> {
  if (typeof body === "string") {
    await client.send(new PutObjectCommand({ ...params, Body: body }));
    return;
  }
  await new Upload({ client, params: { ...params, Body: Readable.from(body()) }, queueSize: 2, partSize: 8 * 1024 * 1024, leavePartsOnError: false }).done();
}
