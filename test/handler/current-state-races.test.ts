import { expect } from "chai";
import { gunzipSync } from "zlib";
import { processChanges, BatchDeps } from "../../handler/core/batch";
import { Change } from "../../handler/core/events";
import { isRetryable } from "../../handler/core/errors";
import { NO_DEADLINE, SILENT_TELEMETRY, SourceObject, SourceStore } from "../../handler/core/ports";
import { createFacilityValidator } from "../../handler/schema/validator";
import { derivedPrefix } from "../../handler/core/keys";
import { MemoryStore } from "../support/memory-store";

const facility = (id: string, name: string) => ({
  facility_id: id,
  facility_name: name,
  location: { address: "1 Main St", city: "Austin", state: "TX", zip: "73301" },
  employee_count: 10,
  services: [],
  labs: [],
  accreditations: [],
});
const ndjson = (rows: object[]) => Buffer.from(rows.map((r) => JSON.stringify(r)).join("\n"));

function state(store: MemoryStore): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, o] of store.objects) {
    if (!key.startsWith("current/") || !key.endsWith(".ndjson.gz")) continue;
    for (const line of gunzipSync(o.body).toString().split("\n").filter(Boolean)) {
      const r = JSON.parse(line) as { facility_id: string; facility_name: string };
      out[r.facility_id] = r.facility_name;
    }
  }
  return out;
}

/** A versioned upload bucket in memory; `gate` holds a key's open until released. */
class VersionedSource implements SourceStore {
  files = new Map<string, { version: string; time: string; body: Buffer }>();
  gates = new Map<string, Promise<void>>();
  onCurrentVersion?: (key: string, version: string | undefined) => void;
  async open(key: string): Promise<SourceObject | undefined> {
    await this.gates.get(key);
    const f = this.files.get(key);
    if (!f) return undefined;
    const body = f.body;
    return {
      key,
      version: f.version,
      lastModified: f.time,
      // eslint-disable-next-line @typescript-eslint/require-await
      body: (async function* () {
        yield body;
      })(),
    };
  }
  currentVersion(key: string): Promise<string | undefined> {
    const v = this.files.get(key)?.version;
    this.onCurrentVersion?.(key, v);
    return Promise.resolve(v);
  }
}

const deps = (source: SourceStore, output: MemoryStore): BatchDeps => ({
  source,
  output,
  engine: { name: "none", run: () => Promise.reject(new Error("no engine")) },
  validate: createFacilityValidator(),
  telemetry: SILENT_TELEMETRY,
  deadline: NO_DEADLINE,
  reports: [],
  context: { asOf: "2026-11-30", monthsAhead: 6 },
  maxRecordBytes: 1 << 20,
  now: () => new Date("2026-11-30T00:00:00.000Z"),
  concurrency: 4,
});
const created = (key: string, version: string): Change => ({ kind: "created", key, version });

