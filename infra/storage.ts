import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { denyInsecureTransport, policyDocument, Statement } from "./policy-document";

export interface SecureBucketArgs {
  /** Explicit bucket name; auto-named from the resource name when undefined. */
  bucketName?: string;
  /**
   * KMS key for default encryption. Undefined selects SSE-S3, which only the access-log bucket uses:
   * S3 server access logging cannot deliver to a bucket whose default encryption is SSE-KMS.
   */
  kmsKeyArn?: pulumi.Input<string>;
  forceDestroy: boolean;
  noncurrentVersionExpirationDays: number;
  /** Prefixes whose objects expire after a number of days (e.g. Athena scratch results). */
  expiringPrefixes?: { prefix: string; days: number }[];
  /** Bucket receiving this bucket's server access logs. */
  accessLogs?: { bucket: pulumi.Input<string>; prefix: string };
  /**
   * Statements added to the bucket policy, given this bucket's ARN. `"later"` leaves the policy to
   * `createPolicy`, for a bucket whose policy names buckets created after it (the access-log bucket).
   */
  extraStatements?: ((bucketArn: pulumi.Output<string>) => Statement[]) | "later";
}

/**
 * One S3 bucket hardened for healthcare data: default encryption, versioning, ACLs disabled, all
 * public access blocked, TLS-only policy, lifecycle, and server access logging.
 */
export class SecureBucket extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly name: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  policy?: aws.s3.BucketPolicy;
  readonly publicAccessBlock: aws.s3.BucketPublicAccessBlock;
  private readonly bucketName: string;

  constructor(name: string, args: SecureBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("facility:storage:SecureBucket", name, {}, opts);
    this.bucketName = name;
    const child = { parent: this };

    this.bucket = new aws.s3.Bucket(name, { bucket: args.bucketName, forceDestroy: args.forceDestroy }, { parent: this, retainOnDelete: !args.forceDestroy });
    this.name = this.bucket.bucket;
    this.arn = this.bucket.arn;
    const bucket = this.bucket.id;

    new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      {
        bucket,
        rule: { objectOwnership: "BucketOwnerEnforced" },
      },
      child,
    );

    this.publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      child,
    );

    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket,
        rules: [
          args.kmsKeyArn === undefined
            ? { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }
            : {
                applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn },
                // Bucket keys cut KMS request costs by orders of magnitude for many small objects.
                bucketKeyEnabled: true,
              },
        ],
      },
      child,
    );

    new aws.s3.BucketVersioning(
      `${name}-versioning`,
      {
        bucket,
        versioningConfiguration: { status: "Enabled" },
      },
      child,
    );

    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket,
        rules: [
          {
            id: "expire-noncurrent-versions",
            status: "Enabled",
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionExpirationDays },
            expiration: { expiredObjectDeleteMarker: true },
          },
          {
            id: "abort-incomplete-multipart-uploads",
            status: "Enabled",
            filter: {},
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
          ...(args.expiringPrefixes ?? []).map((p) => ({
            id: `expire-${p.prefix.replace(/[^a-z0-9]+/gi, "-").replace(/-$/, "")}`,
            status: "Enabled",
            filter: { prefix: p.prefix },
            expiration: { days: p.days },
          })),
        ],
      },
      child,
    );

    if (args.accessLogs) {
      new aws.s3.BucketLogging(
        `${name}-logging`,
        {
          bucket,
          targetBucket: args.accessLogs.bucket,
          targetPrefix: args.accessLogs.prefix,
          targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } },
        },
        child,
      );
    }

    if (args.extraStatements !== "later") {
      this.createPolicy(args.extraStatements?.(this.bucket.arn) ?? []);
    }
    this.registerOutputs({ name: this.name, arn: this.arn });
  }

  /** The bucket policy: TLS only, plus the given statements. */
  createPolicy(extra: Statement[]): aws.s3.BucketPolicy {
    if (this.policy) throw new Error("the bucket policy is already created");
    const objects = pulumi.interpolate`${this.bucket.arn}/*`;
    this.policy = new aws.s3.BucketPolicy(
      `${this.bucketName}-policy`,
      {
        bucket: this.bucket.id,
        policy: policyDocument([denyInsecureTransport([this.bucket.arn, objects], "s3:*"), ...extra]),
        // A policy put before the public access block settles can be rejected as "public".
      },
      { parent: this, dependsOn: [this.publicAccessBlock] },
    );
    return this.policy;
  }
}
