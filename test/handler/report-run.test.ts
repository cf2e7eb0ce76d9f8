import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from "@aws-sdk/client-athena";
import { mockClient } from "aws-sdk-client-mock";
import { expect } from "chai";
import { athenaEngine } from "../../handler/aws/athena-engine";
import { NO_DEADLINE, QueryEngine, SILENT_TELEMETRY } from "../../handler/core/ports";
import { runReports } from "../../handler/core/report-run";
import { CSV_BOM, PREVIEW_ROWS, ReportDocument } from "../../handler/core/results";
import { reportNamed } from "../../handler/reports/registry";
import { MemoryStore } from "../support/memory-store";

const metrics = reportNamed("facility-metrics");
const raw = (i: number) => [`F${String(i).padStart(5, "0")}`, `Facility ${i}`, String(i), "2", i % 2 ? null : "2027-01-01"];

/** A store that counts the bytes each streamed object has received so far. */
class CountingStore extends MemoryStore {
  readonly received = new Map<string, number>();
  override async putStream(key: string, body: AsyncIterable<Uint8Array>, contentType: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of body) {
      chunks.push(Buffer.from(c));
      this.received.set(key, (this.received.get(key) ?? 0) + c.length);
    }
    this.objects.set(key, { body: Buffer.concat(chunks), contentType });
  }
}

describe("report run: results of any size", () => {
  it("writes a 2,500-row result a page at a time: rows reach the store before the engine reads the next page", async () => {
    const store = new CountingStore();
    const seenBeforePage: number[] = [];
    const jsonOf = () => [...store.received].find(([k]) => k.endsWith(".json"))?.[1] ?? 0;
    const engine: QueryEngine = {
      name: "paged",
      run: () =>
        Promise.resolve({
          executionId: "q1",
          columns: metrics.columns.map((c) => c.name),
          rows: (async function* () {
            for (let p = 0; p < 3; p++) {
              // Let the writer hand the previous page on before this one is produced.
              await new Promise((r) => setImmediate(r));
              seenBeforePage.push(jsonOf());
              yield Array.from({ length: p < 2 ? 1000 : 500 }, (_, i) => raw(p * 1000 + i));
            }
          })(),
        }),
    };
    const run = await runReports([metrics], { asOf: "2026-11-27", monthsAhead: 6 }, ["a.ndjson"], {
      output: store,
      engine,
      telemetry: SILENT_TELEMETRY,
      deadline: NO_DEADLINE,
      now: () => new Date("2026-11-27T09:00:00Z"),
    });

    expect(seenBeforePage[1], "page 1 streamed before page 2 was read").to.be.greaterThan(1000 * 40);
    expect(seenBeforePage[2]).to.be.greaterThan(seenBeforePage[1] + 1000 * 40);
    const written = run.reports[0];
    expect(written.rows).to.equal(2500);
    expect(written.document.results).to.have.length(PREVIEW_ROWS);
    expect(written.document.result_count).to.equal(2500);

    const doc = JSON.parse(store.text(written.jsonKey)) as ReportDocument;
    expect(doc.result_count).to.equal(2500);
    expect(doc.results).to.have.length(2500);
    expect(doc.results[2499]).to.deep.equal({
      facility_id: "F02499",
      facility_name: "Facility 2499",
      employee_count: 2499,
      number_of_offered_services: 2,
      expiry_date_of_first_accreditation: null,
    });
    expect(doc.query_execution_id).to.equal("q1");
    const csv = store.text(written.csvKey);
    expect(csv.startsWith(CSV_BOM)).to.equal(true);
    expect(csv.split("\r\n").filter(Boolean)).to.have.length(2501);
    expect(store.text("reports/facility-metrics/latest.json")).to.equal(store.text(written.jsonKey));
    expect(store.text("reports/facility-metrics/latest.csv")).to.equal(csv);
  });

  it("writes an empty result as valid JSON with zero rows", async () => {
    const store = new MemoryStore();
    const engine: QueryEngine = { name: "empty", run: () => Promise.resolve({ executionId: "q0", columns: metrics.columns.map((c) => c.name), rows: [] }) };
    const run = await runReports([metrics], { asOf: "2026-11-27", monthsAhead: 6 }, [], {
      output: store,
      engine,
      telemetry: SILENT_TELEMETRY,
      deadline: NO_DEADLINE,
      now: () => new Date("2026-11-27T09:00:00Z"),
    });
    const doc = JSON.parse(store.text(run.reports[0].jsonKey)) as ReportDocument;
    expect([doc.result_count, doc.results]).to.deep.equal([0, []]);
  });
});

describe("Athena adapter: result pages", () => {
  it("reads the first page to learn the columns, and each further page only when the rows are consumed", async () => {
    const mock = mockClient(AthenaClient);
    const tokens: Array<string | undefined> = [];
    try {
      mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: "q" });
      mock.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: "SUCCEEDED" }, Statistics: {} } });
      mock.on(GetQueryResultsCommand).callsFake((input: { NextToken?: string }) => {
        tokens.push(input.NextToken);
        const n = input.NextToken ? Number(input.NextToken) : 0;
        const header = n === 0 ? [{ Data: [{ VarCharValue: "x" }] }] : [];
        return Promise.resolve({
          ResultSet: { ResultSetMetadata: { ColumnInfo: [{ Name: "x" }] }, Rows: [...header, { Data: [{ VarCharValue: `row${n}` }] }] },
          NextToken: n < 2 ? String(n + 1) : undefined,
        });
      });
      const engine = athenaEngine(new AthenaClient({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } }), {
        workgroup: "w",
        database: "d",
        sleep: () => Promise.resolve(),
      });
      const result = await engine.run({ name: "r", sql: "SELECT x", params: [], token: "t".repeat(64), deadline: NO_DEADLINE });
      expect(result.columns).to.deep.equal(["x"]);
      expect(tokens).to.deep.equal([undefined]);
      const rows: unknown[] = [];
      for await (const page of result.rows as AsyncIterable<unknown[][]>) rows.push(...page.map((r) => r[0]));
      expect(rows).to.deep.equal(["row0", "row1", "row2"]);
      expect(tokens).to.deep.equal([undefined, "1", "2"]);
    } finally {
      mock.restore();
    }
  });
});
