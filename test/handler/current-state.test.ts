import { expect } from "chai";
import { gunzipSync, gzipSync } from "zlib";
import { s3OutputStore } from "../../handler/aws/s3-store";
import { compareText, CURRENT_SHARDS, entryOf, mergeIntoCurrent, reconcileCurrent, RECENCY_ORDER, shardKey, shardOf } from "../../handler/core/current-state";
import { curatedKey } from "../../handler/core/keys";
import { ReportDocument } from "../../handler/core/results";
import { REPORTS } from "../../handler/reports/registry";
import { MemoryStore } from "../support/memory-store";
import { OUTPUT, ProcessorHarness } from "../support/processor-harness";

const facility = (id: string, name: string, state = "TX") => ({
  facility_id: id,
  facility_name: name,
  location: { address: "1 Main St", city: "Austin", state, zip: "73301" },
  employee_count: 10,
  services: [],
  labs: [],
  accreditations: [],
});
const ndjson = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n");

/** A curated row as ingest writes it, with the provenance the merge orders by. */
function row(id: string, name: string, p: { key?: string; version?: string; time?: string; upload?: string; index?: number } = {}): string {
  const time = p.time ?? "2026-11-27T08:00:00.000Z";
  return JSON.stringify({
    ...facility(id, name),
    ingest_source_key: p.key ?? "a.ndjson",
    ingest_source_version: p.version ?? "v1",
    ingest_time: time,
    ingest_upload_time: p.upload ?? time,
    ingest_line: (p.index ?? 0) + 1,
    ingest_index: p.index ?? 0,
  });
}

function state(store: MemoryStore): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, o] of store.objects) {
    if (!key.startsWith("current/")) continue;
    for (const line of gunzipSync(o.body).toString().split("\n").filter(Boolean)) {
      const r = JSON.parse(line) as { facility_id: string; facility_name: string };
      out[r.facility_id] = r.facility_name;
    }
  }
  return out;
}

const shardBytes = (store: MemoryStore) =>
  Object.fromEntries([...store.objects].filter(([k]) => k.startsWith("current/")).map(([k, o]) => [k, o.body.toString("hex")]));

