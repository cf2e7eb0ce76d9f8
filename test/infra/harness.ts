import type * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

/** A resource as the program registered it: its type, logical name and the inputs it was given. */
export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /** What the mocked provider returned: inputs plus computed attributes, and the id. */
  state: Record<string, unknown>;
  id: string;
  /** Logical name of the provider the engine would use, when an explicit one was passed. */
  provider?: string;
}

export interface ProgramRun {
  resources: Registered[];
  outputs: Record<string, unknown>;
  ofType(type: string): Registered[];
  one(type: string, nameContains?: string): Registered;
}

/**
 * A resource's inputs typed as its Args (`aws.s3.BucketArgs`, ...): the mocks hand them over resolved,
 * so every `Input<T>` is a plain `T`. Typing only: nothing is checked at run time.
 */
export function inputsOf<Args>(r: Registered): pulumi.Unwrap<Args> {
  return r.inputs as pulumi.Unwrap<Args>;
}

export const ACCOUNT = "123456789012";
export const REGION = "us-east-1";

/** Resolves a Pulumi output in a test (outputs are only promises underneath). */
export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

/** Physical attributes a real provider would compute, so ARNs and names flow through the program. */
function computed(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const physical = (inputs.name as string | undefined) ?? `${name}-a1b2c3d`;
  switch (type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = (inputs.bucket as string | undefined) ?? `${name}-a1b2c3d`;
      return { bucket, arn: `arn:aws:s3:::${bucket}` };
    }
    case "aws:sqs/queue:Queue":
      return { name: physical, arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${physical}`, url: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${physical}` };
    case "aws:kms/key:Key":
      return { keyId: "1234abcd-12ab-34cd-56ef-1234567890ab", arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab` };
    case "aws:lambda/function:Function":
      return { name: physical, arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${physical}` };
    case "aws:iam/role:Role":
      return { name: physical, arn: `arn:aws:iam::${ACCOUNT}:role/${physical}` };
    case "aws:athena/workgroup:Workgroup":
      return { name: physical, arn: `arn:aws:athena:${REGION}:${ACCOUNT}:workgroup/${physical}` };
    case "aws:cloudwatch/logGroup:LogGroup":
      return { name: physical, arn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${physical}` };
    case "aws:sns/topic:Topic":
      return { name: physical, arn: `arn:aws:sns:${REGION}:${ACCOUNT}:${physical}` };
    case "awsx:ec2:Vpc":
      return { vpcId: "vpc-0abc", isolatedSubnetIds: ["subnet-a", "subnet-b"], privateSubnetIds: [], publicSubnetIds: [] };
    case "aws:ec2/vpcEndpoint:VpcEndpoint":
      return { prefixListId: "pl-63a5400a" };
    default:
      return {};
  }
}

/** A mocked data-source call: its result, given the call's arguments. */
export type CallMock = (args: Record<string, unknown>) => Record<string, unknown>;

/** The zone of each isolated subnet the mocked awsx Vpc returns. */
export const SUBNET_ZONES: Record<string, string> = { "subnet-a": `${REGION}a`, "subnet-b": `${REGION}b` };

/** A VPC endpoint service offered in the given zones, as `aws.ec2.getVpcEndpointService` returns it. */
export const endpointServiceIn =
  (zones: string[]): CallMock =>
  (args) => ({ service: args.service, serviceName: `com.amazonaws.${REGION}.${String(args.service)}`, serviceType: "Interface", availabilityZones: zones });

const calls: Record<string, CallMock> = {
  "aws:index/getCallerIdentity:getCallerIdentity": () => ({ accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/ci`, userId: "AIDA" }),
  "aws:index/getRegion:getRegion": () => ({ name: REGION, region: REGION }),
  "aws:index/getPartition:getPartition": () => ({ partition: "aws", dnsSuffix: "amazonaws.com" }),
  "aws:ec2/getRouteTables:getRouteTables": () => ({ ids: ["rtb-1", "rtb-2"] }),
  "aws:ec2/getSubnet:getSubnet": (args) => ({ id: args.id, availabilityZone: SUBNET_ZONES[String(args.id)] }),
  "aws:ec2/getVpcEndpointService:getVpcEndpointService": endpointServiceIn([`${REGION}a`, `${REGION}b`, `${REGION}c`]),
};