describe("the current state under racing batches and unreadable objects", () => {
  it("a batch that ingested an upload's version which was replaced before the batch reconciled does not wipe the newer version's rows", async () => {
    const output = new MemoryStore();
    const source = new VersionedSource();
    source.files.set("daily/k.ndjson", { version: "v2", time: "2026-11-27T08:00:00.000Z", body: ndjson([facility("F1", "v2 name")]) });
    source.files.set("daily/slow.ndjson", { version: "s1", time: "2026-11-27T08:00:00.000Z", body: ndjson([facility("S1", "slow")]) });
    let release!: () => void;
    source.gates.set("daily/slow.ndjson", new Promise<void>((r) => (release = r)));
    let checked!: () => void;
    const kChecked = new Promise<void>((r) => (checked = r));
    source.onCurrentVersion = (key) => key === "daily/k.ndjson" && checked();

    // Batch B: ingests k v2 (fast) and slow.ndjson (held).
    const b = processChanges([created("daily/k.ndjson", "v2"), created("daily/slow.ndjson", "s1")], deps(source, output));
    await kChecked;
    await new Promise((r) => setTimeout(r, 20));
    // Meanwhile the operator uploads a corrected k (v3); batch A processes it fully.
    source.onCurrentVersion = undefined;
    source.files.set("daily/k.ndjson", { version: "v3", time: "2026-11-27T09:00:00.000Z", body: ndjson([facility("F1", "v3 name")]) });
    const a = await processChanges([created("daily/k.ndjson", "v3")], deps(source, output));
    expect(a.files.map((f) => f.status)).to.deep.equal(["ingested"]);
    expect(state(output)).to.deep.equal({ F1: "v3 name" });
    // Batch B finishes.
    release();
    const rb = await b;
    expect(rb.files.map((f) => f.status)).to.deep.equal(["ingested", "ingested"]);
    // The curated history holds k v3 only; the state must follow it.
    expect([...output.objects.keys()].filter((k) => k.startsWith(derivedPrefix("curated", "daily/k.ndjson")))).to.have.length(1);
    expect(state(output)).to.deep.equal({ F1: "v3 name", S1: "slow" });
  });

  it("one unreadable curated object of a replaced upload fails only its own upload, not the whole batch", async () => {
    class FlakyStore extends MemoryStore {
      broken = new Set<string>();
      override read(key: string) {
        if (this.broken.has(key)) return Promise.reject(Object.assign(new Error("InternalError"), { name: "InternalError" }));
        return super.read(key);
      }
    }
    const output = new FlakyStore();
    const source = new VersionedSource();
    source.files.set("daily/k.ndjson", { version: "v1", time: "2026-11-27T08:00:00.000Z", body: ndjson([facility("F1", "k v1")]) });
    await processChanges([created("daily/k.ndjson", "v1")], deps(source, output));
    expect(state(output)).to.deep.equal({ F1: "k v1" });
    // k is replaced (v2) and j arrives in the same batch; k's new curated object cannot be read back.
    source.files.set("daily/k.ndjson", { version: "v2", time: "2026-11-28T08:00:00.000Z", body: ndjson([facility("F1", "k v2")]) });
    source.files.set("daily/j.ndjson", { version: "j1", time: "2026-11-28T08:00:00.000Z", body: ndjson([facility("J1", "j")]) });
    const orig = output.putStream.bind(output);
    output.putStream = async (key, body, ct) => {
      await orig(key, body, ct);
      if (key.startsWith(derivedPrefix("curated", "daily/k.ndjson"))) output.broken.add(key);
    };
    const res = await processChanges([created("daily/k.ndjson", "v2"), created("daily/j.ndjson", "j1")], deps(source, output));
    expect(Object.fromEntries(res.files.map((f) => [f.key, f.status]))).to.deep.equal({ "daily/k.ndjson": "failed", "daily/j.ndjson": "ingested" });
    expect(state(output)).to.include({ J1: "j" });
  });
});

describe("a batch running short of time", () => {
  it("starts no upload once the time kept for the merge and reports is reached: those it finished are merged, the rest retried", async () => {
    const output = new MemoryStore();
    const source = new VersionedSource();
    for (const n of [1, 2, 3])
      source.files.set(`daily/${n}.ndjson`, { version: `v${n}`, time: "2026-11-27T08:00:00.000Z", body: ndjson([facility(`F${n}`, `f${n}`)]) });
    // 300 s at the start; once the first upload's version was checked, 50 s: less than the 75 s kept.
    let remaining = 300_000;
    source.onCurrentVersion = () => (remaining = 50_000);
    const res = await processChanges(
      [1, 2, 3].map((n) => created(`daily/${n}.ndjson`, `v${n}`)),
      { ...deps(source, output), concurrency: 1, deadline: { remainingMs: () => remaining } },
    );
    expect(res.files.map((f) => `${f.key} ${f.status}`)).to.deep.equal(["daily/1.ndjson ingested", "daily/2.ndjson failed", "daily/3.ndjson failed"]);
    const deferred = res.files[1];
    expect(deferred.status === "failed" && isRetryable(deferred.error)).to.equal(true);
    expect(state(output)).to.deep.equal({ F1: "f1" });
  });
});

/**
 * Batch B ingests k v2, lists k's curated versions, then waits there while batch A replaces k with v3
 * and reconciles; `meanwhile` runs before B goes on.
 */
