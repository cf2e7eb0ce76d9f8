import type * as aws from "@pulumi/aws";
import { expect } from "chai";
import { UNSCOPED_ACTIONS } from "../../infra/processor-policy";
import { asArray, inputsOf, ProgramRun, runProgram, statementsOf } from "./harness";

describe("security baseline of the program", () => {
  for (const stack of ["dev", "prod"]) {
    describe(`${stack} stack`, () => {
      let run: ProgramRun;
      before(async () => {
        run = await runProgram(stack);
      });

      it("scopes every processor permission: no wildcard action, no '*' resource outside the documented list", () => {
        const statements = statementsOf(run.one("aws:iam/rolePolicy:RolePolicy", "-permissions").inputs.policy);
        expect(statements.length).to.be.greaterThan(8);
        for (const s of statements) {
          expect(s.Effect, String(s.Sid)).to.equal("Allow");
          const actions = asArray(s.Action as string | string[]);
          for (const a of actions) expect(a, String(s.Sid)).to.match(/^[a-z0-9]+:[A-Za-z]+$/);
          for (const r of asArray(s.Resource as string | string[])) {
            if (r === "*") {
              expect(
                actions.every((a) => (UNSCOPED_ACTIONS as readonly string[]).includes(a)),
                `${String(s.Sid)} uses "*"`,
              ).to.equal(true);
            } else {
              expect(r, String(s.Sid)).to.match(/^arn:aws:[a-z0-9-]+:(us-east-1)?:(123456789012)?:?/);
              // A service-wide wildcard ("arn:aws:sqs:region:account:*", "arn:aws:s3:::*") is as broad as "*".
              expect(r, String(s.Sid)).to.not.match(/^arn:aws:[a-z0-9-]+:[^:]*:[^:]*:\*$|^arn:aws:s3:::\*/);
            }
          }
        }
      });

      it("grants S3 object access only inside this stack's two buckets and the output prefixes", () => {
        const statements = statementsOf(run.one("aws:iam/rolePolicy:RolePolicy", "-permissions").inputs.policy);
        const raw = String(run.outputs.rawBucketName);
        const output = String(run.outputs.outputBucketName);
        for (const s of statements.filter((x) => asArray(x.Action as string[]).some((a) => a.startsWith("s3:")))) {
          for (const r of asArray(s.Resource as string[])) {
            expect(
              [`arn:aws:s3:::${raw}/*`, `arn:aws:s3:::${raw}`, `arn:aws:s3:::${output}`].includes(r) || r.startsWith(`arn:aws:s3:::${output}/`),
              r,
            ).to.equal(true);
          }
        }
        // Listing the raw bucket is what makes S3 answer a deleted upload with 404 rather than 403;
        // that is the only bucket-level grant on it.
        const bucketLevel = statements.filter((x) => asArray(x.Resource as string[]).includes(`arn:aws:s3:::${raw}`));
        expect(bucketLevel.flatMap((x) => asArray(x.Action as string[]))).to.deep.equal(["s3:ListBucket"]);
        const writes = statements.filter((x) => asArray(x.Action as string[]).some((a) => /^s3:(Put|Delete)/.test(a)));
        for (const s of writes) for (const r of asArray(s.Resource as string[])) expect(r).to.not.include(raw);
      });

      it("encrypts every data-holding resource with the customer-managed key", () => {
        const kms = /^arn:aws:kms:us-east-1:123456789012:key\//;
        for (const q of run.ofType("aws:sqs/queue:Queue")) expect(q.inputs.kmsMasterKeyId, q.name).to.match(kms);
        for (const t of run.ofType("aws:sns/topic:Topic")) expect(t.inputs.kmsMasterKeyId, t.name).to.match(kms);
        for (const g of run.ofType("aws:cloudwatch/logGroup:LogGroup")) expect(g.inputs.kmsKeyId, g.name).to.match(kms);
        for (const w of run.ofType("aws:athena/workgroup:Workgroup")) {
          const enc = inputsOf<aws.athena.WorkgroupArgs>(w).configuration?.resultConfiguration?.encryptionConfiguration;
          expect(enc?.kmsKeyArn, w.name).to.match(kms);
        }
        const sse = run.ofType("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration");
        expect(sse).to.have.length(run.ofType("aws:s3/bucket:Bucket").length);
        for (const c of sse.filter((x) => !x.name.includes("access-logs"))) {
          expect(inputsOf<aws.s3.BucketServerSideEncryptionConfigurationArgs>(c).rules[0].applyServerSideEncryptionByDefault?.kmsMasterKeyId, c.name).to.match(
            kms,
          );
        }
      });

      it("attaches no managed policy to any role", () => {
        expect(run.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")).to.deep.equal([]);
        expect(run.ofType("aws:iam/policyAttachment:PolicyAttachment")).to.deep.equal([]);
      });

      it("lets no resource policy allow an unconditioned principal", () => {
        const policies = [
          ...run.ofType("aws:s3/bucketPolicy:BucketPolicy"),
          ...run.ofType("aws:sqs/queuePolicy:QueuePolicy"),
          ...run.ofType("aws:sns/topicPolicy:TopicPolicy"),
        ];
        for (const p of policies) {
          for (const s of statementsOf(p.inputs.policy).filter((x) => x.Effect === "Allow")) {
            expect(s.Principal, `${p.name} ${String(s.Sid)}`).to.not.equal("*");
            expect(s.Condition, `${p.name} ${String(s.Sid)}`).to.have.property("StringEquals");
          }
        }
      });
    });
  }
});
