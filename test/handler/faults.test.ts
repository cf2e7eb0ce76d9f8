import { expect } from "chai";
import { reportNamed } from "../../handler/reports/registry";
import { athenaError, Outcome, s3Error, StoredObject } from "../support/twin";
import { OUTPUT, ProcessorHarness } from "../support/processor-harness";

type Expected = "completed" | "retried" | "dead-lettered";

interface Fault {
  name: string;
  inject: (h: ProcessorHarness) => void;
  expected: Expected;
  /** Athena executions billed in the end (3 reports; more only where Athena itself failed one). */
  billed: number;
  /** On the message's last receive instead of its first. */
  lastReceive?: boolean;
  reason?: RegExp;
}

const UPLOAD = "incoming/facilities.ndjson";
const metricsSql = reportNamed("facility-metrics").sql;

// eslint-disable-next-line @typescript-eslint/require-await -- a stream body that breaks: async to be an AsyncIterable, with nothing to await
async function* breaksAfter(o: StoredObject, bytes: number): AsyncGenerator<Uint8Array> {
  yield o.body.subarray(0, bytes);
  throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
}

const onlyFor =
  (sql: string, first: Outcome) =>
  (s: string, attempt: number): Outcome =>
    s === sql && attempt === 0 ? first : { state: "SUCCEEDED" };

const faults: Fault[] = [
  {
    name: "S3 503 reading the upload",
    inject: (h) => h.s3.failNext("GetObject", () => s3Error("ServiceUnavailable", 503), { key: UPLOAD }),
    expected: "retried",
    billed: 3,
  },
  {
    name: "S3 SlowDown writing the curated object",
    inject: (h) => h.s3.failNext("PutObject", () => s3Error("SlowDown", 503), { key: "curated/" }),
    expected: "retried",
    billed: 3,
  },
  {
    name: "the upload's stream breaking mid-file",
    inject: (h) => h.s3.failNext("GetObject", () => new Error("unused"), { key: UPLOAD, body: (o) => breaksAfter(o, 300) }),
    expected: "retried",
    billed: 3,
  },
  {
    name: "S3 500 listing the upload's curated objects",
    inject: (h) => h.s3.failNext("ListObjectsV2", () => s3Error("InternalError", 500), { key: "curated/facilities" }),
    expected: "retried",
    billed: 3,
  },
  {
    // Marking a new output is best effort: without the mark, the first report run merges the history again.
    name: "S3 500 on the first listing of a batch (is the output new?)",
    inject: (h) => h.s3.failNext("ListObjectsV2", () => s3Error("InternalError", 500)),
    expected: "completed",
    billed: 3,
  },
  {
    name: "Athena throttling StartQueryExecution twice",
    inject: (h) =>
      h.athena.failStarts(
        () => athenaError("TooManyRequestsException"),
        () => athenaError("ThrottlingException"),
      ),
    expected: "completed",
    billed: 3,
  },
  {
    name: "Athena throttling beyond the backoff",
    inject: (h) => h.athena.failStarts(...Array.from({ length: 12 }, () => () => athenaError("TooManyRequestsException"))),
    expected: "retried",
    billed: 3,
  },
  {
    name: "Athena 500 on StartQueryExecution",
    inject: (h) => h.athena.failStarts(() => athenaError("InternalServerException", 500)),
    expected: "completed",
    billed: 3,
  },
  {
    name: "a query FAILED with an internal error",
    inject: (h) => {
      h.athena.outcomeFor = onlyFor(metricsSql, { state: "FAILED", reason: "INTERNAL_ERROR_QUERY_ENGINE", category: 1 });
    },
    expected: "completed",
    billed: 4,
  },
  {
    name: "a query FAILED with a syntax error",
    inject: (h) => {
      h.athena.outcomeFor = onlyFor(metricsSql, { state: "FAILED", reason: "SYNTAX_ERROR: mismatched input", category: 2 });
    },
    expected: "dead-lettered",
    billed: 3,
    reason: /SYNTAX_ERROR/,
  },
  {
    name: "a query FAILED for a missing permission",
    inject: (h) => {
      h.athena.outcomeFor = onlyFor(metricsSql, {
        state: "FAILED",
        reason: "PERMISSION_ERROR: Access denied when writing output",
        category: 2,
        retryable: false,
      });
    },
    expected: "dead-lettered",
    billed: 3,
    reason: /PERMISSION_ERROR/,
  },
  {
    name: "a query CANCELLED by someone",
    inject: (h) => {
      h.athena.outcomeFor = onlyFor(metricsSql, { state: "CANCELLED", reason: "Query was cancelled by user" });
    },
    expected: "completed",
    billed: 4,
  },
  {
    name: "a query CANCELLED by the bytes-scanned cutoff",
    inject: (h) => {
      h.athena.outcomeFor = onlyFor(metricsSql, { state: "CANCELLED", reason: "Bytes scanned limit was exceeded" });
    },
    expected: "dead-lettered",
    billed: 3,
    reason: /cutoff/,
  },
  {
    name: "the deadline while queries run",
    inject: (h) => {
      h.athena.outcomeFor = () => ({ state: "RUNNING" });
      h.budgetMs = 20_000;
    },
    expected: "retried",
    billed: 3,
  },
  {
    name: "a failed write of a report result",
    inject: (h) => h.s3.failNext("PutObject", () => s3Error("InternalError", 500), { key: "reports/facility-metrics/runs/" }),
    expected: "retried",
    billed: 3,
  },
  {
    name: "a failed first write of latest",
    inject: (h) => h.s3.failNext("PutObject", () => s3Error("ServiceUnavailable", 503), { key: "reports/facility-metrics/latest" }),
    expected: "retried",
    billed: 3,
  },
  {
    name: "a conditional write of latest racing another writer (409)",
    inject: (h) => h.s3.raceNext("reports/facility-metrics/latest"),
    expected: "completed",
    billed: 3,
  },
  {
    name: "access denied reading the upload",
    inject: (h) => h.s3.failNext("GetObject", () => s3Error("AccessDenied", 403), { key: UPLOAD }),
    expected: "dead-lettered",
    billed: 0,
    reason: /AccessDenied/,
  },
  {
    name: "a transient failure on the message's last receive",
    inject: (h) => h.s3.failNext("GetObject", () => s3Error("SlowDown", 503), { key: UPLOAD }),
    lastReceive: true,
    expected: "dead-lettered",
    billed: 0,
    reason: /SlowDown/,
  },
];

