import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  allowScripts?: Record<string, boolean>;
  engines?: { node?: string };
};

describe("a clean install", () => {
  it("settles every dependency install script in package.json allowScripts (npm 11.16+ reviews them)", function () {
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const listed = spawnSync(npm, ["install-scripts", "ls"], { cwd: root, encoding: "utf8" });
    if (listed.status !== 0 && /Unknown command|not a valid|unknown/i.test(`${listed.stdout}${listed.stderr}`)) {
      console.log(`      skipped: npm ${spawnSync(npm, ["--version"], { encoding: "utf8" }).stdout.trim()} has no install-scripts command (npm 11.16+)`);
      this.skip();
    }
    expect(`${listed.stdout}${listed.stderr}`).to.include("No packages with unreviewed install scripts");
  });

  it("denies the three scripts that only fetch unused Pulumi plugins or print a version hint", () => {
    // Why each is denied is written in the README ("Install scripts").
    expect(pkg.allowScripts).to.deep.equal({ "@pulumi/docker-build": false, "@pulumi/docker": false, protobufjs: false });
  });

  it("keeps the AWS SDK's Node version warning out of test output (the README states the supported versions)", () => {
    // A child process inherits the test environment, as the CLI and serialization tests' children do.
    const child = spawnSync(process.execPath, ["-e", "const { S3Client } = require('@aws-sdk/client-s3'); new S3Client({ region: 'us-east-1' });"], {
      cwd: root,
      encoding: "utf8",
      env: process.env,
    });
    expect(child.status).to.equal(0);
    expect(child.stderr).to.not.include("NodeVersionSupportWarning");
  });

  it("states in the README the Node versions package.json accepts", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const minimum = pkg.engines?.node?.replace(/^>=/, "");
    expect(minimum).to.match(/^\d+\.\d+$/);
    const section = readme.split("\n### Supported Node.js versions")[1]?.split("\n## ")[0] ?? "";
    expect(section, 'README section "Supported Node.js versions"').to.include(`Node.js ${minimum}`);
  });
});
