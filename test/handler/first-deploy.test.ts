import { expect } from "chai";
import { gunzipSync } from "zlib";
import { ReportDocument } from "../../handler/core/results";
import { retryDelaySeconds } from "../../handler/core/retry-schedule";
import { IdentityPolicy, processorPolicy } from "../../infra/processor-policy";
import type { SQSRecord } from "aws-lambda";
import { OUTPUT, ProcessorHarness, RAW, s3EventBody, sqsRecord } from "../support/processor-harness";
import { CUTOFF_REASON, s3Error, twinScope } from "../support/twin";

/**
 * The seam: the role the program declares, the calls the handler makes and the answers AWS gives,
 * in one test. Every test here runs on the AWS twin under the processor policy of infra/processor-policy.ts.
 */

const latest = (h: ProcessorHarness, report: string) => h.json<ReportDocument>(`reports/${report}/latest.json`);
const facility = (id: string, name: string) =>
  JSON.stringify({
    facility_id: id,
    facility_name: name,
    location: { address: "1 Main St", city: "Austin", state: "TX", zip: "73301" },
    employee_count: 10,
    accreditations: [{ accreditation_body: "JC", accreditation_id: `A-${id}`, valid_until: "2027-06-30" }],
  });
const curatedRows = (h: ProcessorHarness) =>
  h.s3.keys(OUTPUT, "curated/").flatMap((k) =>
    gunzipSync(h.s3.get(OUTPUT, k)!.body)
      .toString()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );

/** The program's policy without one statement: what the twin makes of a missing grant. */
function policyWithout(sid: string): IdentityPolicy {
  const policy = processorPolicy(twinScope());
  return { ...policy, Statement: policy.Statement.filter((s) => s.Sid !== sid) };
}

