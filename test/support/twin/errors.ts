/**
 * Errors exactly as the AWS SDK v3 raises them from the services' real HTTP answers: name, message,
 * `$fault` and `$metadata.httpStatusCode` (test/support/twin/errors.test.ts deserializes the documented
 * responses with the real SDK and compares).
 */
export interface ServiceError extends Error {
  $fault: "client" | "server";
  $metadata: { httpStatusCode: number };
  Code?: string;
}

function serviceError(name: string, status: number, message: string, withCode: boolean): ServiceError {
  const e = Object.assign(new Error(message), { name, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status } }) as ServiceError;
  if (withCode) e.Code = name;
  return e;
}

/** S3 REST XML error (GET, PUT, DELETE, LIST): `<Error><Code>` becomes the name. */
export const s3Error = (code: string, status: number, message = code) => serviceError(code, status, message, true);

/** A HEAD has no body, so the SDK names a 404 `NotFound` and any other status `Unknown`. */
export const s3HeadError = (status: number) => serviceError(status === 404 ? "NotFound" : "Unknown", status, "UnknownError", false);

export const S3_ERRORS = {
  accessDenied: () => s3Error("AccessDenied", 403, "Access Denied"),
  noSuchKey: () => s3Error("NoSuchKey", 404, "The specified key does not exist."),
  noSuchUpload: () => s3Error("NoSuchUpload", 404, "The specified upload does not exist."),
  preconditionFailed: () => s3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold"),
  conditionalRequestConflict: () =>
    s3Error("ConditionalRequestConflict", 409, "A conflicting conditional action is currently in progress against this resource. Try again."),
};

/** Athena and SQS speak AWS JSON: `__type` becomes the name; an IAM denial is AccessDeniedException, HTTP 400 (Common Errors). */
export const jsonError = (type: string, status: number, message: string) => serviceError(type, status, message, false);

/** An Athena API error (AWS JSON protocol), for fault injection. */
export const athenaError = (type: string, status = 400, message = type) => jsonError(type, status, message);
