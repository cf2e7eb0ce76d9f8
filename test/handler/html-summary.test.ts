import { expect } from "chai";
import type { FileOutcome } from "../../handler/core/batch";
import type { ReportRunResult, ReportWritten } from "../../handler/core/report-run";
import type { ReportDocument, Row } from "../../handler/core/results";
import { LATEST_SUMMARY_KEY, writeSummaryPage } from "../../handler/core/summary-page";
import { escapeHtml, PAGE_ROWS, renderSummaryPage, SummaryPageInput, SummaryReport } from "../../handler/reports/html";
import { REPORTS } from "../../handler/reports/registry";
import { MemoryStore } from "../support/memory-store";
import { OUTPUT, ProcessorHarness } from "../support/processor-harness";

const HOSTILE = `<script>alert("owned")</script> Clínica & "Sons" <img src=x onerror=alert(1)>`;

function report(name: string, results: Row[], parameters: Record<string, string | number> = {}): SummaryReport {
  const def = REPORTS.find((r) => r.name === name)!;
  return { report: name, description: def.description, parameters, columns: def.columns, results, result_count: results.length };
}

const byState = report(
  "accreditation-by-state",
  [
    { state: "TX", accredited_facilities: 4, total_employees: 850, active_accreditations: 5 },
    { state: "FL", accredited_facilities: 2, total_employees: 210, active_accreditations: 2 },
    { state: "NY", accredited_facilities: 1, total_employees: 980, active_accreditations: 1 },
  ],
  { as_of: "2026-11-27" },
);
const expiring = report(
  "expiring-accreditations",
  [
    {
      facility_id: "F9",
      facility_name: HOSTILE,
      state: "TX",
      accreditation_body: "Joint Commission",
      accreditation_id: "JC-9",
      valid_until: "2026-12-01",
      days_remaining: 4,
    },
    {
      facility_id: "F1",
      facility_name: "Mercy General Hospital",
      state: "CA",
      accreditation_body: "CAP",
      accreditation_id: "CAP-1",
      valid_until: "2027-03-15",
      days_remaining: 108,
    },
  ],
  { as_of: "2026-11-27", months_ahead: 6, horizon: "2027-05-27" },
);
const metrics = report("facility-metrics", [
  { facility_id: "F9", facility_name: HOSTILE, employee_count: 12000, number_of_offered_services: 3, expiry_date_of_first_accreditation: null },
]);

const input: SummaryPageInput = {
  asOf: "2026-11-27",
  generatedAt: "2026-11-27T10:00:00.000Z",
  engine: "athena",
  curatedObjects: 4,
  reports: [byState, metrics, expiring],
  uploads: [
    { file: "incoming/good.ndjson", status: "curated", accepted: 3, rejected: 0, problems: [] },
    {
      file: `incoming/${HOSTILE}.json`,
      status: "partially-curated",
      accepted: 1,
      rejected: 2,
      problems: ["truncated <b>JSON</b>"],
      quarantine: "quarantine/bad-1a2b.ndjson",
    },
  ],
  csvHrefs: { "accreditation-by-state": "accreditation-by-state/latest.csv" },
};