const ROOT = path.resolve(__dirname, "../..");

/** The config a stack file in the repository sets (empty for a stack without a file). */
export function stackFileConfig(stack: string): Record<string, string> {
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) return {};
  const doc = parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
  return Object.fromEntries(Object.entries(doc.config ?? {}).map(([k, v]) => [k, String(v)]));
}

/**
 * Runs index.ts for a stack under Pulumi mocks, with the config of `Pulumi.<stack>.yaml` plus the given
 * overrides (keys without the project prefix) and data-source calls answered by `callOverrides` where
 * given, and returns every registered resource. Nothing is
 * deployed; the provider never runs.
 */
export async function runProgram(stack: string, overrides: Record<string, string> = {}, callOverrides: Record<string, CallMock> = {}): Promise<ProgramRun> {
  const resources: Registered[] = [];
  const project = "facility-pipeline";
  const all: Record<string, string> = { "aws:region": REGION, ...stackFileConfig(stack) };
  for (const [k, v] of Object.entries(overrides)) all[k.includes(":") ? k : `${project}:${k}`] = v;
  pulumi.runtime.setAllConfig(all);
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = args.inputs as Record<string, unknown>;
        const state = { ...inputs, ...computed(args.type, args.name, inputs) };
        // A bucket's id is its name, as in AWS, so sub-resources name the bucket they configure.
        const id = args.type === "aws:s3/bucket:Bucket" ? String(state.bucket) : `${args.name}-id`;
        resources.push({
          type: args.type,
          name: args.name,
          inputs,
          state,
          id,
          provider: args.provider?.split("::")[3]?.split("::")[0],
        });
        return { id, state };
      },
      call(args) {
        const mock = callOverrides[args.token] ?? calls[args.token];
        if (!mock) throw new Error(`unmocked call ${args.token}`);
        return mock(args.inputs as Record<string, unknown>);
      },
    },
    project,
    stack,
    false,
  );

  const entry = path.join(ROOT, "index.ts");
  delete require.cache[entry];
  const program = (await import(entry)) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(program)) {
    outputs[k] = pulumi.Output.isInstance(v) ? await promiseOf(v) : v;
  }
  // Some registrations wait on others' outputs (the function waits for its code archive): settle.
  let seen = -1;
  while (seen !== resources.length) {
    seen = resources.length;
    await new Promise((r) => setTimeout(r, 100));
  }

  const ofType = (type: string) => resources.filter((r) => r.type === type);
  return {
    resources,
    outputs,
    ofType,
    one(type, nameContains) {
      const found = ofType(type).filter((r) => nameContains === undefined || r.name.includes(nameContains));
      if (found.length !== 1) {
        throw new Error(`expected one ${type}${nameContains ? ` named *${nameContains}*` : ""}, found ${found.map((f) => f.name).join(", ") || "none"}`);
      }
      return found[0];
    },
  };
}

/** Parses a JSON policy input into its statements. */
export function statementsOf(policy: unknown): Array<Record<string, unknown>> {
  const doc = (typeof policy === "string" ? JSON.parse(policy) : policy) as { Statement: Array<Record<string, unknown>> };
  return doc.Statement;
}

/** A queue's redrive policy (a JSON string input). */
export function redriveOf(queue: Registered): { maxReceiveCount: number; deadLetterTargetArn: string } {
  return JSON.parse(inputsOf<aws.sqs.QueueArgs>(queue).redrivePolicy ?? "null") as { maxReceiveCount: number; deadLetterTargetArn: string };
}

export const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
