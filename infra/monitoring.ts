import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { TELEMETRY_NAMES } from "../handler/aws/telemetry-names";

export interface MonitoringArgs {
  kmsKeyArn: pulumi.Input<string>;
  /** Must be in place before alarms can publish to the encrypted topic. */
  keyPolicy: pulumi.Resource;
  alarmEmail?: string;
  functionName: pulumi.Input<string>;
  functionTimeoutSeconds: number;
  queueName: pulumi.Input<string>;
  deadLetterQueueName: pulumi.Input<string>;
  oldestUploadAgeAlarmSeconds: number;
  workgroupName: pulumi.Input<string>;
  /** One query scanning more than this many bytes raises the early warning before the cutoff. */
  bytesScannedAlarmBytes: number;
}

interface AlarmSpec {
  suffix: string;
  description: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, pulumi.Input<string>>;
  statistic: "Sum" | "Maximum";
  threshold: number;
  periodSeconds: number;
}

/** Alarms on what needs a person (failures, slowness, throttling, dead letters, ignored uploads, a stuck queue), sent to SNS. */
export class Monitoring extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly alarms: aws.cloudwatch.MetricAlarm[];

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("facility:monitoring:Monitoring", name, {}, opts);
    const identity = aws.getCallerIdentityOutput({}, { parent: this });

    this.topic = new aws.sns.Topic(
      `${name}-alarms`,
      {
        displayName: "Facility pipeline alarms",
        kmsMasterKeyId: args.kmsKeyArn,
      },
      { parent: this, dependsOn: [args.keyPolicy] },
    );

    new aws.sns.TopicPolicy(
      `${name}-alarms-policy`,
      {
        arn: this.topic.arn,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "AlarmsPublish",
              Effect: "Allow",
              Principal: { Service: "cloudwatch.amazonaws.com" },
              Action: "sns:Publish",
              Resource: this.topic.arn,
              Condition: { StringEquals: { "aws:SourceAccount": identity.accountId } },
            },
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "sns:Publish",
              Resource: this.topic.arn,
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      },
      { parent: this },
    );

    if (args.alarmEmail) {
      new aws.sns.TopicSubscription(
        `${name}-alarms-email`,
        {
          topic: this.topic.arn,
          protocol: "email",
          endpoint: args.alarmEmail,
        },
        { parent: this },
      );
    }

    const fn = { FunctionName: args.functionName };
    const specs: AlarmSpec[] = [
      {
        suffix: "errors",
        description: "Processor failed more than 5 times in 5 minutes",
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: fn,
        statistic: "Sum",
        threshold: 5,
        periodSeconds: 300,
      },
      {
        suffix: "duration",
        description: "Processor ran longer than 80% of its timeout",
        namespace: "AWS/Lambda",
        metricName: "Duration",
        dimensions: fn,
        statistic: "Maximum",
        threshold: 0.8 * args.functionTimeoutSeconds * 1000,
        periodSeconds: 300,
      },
      {
        suffix: "throttles",
        description: "Processor invocations were throttled",
        namespace: "AWS/Lambda",
        metricName: "Throttles",
        dimensions: fn,
        statistic: "Sum",
        threshold: 0,
        periodSeconds: 300,
      },
      {
        suffix: "dead-letters",
        description: "Upload events are waiting in the dead-letter queue: see README, Operations",
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: args.deadLetterQueueName },
        statistic: "Maximum",
        threshold: 0,
        periodSeconds: 60,
      },
      {
        suffix: "ignored-uploads",
        description: "An object was uploaded whose name the pipeline does not process (not .json, .jsonl or .ndjson, optionally .gz): it was not ingested",
        // Powertools adds the service as a default dimension to every metric it publishes.
        namespace: TELEMETRY_NAMES.namespace,
        metricName: "UploadsIgnored",
        dimensions: { service: TELEMETRY_NAMES.service },
        statistic: "Sum",
        threshold: 0,
        periodSeconds: 300,
      },
      {
        suffix: "oldest-upload",
        description: `An upload event has existed for more than ${args.oldestUploadAgeAlarmSeconds} s without being processed or dead-lettered: longer than its retries with backoff take. Also after a crash or timeout (messages then wait out the queue's visibility timeout): check the errors and duration alarms first`,
        namespace: "AWS/SQS",
        metricName: "ApproximateAgeOfOldestMessage",
        dimensions: { QueueName: args.queueName },
        statistic: "Maximum",
        threshold: args.oldestUploadAgeAlarmSeconds,
        periodSeconds: 60,
      },
      {
        suffix: "refresh-failed",
        description: "The scheduled report refresh failed: reports may be a day old. See README, Scheduled refresh",
        namespace: TELEMETRY_NAMES.namespace,
        metricName: "RefreshesFailed",
        dimensions: { service: TELEMETRY_NAMES.service },
        statistic: "Sum",
        threshold: 0,
        periodSeconds: 300,
      },
      {
        suffix: "bytes-near-cutoff",
        description: `A report query scanned more than ${args.bytesScannedAlarmBytes} bytes, near the workgroup's bytes-scanned cutoff: raise athenaBytesScannedCutoffMb before reports are cancelled. See README, Bytes-scanned cutoff`,
        // Athena publishes ProcessedBytes per query with the WorkGroup, QueryState and QueryType dimensions.
        namespace: "AWS/Athena",
        metricName: "ProcessedBytes",
        dimensions: { WorkGroup: args.workgroupName, QueryState: "SUCCEEDED", QueryType: "DML" },
        statistic: "Maximum",
        threshold: args.bytesScannedAlarmBytes,
        periodSeconds: 300,
      },
    ];

    this.alarms = specs.map(
      (s) =>
        new aws.cloudwatch.MetricAlarm(
          `${name}-${s.suffix}`,
          {
            alarmDescription: s.description,
            namespace: s.namespace,
            metricName: s.metricName,
            dimensions: s.dimensions,
            statistic: s.statistic,
            period: s.periodSeconds,
            evaluationPeriods: 1,
            threshold: s.threshold,
            comparisonOperator: "GreaterThanThreshold",
            treatMissingData: "notBreaching",
            actionsEnabled: true,
            alarmActions: [this.topic.arn],
            okActions: [this.topic.arn],
          },
          { parent: this },
        ),
    );

    this.registerOutputs({ topicArn: this.topic.arn });
  }
}
