import { expect } from "chai";
import { RULES, StackResource } from "../../policy/rules";
import { ProgramRun, runProgram } from "../infra/harness";

/** The program's registered resources as the policy engine would see them (values, no dependency links). */
function stackOf(run: ProgramRun): StackResource[] {
  return run.resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: `urn:pulumi:test::facility-pipeline::${r.type}::${r.name}`,
    props: { ...r.state, id: r.id },
  }));
}

const rule = (name: string) => {
  const r = RULES.find((x) => x.name === name);
  if (!r) throw new Error(`no rule ${name}`);
  return r;
};

type Breaker = (stack: StackResource[]) => StackResource[];
const without =
  (type: string, nameContains: string): Breaker =>
  (stack) =>
    stack.filter((r) => !(r.type === type && r.name.includes(nameContains)));
const edit =
  (type: string, nameContains: string, change: (props: Record<string, unknown>) => void): Breaker =>
  (stack) =>
    stack.map((r) => {
      if (r.type !== type || !r.name.includes(nameContains)) return r;
      const props = JSON.parse(JSON.stringify(r.props)) as Record<string, unknown>;
      change(props);
      return { ...r, props };
    });
/** A change that adds a statement to a resource's JSON `policy`. */
const addStatement = (statement: Record<string, unknown>) => (p: Record<string, unknown>) => {
  const doc = JSON.parse(p.policy as string) as { Statement: unknown[] };
  doc.Statement.push(statement);
  p.policy = JSON.stringify(doc);
};
const add =
  (resource: Omit<StackResource, "urn">): Breaker =>
  (stack) => [...stack, { ...resource, urn: `urn:test::${resource.name}` }];

const breaks: Array<[string, string, Breaker, RegExp]> = [
  [
    "s3-5-tls-only",
    "the raw bucket's policy is gone",
    without("aws:s3/bucketPolicy:BucketPolicy", "-raw-"),
    /bucket facility-dev-raw: add a bucket policy statement that denies "s3:\*" when aws:SecureTransport is "false"/,
  ],
  [
    "s3-8-block-public-access",
    "one public access flag is off",
    edit("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "-output-", (p) => {
      p.restrictPublicBuckets = false;
    }),
    /bucket facility-dev-output: add a BucketPublicAccessBlock/,
  ],
  [
    "s3-9-access-logging",
    "the output bucket stops logging",
    without("aws:s3/bucketLogging:BucketLogging", "-output-"),
    /bucket facility-dev-output: add a BucketLogging/,
  ],
  [
    "s3-12-acls-disabled",
    "ACLs are enabled again",
    edit("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "-raw-", (p) => {
      p.rule = { objectOwnership: "ObjectWriter" };
    }),
    /BucketOwnerEnforced/,
  ],
  [
    "s3-13-lifecycle",
    "the lifecycle is removed",
    without("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "-raw-"),
    /bucket facility-dev-raw: add a BucketLifecycleConfiguration/,
  ],
  [
    "s3-17-sse-kms",
    "the raw bucket falls back to SSE-S3",
    edit("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "-raw-", (p) => {
      p.rules = [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }];
    }),
    /bucket facility-dev-raw: set default encryption to sseAlgorithm "aws:kms"/,
  ],
  [
    "sqs-1-encryption",
    "the DLQ loses its key",
    edit("aws:sqs/queue:Queue", "-dlq", (p) => {
      delete p.kmsMasterKeyId;
    }),
    /queue facility-dev-processor-dlq: set kmsMasterKeyId/,
  ],
  [
    "sns-1-encryption",
    "the topic loses its key",
    edit("aws:sns/topic:Topic", "alarms", (p) => {
      delete p.kmsMasterKeyId;
    }),
    /topic facility-dev-monitoring-alarms: set kmsMasterKeyId/,
  ],
  [
    "lambda-1-scoped-invoke",
    "a service permission without source ARN",
    add({ type: "aws:lambda/permission:Permission", name: "open-invoke", props: { principal: "s3.amazonaws.com", action: "lambda:InvokeFunction" } }),
    /permission open-invoke: set sourceArn and sourceAccount/,
  ],
  [
    "lambda-2-supported-runtime",
    "a deprecated runtime",
    edit("aws:lambda/function:Function", "-fn", (p) => {
      p.runtime = "nodejs18.x";
    }),
    /runtime nodejs18.x is deprecated or unsupported/,
  ],
  [
    "athena-4-workgroup-hardened",
    "metrics off and results unencrypted",
    edit("aws:athena/workgroup:Workgroup", "reports", (p) => {
      const c = p.configuration as { publishCloudwatchMetricsEnabled?: boolean; resultConfiguration: { encryptionConfiguration?: unknown } };
      c.publishCloudwatchMetricsEnabled = false;
      delete c.resultConfiguration.encryptionConfiguration;
    }),
    /set publishCloudwatchMetricsEnabled: true, resultConfiguration.encryptionConfiguration/,
  ],
  [
    "kms-4-rotation",
    "rotation off",
    edit("aws:kms/key:Key", "data-key", (p) => {
      p.enableKeyRotation = false;
    }),
    /set enableKeyRotation: true/,
  ],
  [
    "kms-1-2-no-decrypt-on-all-keys",
    "kms:Decrypt on every key",
    edit("aws:iam/rolePolicy:RolePolicy", "permissions", addStatement({ Sid: "AnyKey", Effect: "Allow", Action: "kms:Decrypt", Resource: "*" })),
    /statement AnyKey: scope kms:Decrypt to the key's ARN/,
  ],
  [
    "iam-1-21-no-wildcard-actions",
    "s3:* granted",
    edit("aws:iam/rolePolicy:RolePolicy", "permissions", addStatement({ Sid: "Lazy", Effect: "Allow", Action: ["s3:*"], Resource: "arn:aws:s3:::x" })),
    /statement Lazy: list the actions needed instead of s3:\*/,
  ],
  [
    "cloudwatch-15-alarm-actions",
    "an alarm without actions",
    edit("aws:cloudwatch/metricAlarm:MetricAlarm", "-errors", (p) => {
      p.alarmActions = [];
    }),
    /alarm facility-dev-monitoring-errors: set alarmActions/,
  ],
  [
    "cloudwatch-16-log-retention",
    "logs kept forever",
    edit("aws:cloudwatch/logGroup:LogGroup", "logs", (p) => {
      delete p.retentionInDays;
    }),
    /set retentionInDays/,
  ],
  [
    "no-fullaccess-managed-policy",
    "the CallbackFunction default role's policies",
    add({
      type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
      name: "fn-s3",
      props: { role: "r", policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess" },
    }),
    /fn-s3: remove arn:aws:iam::aws:policy\/AmazonS3FullAccess/,
  ],
];

