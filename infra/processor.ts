import * as aws from "@pulumi/aws";
import type { SQSBatchResponse } from "aws-lambda";
import * as pulumi from "@pulumi/pulumi";
import { ProcessorEvent, processorFactory, REFRESH_EVENT, RefreshResult } from "../handler/aws/entry";
import { ProcessorSettings, settingsEnv } from "../handler/aws/settings";
import { TELEMETRY_NAMES } from "../handler/aws/telemetry-names";
import { LambdaRuntime } from "./config";
import { assumedByService, denyInsecureTransport, policyDocument } from "./policy-document";
import { processorPolicy } from "./processor-policy";

export interface ProcessorArgs {
  rawBucket: { name: pulumi.Output<string>; arn: pulumi.Output<string> };
  outputBucket: { name: pulumi.Output<string>; arn: pulumi.Output<string> };
  kmsKeyArn: pulumi.Output<string>;
  /** The key policy must let S3 use the key before S3 can notify the encrypted queue. */
  keyPolicy: pulumi.Resource;
  workgroup: { name: pulumi.Output<string>; arn: pulumi.Output<string> };
  database: pulumi.Output<string>;
  table: pulumi.Output<string>;
  logGroupName: string;
  logRetentionDays: number;
  runtime: LambdaRuntime;
  memoryMb: number;
  timeoutSeconds: number;
  maxRetries: number;
  batchSize: number;
  batchWindowSeconds: number;
  maxConcurrency: number;
  expiringWithinMonths: number;
  maxRecordBytes: number;
  /** EventBridge Scheduler expression of the report refresh, or "off". */
  reportSchedule: string;
  network?: { subnetIds: pulumi.Input<string[]>; securityGroupIds: pulumi.Input<string>[] };
}

/**
 * Upload events flow S3 -> queue -> processor. The queue buffers bursts (one report run per batch
 * instead of per file, bounded concurrent Athena queries), retries a configurable number of times and
 * hands what still fails to the dead-letter queue.
 */
export class Processor extends pulumi.ComponentResource {
  readonly queue: aws.sqs.Queue;
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly function: aws.lambda.CallbackFunction<ProcessorEvent, SQSBatchResponse | RefreshResult>;
  readonly role: aws.iam.Role;
  readonly rolePolicy: aws.iam.RolePolicy;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly eventSourceMapping: aws.lambda.EventSourceMapping;
  readonly notification: aws.s3.BucketNotification;
  /** The scheduled report refresh, absent when `reportSchedule` is off. */
  readonly refreshSchedule?: aws.scheduler.Schedule;

  constructor(name: string, args: ProcessorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("facility:processor:Processor", name, {}, opts);
    const child = { parent: this };
    const identity = aws.getCallerIdentityOutput({}, child);
    const maxReceiveCount = args.maxRetries + 1;

    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      {
        kmsMasterKeyId: args.kmsKeyArn,
        kmsDataKeyReusePeriodSeconds: 300,
        messageRetentionSeconds: 14 * 24 * 3600,
      },
      child,
    );

    this.queue = new aws.sqs.Queue(
      `${name}-uploads`,
      {
        kmsMasterKeyId: args.kmsKeyArn,
        kmsDataKeyReusePeriodSeconds: 300,
        messageRetentionSeconds: 4 * 24 * 3600,
        // AWS guidance for SQS-triggered functions: at least six times the timeout, plus the batching window.
        visibilityTimeoutSeconds: 6 * args.timeoutSeconds + args.batchWindowSeconds,
        redrivePolicy: pulumi.jsonStringify({ deadLetterTargetArn: this.deadLetterQueue.arn, maxReceiveCount }),
      },
      child,
    );

    new aws.sqs.RedriveAllowPolicy(
      `${name}-dlq-redrive-allow`,
      {
        queueUrl: this.deadLetterQueue.url,
        redriveAllowPolicy: pulumi.jsonStringify({ redrivePermission: "byQueue", sourceQueueArns: [this.queue.arn] }),
      },
      child,
    );

