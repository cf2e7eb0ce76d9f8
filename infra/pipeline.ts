import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { OUTPUT_LAYOUT } from "../handler/core/layout";
import { Catalog } from "./catalog";
import { PipelineConfig } from "./config";
import { DataKey } from "./encryption";
import { Monitoring } from "./monitoring";
import { Network } from "./network";
import { Processor } from "./processor";
import { SecureBucket } from "./storage";

/** The whole pipeline of one stack. Child names derive from `name`, so two instances never collide. */
export class FacilityPipeline extends pulumi.ComponentResource {
  readonly key: DataKey;
  readonly rawBucket: SecureBucket;
  readonly outputBucket: SecureBucket;
  readonly accessLogBucket: SecureBucket;
  readonly catalog: Catalog;
  readonly processor: Processor;
  readonly monitoring: Monitoring;
  readonly network?: Network;

  constructor(name: string, config: PipelineConfig, opts?: pulumi.ComponentResourceOptions) {
    super("facility:pipeline:FacilityPipeline", name, {}, opts);
    const child = { parent: this };
    const common = {
      forceDestroy: config.forceDestroy,
      noncurrentVersionExpirationDays: config.noncurrentVersionExpirationDays,
    };

    this.key = new DataKey(`${name}-data`, { retainOnDelete: !config.forceDestroy }, child);

    this.accessLogBucket = new SecureBucket(
      `${name}-access-logs`,
      {
        ...common,
        bucketName: config.accessLogBucketName,
        extraStatements: "later",
      },
      child,
    );
    const logTo = (prefix: string) => ({ bucket: this.accessLogBucket.name, prefix });

    this.rawBucket = new SecureBucket(
      `${name}-raw`,
      {
        ...common,
        bucketName: config.rawBucketName,
        kmsKeyArn: this.key.arn,
        accessLogs: logTo("raw/"),
      },
      child,
    );

    this.outputBucket = new SecureBucket(
      `${name}-output`,
      {
        ...common,
        bucketName: config.outputBucketName,
        kmsKeyArn: this.key.arn,
        expiringPrefixes: [{ prefix: OUTPUT_LAYOUT.athenaScratch, days: config.scratchExpirationDays }],
        accessLogs: logTo("output/"),
      },
      child,
    );

    const identity = aws.getCallerIdentityOutput({}, child);
    this.accessLogBucket.createPolicy([
      {
        Sid: "S3ServerAccessLogDelivery",
        Effect: "Allow",
        Principal: { Service: "logging.s3.amazonaws.com" },
        Action: "s3:PutObject",
        Resource: pulumi.interpolate`${this.accessLogBucket.arn}/*`,
        Condition: {
          ArnLike: { "aws:SourceArn": [this.rawBucket.arn, this.outputBucket.arn] },
          StringEquals: { "aws:SourceAccount": identity.accountId },
        },
      },
    ]);

    const region = aws.getRegionOutput({}, child).region;
    const partition = aws.getPartitionOutput({}, child).partition;
    const logGroupName = `/facility-pipeline/${name}/processor`;
    const logGroupArn = pulumi.interpolate`arn:${partition}:logs:${region}:${identity.accountId}:log-group:${logGroupName}`;
    const keyPolicy = this.key.grant(`${name}-data-key-policy`, {
      notifyingBucketArns: [this.rawBucket.arn],
      logGroupArns: [logGroupArn],
    });

    this.catalog = new Catalog(
      `${name}-catalog`,
      {
        outputBucketName: this.outputBucket.name,
        kmsKeyArn: this.key.arn,
        bytesScannedCutoffMb: config.athenaBytesScannedCutoffMb,
        forceDestroy: config.forceDestroy,
      },
      child,
    );

    this.network = config.enableVpc ? new Network(`${name}-network`, child) : undefined;

    this.processor = new Processor(
      `${name}-processor`,
      {
        rawBucket: this.rawBucket,
        outputBucket: this.outputBucket,
        kmsKeyArn: this.key.arn,
        keyPolicy,
        workgroup: this.catalog.workgroup,
        database: this.catalog.database.name,
        table: this.catalog.table.name,
        logGroupName,
        logRetentionDays: config.logRetentionDays,
        runtime: config.lambdaRuntime,
        memoryMb: config.lambdaMemoryMb,
        timeoutSeconds: config.lambdaTimeoutSeconds,
        maxRetries: config.maxRetries,
        batchSize: config.batchSize,
        batchWindowSeconds: config.batchWindowSeconds,
        maxConcurrency: config.maxConcurrency,
        expiringWithinMonths: config.expiringWithinMonths,
        maxRecordBytes: config.maxRecordBytes,
        reportSchedule: config.reportSchedule,
        network: this.network && {
          subnetIds: this.network.subnetIds,
          securityGroupIds: [this.network.functionSecurityGroup.id],
        },
      },
      child,
    );

    this.monitoring = new Monitoring(
      `${name}-monitoring`,
      {
        kmsKeyArn: this.key.arn,
        keyPolicy,
        alarmEmail: config.alarmEmail,
        functionName: this.processor.function.name,
        functionTimeoutSeconds: config.lambdaTimeoutSeconds,
        queueName: this.processor.queue.name,
        deadLetterQueueName: this.processor.deadLetterQueue.name,
        oldestUploadAgeAlarmSeconds: config.oldestUploadAgeAlarmSeconds,
        workgroupName: this.catalog.workgroup.name,
        bytesScannedAlarmBytes: Math.floor((config.bytesScannedAlarmPercent / 100) * config.athenaBytesScannedCutoffMb * 1024 * 1024),
      },
      child,
    );

    this.registerOutputs({
      rawBucket: this.rawBucket.name,
      outputBucket: this.outputBucket.name,
      functionName: this.processor.function.name,
    });
  }
}