describe(`policy pack (${RULES.length} rules) over the program's resources`, () => {
  let dev: StackResource[];
  let prod: StackResource[];
  before(async () => {
    dev = stackOf(await runProgram("dev"));
    prod = stackOf(await runProgram("prod"));
  });

  it("finds no violation in the dev or prod stack", () => {
    for (const [name, stack] of [
      ["dev", dev],
      ["prod", prod],
    ] as const) {
      const found = RULES.flatMap((r) => r.check(stack).map((v) => `${r.name}: ${v.message}`));
      expect(found, name).to.deep.equal([]);
    }
  });

  it("has a deliberately broken variant for every rule", () => {
    expect(breaks.map(([name]) => name).sort()).to.deep.equal(RULES.map((r) => r.name).sort());
  });

  for (const [name, what, breaker, message] of breaks) {
    it(`${name} fires when ${what}, saying what to fix`, () => {
      const violations = rule(name).check(breaker(dev));
      expect(violations.length, JSON.stringify(violations)).to.be.greaterThan(0);
      expect(violations.map((v) => v.message).join("\n")).to.match(message);
      // Only this rule objects: the others are unaffected by the change.
      for (const other of RULES.filter((r) => r.name !== name && !(name.startsWith("kms-1") && r.name.startsWith("iam")))) {
        expect(other.check(breaker(dev)), other.name).to.deep.equal([]);
      }
    });
  }

  it("exempts the access-log bucket from SSE-KMS and logging only because it is a log delivery target", () => {
    const notTarget = dev.filter((r) => r.type !== "aws:s3/bucketLogging:BucketLogging");
    const messages = [...rule("s3-17-sse-kms").check(notTarget), ...rule("s3-9-access-logging").check(notTarget)].map((v) => v.message);
    expect(messages.join("\n")).to.include("bucket facility-dev-access-logs");
  });

  it("links sub-resources through Pulumi's property dependencies when values are unknown at preview", () => {
    const bucket = dev.find((r) => r.type === "aws:s3/bucket:Bucket" && r.name === "facility-dev-raw")!;
    const unknown = dev.map((r) =>
      r.type.startsWith("aws:s3/bucket") && r.type !== "aws:s3/bucket:Bucket" && r.name.startsWith("facility-dev-raw-")
        ? { ...r, props: { ...r.props, bucket: undefined }, propertyDependencies: { bucket: [bucket] } }
        : r,
    );
    for (const r of RULES) expect(r.check(unknown), r.name).to.deep.equal([]);
  });
});
