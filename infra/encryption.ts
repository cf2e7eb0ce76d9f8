import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { policyDocument, Statement } from "./policy-document";

export interface KeyGrants {
  /** Buckets whose S3 event notifications are delivered to a queue encrypted with this key. */
  notifyingBucketArns: pulumi.Input<string>[];
  /** Log groups encrypted with this key. */
  logGroupArns: pulumi.Input<string>[];
}

/**
 * The customer-managed key that encrypts every data-holding resource of one pipeline.
 * Its policy is a separate resource (`grant`) because it names buckets and log groups that are
 * themselves created with this key.
 */
export class DataKey extends pulumi.ComponentResource {
  readonly key: aws.kms.Key;
  readonly alias: aws.kms.Alias;
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: { retainOnDelete: boolean }, opts?: pulumi.ComponentResourceOptions) {
    super("facility:security:DataKey", name, {}, opts);
    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `Encrypts the ${name} facility pipeline's buckets, queues, topic, logs and Athena results`,
        enableKeyRotation: true,
        rotationPeriodInDays: 365,
        deletionWindowInDays: 30,
      },
      { parent: this, retainOnDelete: args.retainOnDelete },
    );
    this.alias = new aws.kms.Alias(`${name}-alias`, { name: `alias/${name}`, targetKeyId: this.key.keyId }, { parent: this });
    this.arn = this.key.arn;
    this.registerOutputs({ arn: this.arn, alias: this.alias.name });
  }

  /**
   * Lets the AWS services that act on our behalf use the key. Without these statements the deploy
   * succeeds and delivery fails silently later (S3 cannot notify an encrypted queue, CloudWatch Logs
   * cannot write an encrypted log group, alarms cannot publish to an encrypted topic).
   */
  grant(name: string, grants: KeyGrants): aws.kms.KeyPolicy {
    const identity = aws.getCallerIdentityOutput({}, { parent: this });
    const region = aws.getRegionOutput({}, { parent: this });
    const partition = aws.getPartitionOutput({}, { parent: this });
    const statements: Statement[] = [
      {
        Sid: "AccountAdministersKey",
        Effect: "Allow",
        Principal: { AWS: pulumi.interpolate`arn:${partition.partition}:iam::${identity.accountId}:root` },
        Action: "kms:*",
        Resource: "*",
      },
      {
        Sid: "S3NotifiesEncryptedQueue",
        Effect: "Allow",
        Principal: { Service: "s3.amazonaws.com" },
        Action: ["kms:GenerateDataKey", "kms:Decrypt"],
        Resource: "*",
        Condition: {
          ArnLike: { "aws:SourceArn": grants.notifyingBucketArns },
          StringEquals: { "aws:SourceAccount": identity.accountId },
        },
      },
      {
        Sid: "LogsEncryptsLogGroup",
        Effect: "Allow",
        Principal: { Service: pulumi.interpolate`logs.${region.region}.amazonaws.com` },
        Action: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        Resource: "*",
        Condition: { ArnEquals: { "kms:EncryptionContext:aws:logs:arn": grants.logGroupArns } },
      },
      {
        Sid: "AlarmsPublishToEncryptedTopic",
        Effect: "Allow",
        Principal: { Service: "cloudwatch.amazonaws.com" },
        Action: ["kms:GenerateDataKey*", "kms:Decrypt"],
        Resource: "*",
        Condition: { StringEquals: { "aws:SourceAccount": identity.accountId } },
      },
    ];
    return new aws.kms.KeyPolicy(name, { keyId: this.key.keyId, policy: policyDocument(statements) }, { parent: this });
  }
}
