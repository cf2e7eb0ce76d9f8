import { expect } from "chai";
import { athenaLiteral, pollDelays } from "../../handler/aws/athena-engine";
import { CSV_BOM, estimatedCostUsd, reportCsv, toCsv, typedRows } from "../../handler/core/results";
import { addMonths, bindParameters, placeholderCount, REPORTS, reportNamed } from "../../handler/reports/registry";

describe("report registry", () => {
  it("declares one parameter per placeholder in every report", () => {
    for (const r of REPORTS) expect(placeholderCount(r.sql), r.name).to.equal(r.parameters.length);
  });

  it("never builds SQL from values: parameters are bound, the SQL text is constant", () => {
    for (const r of REPORTS) {
      expect(r.sql, r.name).to.not.match(/\$\{|2026-|'\d{4}-\d{2}-\d{2}'/);
    }
  });

  it("avoids arr[i], which fails the whole Athena query on an empty array", () => {
    for (const r of REPORTS) expect(r.sql.replace(/--[^\n]*/g, ""), r.name).to.not.match(/\w\[\s*\w+\s*\]/);
  });

  it("binds the as-of date and the horizon N months later", () => {
    expect(bindParameters(reportNamed("expiring-accreditations"), { asOf: "2026-11-27", monthsAhead: 6 })).to.deep.equal([
      { type: "date", value: "2026-11-27" },
      { type: "date", value: "2026-11-27" },
      { type: "date", value: "2027-05-27" },
    ]);
  });

  it("adds calendar months, clamping to the end of a shorter month", () => {
    expect(addMonths("2026-08-31", 6)).to.equal("2027-02-28");
    // Years below 100 are not shifted to 19xx (Date.UTC's two-digit-year rule).
    expect(addMonths("0099-11-30", 3)).to.equal("0100-02-28");
    expect(addMonths("0003-08-31", 6)).to.equal("0004-02-29");
    expect(addMonths("2027-08-31", 6)).to.equal("2028-02-29");
    expect(addMonths("2026-11-27", 12)).to.equal("2027-11-27");
    expect(addMonths("2026-01-31", 1)).to.equal("2026-02-28");
  });
});

describe("report results", () => {
  const report = reportNamed("facility-metrics");

  it("types raw engine values by the report's columns (Athena sends every value as text)", () => {
    const rows = typedRows(report, {
      executionId: "q",
      columns: report.columns.map((c) => c.name),
      rows: [
        ["F1", "A", "12", "3", null],
        ["F2", "B", 5n, 0, "2027-01-01"],
      ],
    });
    expect(rows).to.deep.equal([
      { facility_id: "F1", facility_name: "A", employee_count: 12, number_of_offered_services: 3, expiry_date_of_first_accreditation: null },
      { facility_id: "F2", facility_name: "B", employee_count: 5, number_of_offered_services: 0, expiry_date_of_first_accreditation: "2027-01-01" },
    ]);
  });

  it("refuses results whose columns differ from the declared ones", () => {
    expect(() => typedRows(report, { executionId: "q", columns: ["facility_id"], rows: [] })).to.throw(/returned columns \[facility_id\], expected/);
  });

  it("refuses a value that does not fit its column type", () => {
    expect(() => typedRows(report, { executionId: "q", columns: report.columns.map((c) => c.name), rows: [["F", "A", "many", "1", null]] })).to.throw(
      /employee_count \(integer\) got "many"/,
    );
  });

  it("refuses a cell that is not a scalar instead of writing [object Object] into a text column", () => {
    expect(() => typedRows(report, { executionId: "q", columns: report.columns.map((c) => c.name), rows: [["F", { name: "A" }, "1", "1", null]] })).to.throw(
      /facility_name \(string\) got a value of type object/,
    );
  });

  it("writes RFC 4180 CSV: quotes, commas and line breaks escaped, NULL empty", () => {
    const csv = toCsv(
      [
        { name: "a", type: "string" },
        { name: "b", type: "integer" },
      ],
      [
        { a: 'Say "hi", then\nleave', b: null },
        { a: " padded", b: 3 },
      ],
    );
    expect(csv).to.equal('a,b\r\n"Say ""hi"", then\nleave",\r\n" padded",3\r\n');
  });

  it("puts the as-of date in a leading as_of column of a date-dependent report's CSV, so the file stands alone", () => {
    const csv = reportCsv({
      as_of: "2026-11-27",
      parameters: { as_of: "2026-11-27", months_ahead: 6, horizon: "2027-05-27" },
      columns: [
        { name: "facility_id", type: "string" },
        { name: "days_remaining", type: "integer" },
      ],
      results: [{ facility_id: "F1", days_remaining: 3 }],
    });
    expect(csv).to.equal(`${CSV_BOM}as_of,facility_id,days_remaining\r\n2026-11-27,F1,3\r\n`);
  });

  it("leaves the as_of column out of a report that does not depend on the date", () => {
    const csv = reportCsv({ as_of: "2026-11-27", parameters: {}, columns: [{ name: "facility_id", type: "string" }], results: [{ facility_id: "F1" }] });
    expect(csv).to.equal(`${CSV_BOM}facility_id\r\nF1\r\n`);
  });

  it("starts every report CSV with a UTF-8 byte order mark, so Excel shows accented names as written", () => {
    const csv = reportCsv({
      as_of: "2026-11-27",
      parameters: {},
      columns: [{ name: "facility_name", type: "string" }],
      results: [{ facility_name: "Clínica San José" }],
    });
    const bytes = Buffer.from(csv, "utf8");
    expect([...bytes.subarray(0, 3)]).to.deep.equal([0xef, 0xbb, 0xbf]);
    expect(bytes.includes(Buffer.from("Clínica San José", "utf8"))).to.equal(true);
  });

  it("neutralises text cells a spreadsheet would run as a formula (OWASP CSV injection), never numbers", () => {
    const columns = [
      { name: "name", type: "string" as const },
      { name: "n", type: "integer" as const },
      { name: "d", type: "date" as const },
    ];
    const rows = ['=HYPERLINK("http://x")', "+1", "-5", "@SUM(A1)", "\tx", "\rx", "a=b", "ok"].map((name, i) => ({ name, n: -i, d: "2026-11-27" }));
    expect(toCsv(columns, rows).split("\r\n").slice(1, -1)).to.deep.equal([
      `"'=HYPERLINK(""http://x"")",0,2026-11-27`,
      `"'+1",-1,2026-11-27`,
      `"'-5",-2,2026-11-27`,
      `"'@SUM(A1)",-3,2026-11-27`,
      `"'\tx",-4,2026-11-27`,
      `"'\rx",-5,2026-11-27`,
      "a=b,-6,2026-11-27",
      "ok,-7,2026-11-27",
    ]);
  });

  it("estimates Athena cost at $5/TB with the 10 MB minimum", () => {
    expect(estimatedCostUsd(1)).to.equal(estimatedCostUsd(10 * 1024 * 1024));
    expect(estimatedCostUsd(1e12)).to.equal(5);
    expect(estimatedCostUsd(undefined)).to.equal(null);
  });
});

describe("Athena adapter details", () => {
  it("renders parameters as SQL literals, doubling quotes so a value cannot end its literal", () => {
    expect(athenaLiteral({ type: "date", value: "2026-11-27" })).to.equal("'2026-11-27'");
    expect(athenaLiteral({ type: "date", value: "x' OR '1'='1" })).to.equal("'x'' OR ''1''=''1'");
    expect(athenaLiteral({ type: "integer", value: 6 })).to.equal("6");
  });

  it("polls at most 400 ms apart for the first 4 s, then backs off with the elapsed time up to 5 s", () => {
    const next = pollDelays();
    const delays: number[] = [];
    let elapsed = 0;
    while (elapsed < 60_000) {
      const d = next(elapsed);
      delays.push(d);
      elapsed += d;
    }
    expect(delays[0]).to.equal(100);
    expect(delays[1]).to.equal(125);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).to.be.at.least(delays[i - 1]);
    expect(Math.max(...delays)).to.equal(5000);
    const callsBefore = (ms: number) => {
      let t = 0;
      let calls = 0;
      const again = pollDelays();
      while (t < ms) {
        t += again(t);
        calls++;
      }
      return calls;
    };
    // At most one status call per second of query time once a query has run 20 s.
    expect(callsBefore(20_000)).to.be.at.most(20);
    expect(callsBefore(120_000)).to.be.at.most(40);
  });
});

describe("report SQL files", () => {
  it("share one definition of 'the latest record per facility' (kept inline so each file runs as-is in the Athena console)", () => {
    const latestCte = (sql: string) => sql.slice(sql.indexOf("WITH latest AS ("), sql.indexOf("WHERE recency = 1"));
    const first = latestCte(REPORTS[0].sql);
    expect(first).to.include("row_number() OVER");
    for (const r of REPORTS) expect(latestCte(r.sql), r.name).to.equal(first);
  });
});
