import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { processorFactory } from "../../handler/aws/entry";
import { processorEnv } from "../support/processor-harness";

const root = path.resolve(__dirname, "../..");

describe("the processor as CallbackFunction packages it", () => {
  let modulePath: string;
  let text: string;
  let exportName: string;

  before(async () => {
    // The same call CallbackFunction makes for a callbackFactory.
    const serialized = await pulumi.runtime.serializeFunction(processorFactory, { isFactoryFunction: true });
    text = serialized.text;
    exportName = serialized.exportName;
    const dir = path.join(root, "test/.serialized");
    fs.mkdirSync(dir, { recursive: true });
    modulePath = path.join(dir, "__index.js");
    fs.writeFileSync(modulePath, text);
  });

  it("serializes to a self-contained module that requires only packages, never local files or Pulumi", () => {
    const requires = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    expect(requires.length).to.be.greaterThan(0);
    for (const r of requires) {
      expect(r, r).to.not.match(/^\.|^\//);
      expect(r, r).to.not.match(/^@pulumi\//);
    }
    expect(text).to.include("accreditation-by-state");
    expect(requires.filter((r) => /duckdb|mocha|chai|aws-sdk-client-mock/.test(r))).to.deep.equal([]);
    // The validator arrives as generated code: the Lambda never loads Ajv's compiler.
    expect(requires).to.not.include("ajv");
  });

  it("runs one batch in a fresh Node process against the faked AWS SDK", async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...processorEnv(),
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      POWERTOOLS_METRICS_DISABLED: "true",
    };
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", path.join(root, "test/support/run-serialized.ts"), modulePath, exportName],
      { cwd: root, env, maxBuffer: 16 * 1024 * 1024 },
    );
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    expect(line, stdout).to.be.a("string");
    const result = JSON.parse(line!.slice("RESULT ".length)) as {
      response: unknown;
      started: number;
      deadLetters: unknown[];
      denied: string[];
      keys: string[];
      byState: unknown[];
    };
    expect(result.response).to.deep.equal({ batchItemFailures: [] });
    expect(result.started).to.equal(3);
    // Error messages survive serialization (a serialized `class extends Error` would lose them).
    expect(result.deadLetters).to.deep.equal(["not an upload event: the message body is not JSON"]);
    // The serialized module ran entirely within the permissions the program grants.
    expect(result.denied).to.deep.equal([]);
    expect(result.keys.filter((k) => k.startsWith("curated/"))).to.have.length(1);
    expect(result.byState).to.deep.equal([
      { state: "CA", accredited_facilities: 1, total_employees: 1200, active_accreditations: 2 },
      { state: "TX", accredited_facilities: 1, total_employees: 640, active_accreditations: 1 },
    ]);
  });
});
