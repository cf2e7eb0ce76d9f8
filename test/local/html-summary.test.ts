import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { escapeHtml } from "../../handler/reports/html";
import { HOSTILE_NAME, runLocalWithHostileUpload } from "../support/summary-fixture";

describe("local mode writes the HTML summary", function () {
  this.timeout(60000);
  let tmp: string;
  let run: ReturnType<typeof runLocalWithHostileUpload>;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "facility-html-"));
    run = runLocalWithHostileUpload(tmp);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("prints the path of reports/latest.html, which exists", () => {
    expect(run.status, run.stderr).to.equal(0);
    const page = path.join(run.out, "reports", "latest.html");
    expect(run.stdout).to.include(`Summary page: ${path.join("out", "reports", "latest.html")}\n`);
    expect(fs.existsSync(page)).to.equal(true);
  });

  it("keeps a copy per run beside latest.html", () => {
    const runs = fs.readdirSync(path.join(run.out, "reports", "runs", "2026-11-27"));
    expect(runs).to.have.length(1);
    expect(runs[0]).to.match(/^[0-9a-f]{16}\.html$/);
  });

  it("shows the hostile facility name escaped, and the rejected record in the uploads summary", () => {
    const html = fs.readFileSync(path.join(run.out, "reports", "latest.html"), "utf8");
    expect(html).to.include(escapeHtml(HOSTILE_NAME));
    expect(html).to.not.match(/<script/i);
    expect(html).to.match(/hostile\.ndjson<\/td><td>partially-curated<\/td><td class="num">1<\/td><td class="num">1<\/td>/);
  });
});
