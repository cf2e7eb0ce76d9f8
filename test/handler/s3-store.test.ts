import { expect } from "chai";
import { s3OutputStore } from "../../handler/aws/s3-store";
import { mergeCuratedObject } from "../../handler/core/current-state";
import { AwsTwin, TWIN } from "../support/twin";

/** The S3 adapters on the twin, under the processor's policy: what S3 answers this role, not any caller. */
describe("S3 output store under the processor's role", () => {
  let twin: AwsTwin;
  beforeEach(() => (twin = new AwsTwin()));
  afterEach(() => twin.restore());
  const store = () => s3OutputStore(twin.s3.client(), TWIN.outputBucket);

  it("reads a curated object deleted since it was named as gone, though S3 answers 403 to this role", async () => {
    // The role lists the output bucket only under prefix conditions, so GetObject on a missing key is
    // 403 AccessDenied, not 404 (S3 API Reference, GetObject, "Permissions").
    twin.s3.store(TWIN.outputBucket, "curated/a-1.v1.ndjson.gz", "x");
    twin.s3.remove(TWIN.outputBucket, "curated/a-1.v1.ndjson.gz");
    expect(await store().read("curated/a-1.v1.ndjson.gz")).to.equal(undefined);
    // A merge of an upload a newer version replaced in the meantime is a no-op, not a dead letter.
    expect(await mergeCuratedObject(store(), "curated/a-1.v1.ndjson.gz")).to.equal(0);
  });

  it("still reports a real denial: a missing key where the role may not list", async () => {
    const error = await store()
      .read("reports/facility-metrics/latest.json")
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.message).to.match(/AccessDenied|403|Unknown/);
  });

  it("replaces latest with a streamed body over one part through a conditional multipart upload", async () => {
    const key = "reports/facility-metrics/latest.json";
    expect(await store().replaceIfNewer(key, "first", "application/json", "2026-11-27T01:00:00.000Z")).to.equal(true);
    const big = Buffer.alloc(9 * 1024 * 1024, 0x61);
    // eslint-disable-next-line @typescript-eslint/require-await -- the store's body source is an async iterable
    const body = async function* () {
      yield big;
    };
    twin.s3.raceNext(key);
    expect(await store().replaceIfNewer(key, body, "application/json", "2026-11-27T02:00:00.000Z")).to.equal(true);
    const written = twin.s3.get(TWIN.outputBucket, key)!;
    expect(written.body.equals(big)).to.equal(true);
    expect(written.etag).to.match(/-2"$/);
    expect(written.metadata.stamp).to.equal("2026-11-27T02:00:00.000Z");
    expect(twin.s3.calls.filter((c) => c.startsWith("CompleteMultipartUpload"))).to.have.length.greaterThan(0);
    // Each failed conditional completion (the lost race, 409; then If-None-Match on an existing key, 412)
    // aborted its parts, which the role must allow (denied, they would stay behind).
    expect(twin.s3.calls.filter((c) => c.startsWith("AbortMultipartUpload"))).to.have.length(2);
    expect(twin.authorizer.denied()).to.deep.equal([]);
    // An older run does not replace it.
    expect(await store().replaceIfNewer(key, body, "application/json", "2026-11-27T00:00:00.000Z")).to.equal(false);
  });
});
