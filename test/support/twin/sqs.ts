import {
  ChangeMessageVisibilityCommand,
  ChangeMessageVisibilityCommandInput,
  SendMessageCommand,
  SendMessageCommandInput,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { jsonError } from "./errors";
import { Authorizer } from "./iam";

export const SQS_COMMANDS = ["SendMessage", "ChangeMessageVisibility"] as const;

/** `https://sqs.<region>.amazonaws.com/<account>/<name>` -> the queue's ARN. */
export function queueArnOf(url: string): string {
  const m = /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com\/(\d{12})\/([A-Za-z0-9_.-]+)$/.exec(url);
  if (!m) throw jsonError("QueueDoesNotExist", 400, `The specified queue does not exist: ${url}`);
  return `arn:aws:sqs:${m[1]}:${m[2]}:${m[3]}`;
}

/**
 * SQS as the processor meets it: SendMessage (to the dead-letter queue) and ChangeMessageVisibility (on
 * the uploads queue), each authorized on the queue's ARN. A denial is AccessDeniedException, HTTP 400
 * (SQS API Reference, Common Errors). Visibility changes are recorded with the receipt handle.
 */
export class SqsTwin {
  readonly mock = mockClient(SQSClient);
  readonly sent: Array<SendMessageCommandInput & { queueArn: string }> = [];
  readonly visibility: Array<ChangeMessageVisibilityCommandInput & { queueArn: string }> = [];
  failSends = 0;
  failVisibilityChanges = 0;

  constructor(private readonly authorizer?: Authorizer) {
    this.mock.onAnyCommand().callsFake((input: unknown) => Promise.reject(new Error(`the SQS twin does not model this call (input ${JSON.stringify(input)})`)));
    this.mock.on(SendMessageCommand).callsFake(async (input: SendMessageCommandInput) => {
      const queueArn = queueArnOf(input.QueueUrl ?? "");
      await this.authorize("sqs:SendMessage", queueArn);
      if (this.failSends > 0) {
        this.failSends--;
        throw jsonError("ServiceUnavailable", 503, "Service Unavailable");
      }
      this.sent.push({ ...input, queueArn });
      return { MessageId: `sent-${this.sent.length}` };
    });
    this.mock.on(ChangeMessageVisibilityCommand).callsFake(async (input: ChangeMessageVisibilityCommandInput) => {
      const queueArn = queueArnOf(input.QueueUrl ?? "");
      await this.authorize("sqs:ChangeMessageVisibility", queueArn);
      if (this.failVisibilityChanges > 0) {
        this.failVisibilityChanges--;
        throw jsonError("ServiceUnavailable", 503, "Service Unavailable");
      }
      // SQS API Reference, ChangeMessageVisibility: 0 to 43,200 seconds (12 hours).
      const timeout = input.VisibilityTimeout ?? -1;
      if (!Number.isInteger(timeout) || timeout < 0 || timeout > 43_200)
        throw jsonError("InvalidParameterValue", 400, `VisibilityTimeout ${timeout} is out of range`);
      this.visibility.push({ ...input, queueArn });
      return {};
    });
  }

  client(): SQSClient {
    return new SQSClient({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  }

  restore(): void {
    this.mock.restore();
  }

  private async authorize(action: string, resource: string): Promise<void> {
    if (!this.authorizer || (await this.authorizer.allows(action, resource))) return;
    throw jsonError("AccessDeniedException", 400, this.authorizer.deniedMessage(action, resource));
  }
}
