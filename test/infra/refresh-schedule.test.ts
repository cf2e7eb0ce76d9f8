import { expect } from "chai";
import { REFRESH_EVENT } from "../../handler/aws/entry";
import { ACCOUNT, ProgramRun, REGION, runProgram, statementsOf } from "./harness";

const FUNCTION_ARN = (run: ProgramRun) => String(run.one("aws:lambda/function:Function").state.arn);

/** The schedule's inputs as the program registered them (resolved values, not Inputs). */
interface ScheduleInputs {
  scheduleExpression: string;
  scheduleExpressionTimezone: string;
  kmsKeyArn: string;
  target: { arn: string; roleArn: string; input: string; retryPolicy: Record<string, number> };
}

describe("scheduled report refresh and the bytes-scanned early warning (resources under mocks)", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runProgram("dev");
  });

  it("schedules the refresh daily at 05:00 UTC, invoking the processor with the refresh event and the scheduled time", () => {
    const s = run.one("aws:scheduler/schedule:Schedule", "-refresh").inputs as unknown as ScheduleInputs;
    expect(s.scheduleExpression).to.equal("cron(0 5 * * ? *)");
    expect(s.scheduleExpressionTimezone).to.equal("UTC");
    expect(s.target.arn).to.equal(FUNCTION_ARN(run));
    expect(JSON.parse(s.target.input)).to.deep.equal({ facilityPipeline: REFRESH_EVENT, scheduledTime: "<aws.scheduler.scheduled-time>" });
    expect(s.target.retryPolicy).to.deep.equal({ maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 });
    expect(s.kmsKeyArn).to.match(/^arn:aws:kms:/);
  });

  it("gives the scheduler a role it alone can assume, for this account, that may invoke only this function", () => {
    const s = run.one("aws:scheduler/schedule:Schedule", "-refresh").inputs as unknown as ScheduleInputs;
    const role = run.resources.find((r) => r.type === "aws:iam/role:Role" && r.state.arn === s.target.roleArn)!;
    expect(role.name).to.match(/-refresh-role$/);
    expect(statementsOf(role.inputs.assumeRolePolicy)).to.deep.equal([
      {
        Sid: "SchedulerAssumesRole",
        Effect: "Allow",
        Principal: { Service: "scheduler.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT } },
      },
    ]);
    const policies = run.ofType("aws:iam/rolePolicy:RolePolicy").filter((p) => p.inputs.role === role.id);
    expect(policies).to.have.length(1);
    expect(statementsOf(policies[0].inputs.policy)).to.deep.equal([
      {
        Sid: "InvokeProcessorOnly",
        Effect: "Allow",
        Action: "lambda:InvokeFunction",
        Resource: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${String(run.one("aws:lambda/function:Function").state.name)}`,
      },
      { Sid: "DecryptSchedulePayload", Effect: "Allow", Action: "kms:Decrypt", Resource: String(run.one("aws:kms/key:Key").state.arn) },
    ]);
  });

  it("alarms when the refresh fails and when a report query scans 80% of the cutoff (dev: 100 MB)", () => {
    const failed = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "-refresh-failed").inputs;
    expect([failed.metricName, failed.threshold, failed.comparisonOperator]).to.deep.equal(["RefreshesFailed", 0, "GreaterThanThreshold"]);
    const bytes = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "-bytes-near-cutoff").inputs;
    expect(bytes.namespace).to.equal("AWS/Athena");
    expect(bytes.metricName).to.equal("ProcessedBytes");
    expect(bytes.statistic).to.equal("Maximum");
    expect(bytes.threshold).to.equal(Math.floor(0.8 * 100 * 1024 * 1024));
    expect(bytes.dimensions).to.deep.include({ WorkGroup: run.one("aws:athena/workgroup:Workgroup").state.name });
    expect(bytes.alarmActions).to.have.length(1);
  });

  it("follows reportSchedule and bytesScannedAlarmPercent, and creates no schedule or scheduler role when off", async () => {
    const custom = await runProgram("dev", { reportSchedule: "rate(6 hours)", bytesScannedAlarmPercent: "50" });
    expect(custom.one("aws:scheduler/schedule:Schedule").inputs.scheduleExpression).to.equal("rate(6 hours)");
    expect(custom.one("aws:cloudwatch/metricAlarm:MetricAlarm", "-bytes-near-cutoff").inputs.threshold).to.equal(50 * 1024 * 1024);
    const off = await runProgram("dev", { reportSchedule: "off" });
    expect(off.ofType("aws:scheduler/schedule:Schedule")).to.deep.equal([]);
    expect(off.resources.filter((r) => r.name.endsWith("-refresh-role"))).to.deep.equal([]);
  });
});