async function raced(v2: object[], v3: object[], meanwhile: (output: MemoryStore) => void = () => undefined) {
  const output = new MemoryStore();
  const source = new VersionedSource();
  const k = "daily/k.ndjson";
  source.files.set(k, { version: "v2", time: "2026-11-27T08:00:00.000Z", body: ndjson(v2) });
  const prefix = derivedPrefix("curated", k);
  let release!: () => void;
  let listed!: () => void;
  const bListed = new Promise<void>((r) => (listed = r));
  const list = output.list.bind(output);
  let calls = 0;
  output.list = async (p: string) => {
    const res = await list(p);
    // The first listing of the prefix is ingest's; the second is the reconcile step's.
    if (p === prefix && ++calls === 2) {
      listed();
      await new Promise<void>((r) => (release = r));
    }
    return res;
  };
  const b = processChanges([created(k, "v2")], deps(source, output));
  await bListed;
  source.files.set(k, { version: "v3", time: "2026-11-27T09:00:00.000Z", body: ndjson(v3) });
  const a = await processChanges([created(k, "v3")], deps(source, output));
  expect(a.files.map((f) => f.status)).to.deep.equal(["ingested"]);
  meanwhile(output);
  release();
  return { output, source, k, prefix, b: await b };
}

describe("a batch whose listing of an upload's versions goes stale before it writes", () => {
  it("does not retire the newer version's rows", async () => {
    expect(state((await raced([facility("F1", "v2 name")], [facility("F1", "v3 name")])).output)).to.deep.equal({ F1: "v3 name" });
  });

  it("does not keep rows of the version removed meanwhile", async () => {
    const { output } = await raced([facility("F1", "v2 name"), facility("F2", "only in v2")], [facility("F1", "v3 name")]);
    expect(state(output)).to.deep.equal({ F1: "v3 name" });
  });

  it("retries the upload, instead of reporting it ingested with its newer rows retired, when the follow-up round cannot read them", async () => {
    let failed = false;
    const { output, source, k, b } = await raced([facility("F1", "v2 name")], [facility("F1", "v3 name")], (store) => {
      const read = store.read.bind(store);
      let reads = 0;
      const prefix = derivedPrefix("curated", "daily/k.ndjson");
      store.read = async (key: string) => {
        // The first read of v3's object is the fallback's history read; the second is the follow-up round's merge.
        if (!failed && key.startsWith(prefix) && store.objects.has(key) && ++reads === 2) {
          failed = true;
          throw new Error("transient 503");
        }
        return read(key);
      };
    });
    expect(failed).to.equal(true);
    expect(b.files.map((f) => f.status)).to.deep.equal(["failed"]);
    // Its retry brings v3's rows back.
    const retried = await processChanges([created(k, "v3")], deps(source, output));
    expect(retried.files.map((f) => f.status)).to.deep.equal(["ingested"]);
    expect(state(output)).to.deep.equal({ F1: "v3 name" });
  });
});

describe("an upload whose versions keep moving while the batch follows it", () => {
  it("is retried alone: an unrelated upload of the same batch is merged", async () => {
    const output = new MemoryStore();
    const source = new VersionedSource();
    const hot = "daily/hot.ndjson";
    const other = "daily/other.ndjson";
    source.files.set(hot, { version: "v1", time: "2026-11-27T08:00:00.000Z", body: ndjson([facility("F1", "hot")]) });
    source.files.set(other, { version: "o1", time: "2026-11-27T08:00:00.000Z", body: ndjson([facility("F2", "other")]) });
    const prefix = derivedPrefix("curated", hot);
    const list = output.list.bind(output);
    let n = 0;
    output.list = async (p: string) => {
      const res = await list(p);
      // Another writer curates a new version of the hot upload after every listing of it (a sync job rewriting it).
      if (p === prefix) output.objects.set(`${prefix}zz${++n}.ndjson.gz`, output.objects.get(res[0]?.key ?? "") ?? { body: Buffer.alloc(0), contentType: "x" });
      return res;
    };
    const r = await processChanges([created(hot, "v1"), created(other, "o1")], deps(source, output));
    expect(r.files.find((f) => f.key === other)?.status).to.equal("ingested");
    expect(r.files.find((f) => f.key === hot)?.status).to.equal("failed");
    expect(state(output)).to.include({ F2: "other" });
  });
});
