/**
 * Failure classes. Content problems (bad records, bad files) are not errors: they are quarantined and
 * reported. What remains is either worth retrying (throttling, timeouts, a broken connection, the
 * deadline) or not (a report with a syntax error, a missing permission), which goes to the
 * dead-letter queue with its reason.
 */
export class RetryableError extends Error {
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RetryableError";
  }
}

export class PermanentError extends Error {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PermanentError";
  }
}

/** Unknown failures are retried: a bounded number of receives later they reach the DLQ anyway. */
export function isRetryable(error: unknown): boolean {
  return !(error instanceof PermanentError) && !(typeof error === "object" && error !== null && (error as { retryable?: unknown }).retryable === false);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
