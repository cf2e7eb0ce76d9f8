import { expect } from "chai";
import { mapLimit } from "../../handler/core/map-limit";

describe("mapLimit", () => {
  it("keeps the items' order and never runs more than the limit at once", async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });
    expect(out).to.deep.equal([50, 10, 40, 20, 30]);
    expect(most).to.equal(2);
  });

  it("starts nothing new after a failure, lets the running calls finish, and throws the failure", async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const failure = await mapLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      await new Promise((r) => setTimeout(r, n === 1 ? 1 : 20));
      if (n === 1) throw new Error("shard 1 failed");
      finished.push(n);
      return n;
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(failure)).to.contain("shard 1 failed");
    expect(started).to.deep.equal([1, 2]);
    expect(finished).to.deep.equal([2]);
  });
});