describe(`fault injection at the SDK (${faults.length} faults): completed, retried or dead-lettered, never lost, never duplicated`, () => {
  for (const f of faults) {
    it(`${f.name}: ${f.expected}`, async () => {
      const h = new ProcessorHarness();
      try {
        const record = h.uploadSample("facilities.ndjson", UPLOAD);
        if (f.lastReceive) record.attributes.ApproximateReceiveCount = "3";
        f.inject(h);
        const first = await h.invoke([record], h.budgetMs);
        const retried = first.batchItemFailures.some((x) => x.itemIdentifier === record.messageId);
        const outcome: Expected = retried ? "retried" : h.deadLetters.length > 0 ? "dead-lettered" : "completed";
        expect(outcome, JSON.stringify(h.telemetry.logs.filter((l) => l.level !== "info"))).to.equal(f.expected);

        if (outcome === "dead-lettered") {
          // Not lost: the original event is in the DLQ with the reason, ready for a redrive.
          expect(h.deadLetters).to.have.length(1);
          expect(h.deadLetters[0].MessageBody).to.equal(record.body);
          expect(h.deadLetters[0].MessageAttributes?.reason.StringValue).to.match(f.reason!);
          return;
        }
        if (outcome === "retried") {
          // SQS redelivers the message; the fault has passed.
          expect(h.deadLetters).to.deep.equal([]);
          h.athena.finishRunning();
          h.budgetMs = 300_000;
          const again = await h.invoke([{ ...record, attributes: { ...record.attributes, ApproximateReceiveCount: "2" } }]);
          expect(again.batchItemFailures).to.deep.equal([]);
        }
        // Completed: every report once, its run files once, and no query billed twice.
        expect(h.s3.keys(OUTPUT, "curated/")).to.have.length(1);
        for (const r of ["accreditation-by-state", "facility-metrics", "expiring-accreditations"]) {
          expect(h.s3.keys(OUTPUT, `reports/${r}/runs/`), r).to.have.length(2);
          expect(h.json<{ result_count: number }>(`reports/${r}/latest.json`).result_count, r).to.be.greaterThan(0);
        }
        expect(h.athena.started).to.have.length(f.billed);
      } finally {
        h.restore();
      }
    });
  }
});
