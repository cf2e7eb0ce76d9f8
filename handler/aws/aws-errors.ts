import { isPipelineError, messageOf, permanentError, PipelineError, retryableError } from "../core/errors";

/**
 * Errors no retry can fix: configuration or permission mistakes. Everything else is retried.
 * An array, not a Set: Pulumi's closure serializer copies module-level values, and a Set does not survive it.
 */
const PERMANENT: readonly string[] = [
  "AccessDenied",
  "AccessDeniedException",
  "NoSuchBucket",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "KMS.DisabledException",
  "KMS.NotFoundException",
  "KMS.InvalidStateException",
  "InvalidObjectState",
  "InvalidRequestException",
  "ResourceNotFoundException",
  "MetadataException",
];

export function awsErrorName(e: unknown): string {
  return typeof e === "object" && e !== null && "name" in e ? String(e.name) : "";
}

export function httpStatus(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** Wraps an SDK failure as retryable or permanent, saying what was being done. */
export function classify(e: unknown, doing: string): PipelineError {
  if (isPipelineError(e)) return e;
  const name = awsErrorName(e);
  const message = `${doing} failed: ${name ? `${name}: ` : ""}${messageOf(e)}`;
  return PERMANENT.includes(name) || httpStatus(e) === 403 ? permanentError(message, e) : retryableError(message, e);
}
