import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { readSettings } from "./settings";

/**
 * The processor Lambda, as a factory: Pulumi serializes this function, and Lambda runs it once per
 * cold start, so SDK clients and compiled validators are built there instead of being serialized.
 */
export function processorFactory(): (event: SQSEvent) => Promise<SQSBatchResponse> {
  const settings = readSettings(process.env);
  return async (event) => {
    console.log(JSON.stringify({ message: "batch received", messages: event.Records.length, bucket: settings.rawBucket }));
    return { batchItemFailures: [] };
  };
}
