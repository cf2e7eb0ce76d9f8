import { DuckDBConnection, DuckDBInstance, DuckDBValue } from "@duckdb/node-api";
import * as fs from "fs";
import * as path from "path";
import { ParamValue, QueryEngine, QueryRequest, QueryResult } from "../core/ports";
import { duckDbColumns } from "../schema/columns";
import { FACILITY_TABLE } from "../schema/facility";

/**
 * Trino (Athena) functions the reports use that DuckDB lacks or names differently, supplied as macros
 * so the report SQL runs unmodified. A macro may shadow a DuckDB built-in of the same name.
 */
export const COMPATIBILITY_MACROS: readonly string[] = [
  // Trino: number of elements of an array.
  "CREATE OR REPLACE MACRO cardinality(l) AS len(l)",
  // Trino: 1-based element, NULL when out of range (where arr[i] would fail the query).
  "CREATE OR REPLACE MACRO element_at(l, i) AS l[i]",
  // Trino: the array [a, a+1, ..., b].
  "CREATE OR REPLACE MACRO sequence(a, b) AS generate_series(a, b)",
];

export interface DuckDbEngine extends QueryEngine {
  close(): void;
}

/**
 * Runs the report SQL on DuckDB over the curated gzip NDJSON files of a local folder, read with the
 * column types projected from the facility schema (the same types the Glue table declares).
 */
export async function duckDbEngine(curatedDir: string): Promise<DuckDbEngine> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  for (const macro of COMPATIBILITY_MACROS) await connection.run(macro);
  let runs = 0;
  // One connection runs one statement at a time, and each run redefines the table: queue the runs.
  let queue: Promise<unknown> = Promise.resolve();
  const runNow = async (request: QueryRequest): Promise<QueryResult> => {
    await defineTable(connection, curatedDir);
    const started = Date.now();
    const reader = await connection.runAndReadAll(request.sql, request.params.map(bind));
    return {
      executionId: `local-${++runs}-${request.token.slice(0, 12)}`,
      columns: reader.columnNames(),
      rows: reader.getRows().map((row) => row.map(plain)),
      engineMs: Date.now() - started,
    };
  };
  return {
    name: "duckdb",
    run(request: QueryRequest): Promise<QueryResult> {
      const result = queue.then(() => runNow(request));
      queue = result.catch(() => undefined);
      return result;
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * (Re)defines the facilities table as a view over whatever curated files exist right now. Always a
 * view, so redefining it never meets an object of another type; with no files it is an empty view of
 * the same columns, and the reports return zero rows.
 */
async function defineTable(connection: DuckDBConnection, curatedDir: string): Promise<void> {
  const files = fs.existsSync(curatedDir) ? fs.readdirSync(curatedDir).filter((f) => f.endsWith(".ndjson.gz")).sort() : [];
  if (files.length === 0) {
    const nulls = duckDbColumns.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`).join(", ");
    await connection.run(`CREATE OR REPLACE VIEW ${FACILITY_TABLE} AS SELECT ${nulls} WHERE false`);
    return;
  }
  const columns = duckDbColumns.map((c) => `'${c.name}': '${c.type}'`).join(", ");
  const list = files.map((f) => sqlString(literalGlob(path.join(curatedDir, f)))).join(", ");
  await connection.run(
    `CREATE OR REPLACE VIEW ${FACILITY_TABLE} AS SELECT * FROM read_json([${list}], format = 'newline_delimited', compression = 'gzip', columns = {${columns}})`,
  );
}

/**
 * DuckDB expands every file name it is given as a glob pattern, even in an explicit list, so an
 * output folder named `o[1]` would read `o1/` instead. Each pattern character becomes a one-character
 * class that matches only itself (backslash is no escape in DuckDB's globs).
 */
export function literalGlob(file: string): string {
  return file.replace(/[[*?]/g, (c) => `[${c}]`);
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

function bind(p: ParamValue): DuckDBValue {
  return p.type === "integer" ? BigInt(p.value) : p.value;
}

/** DuckDB values as plain JS: dates as YYYY-MM-DD text, integers as bigint or number. */
function plain(v: DuckDBValue): unknown {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return v;
  return String(v);
}
