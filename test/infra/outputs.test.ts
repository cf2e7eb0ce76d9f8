import { expect } from "chai";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPORTS } from "../../handler/reports/registry";
import { latestReportsCommand } from "../../infra/outputs";
import { ProgramRun, runProgram } from "./harness";

const root = path.resolve(__dirname, "../..");

describe("stack outputs an operator needs (dev stack, mocked provider)", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runProgram("dev");
  });

  it("exports the processor's log group name, as registered", () => {
    const logGroup = run.one("aws:cloudwatch/logGroup:LogGroup");
    expect(run.outputs.processorLogGroupName).to.equal(logGroup.state.name);
    expect(run.outputs.processorLogGroupName).to.equal("/facility-pipeline/facility-dev/processor");
  });

  it("exports the dead-letter queue's ARN, so a redrive needs no attribute lookup", () => {
    const dlq = run.ofType("aws:sqs/queue:Queue").find((q) => q.name.includes("dlq"));
    expect(dlq, "dead-letter queue").to.not.equal(undefined);
    expect(run.outputs.deadLetterQueueArn).to.equal(dlq!.state.arn);
    expect(run.outputs.deadLetterQueueArn).to.match(/^arn:aws:sqs:us-east-1:123456789012:.*dlq/);
  });

  it("exports the S3 URI of reports/ in the output bucket", () => {
    expect(run.outputs.reportsUri).to.equal("s3://facility-dev-output-a1b2c3d/reports/");
  });

  it("exports a command naming every report's latest CSV in the output bucket", () => {
    const command = String(run.outputs.latestReportsCommand);
    for (const r of REPORTS) expect(command).to.include(r.name);
    expect(command).to.include("s3://facility-dev-output-a1b2c3d/reports/$r/latest.csv");
  });

  it("lists in the README every output the program exports", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const listed = readme.split("\nStack outputs:")[1]?.split("\n\n")[0] ?? "";
    const names = [...listed.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]);
    expect(names.sort()).to.deep.equal(Object.keys(run.outputs).sort());
  });
});

describe("the latest-reports command", function () {
  this.timeout(60000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "facility-outputs-"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("prints each report's latest CSV when run by a shell against a bucket laid out as the processor writes it", () => {
    // Local mode writes its output folder with the processor's own layout; a stand-in `aws` serves it.
    const out = path.join(tmp, "bucket");
    execFileSync(process.execPath, [path.join(root, "handler/local/bin.js"), path.join(root, "sample-data"), "--out", out, "--as-of", "2026-11-27", "--json"], {
      cwd: root,
    });
    const bin = path.join(tmp, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, "aws"),
      [
        "#!/bin/sh",
        "# aws s3 cp s3://<bucket>/<key> -  prints <key> from $FAKE_BUCKET_DIR",
        '[ "$1 $2 $4" = "s3 cp -" ] || { echo "unexpected: aws $*" >&2; exit 64; }',
        'cat "$FAKE_BUCKET_DIR/${3#s3://*/}"',
        "",
      ].join("\n"),
      { mode: 0o755 },
    );

    const printed = execFileSync("sh", ["-c", latestReportsCommand("any-bucket")], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, FAKE_BUCKET_DIR: out },
    });
    const expected = REPORTS.map((r) => `== ${r.name}\n${fs.readFileSync(path.join(out, "reports", r.name, "latest.csv"), "utf8")}`).join("");
    expect(printed).to.equal(expected);
    expect(printed).to.include("== accreditation-by-state\n");
    expect(printed).to.match(/FL,2,210,2/);
  });
});
