import { expect } from "chai";
import { execFileSync } from "child_process";
import * as path from "path";

describe("npm run bench", () => {
  it("starts: its script and every module it measures load, and --help describes the modes", () => {
    const root = path.resolve(__dirname, "..");
    const out = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(root, "bench/run.ts"), "--help"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(out).to.include("--full").and.to.include("--smoke");
  });
});
