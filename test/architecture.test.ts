import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "..");

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

const importsOf = (file: string) => [...fs.readFileSync(file, "utf8").matchAll(/(?:from|require\()\s*"([^"]+)"/g)].map((m) => m[1]);

describe("module boundaries", () => {
  it("handler/ never imports infra/ or any @pulumi package", () => {
    for (const file of sources(path.join(root, "handler"))) {
      for (const spec of importsOf(file)) {
        expect(spec, path.relative(root, file)).to.not.match(/^@pulumi\//);
        expect(path.resolve(path.dirname(file), spec), path.relative(root, file)).to.not.include(`${path.sep}infra${path.sep}`);
      }
    }
  });

  it("the processing core imports no AWS SDK, DuckDB or Powertools (those live in adapters)", () => {
    for (const dir of ["handler/core", "handler/schema", "handler/reports"]) {
      for (const file of sources(path.join(root, dir))) {
        for (const spec of importsOf(file)) expect(spec, path.relative(root, file)).to.not.match(/^@aws-sdk|^@duckdb|^@aws-lambda-powertools|^aws-lambda$/);
      }
    }
  });

  it("keeps DuckDB, test and build tools out of the dependencies the Lambda archive bundles", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const runtime = Object.keys(pkg.dependencies).filter((d) => !d.startsWith("@pulumi/"));
    expect(runtime.sort()).to.deep.equal([
      "@aws-lambda-powertools/logger",
      "@aws-lambda-powertools/metrics",
      "@aws-sdk/client-athena",
      "@aws-sdk/client-s3",
      "@aws-sdk/client-sqs",
      "@aws-sdk/lib-storage",
      "ajv",
    ]);
  });
});