    const queuePolicy = new aws.sqs.QueuePolicy(
      `${name}-uploads-policy`,
      {
        queueUrl: this.queue.url,
        policy: policyDocument([
          {
            Sid: "RawBucketSendsUploadEvents",
            Effect: "Allow",
            Principal: { Service: "s3.amazonaws.com" },
            Action: "sqs:SendMessage",
            Resource: this.queue.arn,
            Condition: {
              ArnEquals: { "aws:SourceArn": args.rawBucket.arn },
              StringEquals: { "aws:SourceAccount": identity.accountId },
            },
          },
          denyInsecureTransport([this.queue.arn], "sqs:*"),
        ]),
      },
      child,
    );

    new aws.sqs.QueuePolicy(
      `${name}-dlq-policy`,
      {
        queueUrl: this.deadLetterQueue.url,
        policy: policyDocument([denyInsecureTransport([this.deadLetterQueue.arn], "sqs:*")]),
      },
      child,
    );

    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      {
        name: args.logGroupName,
        retentionInDays: args.logRetentionDays,
        kmsKeyId: args.kmsKeyArn,
      },
      { parent: this, dependsOn: [args.keyPolicy] },
    );

    this.role = new aws.iam.Role(
      `${name}-role`,
      {
        description: "Facility pipeline processor: least privilege, scoped to this stack's resources",
        assumeRolePolicy: policyDocument([assumedByService("LambdaAssumesRole", "lambda.amazonaws.com", identity.accountId)]),
      },
      child,
    );

    this.rolePolicy = new aws.iam.RolePolicy(
      `${name}-permissions`,
      {
        role: this.role.id,
        policy: pulumi
          .output({
            rawBucketArn: args.rawBucket.arn,
            outputBucketArn: args.outputBucket.arn,
            workgroupArn: args.workgroup.arn,
            kmsKeyArn: args.kmsKeyArn,
            queueArn: this.queue.arn,
            deadLetterQueueArn: this.deadLetterQueue.arn,
            logGroupArn: this.logGroup.arn,
            region: aws.getRegionOutput({}, child).region,
            accountId: identity.accountId,
            partition: aws.getPartitionOutput({}, child).partition,
            database: args.database,
            table: args.table,
          })
          .apply((scope) => JSON.stringify(processorPolicy({ ...scope, inVpc: args.network !== undefined }))),
      },
      child,
    );

    const settings: { [K in keyof ProcessorSettings]: pulumi.Input<string> } = {
      rawBucket: args.rawBucket.name,
      outputBucket: args.outputBucket.name,
      workgroup: args.workgroup.name,
      database: args.database,
      table: args.table,
      deadLetterQueueUrl: this.deadLetterQueue.url,
      uploadQueueUrl: this.queue.url,
      maxReceiveCount: String(maxReceiveCount),
      expiringWithinMonths: String(args.expiringWithinMonths),
      maxRecordBytes: String(args.maxRecordBytes),
    };
    const variables: Record<string, pulumi.Input<string>> = {
      POWERTOOLS_SERVICE_NAME: TELEMETRY_NAMES.service,
      POWERTOOLS_METRICS_NAMESPACE: TELEMETRY_NAMES.namespace,
      ...settingsEnv(settings),
    };

    this.function = new aws.lambda.CallbackFunction(
      `${name}-fn`,
      {
        description: "Validates facility uploads, curates them and runs the Athena reports",
        callbackFactory: processorFactory,
        // An explicit role: CallbackFunction's default attaches nine FullAccess managed policies.
        role: this.role,
        runtime: args.runtime,
        architectures: ["arm64"],
        memorySize: args.memoryMb,
        timeout: args.timeoutSeconds,
        environment: { variables },
        loggingConfig: {
          logFormat: "JSON",
          logGroup: this.logGroup.name,
          applicationLogLevel: "INFO",
          systemLogLevel: "WARN",
        },
        vpcConfig: args.network,
      },
      { parent: this, dependsOn: [this.rolePolicy, this.logGroup] },
    );

    this.eventSourceMapping = new aws.lambda.EventSourceMapping(
      `${name}-uploads-trigger`,
      {
        eventSourceArn: this.queue.arn,
        functionName: this.function.arn,
        batchSize: args.batchSize,
        maximumBatchingWindowInSeconds: args.batchWindowSeconds,
        scalingConfig: { maximumConcurrency: args.maxConcurrency },
        functionResponseTypes: ["ReportBatchItemFailures"],
      },
      { parent: this, dependsOn: [this.rolePolicy] },
    );

    // One bucket has one notification configuration. S3 validates the destination when it is written,
    // so the queue policy and the key policy must already be in place.
    // No suffix filter: S3 filters are case-sensitive and exact, so `X.JSON` (which the processor
    // accepts) would never be announced. Every object is announced instead, and the processor ingests
    // accepted names in any letter case and counts the rest (UploadsIgnored, alarmed), so no upload is
    // ignored silently.
    this.notification = new aws.s3.BucketNotification(
      `${name}-raw-events`,
      {
        bucket: args.rawBucket.name,
        queues: [
          {
            id: "uploads",
            queueArn: this.queue.arn,
            events: ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
          },
        ],
      },
      { parent: this, dependsOn: [queuePolicy, args.keyPolicy] },
    );

    if (args.reportSchedule !== "off") {
      // A role only the scheduler can assume, for schedules of this account, that may invoke only
      // this function (not its versions or aliases).
      const schedulerRole = new aws.iam.Role(
        `${name}-refresh-role`,
        {
          description: "Facility pipeline: lets EventBridge Scheduler invoke the processor for the report refresh, nothing else",
          assumeRolePolicy: policyDocument([assumedByService("SchedulerAssumesRole", "scheduler.amazonaws.com", identity.accountId)]),
        },
        child,
      );
      const invokePolicy = new aws.iam.RolePolicy(
        `${name}-refresh-invoke`,
        {
          role: schedulerRole.id,
          policy: policyDocument([
            { Sid: "InvokeProcessorOnly", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: this.function.arn },
            // The schedule's payload is encrypted with the stack's key; Scheduler decrypts it with the
            // execution role's permissions when it delivers (EventBridge Scheduler User Guide, "Encryption
            // at rest"). Without this the invoke fails before the function runs, where no alarm sees it.
            { Sid: "DecryptSchedulePayload", Effect: "Allow", Action: "kms:Decrypt", Resource: args.kmsKeyArn },
          ]),
        },
        child,
      );
      this.refreshSchedule = new aws.scheduler.Schedule(
        `${name}-refresh`,
        {
          description: "Reruns the facility reports as of the scheduled day, so date-dependent reports stay current without uploads",
          scheduleExpression: args.reportSchedule,
          scheduleExpressionTimezone: "UTC",
          flexibleTimeWindow: { mode: "OFF" },
          kmsKeyArn: args.kmsKeyArn,
          target: {
            arn: this.function.arn,
            roleArn: schedulerRole.arn,
            // The scheduled time, not the time of delivery, sets the as-of date: a retried or repeated
            // fire computes the same reports and is answered from the same Athena executions.
            input: JSON.stringify({ facilityPipeline: REFRESH_EVENT, scheduledTime: "<aws.scheduler.scheduled-time>" }),
            // Retries of the invoke itself (throttling, an unavailable function); the function's own
            // failures are retried by Lambda's asynchronous invocation and alarmed (RefreshesFailed).
            retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
          },
        },
        { parent: this, dependsOn: [invokePolicy] },
      );
    }

    this.registerOutputs({
      queueUrl: this.queue.url,
      deadLetterQueueUrl: this.deadLetterQueue.url,
      functionName: this.function.name,
    });
  }
}
