/**
 * The security baseline as stack-level rules, named after the AWS Foundational Security Best
 * Practices (FSBP) controls they implement. With @pulumi/aws v7 a bucket's encryption, policy, logging
 * and so on are separate resources, so most rules look across the whole stack: they find each bucket's
 * sub-resources through Pulumi's property dependencies (or, where a value is known, by bucket name).
 *
 * Pure functions over a plain resource list: `index.ts` wraps them into a Pulumi policy pack, and
 * tests run them over the program's mocked resource graph.
 */

export interface StackResource {
  type: string;
  name: string;
  urn: string;
  /** Inputs at preview, outputs after deployment. */
  props: Record<string, unknown>;
  /** The resources each input property was computed from. */
  propertyDependencies?: Record<string, StackResource[]>;
}

export interface Violation {
  message: string;
  urn?: string;
}

export interface Rule {
  name: string;
  description: string;
  check(resources: StackResource[]): Violation[];
}

const T = {
  bucket: "aws:s3/bucket:Bucket",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  logging: "aws:s3/bucketLogging:BucketLogging",
  ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  queue: "aws:sqs/queue:Queue",
  topic: "aws:sns/topic:Topic",
  permission: "aws:lambda/permission:Permission",
  fn: "aws:lambda/function:Function",
  workgroup: "aws:athena/workgroup:Workgroup",
  key: "aws:kms/key:Key",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  policy: "aws:iam/policy:Policy",
  role: "aws:iam/role:Role",
  attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  policyAttachment: "aws:iam/policyAttachment:PolicyAttachment",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
} as const;

/** Runtimes Lambda supports for new functions and updates (nodejs20.x can no longer be created). */
export const SUPPORTED_LAMBDA_RUNTIMES = ["nodejs22.x", "nodejs24.x", "python3.12", "python3.13", "java21", "provided.al2023"];

const ofType = (resources: StackResource[], type: string) => resources.filter((r) => r.type === type);

/** The bucket a sub-resource belongs to: by dependency when Pulumi knows it, else by name. */
function bucketOf(sub: StackResource, buckets: StackResource[]): StackResource | undefined {
  const dep = sub.propertyDependencies?.bucket?.find((d) => d.type === T.bucket);
  if (dep) return buckets.find((b) => b.urn === dep.urn);
  const name = sub.props.bucket;
  return typeof name === "string" ? buckets.find((b) => b.props.bucket === name || b.props.id === name) : undefined;
}

/** For each bucket, the sub-resources of `type` attached to it. */
function perBucket(resources: StackResource[], type: string): Map<StackResource, StackResource[]> {
  const buckets = ofType(resources, T.bucket);
  const map = new Map(buckets.map((b) => [b, [] as StackResource[]]));
  for (const sub of ofType(resources, type)) {
    const b = bucketOf(sub, buckets);
    if (b) map.get(b)!.push(sub);
  }
  return map;
}

/** Buckets that receive S3 server access logs: they may not use SSE-KMS and need no logging of their own. */
function logTargets(resources: StackResource[]): Set<string> {
  const buckets = ofType(resources, T.bucket);
  const targets = new Set<string>();
  for (const l of ofType(resources, T.logging)) {
    const dep = l.propertyDependencies?.targetBucket?.find((d) => d.type === T.bucket);
    const b = dep
      ? buckets.find((x) => x.urn === dep.urn)
      : buckets.find((x) => x.props.bucket === l.props.targetBucket || x.props.id === l.props.targetBucket);
    if (b) targets.add(b.urn);
  }
  return targets;
}

