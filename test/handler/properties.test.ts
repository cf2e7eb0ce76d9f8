import { expect } from "chai";
import fc from "fast-check";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gzipSync } from "zlib";
import { runOnce } from "../../handler/local/cli";
import { localKey } from "../../handler/local/fs-store";
import { addMonths } from "../../handler/reports/registry";
import { Facility, STATE_CODES } from "../../handler/schema/facility";
import { MAX_DEPTH } from "../../handler/schema/validator";
import { ingestIntoMemory } from "../support/memory-store";

/**
 * Property-based tests: the hostile-input class rather than single examples. `FC_RUNS` scales the
 * number of cases (npm run test:properties sweeps more seeds); a failure prints its seed and path,
 * which `FC_SEED` and `FC_PATH` replay.
 */
const RUNS = Number(process.env.FC_RUNS ?? 1);
const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns: Math.max(1, Math.round(numRuns * RUNS)),
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
});

const INGEST_FIELDS = ["ingest_source_key", "ingest_source_version", "ingest_time", "ingest_upload_time", "ingest_line", "ingest_index"];

// ---- generators ---------------------------------------------------------------------------------

/** Any well-formed text, control characters and astral planes included, as normalization leaves it. */
const text = fc
  .string({ unit: "binary", minLength: 1, maxLength: 12 })
  .map((s) => s.trim())
  .filter((s) => s.length > 0);
const ascii = fc.stringMatching(/^[A-Z][A-Z0-9-]{0,5}$/);
const date = fc
  .date({ min: new Date("2024-01-01T00:00:00Z"), max: new Date("2031-12-31T00:00:00Z"), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));

function facilityOf(id: fc.Arbitrary<string>): fc.Arbitrary<Facility> {
  return fc.record({
    facility_id: id,
    facility_name: text,
    location: fc.record({
      address: text,
      city: text,
      state: fc.constantFrom(...STATE_CODES),
      zip: fc.stringMatching(/^[0-9]{5}(-[0-9]{4})?$/),
    }),
    employee_count: fc.integer({ min: 0, max: 10_000_000 }),
    services: fc.array(text, { maxLength: 3 }),
    labs: fc.array(fc.record({ lab_name: text, certifications: fc.array(text, { maxLength: 2 }) }), { maxLength: 2 }),
    accreditations: fc.array(fc.record({ accreditation_body: text, accreditation_id: ascii, valid_until: date }), { maxLength: 3 }),
  });
}

const anyFacility = facilityOf(text);

type Layout = "ndjson" | "array-pretty" | "array-minified" | "wrapper-pretty" | "wrapper-minified";
const layouts: Layout[] = ["ndjson", "array-pretty", "array-minified", "wrapper-pretty", "wrapper-minified"];

function serialize(records: unknown[], layout: Layout): { name: string; text: string } {
  switch (layout) {
    case "ndjson":
      return { name: "u.ndjson", text: records.map((r) => `${JSON.stringify(r)}\n`).join("") };
    case "array-pretty":
      return { name: "u.json", text: JSON.stringify(records, null, 2) };
    case "array-minified":
      return { name: "u.json", text: JSON.stringify(records) };
    case "wrapper-pretty":
      return { name: "u.json", text: JSON.stringify({ sample_data: records }, null, 4) };
    case "wrapper-minified":
      return { name: "u.json", text: JSON.stringify({ sample_data: records }) };
  }
}

function ingest(key: string, bytes: Buffer, chunkSize: number) {
  return ingestIntoMemory(key, bytes, { chunkSize, maxRecordBytes: 1024 * 1024 });
}

const withoutIngestFields = (row: Record<string, unknown>) => {
  const copy = { ...row };
  for (const f of INGEST_FIELDS) delete copy[f];
  return copy;
};

// ---- mutations of one record ----------------------------------------------------------------------

type Mutation = (line: string) => fc.Arbitrary<string>;