describe("first deployment: the program's role, the handler's calls and S3's real answers", () => {
  let h: ProcessorHarness;
  afterEach(() => h.restore());

  describe("a fresh output bucket", () => {
    beforeEach(() => (h = new ProcessorHarness()));

    it("creates every report's latest copy on the first batch instead of dead-lettering it (no HEAD of a missing key)", async () => {
      const res = await h.invoke([h.uploadSample("facilities.ndjson")]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.deadLetters).to.deep.equal([]);
      for (const r of ["accreditation-by-state", "facility-metrics", "expiring-accreditations"]) {
        expect(latest(h, r).result_count, r).to.be.greaterThan(0);
      }
      expect(h.twin.authorizer.denied()).to.deep.equal([]);
      // A HEAD on reports/ happens only once S3 has said the object exists (412 on If-None-Match).
      expect(h.s3.calls.filter((c) => c.startsWith("HeadObject reports/"))).to.deep.equal([]);
    });

    it("replaces latest on a second batch through If-None-Match (412), HEAD and If-Match", async () => {
      await h.invoke([h.uploadSample("facilities.ndjson")]);
      await h.invoke([h.uploadSample("facilities-array.json")]);
      expect(latest(h, "facility-metrics").result_count).to.equal(5);
      expect(h.s3.calls.filter((c) => c === "HeadObject reports/facility-metrics/latest.json")).to.have.length(1);
      expect(h.deadLetters).to.deep.equal([]);
    });
  });

  describe("deleting an upload (the raw bucket is versioned: a delete writes a delete marker)", () => {
    beforeEach(() => (h = new ProcessorHarness()));

    it("removes its rows from the table and reports, and dead-letters nothing", async () => {
      await h.invoke([h.uploadSample("facilities.ndjson"), h.uploadSample("facilities-array.json")]);
      const res = await h.invoke([h.remove("incoming/facilities-array.json")]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.deadLetters).to.deep.equal([]);
      expect(h.s3.keys(OUTPUT, "curated/")).to.deep.equal([h.derivedKey("curated", "incoming/facilities.ndjson")]);
      expect(latest(h, "facility-metrics").results.map((r) => r.facility_id)).to.deep.equal(["F001", "F002", "F003"]);
      expect(h.twin.authorizer.denied()).to.deep.equal([]);
    });

    it("is exactly what s3:ListBucket on the raw bucket is for: without it S3 answers 403 and the delete is dead-lettered", async () => {
      h.restore();
      h = new ProcessorHarness({ policy: policyWithout("TellMissingUploadsApart") });
      await h.invoke([h.uploadSample("facilities.ndjson")]);
      await h.invoke([h.remove("incoming/facilities.ndjson")]);
      expect(h.deadLetters).to.have.length(1);
      expect(h.deadLetters[0].MessageAttributes?.reason.StringValue).to.match(/AccessDenied/);
      expect(h.s3.keys(OUTPUT, "curated/")).to.have.length(1);
    });

    it("treats a created event whose object is already gone as a removal", async () => {
      await h.invoke([h.uploadSample("facilities.ndjson")]);
      const created = sqsRecord(s3EventBody([{ key: "incoming/facilities.ndjson" }]));
      h.s3.remove(RAW, "incoming/facilities.ndjson");
      const res = await h.invoke([created]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.s3.keys(OUTPUT, "curated/")).to.deep.equal([]);
      expect(latest(h, "facility-metrics").result_count).to.equal(0);
    });
  });

  describe("retries pay once even though every ETag changes", () => {
    beforeEach(() => (h = new ProcessorHarness()));

    it("presents the same query tokens and writes no new run file when a batch is re-delivered", async () => {
      const record = h.uploadSample("facilities.ndjson");
      await h.invoke([record]);
      const etagBefore = h.s3.get(OUTPUT, h.derivedKey("curated", "incoming/facilities.ndjson"))!.etag;
      const runsBefore = h.s3.keys(OUTPUT, "reports/").filter((k) => k.includes("/runs/"));
      await h.invoke([sqsRecord(record.body, 2)]);
      // SSE-KMS: the rewritten curated object, byte for byte the same, has a new ETag.
      expect(h.s3.get(OUTPUT, h.derivedKey("curated", "incoming/facilities.ndjson"))!.etag).to.not.equal(etagBefore);
      expect(h.athena.started, "no query billed twice").to.have.length(3);
      expect(h.s3.keys(OUTPUT, "reports/").filter((k) => k.includes("/runs/"))).to.deep.equal(runsBefore);
    });

    it("still recomputes when the table's content changes", async () => {
      await h.invoke([h.uploadSample("facilities.ndjson")]);
      await h.invoke([h.upload("incoming/facilities.ndjson", facility("F900", "Replaced"))]);
      expect(h.athena.started).to.have.length(6);
      expect(latest(h, "facility-metrics").results.map((r) => r.facility_id)).to.deep.equal(["F900"]);
    });
  });

  describe("a slow ingest never undoes a newer one", () => {
    beforeEach(() => (h = new ProcessorHarness()));

    it("drops the rows of a version replaced while it was being read, and latest shows the newer version", async () => {
      const key = "incoming/rolling.ndjson";
      const first = h.upload(key, facility("F100", "Version one"));
      // While invocation A reads version 1, version 2 arrives and invocation B processes it completely.
      h.s3.beforeNext(
        "GetObject",
        async () => {
          h.s3.store(RAW, key, facility("F200", "Version two"));
          const b = await h.invoke([sqsRecord(s3EventBody([{ key }]))]);
          expect(b.batchItemFailures, JSON.stringify(h.telemetry.logs.filter((l) => l.level !== "info"))).to.deep.equal([]);
        },
        key,
      );
      const a = await h.invoke([first]);
      expect(a.batchItemFailures).to.deep.equal([]);
      expect(curatedRows(h).map((r) => r.facility_id)).to.deep.equal(["F200"]);
      expect(latest(h, "facility-metrics").results.map((r) => r.facility_id)).to.deep.equal(["F200"]);
      expect(h.telemetry.logs.some((l) => l.message.startsWith("upload changed while it was read"))).to.equal(true);
    });

    it("does not resurrect an upload deleted (and its deletion processed) while it was being read", async () => {
      const key = "incoming/short-lived.ndjson";
      const created = h.upload(key, facility("F300", "Deleted soon"));
      h.s3.beforeNext(
        "GetObject",
        async () => {
          await h.invoke([h.remove(key)]);
        },
        key,
      );
      await h.invoke([created]);
      expect(h.s3.keys(OUTPUT, "curated/")).to.deep.equal([]);
      expect(latest(h, "facility-metrics").result_count).to.equal(0);
    });
  });

  describe("retries come back in seconds, not after the visibility timeout", () => {
    beforeEach(() => (h = new ProcessorHarness()));

    it("sets a failed message's visibility with a backoff that grows per receive", async () => {
      for (const receives of [1, 2]) {
        h.s3.failNext("GetObject", () => s3Error("SlowDown", 503), { key: "incoming/facilities.ndjson" });
        const record = sqsRecord(h.uploadSample("facilities.ndjson").body, receives);
        const res = await h.invoke([record]);
        expect(res.batchItemFailures).to.deep.equal([{ itemIdentifier: record.messageId }]);
      }
      expect(h.twin.sqs.visibility.map((v) => [v.QueueUrl, v.VisibilityTimeout])).to.deep.equal([
        [h.settings.uploadQueueUrl, retryDelaySeconds(1)],
        [h.settings.uploadQueueUrl, retryDelaySeconds(2)],
      ]);
      expect([retryDelaySeconds(1), retryDelaySeconds(2)]).to.deep.equal([30, 60]);
      expect(h.twin.authorizer.denied()).to.deep.equal([]);
    });

    it("still returns the message for retry when the visibility cannot be changed (not lost, only later)", async () => {
      h.restore();
      h = new ProcessorHarness({ policy: policyWithout("ConsumeUploads") });
      h.s3.failNext("GetObject", () => s3Error("SlowDown", 503), { key: "incoming/facilities.ndjson" });
      const record = h.uploadSample("facilities.ndjson");
      const res = await h.invoke([record]);
      expect(res.batchItemFailures).to.deep.equal([{ itemIdentifier: record.messageId }]);
      expect(h.twin.sqs.visibility).to.deep.equal([]);
      expect(h.telemetry.logs.some((l) => l.message.startsWith("could not shorten the retry delay"))).to.equal(true);
    });
  });

  describe("upload names", () => {
    beforeEach(() => (h = new ProcessorHarness()));

    it("ingests accepted names in any letter case (the bucket notifies for every object)", async () => {
      const res = await h.invoke([
        h.uploadSample("facilities.ndjson", "INCOMING/FACILITIES.NDJSON"),
        h.uploadSample("facilities-extra.jsonl.gz", "in/Extra.JSONL.GZ"),
      ]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.s3.keys(OUTPUT, "curated/")).to.have.length(2);
    });

    it("counts and logs an object whose name is not an upload, so the ignored-uploads alarm shows it", async () => {
      const res = await h.invoke([h.upload("incoming/facilities.csv", "facility_id,name\nF1,x\n")]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.telemetry.metrics).to.deep.include({ name: "UploadsIgnored", value: 1 });
      expect(h.telemetry.logs.find((l) => l.level === "warn")?.fields).to.include({ sourceKey: "incoming/facilities.csv" });
      expect(h.athena.started).to.deep.equal([]);
    });
  });

  describe("the workgroup's bytes-scanned cutoff, enforced on the bytes Athena would read", () => {
    it("dead-letters with Athena's own reason when the table outgrows the cutoff", async () => {
      h = new ProcessorHarness({ bytesScannedCutoff: 100 });
      await h.invoke([h.uploadSample("facilities.ndjson")]);
      expect(h.deadLetters).to.have.length(1);
      expect(h.deadLetters[0].MessageAttributes?.reason.StringValue)
        .to.include(CUTOFF_REASON)
        .and.match(/bytes-scanned cutoff/);
    });

    it("runs when the table fits", async () => {
      h = new ProcessorHarness({ bytesScannedCutoff: 10 * 1024 * 1024 });
      const res = await h.invoke([h.uploadSample("facilities.ndjson")]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.deadLetters).to.deep.equal([]);
    });
  });

  describe("Athena reads the table and writes results with the caller's permissions", () => {
    it("dead-letters with the denied path when the role may not read the table's objects", async () => {
      // The table is the current state, which the processor reads to merge into it and Athena reads as
      // the processor: without s3:GetObject on current/ both are denied, and the merge asks first.
      const policy = processorPolicy(twinScope());
      const noRead = {
        ...policy,
        Statement: policy.Statement.map((s) =>
          s.Sid === "MaintainCurrentState" ? { ...s, Action: (s.Action as string[]).filter((a) => a !== "s3:GetObject") } : s,
        ),
      };
      h = new ProcessorHarness({ policy: noRead });
      await h.invoke([h.uploadSample("facilities.ndjson")]);
      expect(h.deadLetters).to.have.length(1);
      expect(h.deadLetters[0].MessageAttributes?.reason.StringValue).to.match(
        /reading s3:\/\/facility-output\/current\/shard-\d\d\.ndjson\.gz failed: AccessDenied/,
      );
    });

    it("writes each query's results to the scratch prefix", async () => {
      h = new ProcessorHarness();
      await h.invoke([h.uploadSample("facilities.ndjson")]);
      expect(h.s3.keys(OUTPUT, "athena-results/")).to.have.length(3);
    });
  });
});

