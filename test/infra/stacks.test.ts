import type * as aws from "@pulumi/aws";
import { expect } from "chai";
import { inputsOf, ProgramRun, redriveOf, runProgram, statementsOf } from "./harness";

describe("stack config flowing into resources", () => {
  let dev: ProgramRun;
  let prod: ProgramRun;
  before(async () => {
    dev = await runProgram("dev");
    prod = await runProgram("prod");
  });

  it("gives dev and prod different resource and bucket names", () => {
    const names = (run: ProgramRun) => new Set(run.resources.filter((r) => r.type.startsWith("aws:")).map((r) => r.name));
    const shared = [...names(dev)].filter((n) => names(prod).has(n));
    expect(shared, "logical names present in both stacks").to.deep.equal([]);
    expect(dev.outputs.rawBucketName).to.not.equal(prod.outputs.rawBucketName);
    expect(dev.outputs.glueDatabase).to.not.equal(prod.outputs.glueDatabase);
  });

  it("uses explicit bucket names from the prod stack config", () => {
    expect(prod.outputs).to.include({
      rawBucketName: "example-health-facility-uploads-prod",
      outputBucketName: "example-health-facility-reports-prod",
      accessLogBucketName: "example-health-facility-access-logs-prod",
    });
    expect(prod.one("aws:s3/bucket:Bucket", "-raw").inputs.bucket).to.equal("example-health-facility-uploads-prod");
  });

  it("carries runtime, memory, timeout, retries and batching from prod config", () => {
    const fn = prod.one("aws:lambda/function:Function");
    expect(fn.inputs).to.include({ runtime: "nodejs24.x", memorySize: 2048, timeout: 600 });
    const uploads = prod.one("aws:sqs/queue:Queue", "uploads");
    expect(redriveOf(uploads).maxReceiveCount).to.equal(5);
    expect(uploads.inputs.visibilityTimeoutSeconds).to.equal(6 * 600 + 30);
    const esm = prod.one("aws:lambda/eventSourceMapping:EventSourceMapping");
    expect(esm.inputs).to.include({ batchSize: 50, maximumBatchingWindowInSeconds: 30 });
    expect(esm.inputs.scalingConfig).to.deep.equal({ maximumConcurrency: 4 });
  });

  it("retains buckets on prod (no forceDestroy)", () => {
    for (const b of prod.ofType("aws:s3/bucket:Bucket")) expect(b.inputs.forceDestroy, b.name).to.equal(false);
  });

  it("subscribes the configured alarm email", () => {
    const sub = prod.one("aws:sns/topicSubscription:TopicSubscription");
    expect(sub.inputs).to.include({ protocol: "email", endpoint: "facility-pipeline-oncall@example.org" });
  });

  describe("private network (prod: enableVpc)", () => {
    it("builds an awsx VPC of isolated subnets in two zones without NAT", () => {
      const vpc = prod.one("awsx:ec2:Vpc");
      expect(vpc.inputs.numberOfAvailabilityZones).to.equal(2);
      expect(vpc.inputs.natGateways).to.deep.equal({ strategy: "None" });
      expect(vpc.inputs.subnetSpecs).to.deep.equal([{ type: "Isolated", cidrMask: 24 }]);
    });

    it("reaches S3 through a gateway endpoint and Athena and SQS through private interface endpoints", () => {
      const endpoints = prod.ofType("aws:ec2/vpcEndpoint:VpcEndpoint");
      const byService = Object.fromEntries(
        endpoints.map((e) => [String(e.inputs.serviceName).split(".").pop() ?? "", inputsOf<aws.ec2.VpcEndpointArgs>(e)] as const),
      );
      expect(byService.s3).to.include({ vpcEndpointType: "Gateway" });
      expect(byService.s3?.routeTableIds).to.deep.equal(["rtb-1", "rtb-2"]);
      for (const s of ["athena", "sqs"]) expect(byService[s]).to.include({ vpcEndpointType: "Interface", privateDnsEnabled: true });
    });

    it("attaches the function to the isolated subnets with an HTTPS-only security group", () => {
      const fn = prod.one("aws:lambda/function:Function");
      const vpcConfig = fn.inputs.vpcConfig as { subnetIds: string[]; securityGroupIds: string[] };
      expect(vpcConfig.subnetIds).to.deep.equal(["subnet-a", "subnet-b"]);
      expect(vpcConfig.securityGroupIds).to.have.length(1);
      const sg = prod.one("aws:ec2/securityGroup:SecurityGroup", "-fn");
      for (const rule of sg.inputs.egress as Array<Record<string, unknown>>) expect(rule).to.include({ fromPort: 443, toPort: 443, protocol: "tcp" });
    });

    it("grants the network-interface actions only when attached to a VPC", () => {
      const has = (run: ProgramRun) =>
        statementsOf(run.one("aws:iam/rolePolicy:RolePolicy", "-permissions").inputs.policy).some((s) => s.Sid === "AttachToVpc");
      expect(has(prod)).to.equal(true);
      expect(has(dev)).to.equal(false);
    });
  });

  it("builds a third stack from config given on the command line (maxRetries 0 = one receive)", async () => {
    const other = await runProgram("staging", { rawBucketName: "facility-staging-uploads", maxRetries: "0" });
    const uploads = other.one("aws:sqs/queue:Queue", "uploads");
    expect(redriveOf(uploads).maxReceiveCount).to.equal(1);
    expect(other.outputs.rawBucketName).to.equal("facility-staging-uploads");
    expect(other.one("aws:kms/alias:Alias").inputs.name).to.equal("alias/facility-staging-data");
  });
});