describe("HTML summary page", () => {
  const html = renderSummaryPage(input);

  it("escapes every value from the data, in tables, chart labels and tooltips", () => {
    expect(html).to.not.match(/<script|<img|onerror=alert\(1\)>/i);
    expect(html).to.include(escapeHtml(HOSTILE));
    expect(escapeHtml(HOSTILE)).to.equal(
      "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt; Clínica &amp; &quot;Sons&quot; &lt;img src=x onerror=alert(1)&gt;",
    );
    // The hostile facility appears in the metrics table, the expiring table, the timeline label and its tooltip.
    expect(html.split("&lt;script&gt;alert(&quot;owned&quot;)").length - 1).to.be.at.least(4);
    expect(html).to.include("truncated &lt;b&gt;JSON&lt;/b&gt;");
  });

  it("loads nothing from the network and allows no script, even one that slipped through", () => {
    expect(html).to.include(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
    const urls = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    for (const u of urls) expect(u).to.not.match(/^(?:https?:)?\/\//);
    expect(html).to.not.match(/<link|@import|url\(/);
  });

  it("states the as-of date, the engine and the number of curated files", () => {
    expect(html).to.include("<title>Facility reports as of 2026-11-27</title>");
    expect(html).to.include("As of <strong>2026-11-27</strong> &middot; produced 2026-11-27T10:00:00.000Z by athena &middot; 4 curated files");
  });

  it("draws one bar per state, as long as its share of the largest", () => {
    const bars = [...html.matchAll(/<rect x="\d+" y="\d+" width="(\d+)"/g)].map((m) => Number(m[1]));
    expect(bars).to.have.length(3);
    expect([bars[0] / bars[1], bars[0] / bars[2]]).to.deep.equal([2, 4]);
  });

  it("puts each expiring accreditation on the timeline at its date, sooner ones further left", () => {
    const due = [...html.matchAll(/<circle cx="(\d+)"/g)].map((m) => Number(m[1]));
    expect(due).to.have.length(2);
    expect(due[0]).to.be.lessThan(due[1]);
    expect(html).to.include("valid until 2026-12-01 (4 days)");
    expect(html).to.match(/class="tick">2027-01</);
    expect(html).to.include(">as of 2026-11-27</text>");
  });

  it("summarizes the run's uploads and where each one's rejects are", () => {
    expect(html).to.include("2 uploads: 4 records accepted, 2 rejected.");
    expect(html).to.include("quarantine/bad-1a2b.ndjson");
  });

  it("shows every report as a table, NULL as a dash, with a link to its CSV where given", () => {
    for (const r of REPORTS) expect(html).to.include(`<section id="${r.name}">`);
    expect(html).to.include('<td class="num">12,000</td>');
    expect(html).to.include('<span class="null">&ndash;</span>');
    expect(html).to.include('<a href="accreditation-by-state/latest.csv">CSV</a>');
  });

  it(`shows at most ${PAGE_ROWS} rows of a report and points at the CSV for the rest`, () => {
    const many = report(
      "facility-metrics",
      Array.from({ length: PAGE_ROWS + 5 }, (_, i) => ({
        facility_id: `F${i}`,
        facility_name: `Facility ${i}`,
        employee_count: i,
        number_of_offered_services: 1,
        expiry_date_of_first_accreditation: null,
      })),
    );
    const page = renderSummaryPage({ ...input, reports: [many] });
    const section = page.split('<section id="facility-metrics">')[1].split("</section>")[0];
    expect(section.split("<tr>").length - 2).to.equal(PAGE_ROWS); // less the split's head and the header row
    expect(page).to.include("5 more rows in the CSV.");
  });

  it("says so when there is nothing to chart", () => {
    const page = renderSummaryPage({ ...input, reports: [report("accreditation-by-state", []), report("expiring-accreditations", [])], uploads: [] });
    expect(page).to.include("No accredited facilities.");
    expect(page).to.include("None expire within the window.");
  });
});

describe("summary page of a report run", () => {
  const written = (name: string, results: Row[], listedAt: string): ReportWritten => {
    const def = REPORTS.find((r) => r.name === name)!;
    const document: ReportDocument = {
      report: name,
      description: def.description,
      engine: "duckdb",
      query_execution_id: "q",
      source_file: null,
      source_files: [],
      execution_time: "2026-11-27T10:00:00.000Z",
      as_of: "2026-11-27",
      parameters: {},
      inputs: { curated_objects: 1, fingerprint: "f", listed_at: listedAt },
      statistics: { bytes_scanned: null, engine_execution_ms: null, estimated_cost_usd: null },
      result_count: results.length,
      columns: def.columns,
      results,
    };
    const run = `reports/${name}/runs/2026-11-27/abc`;
    return { report: name, executionId: "q", rows: results.length, jsonKey: `${run}.json`, csvKey: `${run}.csv`, latestUpdated: true, document };
  };
  const runOf = (listedAt: string, rows: Row[]): ReportRunResult => ({
    fingerprint: "f",
    curatedObjects: 1,
    reports: [written("accreditation-by-state", rows, listedAt)],
  });
  const files: FileOutcome[] = [{ key: "incoming/a.json", status: "removed" }];
  const tx = [{ state: "TX", accredited_facilities: 1, total_employees: 5, active_accreditations: 1 }];

  it("writes the run's page and reports/latest.html, each linking the CSVs relative to itself", async () => {
    const store = new MemoryStore();
    const page = await writeSummaryPage(runOf("2026-11-27T10:00:00Z", tx), files, store);
    expect(page.runKey).to.match(/^reports\/runs\/2026-11-27\/[0-9a-f]{16}\.html$/);
    expect(page.latestKey).to.equal(LATEST_SUMMARY_KEY);
    expect(store.objects.get(page.runKey)!.contentType).to.equal("text/html; charset=utf-8");
    expect(store.text(page.runKey)).to.include('href="../../accreditation-by-state/runs/2026-11-27/abc.csv"');
    expect(store.text(LATEST_SUMMARY_KEY)).to.include('href="accreditation-by-state/latest.csv"');
    expect(page.bytes).to.equal(Buffer.byteLength(store.text(LATEST_SUMMARY_KEY)));
  });

  it("rewrites the same key when the same run is retried, so a retry leaves no second page", async () => {
    const store = new MemoryStore();
    const a = await writeSummaryPage(runOf("2026-11-27T10:00:00Z", tx), files, store);
    const b = await writeSummaryPage(runOf("2026-11-27T10:00:00Z", tx), files, store);
    expect(b.runKey).to.equal(a.runKey);
    expect([...store.objects.keys()].filter((k) => k.endsWith(".html"))).to.have.length(2);
  });

  it("never moves latest.html back to a run over an older view of the table", async () => {
    const store = new MemoryStore();
    await writeSummaryPage(runOf("2026-11-27T10:00:05Z", tx), files, store);
    const older = await writeSummaryPage(runOf("2026-11-27T10:00:00Z", []), files, store);
    expect(older.latestUpdated).to.equal(false);
    expect(store.text(LATEST_SUMMARY_KEY)).to.include("<td>TX</td>");
  });
});

describe("summary page written by the processor Lambda (S3 and Athena faked at the SDK)", () => {
  let h: ProcessorHarness;
  beforeEach(() => {
    h = new ProcessorHarness();
  });
  afterEach(() => h.restore());

  it("writes reports/latest.html and the run's page, with the batch's rejects, and the same page again on redelivery", async () => {
    const bad = `${JSON.stringify({ facility_id: "X1", facility_name: HOSTILE })}\n`;
    const records = [h.uploadSample("facilities.ndjson"), h.upload("incoming/hostile.ndjson", bad)];
    expect((await h.invoke(records)).batchItemFailures).to.deep.equal([]);
    const pages = h.s3.keys(OUTPUT, "reports/").filter((k) => k.endsWith(".html"));
    expect(pages).to.have.length(2);
    expect(pages).to.include(LATEST_SUMMARY_KEY);
    const html = h.s3.text(OUTPUT, LATEST_SUMMARY_KEY);
    expect(html).to.include("As of <strong>2026-11-27</strong>");
    expect(html).to.include("by athena");
    expect(html).to.match(/incoming\/hostile\.ndjson<\/td><td>rejected<\/td><td class="num">0<\/td><td class="num">1<\/td>/);
    expect(html).to.not.match(/<script/i);

    await h.invoke(records);
    expect(h.s3.keys(OUTPUT, "reports/").filter((k) => k.endsWith(".html"))).to.deep.equal(pages);
  });
});
