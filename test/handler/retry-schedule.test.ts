import { expect } from "chai";
import { longestLegitimateAgeSeconds, retryDelaySeconds } from "../../handler/core/retry-schedule";

describe("retry schedule", () => {
  it("backs off from 30 s, doubling per receive, capped at 15 minutes", () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(retryDelaySeconds)).to.deep.equal([30, 60, 120, 240, 480, 900, 900]);
  });

  it("bounds how long a message legitimately lives: window, every receive to the timeout, the backoff between", () => {
    expect(longestLegitimateAgeSeconds({ maxReceiveCount: 1, timeoutSeconds: 300, batchWindowSeconds: 20 })).to.equal(320);
    expect(longestLegitimateAgeSeconds({ maxReceiveCount: 3, timeoutSeconds: 300, batchWindowSeconds: 10 })).to.equal(10 + 900 + 30 + 60);
  });
});
