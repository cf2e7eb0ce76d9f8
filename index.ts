import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./infra/config";
import * as operator from "./infra/outputs";
import { FacilityPipeline } from "./infra/pipeline";

const config = loadConfig();
const stack = pulumi.getStack();

// Tags every taggable resource through the provider, so no resource can be created without them.
const provider = new aws.Provider("aws", {
  region: new pulumi.Config("aws").require<aws.Region>("region"),
  defaultTags: {
    tags: { project: pulumi.getProject(), stack, "data-classification": config.dataClassification },
  },
});

const pipeline = new FacilityPipeline(`facility-${stack}`, config, { providers: [provider] });

export const rawBucketName = pipeline.rawBucket.name;
export const outputBucketName = pipeline.outputBucket.name;
export const accessLogBucketName = pipeline.accessLogBucket.name;
export const uploadQueueUrl = pipeline.processor.queue.url;
export const deadLetterQueueUrl = pipeline.processor.deadLetterQueue.url;
// The ARN too, so `aws sqs start-message-move-task --source-arn` needs no lookup of the queue attributes.
export const deadLetterQueueArn = pipeline.processor.deadLetterQueue.arn;
export const processorFunctionName = pipeline.processor.function.name;
export const processorLogGroupName = pipeline.processor.logGroup.name;
export const athenaWorkgroup = pipeline.catalog.workgroup.name;
export const glueDatabase = pipeline.catalog.database.name;
export const glueTable = pipeline.catalog.table.name;
export const alarmTopicArn = pipeline.monitoring.topic.arn;
export const kmsKeyAlias = pipeline.key.alias.name;
export const uploadCommand = pulumi.interpolate`aws s3 cp sample-data/facilities.ndjson s3://${pipeline.rawBucket.name}/incoming/facilities.ndjson`;
export const reportsUri = pipeline.outputBucket.name.apply(operator.reportsUri);
export const latestReportsCommand = pipeline.outputBucket.name.apply(operator.latestReportsCommand);
