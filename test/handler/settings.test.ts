import { expect } from "chai";
import { readSettings } from "../../handler/aws/settings";
import { processorEnv, SETTINGS } from "../support/processor-harness";

describe("processor environment contract", () => {
  it("reads back exactly the settings infra writes", () => {
    expect(readSettings(processorEnv())).to.deep.equal(SETTINGS);
  });

  it("fails the cold start naming every missing or malformed variable", () => {
    const env: Record<string, string | undefined> = { ...processorEnv(), ATHENA_WORKGROUP: undefined, MAX_RECEIVE_COUNT: "three" };
    expect(() => readSettings(env)).to.throw(/ATHENA_WORKGROUP is not set; MAX_RECEIVE_COUNT="three" is not a positive integer/);
  });
});