describe("review findings: retries after transient Athena failures, tie precision, names that are not uploads", () => {
  let h: ProcessorHarness;
  beforeEach(() => (h = new ProcessorHarness()));
  afterEach(() => h.restore());

  it("gives every receive fresh executions after transient failures, instead of finding the same failed ones", async () => {
    // Athena fails the first three executions of every query (an outage), then recovers.
    h.athena.outcomeFor = (_sql, attempt) =>
      attempt < 3 ? { state: "FAILED", reason: "INTERNAL_ERROR_QUERY_ENGINE", category: 1 } : { state: "SUCCEEDED", polls: 1 };
    const record = h.uploadSample("facilities.ndjson");
    const first = await h.invoke([record]);
    expect(first.batchItemFailures, JSON.stringify(h.telemetry.logs.filter((l) => l.level !== "info"))).to.deep.equal([{ itemIdentifier: record.messageId }]);
    expect(h.athena.started).to.have.length(9);
    h.clock += retryDelaySeconds(1) * 1000;
    const second = await h.invoke([sqsRecord(record.body, 2)]);
    expect(second.batchItemFailures).to.deep.equal([]);
    expect(h.deadLetters).to.deep.equal([]);
    expect(h.athena.started, "one fresh execution per report on the retry").to.have.length(12);
    expect(latest(h, "facility-metrics").result_count).to.equal(3);
  });

  it("names rows of one version by their upload-time precision, and recomputes only if the table the reports read changed", async () => {
    const key = "incoming/facilities.ndjson";
    const record = h.uploadSample("facilities.ndjson", key);
    const version = h.s3.get(RAW, key)!.versionId;
    const withTime = JSON.parse(record.body) as { Records: Array<Record<string, unknown>> };
    withTime.Records[0].eventTime = "2026-11-27T08:00:01.789Z";
    (withTime.Records[0].s3 as { object: Record<string, unknown> }).object.versionId = version;
    await h.invoke([sqsRecord(JSON.stringify(withTime))]);
    const before = h.s3.keys(OUTPUT, "curated/");
    await h.invoke([record]);
    const after = h.s3.keys(OUTPUT, "curated/");
    expect(after).to.have.length(1);
    expect(after, "the rows differ, so their object has another name").to.not.deep.equal(before);
    // The current state keeps the row with the later (millisecond) upload time: what the reports read
    // is unchanged, so the same tokens find the same executions.
    expect(h.athena.started).to.have.length(3);
  });

  it("does not count a console folder marker or the removal of a non-upload as an ignored upload", async () => {
    const res = await h.invoke([h.upload("incoming/", ""), h.remove("notes/readme.txt")]);
    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.telemetry.metrics.filter((m) => m.name === "UploadsIgnored")).to.deep.equal([]);
  });
});

