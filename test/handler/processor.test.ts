import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";
import { ReportDocument } from "../../handler/core/results";
import { reportNamed } from "../../handler/reports/registry";
import { athenaError, s3Error } from "../support/twin";
import { OUTPUT, ProcessorHarness, RAW, SAMPLE_DIR, SAMPLE_FILES, s3EventBody, sqsRecord } from "../support/processor-harness";

const latest = (h: ProcessorHarness, report: string) => h.json<ReportDocument>(`reports/${report}/latest.json`);
const sqlOf = (name: string) => reportNamed(name).sql;

describe("processor Lambda (S3, Athena and SQS faked at the SDK)", () => {
  let h: ProcessorHarness;
  beforeEach(() => {
    h = new ProcessorHarness();
  });
  afterEach(() => h.restore());

  it("curates every accepted shape and writes JSON and CSV per report, one query per report per batch", async () => {
    const records = SAMPLE_FILES.map((f) => h.uploadSample(f));
    const res = await h.invoke(records);

    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.s3.keys(OUTPUT, "curated/")).to.have.length(4);
    expect(h.s3.keys(OUTPUT, "quarantine/")).to.deep.equal([]);
    expect(h.athena.started).to.have.length(3);

    const curated = gunzipSync(h.s3.get(OUTPUT, h.derivedKey("curated", "incoming/sample_data.json"))!.body)
      .toString()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(curated.map((r) => r.facility_id)).to.deep.equal(["F006", "F007", "F001"]);
    expect(curated[0]).to.include({ ingest_source_key: "incoming/sample_data.json", ingest_line: 3 });
    expect(curated[0].ingest_time).to.match(/^2026-11-27T08:00:0\d\.000Z$/);

    const byState = latest(h, "accreditation-by-state");
    expect(byState.results).to.deep.equal([
      { state: "FL", accredited_facilities: 2, total_employees: 210, active_accreditations: 2 },
      { state: "TX", accredited_facilities: 2, total_employees: 850, active_accreditations: 3 },
      { state: "CA", accredited_facilities: 1, total_employees: 1200, active_accreditations: 2 },
      { state: "NY", accredited_facilities: 1, total_employees: 980, active_accreditations: 1 },
    ]);
    expect(byState).to.include({ report: "accreditation-by-state", engine: "athena", result_count: 4, as_of: "2026-11-27" });
    expect(byState.query_execution_id).to.match(/^qe-\d+$/);
    expect(byState.source_files).to.have.members(SAMPLE_FILES.map((f) => `incoming/${f}`));
    // Bytes scanned are the current state's (compressed) sizes; Athena bills at least 10 MB a query.
    const currentBytes = h.s3.keys(OUTPUT, "current/").reduce((n, k) => n + h.s3.get(OUTPUT, k)!.body.length, 0);
    expect(byState.statistics).to.deep.equal({ bytes_scanned: currentBytes, engine_execution_ms: 420, estimated_cost_usd: 0.000052 });
    expect(h.s3.text(OUTPUT, "reports/accreditation-by-state/latest.csv")).to.equal(
      "\uFEFFas_of,state,accredited_facilities,total_employees,active_accreditations\r\n" +
        "2026-11-27,FL,2,210,2\r\n2026-11-27,TX,2,850,3\r\n2026-11-27,CA,1,1200,2\r\n2026-11-27,NY,1,980,1\r\n",
    );

    const expiring = latest(h, "expiring-accreditations");
    expect(expiring.parameters).to.deep.equal({ as_of: "2026-11-27", months_ahead: 6, horizon: "2027-05-27" });
    expect(expiring.results.map((r) => [r.accreditation_id, r.days_remaining])).to.deep.equal([
      ["JC-1004", 0],
      ["JC-1006", 44],
      ["JC-1001", 108],
      ["JC-1003", 181],
    ]);
    expect(latest(h, "facility-metrics").result_count).to.equal(9);
    for (const r of ["accreditation-by-state", "facility-metrics", "expiring-accreditations"]) {
      expect(h.s3.keys(OUTPUT, `reports/${r}/runs/2026-11-27/`).map((k) => k.replace(/.*\./, ""))).to.deep.equal(["csv", "json"]);
    }
  });

  it("produces the same outputs and no extra query or object when the same batch is delivered twice", async () => {
    const records = SAMPLE_FILES.map((f) => h.uploadSample(f));
    await h.invoke(records);
    const snapshot = new Map(h.s3.keys(OUTPUT).map((k) => [k, h.s3.text(OUTPUT, k)]));
    const res = await h.invoke(records);
    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.athena.started).to.have.length(3);
    expect(h.s3.keys(OUTPUT)).to.deep.equal([...snapshot.keys()]);
    for (const [k, v] of snapshot) if (!k.endsWith(".gz")) expect(h.s3.text(OUTPUT, k), k).to.equal(v);
  });

  it("lets the later of two uploads in the same second win, by the S3 event time, whatever the key order", async () => {
    const record = (employees: number) =>
      JSON.stringify({
        facility_id: "F1",
        facility_name: "One",
        location: { address: "1 Main St", city: "Austin", state: "TX", zip: "73301" },
        employee_count: employees,
        services: [],
        labs: [],
        accreditations: [],
      });
    // LastModified has one-second resolution: both uploads carry the same one.
    const second = new Date("2026-11-27T08:00:05.000Z");
    const uploads = [
      { key: "incoming/z-first.ndjson", employees: 100, eventTime: "2026-11-27T08:00:05.120Z" },
      { key: "incoming/a-second.ndjson", employees: 200, eventTime: "2026-11-27T08:00:05.870Z" },
    ];
    const records = uploads.map((u) => {
      const stored = h.s3.store(RAW, u.key, `${record(u.employees)}\n`);
      stored.lastModified = second;
      return sqsRecord(
        JSON.stringify({
          Records: [
            {
              eventVersion: "2.1",
              eventSource: "aws:s3",
              eventName: "ObjectCreated:Put",
              eventTime: u.eventTime,
              s3: { bucket: { name: RAW }, object: { key: u.key, versionId: stored.versionId, sequencer: "0A" } },
            },
          ],
        }),
      );
    });
    expect((await h.invoke(records)).batchItemFailures).to.deep.equal([]);
    expect(latest(h, "facility-metrics").results.map((r) => r.employee_count)).to.deep.equal([200]);
  });

  it("curates the rest of an upload holding a record 5,000 levels deep or a lone surrogate, instead of retrying it into the DLQ", async () => {
    const bad = ["deep-nesting-5000.ndjson", "lone-surrogate.ndjson"];
    const res = await h.invoke(bad.map((f) => h.upload(`incoming/${f}`, fs.readFileSync(path.join(SAMPLE_DIR, "bad", f)))));
    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.deadLetters).to.deep.equal([]);
    for (const f of bad) {
      expect(
        h.ndjson(h.derivedKey("quarantine", `incoming/${f}`)).map((q) => q.line),
        f,
      ).to.deep.equal([1]);
      expect(
        gunzipSync(h.s3.get(OUTPUT, h.derivedKey("curated", `incoming/${f}`))!.body)
          .toString()
          .trim()
          .split("\n"),
        f,
      ).to.have.length(1);
    }
    expect(latest(h, "facility-metrics").results.map((r) => r.facility_id)).to.deep.equal(["B2"]);
  });

  it("acknowledges S3's test event and does nothing else", async () => {
    const res = await h.invoke([sqsRecord(JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent", Bucket: RAW }))]);
    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.athena.started).to.deep.equal([]);
    expect(h.s3.keys(OUTPUT)).to.deep.equal([]);
  });

  it("decodes URL-encoded keys (+ is a space) before reading the upload", async () => {
    const key = "incoming/Regional Facilities (2026)+Q4.json";
    h.s3.store(RAW, key, '[{"facility_id":"X1","facility_name":"A","location":{"address":"a","city":"b","state":"ca","zip":"90001"},"employee_count":1}]');
    const body = s3EventBody([{ key }]);
    expect(body).to.include("Regional+Facilities+%282026%29%2BQ4.json");
    const res = await h.invoke([sqsRecord(body)]);
    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.s3.keys(OUTPUT, "curated/")).to.deep.equal([h.derivedKey("curated", key)]);
    expect(latest(h, "facility-metrics").results).to.deep.equal([
      { facility_id: "X1", facility_name: "A", employee_count: 1, number_of_offered_services: 0, expiry_date_of_first_accreditation: null },
    ]);
  });

  it("quarantines malformed and invalid lines with line and reason while the valid rows still count", async () => {
    const good = (id: string) =>
      JSON.stringify({
        facility_id: id,
        facility_name: "N",
        location: { address: "a", city: "c", state: "TX", zip: "75001" },
        employee_count: 5,
        services: [],
        labs: [],
        accreditations: [{ accreditation_body: "JC", accreditation_id: `J-${id}`, valid_until: "2027-01-01" }],
      });
    const text = [
      good("G1"),
      "{not json",
      JSON.stringify({ facility_id: "B1", facility_name: "N", location: { address: "a", city: "c", state: "ZZ", zip: "7" }, employee_count: -1 }),
      good("G2"),
    ].join("\n");
    const res = await h.invoke([h.upload("batch/mixed.ndjson", text)]);
    expect(res.batchItemFailures).to.deep.equal([]);
    const q = h.ndjson(h.derivedKey("quarantine", "batch/mixed.ndjson"));
    expect(q.map((e) => e.line)).to.deep.equal([2, 3]);
    expect(q[0].errors).to.deep.equal([{ field: "", reason: "line 2: the line ends before its JSON value is complete" }]);
    expect(q[0].raw).to.equal("{not json");
    expect(q[1].errors).to.deep.equal([
      { field: "location.state", reason: '"ZZ": use a two-letter US state or territory code (e.g. CA, NY, PR)' },
      { field: "location.zip", reason: '"7": write a US ZIP code as 5 digits, optionally -4 more (e.g. 97201 or 97201-1234)' },
      { field: "employee_count", reason: "-1: must be at least 0" },
    ]);
    expect(latest(h, "accreditation-by-state").results).to.deep.equal([
      { state: "TX", accredited_facilities: 2, total_employees: 10, active_accreditations: 2 },
    ]);
  });

  it("drops the curated object when the upload is deleted, and the next reports no longer count it", async () => {
    await h.invoke([h.uploadSample("facilities.ndjson"), h.uploadSample("facilities-array.json")]);
    expect(latest(h, "facility-metrics").result_count).to.equal(5);
    const res = await h.invoke([h.remove("incoming/facilities-array.json")]);
    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.s3.keys(OUTPUT, "curated/")).to.deep.equal([h.derivedKey("curated", "incoming/facilities.ndjson")]);
    expect(latest(h, "facility-metrics").results.map((r) => r.facility_id)).to.deep.equal(["F001", "F002", "F003"]);
  });

  it("treats a removal event for a key that was uploaded again as the new upload (events can arrive out of order)", async () => {
    const created = h.uploadSample("facilities.ndjson");
    const removed = sqsRecord(s3EventBody([{ key: "incoming/facilities.ndjson", removed: true }]));
    const res = await h.invoke([removed, created]);
    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.s3.keys(OUTPUT, "curated/")).to.deep.equal([h.derivedKey("curated", "incoming/facilities.ndjson")]);
  });

  it("counts a facility uploaded twice once, taking its latest upload", async () => {
    await h.invoke([h.uploadSample("facilities.ndjson")]);
    const changed = h.s3.text(RAW, "incoming/facilities.ndjson").split("\n")[0].replace('"employee_count":1200', '"employee_count":1300');
    await h.invoke([h.upload("later/update.ndjson", changed)]);
    const rows = latest(h, "facility-metrics").results;
    expect(rows.filter((r) => r.facility_id === "F001")).to.deep.equal([
      {
        facility_id: "F001",
        facility_name: "Mercy General Hospital",
        employee_count: 1300,
        number_of_offered_services: 3,
        expiry_date_of_first_accreditation: "2027-03-15",
      },
    ]);
  });

  it("pages through results beyond 1,000 rows", async () => {
    const lines = Array.from({ length: 1500 }, (_, i) =>
      JSON.stringify({
        facility_id: `P${String(i).padStart(5, "0")}`,
        facility_name: "Clinic",
        location: { address: "a", city: "c", state: "OH", zip: "43004" },
        employee_count: i,
      }),
    );
    await h.invoke([h.upload("big/many.ndjson", lines.join("\n"))]);
    const metrics = latest(h, "facility-metrics");
    expect(metrics.result_count).to.equal(1500);
    expect(metrics.results[1499]).to.deep.include({ facility_id: "P01499", employee_count: 1499 });
    expect(h.athena.resultPages).to.be.at.least(4); // 2 pages for facility-metrics, 1 each for the others
  });

  describe("Athena faults", () => {
    it("rides out throttled StartQueryExecution calls with backoff, without a duplicate query", async () => {
      h.athena.failStarts(
        () => athenaError("TooManyRequestsException"),
        () => athenaError("ThrottlingException"),
      );
      const res = await h.invoke([h.uploadSample("facilities.ndjson")]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.athena.started).to.have.length(3);
    });

    it("returns the batch for retry when throttling outlasts the backoff, and does not dead-letter it", async () => {
      h.athena.failStarts(...Array.from({ length: 12 }, () => () => athenaError("TooManyRequestsException")));
      const record = h.uploadSample("facilities.ndjson");
      const res = await h.invoke([record]);
      expect(res.batchItemFailures).to.deep.equal([{ itemIdentifier: record.messageId }]);
      expect(h.deadLetters).to.deep.equal([]);
    });

    it("re-runs a query Athena failed transiently under a derived token, once", async () => {
      h.athena.outcomeFor = (sql, attempt) =>
        sql === sqlOf("facility-metrics") && attempt === 0
          ? { state: "FAILED", reason: "INTERNAL_ERROR_QUERY_ENGINE", category: 1, retryable: true }
          : { state: "SUCCEEDED" };
      const res = await h.invoke([h.uploadSample("facilities.ndjson")]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.athena.started).to.have.length(4);
      expect(latest(h, "facility-metrics").result_count).to.equal(3);
      // A redelivery finds both executions by their tokens and starts nothing new.
      await h.invoke([sqsRecord(s3EventBody([{ key: "incoming/facilities.ndjson" }]))]);
      expect(h.athena.started).to.have.length(4);
    });

    it("sends the batch to the dead-letter queue with the reason when a query fails permanently", async () => {
      h.athena.outcomeFor = (sql) =>
        sql === sqlOf("expiring-accreditations")
          ? { state: "FAILED", reason: "SYNTAX_ERROR: line 1:8: Column 'x' cannot be resolved", category: 2, retryable: false }
          : { state: "SUCCEEDED" };
      const record = h.uploadSample("facilities.ndjson");
      const res = await h.invoke([record]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.deadLetters).to.have.length(1);
      const dl = h.deadLetters[0];
      expect(dl.MessageBody).to.equal(record.body);
      expect(dl.MessageAttributes?.errorClass.StringValue).to.equal("permanent");
      expect(dl.MessageAttributes?.reason.StringValue).to.match(/expiring-accreditations: report expiring-accreditations: query qe-\d+ failed: SYNTAX_ERROR/);
    });

    it("stops polling before the deadline, then the retried invocation resumes the same executions", async () => {
      h.athena.outcomeFor = () => ({ state: "RUNNING" });
      const record = h.uploadSample("facilities.ndjson");
      const first = await h.invoke([record], 20_000);
      expect(first.batchItemFailures).to.deep.equal([{ itemIdentifier: record.messageId }]);
      expect(h.athena.started).to.have.length(3);
      expect(h.s3.keys(OUTPUT, "reports/")).to.deep.equal([]);
      expect(h.deadLetters).to.deep.equal([]);
      h.athena.finishRunning();
      const second = await h.invoke([sqsRecord(record.body, 2)]);
      expect(second.batchItemFailures).to.deep.equal([]);
      expect(h.athena.started, "no second start").to.have.length(3);
      expect(latest(h, "facility-metrics").result_count).to.equal(3);
    });

    it("treats a query cancelled by the bytes-scanned cutoff as permanent", async () => {
      h.athena.outcomeFor = () => ({ state: "CANCELLED", reason: "Query exhausted the bytes scanned limit of the workgroup" });
      await h.invoke([h.uploadSample("facilities.ndjson")]);
      expect(h.deadLetters).to.have.length(1);
      expect(h.deadLetters[0].MessageAttributes?.reason.StringValue).to.match(/bytes-scanned cutoff/);
    });
  });

  describe("messages", () => {
    it("dead-letters a message that is not an S3 event, with the reason, and processes the rest", async () => {
      const junk = sqsRecord("hello");
      const good = h.uploadSample("facilities.ndjson");
      const res = await h.invoke([junk, good]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.deadLetters.map((d) => d.MessageAttributes?.reason.StringValue)).to.deep.equal(["not an upload event: the message body is not JSON"]);
      expect(h.s3.keys(OUTPUT, "curated/")).to.have.length(1);
    });

    it("dead-letters with 'retries-exhausted' on the last receive instead of letting SQS drop the reason", async () => {
      h.s3.failNext("GetObject", () => s3Error("SlowDown", 503), { key: "incoming/facilities.ndjson" });
      const record = h.uploadSample("facilities.ndjson");
      const res = await h.invoke([sqsRecord(record.body, 3)]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.deadLetters[0].MessageAttributes?.errorClass.StringValue).to.equal("retries-exhausted");
      expect(h.deadLetters[0].MessageAttributes?.reason.StringValue).to.match(/SlowDown/);
    });

    it("leaves the message to SQS when sending it to the dead-letter queue fails", async () => {
      h.failDeadLetterSends = 1;
      const junk = sqsRecord("[]");
      const res = await h.invoke([junk]);
      expect(res.batchItemFailures).to.deep.equal([{ itemIdentifier: junk.messageId }]);
    });

    it("retries only the message whose upload failed", async () => {
      h.s3.failNext("GetObject", () => s3Error("SlowDown", 503), { key: "incoming/facilities-array.json" });
      const ok = h.uploadSample("facilities.ndjson");
      const bad = h.uploadSample("facilities-array.json");
      const res = await h.invoke([ok, bad]);
      expect(res.batchItemFailures).to.deep.equal([{ itemIdentifier: bad.messageId }]);
      expect(h.s3.keys(OUTPUT, "curated/")).to.deep.equal([h.derivedKey("curated", "incoming/facilities.ndjson")]);
    });
  });
});
