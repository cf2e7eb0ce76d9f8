import { expect } from "chai";
import { gzipSync } from "zlib";
import { isSourceReadError } from "../../handler/core/errors";
import { ingestObject, IngestResult } from "../../handler/core/ingest";
import { curatedKey, quarantineKey } from "../../handler/core/keys";
import type { CuratedRow } from "../../handler/schema/facility";
import { createFacilityValidator } from "../../handler/schema/validator";
import { ingestIntoMemory, MemoryStore, sourceOf } from "../support/memory-store";

const validate = createFacilityValidator();

export const facility = (id: string, extra: Record<string, unknown> = {}) => ({
  facility_id: id,
  facility_name: `Facility ${id}`,
  location: { address: "1 Main St", city: "Springfield", state: "IL", zip: "62701" },
  employee_count: 10,
  services: ["Primary Care"],
  labs: [{ lab_name: "Lab", certifications: ["CLIA"] }],
  accreditations: [{ accreditation_body: "Joint Commission", accreditation_id: `JC-${id}`, valid_until: "2027-06-30" }],
  ...extra,
});
const line = (o: unknown) => JSON.stringify(o);

function ingest(key: string, content: Buffer | string, chunkSize?: number, maxRecordBytes = 2048) {
  return ingestIntoMemory(key, Buffer.from(content), { chunkSize, maxRecordBytes });
}

interface Case {
  name: string;
  key: string;
  content: Buffer | string;
  outcome: IngestResult["outcome"];
  accepted: number;
  /** Expected quarantine entries as "line:field:reason-pattern". */
  rejects: Array<[number, string, RegExp]>;
  maxRecordBytes?: number;
}

