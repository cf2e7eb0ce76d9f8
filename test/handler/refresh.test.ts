import { expect } from "chai";
import { eventKind, REFRESH_EVENT, RefreshResult } from "../../handler/aws/entry";
import { ReportDocument } from "../../handler/core/results";
import { OUTPUT, ProcessorHarness } from "../support/processor-harness";

/** The scheduled refresh, on the AWS twin under the processor policy (see first-deploy.test.ts). */

const latest = (h: ProcessorHarness, report: string) => h.json<ReportDocument>(`reports/${report}/latest.json`);
const refresh = (scheduledTime: string) => ({ facilityPipeline: REFRESH_EVENT, scheduledTime });

describe("scheduled refresh of the reports", () => {
  let h: ProcessorHarness;
  beforeEach(() => (h = new ProcessorHarness()));
  afterEach(() => h.restore());

  it("recomputes every report as of the scheduled day on a day without uploads, and latest moves forward", async () => {
    await h.invoke([h.uploadSample("facilities.ndjson")]);
    expect(latest(h, "expiring-accreditations").as_of).to.equal("2026-11-27");
    h.now = new Date("2026-11-28T05:00:07Z");
    const result = (await h.invokeEvent(refresh("2026-11-28T05:00:00Z"))) as RefreshResult;
    expect(result.asOf).to.equal("2026-11-28");
    expect(result.reports.every((r) => r.latestUpdated)).to.equal(true);
    // Every report runs again for the new day, facility-metrics too: the as-of date is in every token,
    // so no token is reused past the scratch results' expiry.
    expect(h.athena.started).to.have.length(6);
    for (const r of ["accreditation-by-state", "expiring-accreditations", "facility-metrics"]) expect(latest(h, r).as_of, r).to.equal("2026-11-28");
    expect(h.s3.text(OUTPUT, "reports/latest.html")).to.include("2026-11-28");
    expect(h.twin.authorizer.denied()).to.deep.equal([]);
    expect(h.deadLetters).to.deep.equal([]);
  });

  it("costs nothing new when the same fire is delivered twice: the same query tokens and the same run files", async () => {
    await h.invoke([h.uploadSample("facilities.ndjson")]);
    h.now = new Date("2026-11-28T05:00:07Z");
    await h.invokeEvent(refresh("2026-11-28T05:00:00Z"));
    const runs = h.s3.keys(OUTPUT, "reports/").filter((k) => k.includes("/runs/"));
    // A retry after midnight still computes the scheduled day.
    h.now = new Date("2026-11-29T00:00:03Z");
    await h.invokeEvent(refresh("2026-11-28T05:00:00Z"));
    expect(h.athena.started).to.have.length(6);
    expect(h.s3.keys(OUTPUT, "reports/").filter((k) => k.includes("/runs/"))).to.deep.equal(runs);
  });

  it("throws when the refresh fails, counted for the refresh alarm, and dead-letters no upload", async () => {
    h.restore();
    h = new ProcessorHarness({ bytesScannedCutoff: 100 });
    await h.invoke([h.uploadSample("facilities.ndjson")]);
    const deadLettersBefore = h.deadLetters.length;
    const error = await h.invokeEvent(refresh("2026-11-28T05:00:00Z")).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/bytes-scanned cutoff/);
    expect(h.telemetry.metrics).to.deep.include({ name: "RefreshesFailed", value: 1 });
    expect(h.deadLetters).to.have.length(deadLettersBefore);
  });

  const notOurs: Array<[string, unknown]> = [
    ["null", null],
    ["a string", REFRESH_EVENT],
    ["an empty object", {}],
    ["another marker", { facilityPipeline: "delete-everything" }],
    ["the marker with an extra field", { facilityPipeline: REFRESH_EVENT, asOf: "1999-01-01" }],
    ["the marker with a scheduled time that is not a time", { facilityPipeline: REFRESH_EVENT, scheduledTime: "<aws.scheduler.scheduled-time>" }],
    ["an S3 notification sent straight to the function", { Records: [{ eventSource: "aws:s3", s3: {} }] }],
    ["an SQS batch with an extra field", { Records: [], facilityPipeline: REFRESH_EVENT }],
    ["an EventBridge event", { source: "aws.events", "detail-type": "Scheduled Event", detail: {} }],
  ];
  for (const [what, event] of notOurs) {
    it(`refuses ${what}: neither an upload batch nor a refresh, thrown so it is retried and counted, nothing run`, async () => {
      expect(eventKind(event)).to.equal("unknown");
      const error = await h.invokeEvent(event).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message).to.match(/^unknown event/);
      expect(h.athena.started).to.deep.equal([]);
      expect(h.s3.keys(OUTPUT)).to.deep.equal([]);
    });
  }

  it("still handles an SQS batch through the same entry", async () => {
    const res = await h.invokeEvent({ Records: [h.uploadSample("facilities.ndjson")] });
    expect(res).to.deep.equal({ batchItemFailures: [] });
    expect(latest(h, "facility-metrics").result_count).to.equal(3);
  });
});
