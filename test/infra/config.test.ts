import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { closestKey, CONFIG_KEYS, ConfigError, parseConfig } from "../../infra/config";
import { runProgram } from "./harness";

// As Pulumi hands them over: every key set in the project's namespace, whether the program knows it or not.
const parse = (values: Record<string, string>) => parseConfig((k) => values[k], "facility-pipeline", Object.keys(values));

function problemsOf(values: Record<string, string>): string[] {
  try {
    parse(values);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
}

describe("stack config validation", () => {
  it("applies the documented defaults when nothing is set", () => {
    const c = parse({});
    expect(c).to.include({
      maxRetries: 3,
      lambdaRuntime: "nodejs22.x",
      lambdaMemoryMb: 1024,
      lambdaTimeoutSeconds: 300,
      batchSize: 50,
      batchWindowSeconds: 2,
      maxConcurrency: 4,
      athenaBytesScannedCutoffMb: 1024,
      expiringWithinMonths: 6,
      forceDestroy: false,
      enableVpc: false,
      dataClassification: "phi",
    });
    expect(c.rawBucketName).to.equal(undefined);
    expect(c.alarmEmail).to.equal(undefined);
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ["retries above 10", { maxRetries: "11" }, /facility-pipeline:maxRetries = "11": expected an integer from 0 to 10/],
    ["negative retries", { maxRetries: "-1" }, /maxRetries = "-1": expected an integer from 0 to 10/],
    ["fractional retries", { maxRetries: "2.5" }, /maxRetries = "2.5": expected a whole number/],
    ["timeout above 900 s", { lambdaTimeoutSeconds: "901" }, /lambdaTimeoutSeconds = "901": expected an integer from 1 to 900/],
    ["memory below 128 MB", { lambdaMemoryMb: "64" }, /lambdaMemoryMb = "64": expected an integer from 128 to 10240/],
    ["memory above 10240 MB", { lambdaMemoryMb: "20000" }, /lambdaMemoryMb = "20000": expected an integer from 128 to 10240/],
    ["batch size 0", { batchSize: "0" }, /batchSize = "0": expected an integer from 1 to 10000/],
    ["batch window above 300 s", { batchWindowSeconds: "301" }, /batchWindowSeconds = "301": expected an integer from 0 to 300/],
    [
      "batch over 10 without a window",
      { batchSize: "100", batchWindowSeconds: "0" },
      /batchSize = 100 needs facility-pipeline:batchWindowSeconds of at least 1/,
    ],
    ["maximum concurrency 1", { maxConcurrency: "1" }, /maxConcurrency = "1": expected an integer from 2 to 1000/],
    ["cutoff below 10 MB", { athenaBytesScannedCutoffMb: "9" }, /athenaBytesScannedCutoffMb = "9": expected an integer of at least 10/],
    ["deprecated runtime", { lambdaRuntime: "nodejs18.x" }, /lambdaRuntime = "nodejs18.x": expected one of nodejs22.x, nodejs24.x/],
    ["uppercase bucket name", { rawBucketName: "My-Bucket" }, /rawBucketName = "My-Bucket": expected a bucket name of 3-63 lowercase/],
    ["dotted bucket name", { outputBucketName: "reports.example.org" }, /outputBucketName = "reports.example.org": expected a bucket name/],
    [
      "reserved bucket suffix",
      { accessLogBucketName: "logs-s3alias" },
      /accessLogBucketName = "logs-s3alias": expected a bucket name without a prefix or suffix S3 reserves/,
    ],
    ["same name twice", { rawBucketName: "same-bucket", outputBucketName: "same-bucket" }, /must differ/],
    ["not a boolean", { forceDestroy: "yes" }, /forceDestroy = "yes": expected true or false/],
    ["bad retention", { logRetentionDays: "10" }, /logRetentionDays = "10": expected one of 1, 3, 5, 7, 14/],
    ["bad email", { alarmEmail: "oncall" }, /alarmEmail = "oncall": expected an email address/],
  ];
  for (const [what, values, message] of bad) {
    it(`rejects ${what}, naming the key, the value and what is allowed`, () => {
      const problems = problemsOf(values);
      expect(problems.join("\n")).to.match(message);
    });
  }

  it("reports every problem at once", () => {
    expect(problemsOf({ maxRetries: "99", lambdaMemoryMb: "1", lambdaRuntime: "python3.12" })).to.have.length(3);
  });

  it("accepts the edges of every range", () => {
    expect(() =>
      parse({
        maxRetries: "0",
        lambdaTimeoutSeconds: "900",
        lambdaMemoryMb: "10240",
        batchSize: "10000",
        batchWindowSeconds: "300",
        maxConcurrency: "2",
        athenaBytesScannedCutoffMb: "10",
        lambdaRuntime: "nodejs24.x",
        rawBucketName: "abc",
      }),
    ).to.not.throw();
  });

  describe("the oldest-upload alarm sits above the longest legitimate wait", () => {
    // Defaults: 2 s window, 4 receives of up to 300 s, 30 + 60 + 120 s of backoff between them.
    it("derives the threshold when left at 0: 2 + 4 x 300 + 210 = 1412 s, to the next minute", () => {
      expect(parse({}).oldestUploadAgeAlarmSeconds).to.equal(1440);
    });

    it("rejects a threshold that ordinary retries would cross, naming the minimum", () => {
      expect(problemsOf({ oldestUploadAgeAlarmSeconds: "900" })).to.deep.equal([
        "facility-pipeline:oldestUploadAgeAlarmSeconds = 900 is below 1412 s, the longest an upload can legitimately take with these settings (it would fire on ordinary retries): set at least 1412, or 0 for automatic",
      ]);
      expect(parse({ oldestUploadAgeAlarmSeconds: "1412" }).oldestUploadAgeAlarmSeconds).to.equal(1412);
    });

    it("follows the retry settings", () => {
      expect(parse({ maxRetries: "0", lambdaTimeoutSeconds: "60", batchWindowSeconds: "0", batchSize: "10" }).oldestUploadAgeAlarmSeconds).to.equal(60);
    });
  });

  it("accepts exactly the range the README's allowed column shows for each integer key", () => {
    for (const k of CONFIG_KEYS.filter((c) => c.kind === "integer")) {
      const range = /^(\d+) to (\d+)$/.exec(k.allowed) ?? /^(\d+) or more$/.exec(k.allowed);
      if (!range) continue;
      const [min, max] = [Number(range[1]), range[2] === undefined ? undefined : Number(range[2])];
      // The SQS rule ties the two: batches over 10 need a window of at least 1 s.
      const partner: Record<string, string> = k.key === "batchSize" ? { batchWindowSeconds: "1" } : k.key === "batchWindowSeconds" ? { batchSize: "10" } : {};
      const problems = (n: number) => problemsOf({ [k.key]: String(n), ...partner });
      expect(problems(min), `${k.key} = ${min}`).to.deep.equal([]);
      expect(problems(min - 1), `${k.key} = ${min - 1}`).to.have.length(1);
      if (max !== undefined) {
        expect(problems(max), `${k.key} = ${max}`).to.deep.equal([]);
        expect(problems(max + 1), `${k.key} = ${max + 1}`).to.have.length(1);
      }
    }
  });

  const misspelt: Array<[string, string, string]> = [
    ["maxRetry", "maxRetries", "pulumi config set --type int maxRetries <value>"],
    ["maxretries", "maxRetries", "pulumi config set --type int maxRetries <value>"],
    ["lambdaMemory", "lambdaMemoryMb", "pulumi config set --type int lambdaMemoryMb <value>"],
    ["timeout", "lambdaTimeoutSeconds", "pulumi config set --type int lambdaTimeoutSeconds <value>"],
    ["enableVPC", "enableVpc", "pulumi config set --type bool enableVpc <value>"],
    ["alarmEmial", "alarmEmail", "pulumi config set alarmEmail <value>"],
  ];
  for (const [typo, meant, command] of misspelt) {
    it(`rejects the unknown key ${typo}, suggesting ${meant} and the command that sets it`, () => {
      const problems = problemsOf({ [typo]: "4" });
      expect(problems).to.have.length(1);
      expect(problems[0]).to.equal(
        `facility-pipeline:${typo} is not a setting of this program; did you mean ${meant}? (\`pulumi config rm ${typo}\`, then \`${command}\`)`,
      );
    });
  }

  it("rejects an unknown key that resembles none, listing the settings instead of guessing", () => {
    const [problem] = problemsOf({ colour: "blue" });
    expect(problem).to.match(/^facility-pipeline:colour is not a setting of this program \(`pulumi config rm colour`\); the settings are rawBucketName, /);
    expect(
      closestKey(
        "colour",
        CONFIG_KEYS.map((k) => k.key),
      ),
    ).to.equal(undefined);
  });

  it("raises a pulumi.RunError, which `pulumi preview` prints without a stack trace, with how to fix it", () => {
    let error: unknown;
    try {
      parse({ maxRetries: "11" });
    } catch (e) {
      error = e;
    }
    expect(pulumi.RunError.isInstance(error)).to.equal(true);
    expect((error as Error).message)
      .to.include("--type int")
      .and.to.include("pulumi config rm <key>");
  });
});

describe("stack config read by the program (mocked Pulumi runtime)", () => {
  it("stops the program on an unknown key in the project namespace, with a RunError naming the key meant", async () => {
    let error: unknown;
    try {
      await runProgram("dev", { maxRetry: "5" });
    } catch (e) {
      error = e;
    }
    expect(pulumi.RunError.isInstance(error), String(error)).to.equal(true);
    expect((error as Error).message).to.include("facility-pipeline:maxRetry is not a setting of this program; did you mean maxRetries?");
  });

  it("leaves other namespaces alone (aws:region, aws:profile)", async () => {
    const run = await runProgram("dev", { "aws:profile": "ops" });
    expect(run.resources.length).to.be.greaterThan(40);
  });
});
