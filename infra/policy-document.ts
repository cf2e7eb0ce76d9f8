import * as pulumi from "@pulumi/pulumi";

/** An IAM policy statement whose ARNs may still be unresolved Pulumi outputs. */
export interface Statement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Principal?: "*" | { AWS?: pulumi.Input<string> | pulumi.Input<string>[]; Service?: pulumi.Input<string> | pulumi.Input<string>[] };
  Action: string | string[];
  /** Absent only in trust policies. */
  Resource?: pulumi.Input<string> | pulumi.Input<string>[];
  Condition?: Record<string, Record<string, pulumi.Input<string> | pulumi.Input<string>[]>>;
}

/** Renders statements into a JSON policy document once every ARN in them is known. */
export function policyDocument(statements: Statement[]): pulumi.Output<string> {
  return pulumi.jsonStringify({ Version: "2012-10-17", Statement: statements });
}

/** A trust statement: `service` may assume the role, on behalf of this account only (confused deputy). */
export function assumedByService(sid: string, service: string, accountId: pulumi.Input<string>): Statement {
  return {
    Sid: sid,
    Effect: "Allow",
    Principal: { Service: service },
    Action: "sts:AssumeRole",
    Condition: { StringEquals: { "aws:SourceAccount": accountId } },
  };
}

/** Denies any request that does not use TLS (AWS FSBP S3.5 / SQS, SNS equivalents). */
export function denyInsecureTransport(resources: pulumi.Input<string>[], action: string): Statement {
  return {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: action,
    Resource: resources,
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
}