const cases: Case[] = [
  { name: "NDJSON", key: "a.ndjson", content: `${line(facility("1"))}\n${line(facility("2"))}\n`, outcome: "curated", accepted: 2, rejects: [] },
  { name: "a JSON array", key: "a.json", content: JSON.stringify([facility("1"), facility("2")], null, 2), outcome: "curated", accepted: 2, rejects: [] },
  {
    name: "the original wrapper object",
    key: "a.json",
    content: JSON.stringify({ sample_data: [facility("1")] }, null, 4),
    outcome: "curated",
    accepted: 1,
    rejects: [],
  },
  { name: "gzip NDJSON", key: "a.jsonl.gz", content: gzipSync(`${line(facility("1"))}\n`), outcome: "curated", accepted: 1, rejects: [] },
  {
    name: "gzip without a .gz name (recognised by its bytes)",
    key: "a.json",
    content: gzipSync(line([facility("1")])),
    outcome: "curated",
    accepted: 1,
    rejects: [],
  },
  {
    name: "a byte-order mark and CRLF line ends",
    key: "a.ndjson",
    content: `\ufeff${line(facility("1"))}\r\n${line(facility("2"))}\r\n`,
    outcome: "curated",
    accepted: 2,
    rejects: [],
  },
  { name: "an empty file", key: "a.json", content: "", outcome: "rejected", accepted: 0, rejects: [[1, "", /holds no JSON value/]] },
  {
    name: "not JSON at all",
    key: "a.json",
    content: "facility_id,name\nF1,A\n",
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "", /does not start a JSON value .*not JSON/]],
  },
  {
    name: "a truncated array keeps the records before the cut",
    key: "a.json",
    content: `[${line(facility("1"))},${line(facility("2")).slice(0, 30)}`,
    outcome: "partially-curated",
    accepted: 1,
    rejects: [
      [1, "", /ends inside this record/],
      [1, "", /truncated upload/],
    ],
  },
  {
    name: "a line over the size limit",
    key: "a.ndjson",
    content: `${line(facility("1", { facility_name: "x".repeat(3000) }))}\n${line(facility("2"))}\n`,
    outcome: "partially-curated",
    accepted: 1,
    rejects: [[1, "", /larger than the 2048-byte limit/]],
  },
  {
    name: "duplicate keys in one object",
    key: "a.ndjson",
    content: `{"facility_id":"1","facility_id":"2","facility_name":"A","location":{"address":"a","city":"b","state":"IL","zip":"62701"},"employee_count":1}\n`,
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "facility_id", /appears twice/]],
  },
  {
    name: "a duplicate nested key",
    key: "a.ndjson",
    content: line(facility("1")).replace('"city":"Springfield"', '"city":"Springfield","city":"Chicago"'),
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "location.city", /appears twice/]],
  },
  {
    name: "zero valid records",
    key: "a.ndjson",
    content: `${line({ facility_id: "" })}\n${line({})}\n`,
    outcome: "rejected",
    accepted: 0,
    rejects: [
      [1, "facility_name", /is required/],
      [2, "facility_id", /is required/],
    ],
  },
  {
    name: "wrong types and impossible values",
    key: "a.ndjson",
    content: line(facility("1", { employee_count: "12", accreditations: [{ accreditation_body: "JC", accreditation_id: "1", valid_until: "2026-02-30" }] })),
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "employee_count", /^"12" is text: write 12 without quotes$/]],
  },
  {
    name: "a zip archive named .gz",
    key: "a.json.gz",
    content: Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(20)]),
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "", /zip archive/]],
  },
  {
    name: "damaged gzip",
    key: "a.ndjson.gz",
    content: gzipSync(`${line(facility("1"))}\n`).subarray(0, 30),
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "", /gzip data is damaged or truncated/]],
  },
  {
    name: "UTF-16 text",
    key: "a.json",
    content: Buffer.from(`\ufeff${line([facility("1")])}`, "utf16le"),
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "", /UTF-16/]],
  },
  // A record nested thousands of levels deep used to overflow the stack of the normalizing walk and
  // cost the whole file (the Lambda retried it into the dead-letter queue).
  {
    name: "a record nested 5,000 levels deep in an unknown field",
    key: "a.ndjson",
    content: `${line(facility("1")).slice(0, -1)},"notes":${"[".repeat(5000)}${"]".repeat(5000)}}\n${line(facility("2"))}\n`,
    outcome: "partially-curated",
    accepted: 1,
    rejects: [[1, "notes", /nested deeper than 64 levels/]],
    maxRecordBytes: 65536,
  },
  {
    name: "a record nested 5,000 levels deep in a list field",
    key: "a.ndjson",
    content: `${line(facility("1", { services: "X" })).replace('"X"', `${"[".repeat(5000)}${"]".repeat(5000)}`)}\n${line(facility("2"))}\n`,
    outcome: "partially-curated",
    accepted: 1,
    rejects: [[1, "services", /nested deeper than 64 levels/]],
    maxRecordBytes: 65536,
  },
  // DuckDB refuses to read a curated file holding one, Athena reads it: the engines would disagree.
  {
    name: "a lone surrogate in a string",
    key: "a.ndjson",
    content: `${line(facility("1")).replace('"Facility 1"', '"a\\ud800b"')}\n${line(facility("2"))}\n`,
    outcome: "partially-curated",
    accepted: 1,
    rejects: [[1, "facility_name", /not well-formed Unicode/]],
  },
  {
    name: "a lone low surrogate deep in a list",
    key: "a.json",
    content: `[${line(facility("1")).replace('"CLIA"', '"x\\udc00"')}]`,
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "labs[0].certifications[0]", /not well-formed Unicode/]],
  },
  {
    name: "a lone surrogate in an unknown field's name",
    key: "a.ndjson",
    content: `${line(facility("1")).slice(0, -1)},"n\\ud83d":1}\n`,
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "n\ufffd", /field name is not well-formed Unicode/]],
  },
  // Date.UTC reads years 0-99 as 1900-1999, which made every such date "not a calendar date".
  {
    name: "dates in the years 0000-0099 are real calendar dates",
    key: "a.ndjson",
    content: ["0099-12-31", "0004-02-29", "0000-02-29", "0100-02-29"]
      .map((d, i) => line(facility(String(i), { accreditations: [{ accreditation_body: "JC", accreditation_id: "1", valid_until: d }] })))
      .join("\n"),
    outcome: "partially-curated",
    accepted: 3,
    rejects: [[4, "accreditations[0].valid_until", /real calendar date/]],
  },
  {
    name: "an object with a second property beside the array",
    key: "a.json",
    content: JSON.stringify({ data: [facility("1")], count: 1 }),
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "", /^an object with 2 properties: expected NDJSON, an array, or an object wrapping exactly one array \(found array property `data`\)$/]],
  },
  {
    name: "an object with the array second",
    key: "a.json",
    content: JSON.stringify({ count: 2, items: [facility("1"), facility("2")], next: [] }, null, 2),
    outcome: "rejected",
    accepted: 0,
    rejects: [[1, "", /^an object with 3 properties: .*\(found array properties `items`, `next`\)$/]],
  },
  // A trailing comma is not JSON. Either way the records are kept and the file says once what was wrong.
  {
    name: "a trailing comma after NDJSON lines",
    key: "a.ndjson",
    content: `${line(facility("1"))},\n${line(facility("2"))},\n`,
    outcome: "partially-curated",
    accepted: 2,
    rejects: [
      [
        1,
        "",
        /^line 1: a comma that no value follows \(a trailing comma\), which JSON does not allow; 1 more on later lines; the records were read as if it were absent$/,
      ],
    ],
  },
  {
    name: "a trailing comma after a one-line NDJSON file's only line",
    key: "a.json",
    content: `${line(facility("1"))},\n${line(facility("2"))}\n`,
    outcome: "partially-curated",
    accepted: 2,
    rejects: [[1, "", /line 1: a comma that no value follows/]],
  },
  {
    name: "a trailing comma before ] in a minified array",
    key: "a.json",
    content: `[${line(facility("1"))},${line(facility("2"))},]`,
    outcome: "partially-curated",
    accepted: 2,
    rejects: [[1, "", /^line 1: a comma that no value follows \(a trailing comma\), which JSON does not allow; the records were read as if it were absent$/]],
  },
  {
    name: "a trailing comma before ] in a pretty wrapper",
    key: "a.json",
    content: JSON.stringify({ sample_data: [facility("1"), facility("2")] }, null, 2).replace(/}\n {2}]/, "},\n  ]"),
    outcome: "partially-curated",
    accepted: 2,
    rejects: [[60, "", /^line 60: a comma that no value follows/]],
  },
  {
    name: "an empty element between two commas",
    key: "a.json",
    content: `[${line(facility("1"))},,${line(facility("2"))}]`,
    outcome: "partially-curated",
    accepted: 2,
    rejects: [[1, "", /^line 1: a comma that no value follows/]],
  },
  {
    name: "invalid UTF-8 after a valid line",
    key: "a.ndjson",
    content: Buffer.concat([Buffer.from(`${line(facility("1"))}\n`), Buffer.from([0xc3, 0x28, 0x0a])]),
    outcome: "partially-curated",
    accepted: 1,
    rejects: [[2, "", /not valid UTF-8/]],
  },
];

