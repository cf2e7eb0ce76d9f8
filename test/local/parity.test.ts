import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReportDocument } from "../../handler/core/results";
import { main } from "../../handler/local/cli";
import { REPORTS } from "../../handler/reports/registry";
import { ProcessorHarness, SAMPLE_FILES } from "../support/processor-harness";

describe("local mode and the Lambda agree", () => {
  it("produce the same typed results for every report over the sample data, as of the same date", async () => {
    const h = new ProcessorHarness();
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "facility-parity-"));
    try {
      const res = await h.invoke(SAMPLE_FILES.map((f) => h.uploadSample(f)));
      expect(res.batchItemFailures).to.deep.equal([]);
      const code = await main(
        [...SAMPLE_FILES.map((f) => path.join(__dirname, "../../sample-data", f)), "--out", out, "--as-of", "2026-11-27", "--json"],
        () => undefined,
      );
      expect(code).to.equal(0);
      for (const r of REPORTS) {
        const lambda = h.json<ReportDocument>(`reports/${r.name}/latest.json`);
        const local = JSON.parse(fs.readFileSync(path.join(out, "reports", r.name, "latest.json"), "utf8")) as ReportDocument;
        expect(local.results, r.name).to.deep.equal(lambda.results);
        expect(local.columns, r.name).to.deep.equal(lambda.columns);
        expect(local.parameters, r.name).to.deep.equal(lambda.parameters);
        expect(fs.readFileSync(path.join(out, "reports", r.name, "latest.csv"), "utf8"), r.name).to.equal(
          h.s3.text("facility-output", `reports/${r.name}/latest.csv`),
        );
      }
    } finally {
      h.restore();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