interface PolicyStatement {
  Sid?: string;
  Effect?: string;
  Action?: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

/** A policy document's statements; undefined while the document is still unknown (preview). */
function statements(doc: unknown): PolicyStatement[] | undefined {
  if (typeof doc === "string") {
    try {
      return statements(JSON.parse(doc));
    } catch {
      return undefined;
    }
  }
  if (typeof doc !== "object" || doc === null) return undefined;
  const s = (doc as { Statement?: PolicyStatement | PolicyStatement[] }).Statement;
  return s === undefined ? [] : Array.isArray(s) ? s : [s];
}

/** A string property as text; "" when it is absent (or, against the provider's schema, not a string). */
const textOf = (v: unknown): string => (typeof v === "string" ? v : "");
const list = <V>(v: V | V[] | undefined): V[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function bucketRule(
  name: string,
  description: string,
  type: string,
  ok: (subs: StackResource[], bucket: StackResource) => string | undefined,
  exempt?: (r: StackResource[]) => Set<string>,
): Rule {
  return {
    name,
    description,
    check(resources) {
      const skip = exempt?.(resources) ?? new Set<string>();
      const out: Violation[] = [];
      for (const [bucket, subs] of perBucket(resources, type)) {
        if (skip.has(bucket.urn)) continue;
        const problem = ok(subs, bucket);
        if (problem) out.push({ urn: bucket.urn, message: `bucket ${bucket.name}: ${problem}` });
      }
      return out;
    },
  };
}

function identityPolicies(resources: StackResource[]): Array<{ r: StackResource; statements: PolicyStatement[] }> {
  const out: Array<{ r: StackResource; statements: PolicyStatement[] }> = [];
  for (const r of [...ofType(resources, T.rolePolicy), ...ofType(resources, T.policy)]) {
    const s = statements(r.props.policy);
    if (s) out.push({ r, statements: s });
  }
  for (const role of ofType(resources, T.role)) {
    for (const inline of list(role.props.inlinePolicies as Array<{ policy?: unknown }> | undefined)) {
      const s = statements(inline.policy);
      if (s) out.push({ r: role, statements: s });
    }
  }
  return out;
}

export const RULES: readonly Rule[] = [
  bucketRule("s3-5-tls-only", "FSBP S3.5: bucket policies deny requests that do not use TLS", T.bucketPolicy, (subs) => {
    const denies = subs.some((p) =>
      statements(p.props.policy)?.some((s) => s.Effect === "Deny" && JSON.stringify(s.Condition ?? {}).includes('"aws:SecureTransport":"false"')),
    );
    return denies ? undefined : 'add a bucket policy statement that denies "s3:*" when aws:SecureTransport is "false"';
  }),
  bucketRule("s3-8-block-public-access", "FSBP S3.8: all four public access block settings are on", T.publicAccess, (subs) => {
    const flags = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
    const ok = subs.some((p) => flags.every((f) => p.props[f] === true));
    return ok ? undefined : `add a BucketPublicAccessBlock with ${flags.join(", ")} all true`;
  }),
  bucketRule(
    "s3-9-access-logging",
    "FSBP S3.9: server access logging is on (except on the log bucket itself)",
    T.logging,
    (subs) => (subs.length > 0 ? undefined : "add a BucketLogging that delivers to the access-log bucket"),
    logTargets,
  ),
  bucketRule("s3-12-acls-disabled", "FSBP S3.12: ACLs are disabled (BucketOwnerEnforced)", T.ownership, (subs) =>
    subs.some((o) => (o.props.rule as { objectOwnership?: string } | undefined)?.objectOwnership === "BucketOwnerEnforced")
      ? undefined
      : 'add BucketOwnershipControls with objectOwnership "BucketOwnerEnforced"',
  ),
  bucketRule("s3-13-lifecycle", "FSBP S3.13: a lifecycle configuration is in place", T.lifecycle, (subs) =>
    subs.some((l) => list(l.props.rules as Array<{ status?: string }>).some((r) => r.status === "Enabled"))
      ? undefined
      : "add a BucketLifecycleConfiguration with at least one enabled rule (noncurrent versions, multipart uploads)",
  ),
  bucketRule(
    "s3-17-sse-kms",
    "FSBP S3.17: default encryption with a KMS key (log delivery targets: SSE-S3, as S3 requires)",
    T.encryption,
    (subs) => {
      const kms = subs.some((e) =>
        list(e.props.rules as Array<{ applyServerSideEncryptionByDefault?: { sseAlgorithm?: string; kmsMasterKeyId?: unknown } }>).some(
          (r) => r.applyServerSideEncryptionByDefault?.sseAlgorithm === "aws:kms" && r.applyServerSideEncryptionByDefault.kmsMasterKeyId !== "",
        ),
      );
      return kms ? undefined : 'set default encryption to sseAlgorithm "aws:kms" with the customer-managed key';
    },
    logTargets,
  ),
  {
    name: "sqs-1-encryption",
    description: "FSBP SQS.1: queues are encrypted with a KMS key",
    check: (resources) =>
      ofType(resources, T.queue)
        .filter((q) => !q.props.kmsMasterKeyId)
        .map((q) => ({ urn: q.urn, message: `queue ${q.name}: set kmsMasterKeyId to the customer-managed key` })),
  },
  {
    name: "sns-1-encryption",
    description: "FSBP SNS.1: topics are encrypted with a KMS key",
    check: (resources) =>
      ofType(resources, T.topic)
        .filter((t) => !t.props.kmsMasterKeyId)
        .map((t) => ({ urn: t.urn, message: `topic ${t.name}: set kmsMasterKeyId to the customer-managed key` })),
  },
  {
    name: "lambda-1-scoped-invoke",
    description: "FSBP Lambda.1: a Lambda permission for a service names the source ARN and account",
    check: (resources) =>
      ofType(resources, T.permission)
        .filter((p) => textOf(p.props.principal).endsWith(".amazonaws.com") && (!p.props.sourceArn || !p.props.sourceAccount))
        .map((p) => ({ urn: p.urn, message: `permission ${p.name}: set sourceArn and sourceAccount so only that resource of this account can invoke` })),
  },
  {
    name: "lambda-2-supported-runtime",
    description: "FSBP Lambda.2: functions use a supported runtime",
    check: (resources) =>
      ofType(resources, T.fn)
        .filter((f) => f.props.runtime !== undefined && !SUPPORTED_LAMBDA_RUNTIMES.includes(textOf(f.props.runtime)))
        .map((f) => ({
          urn: f.urn,
          message: `function ${f.name}: runtime ${String(f.props.runtime)} is deprecated or unsupported; use ${SUPPORTED_LAMBDA_RUNTIMES.slice(0, 2).join(" or ")}`,
        })),
  },
  {
    name: "athena-4-workgroup-hardened",
    description: "FSBP Athena.4: workgroups publish CloudWatch metrics, enforce their configuration and encrypt results with KMS",
    check: (resources) =>
      ofType(resources, T.workgroup).flatMap((w) => {
        const c = (w.props.configuration ?? {}) as {
          publishCloudwatchMetricsEnabled?: boolean;
          enforceWorkgroupConfiguration?: boolean;
          resultConfiguration?: { encryptionConfiguration?: { encryptionOption?: string } };
        };
        const missing = [
          c.publishCloudwatchMetricsEnabled === true ? "" : "publishCloudwatchMetricsEnabled: true",
          c.enforceWorkgroupConfiguration === true ? "" : "enforceWorkgroupConfiguration: true",
          /KMS/.test(c.resultConfiguration?.encryptionConfiguration?.encryptionOption ?? "")
            ? ""
            : 'resultConfiguration.encryptionConfiguration.encryptionOption "SSE_KMS"',
        ].filter(Boolean);
        return missing.length ? [{ urn: w.urn, message: `workgroup ${w.name}: set ${missing.join(", ")}` }] : [];
      }),
  },
  {
    name: "kms-4-rotation",
    description: "FSBP KMS.4: customer-managed keys rotate",
    check: (resources) =>
      ofType(resources, T.key)
        .filter((k) => k.props.enableKeyRotation !== true)
        .map((k) => ({ urn: k.urn, message: `key ${k.name}: set enableKeyRotation: true` })),
  },
  {
    name: "kms-1-2-no-decrypt-on-all-keys",
    description: "FSBP KMS.1/KMS.2: IAM policies do not allow KMS decryption on all keys",
    check: (resources) =>
      identityPolicies(resources).flatMap(({ r, statements: ss }) =>
        ss
          .filter(
            (s) =>
              s.Effect === "Allow" && list(s.Resource).includes("*") && list(s.Action).some((a) => /^(kms:(\*|Decrypt|ReEncrypt\*|ReEncryptFrom)|\*)$/.test(a)),
          )
          .map((s) => ({ urn: r.urn, message: `${r.name} statement ${s.Sid ?? "(no Sid)"}: scope kms:Decrypt to the key's ARN instead of "*"` })),
      ),
  },
  {
    name: "iam-1-21-no-wildcard-actions",
    description: 'FSBP IAM.1/IAM.21: no "*:*" or "service:*" actions in Allow statements',
    check: (resources) =>
      identityPolicies(resources).flatMap(({ r, statements: ss }) =>
        ss
          .filter((s) => s.Effect === "Allow" && list(s.Action).some((a) => a === "*" || /:\*$/.test(a)))
          .map((s) => ({
            urn: r.urn,
            message: `${r.name} statement ${s.Sid ?? "(no Sid)"}: list the actions needed instead of ${list(s.Action)
              .filter((a) => a === "*" || /:\*$/.test(a))
              .join(", ")}`,
          })),
      ),
  },
  {
    name: "cloudwatch-15-alarm-actions",
    description: "FSBP CloudWatch.15: alarms have actions configured",
    check: (resources) =>
      ofType(resources, T.alarm)
        .filter((a) => a.props.actionsEnabled === false || list(a.props.alarmActions as unknown[]).length === 0)
        .map((a) => ({ urn: a.urn, message: `alarm ${a.name}: set alarmActions to the alarm topic and keep actionsEnabled` })),
  },
  {
    name: "cloudwatch-16-log-retention",
    description: "FSBP CloudWatch.16: log groups keep logs for a set period",
    check: (resources) =>
      ofType(resources, T.logGroup)
        .filter((g) => !(Number(g.props.retentionInDays) > 0))
        .map((g) => ({ urn: g.urn, message: `log group ${g.name}: set retentionInDays (config key logRetentionDays)` })),
  },
  {
    name: "no-fullaccess-managed-policy",
    description: "No role gets an AWS managed *FullAccess policy (CallbackFunction's default role attaches nine)",
    check: (resources) =>
      [...ofType(resources, T.attachment), ...ofType(resources, T.policyAttachment)]
        .filter((a) => /FullAccess/.test(textOf(a.props.policyArn)))
        .map((a) => ({ urn: a.urn, message: `${a.name}: remove ${String(a.props.policyArn)}; give the role an inline policy scoped to its resources` }))
        .concat(
          ofType(resources, T.role)
            .filter((r) => list(r.props.managedPolicyArns as string[]).some((p) => /FullAccess/.test(p)))
            .map((r) => ({ urn: r.urn, message: `role ${r.name}: remove the FullAccess managedPolicyArns` })),
        ),
  },
];