const mutations: Record<string, Mutation> = {
  "cut short": (line) => fc.integer({ min: 1, max: line.length - 1 }).map((at) => line.slice(0, at)),
  "nested too deep": () =>
    fc
      .integer({ min: MAX_DEPTH, max: 6000 })
      .map((d) => `${"[".repeat(d)}${"]".repeat(d)}`)
      .map((deep) => `{"notes":${deep},"facility_id":"x"}`),
  "a lone surrogate": (line) => fc.constantFrom("\\ud800", "\\udfff", "\\udbff!").map((s) => line.replace(/"facility_name":"/, `"facility_name":"${s}`)),
  "a duplicate key": (line) => fc.constantFrom("facility_id", "employee_count").map((k) => line.replace(/^\{/, `{"${k}":null,`)),
  "a wrong type": (line) =>
    fc
      .constantFrom<Array<[RegExp, string]>>(
        [[/"employee_count":\d+/, '"employee_count":"12"']],
        [[/"services":\[[^\]]*\]/, '"services":"x"']],
        [[/"location":\{[^}]*\}/, '"location":[]']],
        [[/"employee_count":\d+/, '"employee_count":-1']],
        [
          [/"valid_until":"[^"]*"/, '"valid_until":"2026-02-30"'],
          [/"accreditations":\[\]/, '"accreditations":[{"accreditation_body":"A","accreditation_id":"B","valid_until":"2026-02-30"}]'],
        ],
      )
      .map((edits) => edits.reduce((s, [re, to]) => s.replace(re, to), line)),
  "not JSON": () => fc.constantFrom("hello", "<html>", "{,}", "]", "\u0000", '{"a":1,}'),
};

// ---- reports computed in plain TypeScript -----------------------------------------------------------

interface Upload {
  records: Facility[];
  /** Seconds after a fixed time: the file's mtime, so the most recent upload is known. */
  order: number;
}

function reference(uploads: Upload[], asOf: string, months: number) {
  const latest = new Map<string, Facility>();
  // Oldest upload first, and within one upload first to last: whatever comes later replaces.
  for (const u of [...uploads].sort((a, b) => a.order - b.order)) for (const r of u.records) latest.set(r.facility_id, r);
  const facilities = [...latest.values()];
  const horizon = addMonths(asOf, months);
  const days = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);

  const byState = new Map<string, { state: string; accredited_facilities: number; total_employees: number; active_accreditations: number }>();
  for (const f of facilities) {
    const active = f.accreditations.filter((a) => a.valid_until >= asOf).length;
    if (active === 0) continue;
    const s = byState.get(f.location.state) ?? { state: f.location.state, accredited_facilities: 0, total_employees: 0, active_accreditations: 0 };
    s.accredited_facilities++;
    s.total_employees += f.employee_count;
    s.active_accreditations += active;
    byState.set(f.location.state, s);
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    "accreditation-by-state": [...byState.values()].sort((a, b) => b.accredited_facilities - a.accredited_facilities || cmp(a.state, b.state)),
    "facility-metrics": facilities
      .map((f) => ({
        facility_id: f.facility_id,
        facility_name: f.facility_name,
        employee_count: f.employee_count,
        number_of_offered_services: f.services.length,
        expiry_date_of_first_accreditation: f.accreditations[0]?.valid_until ?? null,
      }))
      .sort((a, b) => cmp(a.facility_id, b.facility_id)),
    "expiring-accreditations": facilities
      .flatMap((f) =>
        f.accreditations
          .filter((a) => a.valid_until >= asOf && a.valid_until <= horizon)
          .map((a) => ({
            facility_id: f.facility_id,
            facility_name: f.facility_name,
            state: f.location.state,
            accreditation_body: a.accreditation_body,
            accreditation_id: a.accreditation_id,
            valid_until: a.valid_until,
            days_remaining: days(asOf, a.valid_until),
          })),
      )
      .sort((a, b) => cmp(a.valid_until, b.valid_until) || cmp(a.facility_id, b.facility_id) || cmp(a.accreditation_id, b.accreditation_id)),
  };
}

/** Rows whose sort keys tie may come in either order: compare sorted by their whole content too. */
const canonical = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();

// ---- the properties -----------------------------------------------------------------------------

describe("properties: any valid upload, any single bad record, reports against a reference", function () {
  this.timeout(120_000);

  it("curates exactly the generated records, in order, in every layout, gzipped or not, at any chunk size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(anyFacility, { minLength: 1, maxLength: 6 }),
        fc.constantFrom(...layouts),
        fc.boolean(),
        fc.integer({ min: 1, max: 4096 }),
        async (records, layout, gzip, chunkSize) => {
          const { name, text: body } = serialize(records, layout);
          const bytes = gzip ? gzipSync(body) : Buffer.from(body);
          const { result, curated, quarantine } = await ingest(gzip ? `${name}.gz` : name, bytes, chunkSize);
          expect(quarantine).to.deep.equal([]);
          expect(result.outcome).to.equal("curated");
          expect(curated.map(withoutIngestFields)).to.deep.equal(records);
          expect(curated.map((r) => r.ingest_index)).to.deep.equal(records.map((_, i) => i));
        },
      ),
      params(200),
    );
  });

  for (const [what, mutate] of Object.entries(mutations)) {
    it(`quarantines one record that is ${what}, with a reason, and keeps every other NDJSON line`, async () => {
      const upload = fc
        .array(anyFacility, { minLength: 2, maxLength: 5 })
        .chain((records) => fc.tuple(fc.constant(records), fc.integer({ min: 0, max: records.length - 1 })))
        .chain(([records, bad]) => fc.tuple(fc.constant(records), fc.constant(bad), mutate(JSON.stringify(records[bad]))));
      await fc.assert(
        fc.asyncProperty(upload, fc.integer({ min: 1, max: 4096 }), async ([records, bad, mutated], chunkSize) => {
          const lines = records.map((r, i) => (i === bad ? mutated : JSON.stringify(r)));
          const { result, curated, quarantine } = await ingest("u.ndjson", Buffer.from(`${lines.join("\n")}\n`), chunkSize);
          expect(curated.map(withoutIngestFields)).to.deep.equal(records.filter((_, i) => i !== bad));
          expect(result.accepted).to.equal(records.length - 1);
          expect(quarantine.map((q) => q.line)).to.deep.equal([bad + 1]);
          expect(quarantine[0].errors.map((e) => e.reason).join(" ")).to.have.length.greaterThan(5);
        }),
        params(60),
      );
    });
  }

  it("computes every report on DuckDB as a plain TypeScript reference does, duplicates within and across uploads included", async () => {
    const uploads = fc
      .array(
        fc.record({
          records: fc.array(facilityOf(fc.constantFrom("F1", "F2", "F3", "F4", "F5", "F6")), { minLength: 1, maxLength: 5 }),
          order: fc.integer({ min: 0, max: 10_000 }),
        }),
        { minLength: 1, maxLength: 4 },
      )
      .filter((us) => new Set(us.map((u) => u.order)).size === us.length);
    await fc.assert(
      fc.asyncProperty(uploads, fc.constantFrom(...layouts), date, fc.integer({ min: 1, max: 24 }), async (ups, layout, asOf, months) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "facility-prop-"));
        try {
          const keys = ups.map((u, i) => {
            const { name, text: body } = serialize(u.records, layout);
            const file = path.join(dir, `${i}-${name}`);
            fs.writeFileSync(file, body);
            const at = new Date(Date.UTC(2026, 0, 1) + u.order * 1000);
            fs.utimesSync(file, at, at);
            return localKey(file);
          });
          const { result } = await runOnce(
            { inputs: [dir], out: path.join(dir, "out"), asOf, months, strict: true, json: true },
            keys.map((key) => ({ kind: "created", key })),
            () => undefined,
          );
          if (!result.reports?.ok) throw new Error(`reports failed: ${String(result.reports && !result.reports.ok && result.reports.error)}`);
          const expected = reference(ups, asOf, months);
          for (const r of result.reports.run.reports) {
            const rows = r.document.results;
            const want = expected[r.report as keyof typeof expected];
            expect(canonical(rows), r.report).to.deep.equal(canonical(want));
            expect(
              rows.map((x) => JSON.stringify(x)),
              r.report,
            ).to.deep.equal(r.report === "expiring-accreditations" ? rows.map((x) => JSON.stringify(x)) : want.map((x) => JSON.stringify(x)));
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      params(25),
    );
  });
});