describe("the report token follows the table the reports read", () => {
  let h: ProcessorHarness;
  beforeEach(() => (h = new ProcessorHarness()));
  afterEach(() => h.restore());

  it("recomputes when an upload whose merge failed is retried, instead of finding the result computed without it", async () => {
    // An earlier batch: the whole history has been merged once (a fresh stack's first report run does it).
    await h.invoke([h.upload("incoming/seed.ndjson", facility("F400", "Earlier"))]);
    const ok = h.upload("incoming/a.ndjson", facility("F500", "Merged at once"));
    const late = h.upload("incoming/b.ndjson", facility("F600", "Merged on retry"));
    // b's curated object is written, then its merge into the current state fails once (reading it back).
    h.s3.failNext("GetObject", () => s3Error("ServiceUnavailable", 503), { key: "curated/b-" });
    const first = await h.invoke([ok, late]);
    expect(first.batchItemFailures).to.deep.equal([{ itemIdentifier: late.messageId }]);
    expect(latest(h, "facility-metrics").results.map((r) => r.facility_id)).to.deep.equal(["F400", "F500"]);
    h.clock += retryDelaySeconds(1) * 1000;
    const retry = await h.invoke([sqsRecord(late.body, 2)]);
    expect(retry.batchItemFailures).to.deep.equal([]);
    expect(latest(h, "facility-metrics").results.map((r) => r.facility_id)).to.deep.equal(["F400", "F500", "F600"]);
  });
});

