import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

const root = path.resolve(__dirname, "..");

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  if?: string;
  environment?: string;
  permissions?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflow = (name: string) => parse(fs.readFileSync(path.join(root, ".github/workflows", name), "utf8")) as Workflow;
const text = (name: string) => fs.readFileSync(path.join(root, ".github/workflows", name), "utf8");
const pulumiStep = (job: Job) => job.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
const roleOf = (job: Job) => String(job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))?.with?.["role-to-assume"]);

/**
 * Inputs of pulumi/actions (v6), from its action.yml and src/config.ts. GitHub only warns about an
 * unknown input and runs the step without it, so a misspelt `policy-packs` would silently skip the pack.
 */
const PULUMI_ACTION_INPUTS = [
  "command",
  "stack-name",
  "work-dir",
  "comment-on-pr",
  "comment-on-pr-number",
  "github-token",
  "cloud-url",
  "secrets-provider",
  "parallel",
  "message",
  "config-map",
  "expect-no-changes",
  "diff",
  "replace",
  "target",
  "target-dependents",
  "policyPacks",
  "policyPackConfigs",
  "refresh",
  "upsert",
  "edit-pr-comment",
  "color",
  "pulumi-version",
];

describe("GitHub workflows", () => {
  const pr = workflow("pull-request.yml");
  const deploy = workflow("deploy.yml");

  it("pass pulumi/actions only inputs it declares", () => {
    for (const [name, wf] of [
      ["pull-request.yml", pr],
      ["deploy.yml", deploy],
    ] as const) {
      for (const job of Object.values(wf.jobs)) {
        for (const key of Object.keys(pulumiStep(job)?.with ?? {})) expect(PULUMI_ACTION_INPUTS, `${name}: ${key}`).to.include(key);
      }
    }
  });

  it("preview every pull request with the policy pack, after the tests pass", () => {
    const jobs = Object.values(pr.jobs).filter((j) => pulumiStep(j)?.with?.command === "preview");
    expect(jobs).to.have.length(1);
    const [preview] = jobs;
    expect(pulumiStep(preview)!.with!.policyPacks).to.equal("policy");
    expect(fs.existsSync(path.join(root, "policy/PulumiPolicy.yaml"))).to.equal(true);
    expect(pulumiStep(preview)!.with!["comment-on-pr"]).to.equal(true);
    const tested = Object.entries(pr.jobs).find(([, j]) => j.steps.some((s) => s.run === "npm test"))?.[0];
    expect(preview.needs).to.equal(tested);
    expect(roleOf(preview)).to.equal("${{ secrets.AWS_PREVIEW_ROLE_ARN }}");
  });

  it("grant the OIDC token and PR comments only to the job that previews", () => {
    expect(pr.permissions).to.deep.equal({ contents: "read" });
    for (const job of Object.values(pr.jobs)) {
      const previews = pulumiStep(job) !== undefined;
      expect(job.permissions?.["id-token"] === "write").to.equal(previews);
    }
  });

  it("deploy each stack in the GitHub environment of the same name, with that environment's role and the policy pack", () => {
    const ups = Object.values(deploy.jobs).filter((j) => pulumiStep(j)?.with?.command === "up");
    expect(ups).to.have.length(1);
    for (const job of ups) {
      const stack = String(pulumiStep(job)!.with!["stack-name"]);
      // The stack part of `<org>/<stack>` is the very expression that names the environment.
      expect(stack).to.equal(`\${{ vars.PULUMI_ORG }}/${job.environment}`);
      expect(job.environment).to.equal("${{ github.event.inputs.stack || 'dev' }}");
      expect(roleOf(job)).to.equal("${{ secrets.AWS_DEPLOY_ROLE_ARN }}");
      expect(pulumiStep(job)!.with!.policyPacks).to.equal("policy");
      expect(job.steps.findIndex((s) => s.run === "npm test")).to.be.lessThan(job.steps.indexOf(pulumiStep(job)!));
    }
  });

  it("use no long-lived AWS keys", () => {
    for (const name of ["pull-request.yml", "deploy.yml"]) expect(text(name)).to.not.match(/AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY/);
  });

  it("need only the secrets and variables the README tells operators to set, and the README names each role's trust subject", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const section = readme.split("\n### GitHub workflows")[1]?.split("\n## ")[0] ?? "";
    const used = new Set(["pull-request.yml", "deploy.yml"].flatMap((n) => [...text(n).matchAll(/\b(?:secrets|vars)\.([A-Z_]+)/g)].map((m) => m[1])));
    used.delete("GITHUB_TOKEN");
    for (const name of used) expect(section, name).to.include(`| \`${name}\` |`);
    expect(section).to.include("`repo:<owner>/<repo>:pull_request`");
    const stacks = (deploy.on.workflow_dispatch as { inputs: { stack: { options: string[] } } }).inputs.stack.options;
    for (const stack of stacks) expect(section).to.include(`\`repo:<owner>/<repo>:environment:${stack}\``);
  });
});