describe("current state (latest record per facility)", () => {
  describe("the merge order", () => {
    it("is the order every report's SQL uses for the latest record", () => {
      const orderBy = `ORDER BY ${RECENCY_ORDER.map((c) => `f.${c} DESC`).join(", ")}`;
      for (const r of REPORTS) expect(r.sql, r.name).to.contain(orderBy);
    });

    it("compares text by code point (UTF-8 bytes), as Athena and DuckDB compare VARCHAR", () => {
      const samples = ["a", "b", "ab", "", "\uE000", "\uFFFD", "\u{1F600}", "\u{10000}", "z\u{1F600}", "z\uFFFF", "É", "e"];
      for (const a of samples) {
        for (const b of samples) {
          expect(Math.sign(compareText(a, b)), `${a} vs ${b}`).to.equal(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
        }
      }
    });

    const cases: Array<{ name: string; older: string; newer: string }> = [
      {
        name: "a later LastModified",
        older: row("F1", "old", { time: "2026-11-27T08:00:00.000Z", key: "z.ndjson" }),
        newer: row("F1", "new", { time: "2026-11-27T08:00:01.000Z", key: "a.ndjson" }),
      },
      {
        name: "the same second, a later upload time",
        older: row("F1", "old", { upload: "2026-11-27T08:00:00.900Z", key: "z.ndjson" }),
        newer: row("F1", "new", { upload: "2026-11-27T08:00:00.950Z", key: "a.ndjson" }),
      },
      {
        name: "the same times, the greater key",
        older: row("F1", "old", { key: "a.ndjson", index: 9 }),
        newer: row("F1", "new", { key: "b.ndjson", index: 0 }),
      },
      { name: "the same upload, the later record", older: row("F1", "old", { index: 3 }), newer: row("F1", "new", { index: 4 }) },
    ];
    for (const c of cases) {
      it(`keeps the later record by ${c.name}, whichever arrives first`, async () => {
        for (const order of [
          [c.older, c.newer],
          [c.newer, c.older],
        ]) {
          const store = new MemoryStore();
          for (const line of order) await mergeIntoCurrent(store, [line]);
          expect(state(store)).to.deep.equal({ F1: "new" });
        }
      });
    }
  });

  it("converges to the same bytes whatever the delivery order, duplicates included, and writes nothing for a duplicate", async () => {
    const uploads = [0, 1, 2, 3].map((d) =>
      Array.from({ length: 40 }, (_, i) => row(`F${i}`, `day ${d}`, { time: `2026-11-2${d}T08:00:00.000Z`, key: `day-${d}.ndjson`, index: i })).filter(
        (_, i) => (i + d) % 3 !== 0,
      ),
    );
    const inOrder = new MemoryStore();
    for (const u of uploads) await mergeIntoCurrent(inOrder, u);
    const shuffled = new MemoryStore();
    for (const u of [uploads[3], uploads[1], uploads[3], uploads[0], uploads[2], uploads[1]]) await mergeIntoCurrent(shuffled, u);
    expect(shardBytes(shuffled)).to.deep.equal(shardBytes(inOrder));
    expect(await mergeIntoCurrent(inOrder, uploads[2])).to.equal(0);
    expect(Object.keys(state(inOrder))).to.have.length(40);
  });

  it("reads a row's id and order fields like a full parse, wherever facility_id stands and whatever the strings hold", () => {
    const tricky = {
      facility_name: 'say \\"facility_id\\":\\"X\\" and ,"ingest_source_key":',
      location: { address: "1", city: "c", state: "TX", zip: "73301" },
      employee_count: 1,
      services: [],
      labs: [],
      accreditations: [],
      facility_id: 'F\u00e9"9',
    };
    const ingest = {
      ingest_source_key: "k/\u{1F600}.json",
      ingest_source_version: 'v"2',
      ingest_time: "2026-11-27T08:00:00.000Z",
      ingest_upload_time: "2026-11-27T08:00:00.123Z",
      ingest_line: 4,
      ingest_index: 3,
    };
    const line = JSON.stringify({ ...tricky, ...ingest });
    expect(entryOf(line)).to.deep.equal({
      id: tricky.facility_id,
      sourceKey: ingest.ingest_source_key,
      sourceVersion: ingest.ingest_source_version,
      time: ingest.ingest_time,
      uploadTime: ingest.ingest_upload_time,
      index: 3,
      line,
    });
  });

  it("merges into a shard whose rows are out of id order (written by another tool) and leaves it sorted", async () => {
    const store = new MemoryStore();
    const ids = Array.from({ length: 300 }, (_, i) => `F${i}`).filter((id) => shardOf(id) === shardOf("F1"));
    const lines = ids.map((id) => row(id, "held"));
    // Reversed, with one facility twice: a streamed join would duplicate or lose rows.
    const messy = [...lines].reverse().concat(row(ids[1], "held later", { time: "2026-11-27T09:00:00.000Z" }));
    store.objects.set(shardKey(shardOf("F1")), { body: gzipSync(`${messy.join("\n")}\n`), contentType: "application/x-ndjson" });
    await mergeIntoCurrent(store, [row(ids[0], "new", { time: "2026-11-28T08:00:00.000Z" })]);
    const after = gunzipSync(store.objects.get(shardKey(shardOf("F1")))!.body)
      .toString()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { facility_id: string; facility_name: string });
    expect(after.map((r) => r.facility_id)).to.deep.equal([...ids].sort());
    expect(state(store)).to.include({ [ids[0]]: "new", [ids[1]]: "held later", [ids[2]]: "held" });
  });

  it("keeps a large shard's rows and order when one row changes, streaming rather than rebuilding it", async () => {
    const store = new MemoryStore();
    const ids = Array.from({ length: 20_000 }, (_, i) => `F${String(i).padStart(6, "0")}`).filter((id) => shardOf(id) === 5);
    await mergeIntoCurrent(
      store,
      ids.map((id) => row(id, "held")),
    );
    const written = await mergeIntoCurrent(store, [
      row(ids[7], "changed", { time: "2026-11-28T08:00:00.000Z" }),
      row(ids[8], "older", { time: "2026-11-26T08:00:00.000Z" }),
    ]);
    expect(written).to.equal(1);
    const names = state(store);
    expect(Object.keys(names)).to.have.length(ids.length);
    expect([names[ids[6]], names[ids[7]], names[ids[8]]]).to.deep.equal(["held", "changed", "held"]);
  });

  it("gives the same state when incoming rows are spooled compressed per shard (a large upload) as when held parsed", async () => {
    const days = [1, 2, 3].map((d) =>
      Array.from({ length: 400 }, (_, i) =>
        row(`F${(i * 7 + d) % 300}`, `day ${d} #${i}`, { time: `2026-11-2${d}T08:00:00.000Z`, key: `day-${d}.ndjson`, index: i }),
      ),
    );
    const parsed = new MemoryStore();
    const spooled = new MemoryStore();
    for (const day of days) {
      await mergeIntoCurrent(parsed, day);
      // A few rows' text before spooling starts, so both the parsed and the spooled paths hold rows.
      await mergeIntoCurrent(spooled, day, 2_000);
    }
    expect(Object.keys(state(parsed))).to.have.length(300);
    expect(shardBytes(spooled)).to.deep.equal(shardBytes(parsed));
  });

  it("falls back a whole retired snapshot the same way whether the fallback rows are held parsed or spooled per shard", async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `F${i}`);
    const day = (d: number) => ids.map((id, i) => row(id, `day ${d}`, { key: `day-${d}.ndjson`, time: `2026-11-2${d}T08:00:00.000Z`, index: i }));
    const build = async () => {
      const store = new MemoryStore();
      for (const d of [1, 2])
        store.objects.set(curatedKey(`day-${d}.ndjson`, "v1"), { body: gzipSync(`${day(d).join("\n")}\n`), contentType: "application/x-ndjson" });
      await mergeIntoCurrent(store, [...day(1), ...day(2)]);
      // day-2 is deleted: its curated object goes, and every facility must fall back to day 1.
      store.objects.delete(curatedKey("day-2.ndjson", "v1"));
      return store;
    };
    const parsed = await build();
    await reconcileCurrent(parsed, { merge: [], follow: ["day-2.ndjson"] });
    const spooled = await build();
    await reconcileCurrent(spooled, { merge: [], follow: ["day-2.ndjson"] }, 1_000);
    expect(new Set(Object.values(state(parsed)))).to.deep.equal(new Set(["day 1"]));
    expect(Object.keys(state(parsed))).to.have.length(200);
    expect(shardBytes(spooled)).to.deep.equal(shardBytes(parsed));
  });

  it("spreads facilities over the shards by a hash of their id", () => {
    const used = new Set(Array.from({ length: 1000 }, (_, i) => shardOf(`FAC${i}`)));
    expect(used.size).to.equal(CURRENT_SHARDS);
    expect(shardKey(3)).to.equal("current/shard-03.ndjson.gz");
  });

  describe("on the AWS twin, under the processor's policy", () => {
    let h: ProcessorHarness;
    beforeEach(() => (h = new ProcessorHarness()));
    afterEach(() => h.restore());
    const metrics = () => h.json<ReportDocument>("reports/facility-metrics/latest.json").results.map((r) => `${r.facility_id}=${r.facility_name}`);

    it("reports the latest record per facility; deleting the newer upload reverts each facility to its previous latest record", async () => {
      await h.invoke([h.upload("daily/day-1.ndjson", ndjson([facility("F1", "Alpha v1"), facility("F2", "Beta v1")]))]);
      await h.invoke([h.upload("daily/day-2.ndjson", ndjson([facility("F1", "Alpha v2"), facility("F3", "Gamma v2")]))]);
      expect(metrics()).to.deep.equal(["F1=Alpha v2", "F2=Beta v1", "F3=Gamma v2"]);
      const res = await h.invoke([h.remove("daily/day-2.ndjson")]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(metrics()).to.deep.equal(["F1=Alpha v1", "F2=Beta v1"]);
      expect(h.twin.authorizer.denied()).to.deep.equal([]);
    });

    it("a new version of an upload that drops a facility takes that facility back to its record in another upload", async () => {
      await h.invoke([h.upload("daily/base.ndjson", ndjson([facility("F1", "Alpha base")]))]);
      await h.invoke([h.upload("daily/fix.ndjson", ndjson([facility("F1", "Alpha fix"), facility("F2", "Beta fix")]))]);
      await h.invoke([h.upload("daily/fix.ndjson", ndjson([facility("F2", "Beta fix 2")]))]);
      expect(metrics()).to.deep.equal(["F1=Alpha base", "F2=Beta fix 2"]);
    });

    it("creates each shard with If-None-Match and never reads one that does not exist (no 403)", async () => {
      await h.invoke([h.upload("daily/day-1.ndjson", ndjson([facility("F1", "Alpha")]))]);
      const shard = shardKey(shardOf("F1"));
      expect(h.s3.keys(OUTPUT, "current/shard-")).to.deep.equal([shard]);
      expect(h.twin.authorizer.denied()).to.deep.equal([]);
    });

    it("does not lose an update when another batch replaces the shard between read and write (412), or races the write (409)", async () => {
      const output = s3OutputStore(h.s3.client(), OUTPUT);
      await mergeIntoCurrent(output, [row("F1", "first")]);
      // F1 and F2 share no shard necessarily: put the competing row in the same shard as F1.
      const rival = Array.from({ length: 200 }, (_, i) => `R${i}`).find((id) => shardOf(id) === shardOf("F1"))!;
      h.s3.beforeNext("PutObject", () => mergeIntoCurrent(output, [row(rival, "from the other batch")]).then(() => undefined), "current/");
      h.s3.raceNext("current/");
      await mergeIntoCurrent(output, [row("F1", "second", { time: "2026-11-28T08:00:00.000Z" })]);
      const rows = gunzipSync(h.s3.get(OUTPUT, shardKey(shardOf("F1")))!.body)
        .toString()
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { facility_id: string; facility_name: string });
      expect(rows.map((r) => `${r.facility_id}=${r.facility_name}`).sort()).to.deep.equal([`F1=second`, `${rival}=from the other batch`].sort());
      // The first write, the rival's 409 and its retry, this merge's 412 and its retry.
      expect(h.s3.calls.filter((c) => c === `PutObject ${shardKey(shardOf("F1"))}`)).to.have.length(5);
    });

    it("follows a whole batch in one pass: each shard read and written at most once, however many uploads the batch holds", async () => {
      await h.invoke([h.upload("daily/base.ndjson", ndjson(Array.from({ length: 200 }, (_, i) => facility(`F${i}`, `base ${i}`))))]);
      const before = h.s3.calls.length;
      const batch = Array.from({ length: 10 }, (_, u) =>
        h.upload(`daily/part-${u}.ndjson`, ndjson(Array.from({ length: 20 }, (_, i) => facility(`F${u * 20 + i}`, `part ${u}`)))),
      );
      const res = await h.invoke(batch);
      expect(res.batchItemFailures).to.deep.equal([]);
      const shardCalls = h.s3.calls.slice(before).filter((c) => c.includes("current/shard-"));
      const count = (verb: string) => {
        const per = new Map<string, number>();
        for (const c of shardCalls.filter((x) => x.startsWith(`${verb} `))) per.set(c, (per.get(c) ?? 0) + 1);
        return Math.max(...per.values());
      };
      // Uploads merged one after another read every shard twice per upload (merge, then the check for
      // retired rows) and wrote it once per upload. Now: one read to merge, one for the report token.
      expect(count("GetObject")).to.equal(2);
      expect(count("PutObject")).to.equal(1);
      expect(metrics()).to.have.length(200);
      expect(metrics().filter((m) => m.endsWith("part 9"))).to.have.length(20);
    });

    it("on a new output, merges the first upload once: the output is marked before anything is curated, so no history is rebuilt", async () => {
      const res = await h.invoke([h.upload("daily/day-1.ndjson", ndjson([facility("F1", "Alpha")]))]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(h.s3.calls.filter((c) => c.startsWith("GetObject curated/"))).to.have.length(1);
      expect(h.s3.keys(OUTPUT, "current/_history-merged.json")).to.have.length(1);
      expect(metrics()).to.deep.equal(["F1=Alpha"]);
    });

    it("a batch that deletes one upload and brings another reverts and merges in the same run", async () => {
      await h.invoke([h.upload("daily/day-1.ndjson", ndjson([facility("F1", "Alpha v1"), facility("F2", "Beta v1")]))]);
      await h.invoke([h.upload("daily/day-2.ndjson", ndjson([facility("F1", "Alpha v2"), facility("F2", "Beta v2")]))]);
      const res = await h.invoke([h.remove("daily/day-2.ndjson"), h.upload("daily/day-3.ndjson", ndjson([facility("F2", "Beta v3")]))]);
      expect(res.batchItemFailures).to.deep.equal([]);
      expect(metrics()).to.deep.equal(["F1=Alpha v1", "F2=Beta v3"]);
      expect(h.twin.authorizer.denied()).to.deep.equal([]);
    });

    it("after 20 daily snapshots under new keys, a report scans about one snapshot, not the history", async () => {
      h.athena.runQueries = false;
      const snapshot = (day: number) =>
        ndjson(Array.from({ length: 500 }, (_, i) => ({ ...facility(`F${i}`, `Facility ${i} day ${day}`), employee_count: day })));
      for (let day = 1; day <= 20; day++) {
        const res = await h.invoke([h.upload(`daily/facilities-2026-11-${String(day).padStart(2, "0")}.json`, snapshot(day))]);
        expect(res.batchItemFailures).to.deep.equal([]);
      }
      const sizes = (prefix: string) => h.s3.keys(OUTPUT, prefix).map((k) => h.s3.get(OUTPUT, k)!.body.length);
      const history = sizes("curated/").reduce((a, b) => a + b, 0);
      const oneSnapshot = sizes("curated/")[0];
      const scanned = h.json<ReportDocument>("reports/facility-metrics/latest.json").statistics.bytes_scanned!;
      expect(scanned).to.equal(sizes("current/").reduce((a, b) => a + b, 0));
      expect(scanned / oneSnapshot).to.be.below(2);
      expect(history / oneSnapshot).to.be.above(19);
    });
  });
});
