/**
 * Upload events as S3 sends them (inside SQS message bodies) and as the local watcher produces them.
 * Events are hints: S3 delivers them at least once and in any order, so the processor always acts on
 * the object's current state rather than on what the event claims.
 */
export interface Change {
  kind: "created" | "removed";
  key: string;
  /** The version the event is about (S3 `versionId`), when the event names one. */
  version?: string;
  /** When S3 finished the request, to the millisecond (the event's `eventTime`), when known. */
  eventTime?: string;
}

export type ParsedMessage = { kind: "test" } | { kind: "changes"; changes: Change[] } | { kind: "invalid"; reason: string };

interface S3EventRecord {
  eventName?: unknown;
  eventTime?: unknown;
  s3?: { bucket?: { name?: unknown }; object?: { key?: unknown; versionId?: unknown } };
}

/** The event time as ISO 8601 with milliseconds, or undefined when absent or not a time. */
function eventTimeOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** S3 URL-encodes keys in events, with `+` for a space. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, " "));
}

/** Reads one SQS message body holding an S3 notification. */
export function parseS3Notification(body: string, expectedBucket: string): ParsedMessage {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return { kind: "invalid", reason: "the message body is not JSON" };
  }
  if (typeof doc !== "object" || doc === null) return { kind: "invalid", reason: "the message body is not an S3 notification" };
  const d = doc as { Event?: unknown; Records?: unknown };
  if (d.Event === "s3:TestEvent") return { kind: "test" };
  if (!Array.isArray(d.Records)) return { kind: "invalid", reason: "the message has no Records: not an S3 notification" };
  const changes: Change[] = [];
  for (const [i, r] of (d.Records as S3EventRecord[]).entries()) {
    const name = typeof r.eventName === "string" ? r.eventName : "";
    const bucket = r.s3?.bucket?.name;
    const key = r.s3?.object?.key;
    if (typeof key !== "string" || typeof bucket !== "string") return { kind: "invalid", reason: `record ${i} has no bucket or key` };
    if (bucket !== expectedBucket) return { kind: "invalid", reason: `record ${i} is for bucket ${bucket}, not the upload bucket` };
    let decoded: string;
    try {
      decoded = decodeS3Key(key);
    } catch {
      return { kind: "invalid", reason: `record ${i} has a key that is not valid URL encoding` };
    }
    const versionId = r.s3?.object?.versionId;
    const eventTime = eventTimeOf(r.eventTime);
    if (name.startsWith("ObjectCreated:")) {
      changes.push({
        kind: "created",
        key: decoded,
        ...(typeof versionId === "string" && versionId ? { version: versionId } : {}),
        ...(eventTime ? { eventTime } : {}),
      });
    } else if (name.startsWith("ObjectRemoved:")) changes.push({ kind: "removed", key: decoded });
    else return { kind: "invalid", reason: `record ${i} has an unexpected event ${JSON.stringify(name)}` };
  }
  return { kind: "changes", changes };
}
