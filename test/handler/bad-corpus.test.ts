import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";
import { ingestObject, IngestResult, QuarantineEntry } from "../../handler/core/ingest";
import { curatedKey, quarantineKey } from "../../handler/core/keys";
import { createFacilityValidator } from "../../handler/schema/validator";
import { MemoryStore, sourceOf } from "../support/memory-store";

interface ManifestCase {
  file: string;
  description: string;
  outcome: IngestResult["outcome"];
  accepted: number;
  rejected: number;
  reason: string;
}

const dir = path.resolve(__dirname, "../../sample-data/bad");
const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as { cases: ManifestCase[] };
const validate = createFacilityValidator();
const INGEST_FIELDS = ["ingest_source_key", "ingest_source_version", "ingest_time", "ingest_upload_time", "ingest_line", "ingest_index"];

describe(`bad-input corpus (sample-data/bad, ${manifest.cases.length} cases)`, () => {
  it("lists every file of the folder in the manifest, and at least 25 cases", () => {
    const files = fs
      .readdirSync(dir)
      .filter((f) => f !== "manifest.json")
      .sort();
    expect(manifest.cases.map((c) => c.file).sort()).to.deep.equal(files);
    expect(manifest.cases.length).to.be.at.least(25);
  });

  for (const c of manifest.cases) {
    it(`${c.file} (${c.description}): ${c.outcome}, ${c.accepted} kept, ${c.rejected} rejected`, async () => {
      const store = new MemoryStore();
      const result = await ingestObject(sourceOf(c.file, fs.readFileSync(path.join(dir, c.file)), { chunkSize: 4096 }), {
        output: store,
        validate,
        maxRecordBytes: 1024 * 1024,
      });
      expect(result.outcome).to.equal(c.outcome);
      expect(result.accepted).to.equal(c.accepted);
      expect(result.rejected).to.equal(c.rejected);

      const quarantine = store.objects.has(quarantineKey(c.file, "v1"))
        ? store
            .text(quarantineKey(c.file, "v1"))
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as QuarantineEntry)
        : [];
      expect(quarantine.length).to.equal(c.rejected + result.fileProblems.length);
      if (c.reason) {
        const reasons = quarantine.flatMap((q) => q.errors.map((e) => e.reason)).join("\n");
        expect(reasons).to.include(c.reason);
      }
      for (const q of quarantine) {
        expect(q.line, "every reject names its line").to.be.a("number").and.to.be.at.least(1);
        for (const e of q.errors) expect(e.reason.length, "every reject says why").to.be.greaterThan(5);
      }

      // Nothing the schema rejects reaches the curated table.
      const curated = store.objects.get(curatedKey(c.file, "v1"));
      expect(Boolean(curated)).to.equal(c.accepted > 0);
      if (curated) {
        for (const line of gunzipSync(curated.body).toString().trim().split("\n")) {
          const row = JSON.parse(line) as Record<string, unknown>;
          for (const f of INGEST_FIELDS) delete row[f];
          const again = validate(row);
          expect(again.ok, line.slice(0, 80)).to.equal(true);
          if (again.ok) expect(again.unknownFields).to.deep.equal([]);
        }
      }
    });
  }
});
