import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NO_DEADLINE, QueryResult } from "../../handler/core/ports";
import { duckDbEngine } from "../../handler/local/duckdb-engine";

/** An aggregate into one string cannot spill: under a few MB DuckDB answers "Out of Memory Error". */
const HUNGRY = "SELECT length(string_agg(x::VARCHAR, ',')) AS n FROM range(3000000) t(x)";

async function rowsOf(result: QueryResult): Promise<unknown[][]> {
  const out: unknown[][] = [];
  for await (const page of result.rows) out.push(...(page as unknown[][]));
  return out;
}

describe("local DuckDB engine memory", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "duckdb-engine-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const request = { name: "hungry", sql: HUNGRY, params: [], token: "t".repeat(64), deadline: NO_DEADLINE };

  it("runs a report again under the next memory limit when DuckDB runs out, and keeps that limit", async () => {
    const engine = await duckDbEngine(dir, { memoryLimits: ["4MB", "256MB"], tempDirectory: dir });
    try {
      expect(await rowsOf(await engine.run(request))).to.deep.equal([[22888889n]]);
      // The raised limit stays for the runs after it.
      const setting = await rowsOf(await engine.run({ ...request, sql: "SELECT current_setting('memory_limit')" }));
      expect(String(setting[0][0])).to.match(/^2[45][0-9](\.[0-9])? MiB$/);
    } finally {
      engine.close();
    }
  });

  it("passes DuckDB's out-of-memory error on when no higher limit is left", async () => {
    const engine = await duckDbEngine(dir, { memoryLimits: ["4MB"], tempDirectory: dir });
    try {
      const failure = await engine.run(request).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(String(failure)).to.match(/Out of Memory Error/);
    } finally {
      engine.close();
    }
  });
});
