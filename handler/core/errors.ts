/**
 * Failure classes. Content problems (bad records, bad files) are not failures: they are quarantined
 * and reported. What remains is either worth retrying (throttling, timeouts, a broken connection, the
 * deadline) or not (a report with a syntax error, a missing permission), which goes to the
 * dead-letter queue with its reason.
 *
 * These are plain `Error` objects with properties, made by functions, not subclasses of Error: Pulumi's
 * closure serializer rewrites classes into functions, and a rewritten `class extends Error` loses its
 * message inside the Lambda (test/integration/moto.test.ts caught exactly that).
 */

export type FailureKind = "retryable" | "permanent" | "source" | "content" | "not-started";

export interface PipelineError extends Error {
  kind: FailureKind;
  retryable: boolean;
}

function failure(kind: FailureKind, retryable: boolean, name: string, message: string, cause?: unknown): PipelineError {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { name, kind, retryable });
}

export const retryableError = (message: string, cause?: unknown) => failure("retryable", true, "RetryableError", message, cause);
export const permanentError = (message: string, cause?: unknown) => failure("permanent", false, "PermanentError", message, cause);

/** An upload the batch did not start, to keep time for the merge and the reports: back soon, not a failure of the upload. */
export const notStartedError = (message: string) => failure("not-started", true, "NotStarted", message);
export const isNotStarted = (e: unknown): e is PipelineError => kindOf(e) === "not-started";

/** Reading the upload itself failed (a dropped connection, S3 503): worth retrying. */
export const sourceReadError = (cause: unknown) => failure("source", true, "SourceReadError", `reading the upload failed: ${messageOf(cause)}`, cause);

/** The bytes are not UTF-8 JSON text, or not the gzip they claim to be: quarantined, never retried. */
export const contentError = (message: string) => failure("content", false, "ContentError", message);

const kindOf = (e: unknown): FailureKind | undefined => (typeof e === "object" && e !== null ? (e as { kind?: FailureKind }).kind : undefined);

export const isPipelineError = (e: unknown): e is PipelineError => kindOf(e) !== undefined;
export const isContentError = (e: unknown): e is PipelineError => kindOf(e) === "content";
export const isSourceReadError = (e: unknown): e is PipelineError => kindOf(e) === "source";

/** Unknown failures are retried: a bounded number of receives later they reach the DLQ anyway. */
export function isRetryable(error: unknown): boolean {
  return !(typeof error === "object" && error !== null && (error as { retryable?: unknown }).retryable === false);
}

export function messageOf(error: unknown): string {
  if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") {
    return (error as { message: string }).message;
  }
  return String(error);
}