describe("an output bucket curated before the current state existed", () => {
  let h: ProcessorHarness;
  beforeEach(() => (h = new ProcessorHarness()));
  afterEach(() => h.restore());

  it("merges the whole history once, so reports keep the uploads made before the upgrade", async () => {
    await h.invoke([h.upload("incoming/old-1.ndjson", facility("F701", "Before")), h.upload("incoming/old-2.ndjson", facility("F702", "Before"))]);
    // The state an earlier release left: curated objects, no current state.
    for (const k of h.s3.keys(OUTPUT, "current/")) h.s3.remove(OUTPUT, k);
    await h.invoke([h.upload("incoming/new.ndjson", facility("F703", "After"))]);
    expect(latest(h, "facility-metrics").results.map((r) => r.facility_id)).to.deep.equal(["F701", "F702", "F703"]);
    expect(h.telemetry.logs.some((l) => l.message.startsWith("built the current state from the curated history"))).to.equal(true);
    expect(h.twin.authorizer.denied()).to.deep.equal([]);
  });
});

describe("a batch short of time, at the Lambda entry", () => {
  let h: ProcessorHarness;
  beforeEach(() => (h = new ProcessorHarness()));
  afterEach(() => h.restore());

  /** Four uploads start at once; reading the first takes 240 s of the 300 s budget, so a fifth is not started. */
  function slowFirstRead(): void {
    h.s3.beforeNext(
      "GetObject",
      () => {
        h.clock += 240_000;
        return Promise.resolve();
      },
      "incoming/big.ndjson",
    );
  }
  const deferred = (record: SQSRecord, deferrals: number): SQSRecord => ({
    ...record,
    messageAttributes: { deferrals: { dataType: "Number", stringValue: String(deferrals), stringListValues: [], binaryListValues: [] } },
  });

  it("puts the upload it did not start back as a new message (no receive used, nothing counted as failed), even on its message's last receive", async () => {
    const big = h.uploadSample("facilities.ndjson", "incoming/big.ndjson");
    const others = [1, 2, 3].map((n) => h.uploadSample("facilities.ndjson", `incoming/o${n}.ndjson`));
    const last = sqsRecord(h.uploadSample("sample_data.json", "incoming/last.json").body, h.settings.maxReceiveCount);
    slowFirstRead();
    const res = await h.invoke([big, ...others, last]);
    // The message tried most often goes first; of the rest, the last in line is not started.
    expect(res.batchItemFailures).to.deep.equal([]);
    expect(h.deadLetters).to.deep.equal([]);
    const requeued = h.twin.sqs.sent.filter((m) => m.QueueUrl === h.settings.uploadQueueUrl);
    expect(requeued.map((m) => [m.MessageBody, m.DelaySeconds, m.MessageAttributes?.deferrals?.StringValue])).to.deep.equal([[others[2].body, 10, "1"]]);
    expect(h.twin.sqs.visibility).to.deep.equal([]);
    expect(h.telemetry.metrics.filter((m) => m.name === "MessagesFailed")).to.deep.equal([{ name: "MessagesFailed", value: 0 }]);
    expect(h.twin.authorizer.denied()).to.deep.equal([]);
  });

  it("starts a message that was put back before the others, and falls back to a 10 s visibility when it cannot put one back", async () => {
    const big = h.uploadSample("facilities.ndjson", "incoming/big.ndjson");
    const others = [1, 2, 3].map((n) => h.uploadSample("facilities.ndjson", `incoming/o${n}.ndjson`));
    const putBack = deferred(h.uploadSample("sample_data.json", "incoming/back.json"), 2);
    slowFirstRead();
    h.twin.sqs.failSends = 1;
    const res = await h.invoke([big, ...others, putBack]);
    expect(res.batchItemFailures).to.deep.equal([{ itemIdentifier: others[2].messageId }]);
    expect(h.twin.sqs.visibility.map((v) => v.VisibilityTimeout)).to.deep.equal([10]);
    expect(h.deadLetters).to.deep.equal([]);
  });
});