describe("ingest of one upload", () => {
  for (const c of cases) {
    it(`${c.name}: ${c.outcome}, ${c.accepted} accepted, ${c.rejects.length} quarantined`, async () => {
      for (const chunkSize of [7, 65536]) {
        const { result, curated, quarantine } = await ingest(c.key, c.content, chunkSize, c.maxRecordBytes);
        expect(result.outcome, `chunk ${chunkSize}`).to.equal(c.outcome);
        expect(result.accepted).to.equal(c.accepted);
        expect(curated).to.have.length(c.accepted);
        expect(quarantine.map((q) => [q.line, q.errors[0].field])).to.deep.equal(c.rejects.map(([l, f]) => [l, f]));
        quarantine.forEach((q, i) => expect(q.errors[0].reason).to.match(c.rejects[i][2]));
      }
    });
  }

  it("reports every field problem of a record, named by path", async () => {
    const bad = facility("1", {
      location: { address: "", city: "X", state: "Texas", zip: "1234" },
      labs: [{ lab_name: "L" }],
      accreditations: [{ accreditation_body: "A", accreditation_id: "B", valid_until: "2027-13-01" }],
    });
    const { quarantine } = await ingest("a.ndjson", line(bad));
    expect(quarantine[0].errors).to.deep.equal([
      { field: "location.address", reason: 'is empty (""): write a value' },
      { field: "location.state", reason: '"Texas": use the two-letter code (TX)' },
      { field: "location.zip", reason: '"1234": write a US ZIP code as 5 digits, optionally -4 more (e.g. 97201 or 97201-1234)' },
      { field: "labs[0].certifications", reason: "is required: add it" },
      { field: "accreditations[0].valid_until", reason: '"2027-13-01" is not a real calendar date: there is no month 13' },
    ]);
    expect(quarantine[0].raw).to.equal(line(bad));
  });

  it("normalizes (trims, upper-cases the state, fills missing lists) and keeps unknown fields out of the row, counted", async () => {
    const raw = {
      facility_id: " F9 ",
      facility_name: "Nine",
      location: { address: "a", city: "b", state: "tx", zip: "75001", county: "Dallas" },
      employee_count: 3,
      notes: "x",
    };
    const { result, curated } = await ingest("batch/a.ndjson", line(raw));
    // Typed as the schema's curated row, so this expectation cannot drift from the table's columns.
    const expected: CuratedRow = {
      facility_id: "F9",
      facility_name: "Nine",
      location: { address: "a", city: "b", state: "TX", zip: "75001" },
      employee_count: 3,
      services: [],
      labs: [],
      accreditations: [],
      ingest_source_key: "batch/a.ndjson",
      ingest_source_version: "v1",
      ingest_time: "2026-11-27T08:00:00.000Z",
      ingest_upload_time: "2026-11-27T08:00:00.000Z",
      ingest_line: 1,
      ingest_index: 0,
    };
    expect(curated[0]).to.deep.equal(expected);
    expect(result.unknownFields).to.deep.equal({ "location.county": 1, notes: 1 });
  });

  it("fails with a retryable error, leaving nothing behind, when the upload stream breaks mid-file", async () => {
    const store = new MemoryStore();
    const text = Array.from({ length: 200 }, (_, i) => line(facility(String(i)))).join("\n");
    let error: unknown;
    try {
      await ingestObject(sourceOf("a.ndjson", Buffer.from(text), { chunkSize: 1000, breakAfter: 20_000 }), { output: store, validate, maxRecordBytes: 2048 });
    } catch (e) {
      error = e;
    }
    expect(isSourceReadError(error), String(error)).to.equal(true);
    expect((error as Error).message).to.match(/reading the upload failed: socket hang up/);
    expect([...store.objects.keys()]).to.deep.equal([]);
  });

  it("fails with the store's error, and nothing thrown elsewhere, when the store refuses a write before reading it", async () => {
    // As a local output folder that is a file does: the write fails before the gzip stream is read.
    const store = new MemoryStore();
    store.putStream = () => Promise.reject(Object.assign(new Error("ENOTDIR: not a directory, mkdir 'out/curated'"), { code: "ENOTDIR" }));
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    const listeners = process.listeners("uncaughtException");
    process.removeAllListeners("uncaughtException");
    process.on("uncaughtException", onUncaught);
    let error: unknown;
    try {
      const text = Array.from({ length: 50 }, (_, i) => line(facility(String(i)))).join("\n");
      await ingestObject(sourceOf("a.ndjson", Buffer.from(text), { chunkSize: 1000 }), { output: store, validate, maxRecordBytes: 2048 }).catch(
        (e: unknown) => (error = e),
      );
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.removeListener("uncaughtException", onUncaught);
      for (const l of listeners) process.on("uncaughtException", l);
    }
    expect((error as Error).message).to.match(/ENOTDIR/);
    expect(uncaught.map(String)).to.deep.equal([]);
  });

  it("removes a stale quarantine object when a corrected file is uploaded under the same key", async () => {
    const store = new MemoryStore();
    await ingestObject(sourceOf("a.ndjson", Buffer.from("{bad\n")), { output: store, validate, maxRecordBytes: 2048 });
    expect(store.objects.has(quarantineKey("a.ndjson", "v1"))).to.equal(true);
    await ingestObject(sourceOf("a.ndjson", Buffer.from(line(facility("1")))), { output: store, validate, maxRecordBytes: 2048 });
    expect(store.objects.has(quarantineKey("a.ndjson", "v1"))).to.equal(false);
    expect(store.objects.has(curatedKey("a.ndjson", "v1"))).to.equal(true);
  });
});
