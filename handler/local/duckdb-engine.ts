import { DuckDBConnection, DuckDBDataChunk, DuckDBInstance, DuckDBResult, DuckDBValue } from "@duckdb/node-api";
import * as fs from "fs";
import * as os from "os";
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
let instances = 0;

export async function duckDbEngine(curatedDir: string, options: DuckDbOptions = {}): Promise<DuckDbEngine> {
  const limits = options.memoryLimits ?? MEMORY_LIMITS;
  let limit = 0;
  const instance = await DuckDBInstance.create(":memory:", {
    // DuckDB takes 80% of the machine's memory by default, and a window over a million facilities held
    // 0.5 GB of it; past this limit it spills to the temporary folder instead.
    memory_limit: limits[0],
    // One folder per instance, so instances in one process (the Athena twin makes one per query) never
    // meet in each other's spill files.
    temp_directory: options.tempDirectory ?? path.join(os.tmpdir(), `facility-pipeline-duckdb-${process.pid}-${++instances}`),
    // Every report orders its rows itself; without this DuckDB buffers results to keep scan order.
    preserve_insertion_order: "false",
  });
  const setup = await instance.connect();
  for (const macro of COMPATIBILITY_MACROS) await setup.run(macro);
  setup.closeSync();
  let runs = 0;
  const open = new Set<DuckDBConnection>();
  const release = (connection: DuckDBConnection) => {
    if (open.delete(connection)) connection.closeSync();
  };
  return {
    name: "duckdb",
    // One at a time: DuckDB already spreads one query over every core, so side by side the queries only
    // compete (on a million facilities three at once took 20 s, one after another 12 s) and each holds
    // its own reader buffers at the same time.
    runsAtOnce: 1,
    async run(request: QueryRequest): Promise<QueryResult> {
      for (;;) {
        // A connection per run, each with its own (temporary) view of the files there are now: runs
        // stream their rows side by side, and none sees another's view.
        const connection = await instance.connect();
        open.add(connection);
        try {
          await defineTable(connection, curatedDir);
          const started = Date.now();
          const result = await connection.stream(request.sql, request.params.map(bind));
          // The first chunk comes after every sort and window has finished: where DuckDB runs out of
          // memory, if at all, and before any row has been handed on, so running again is safe.
          const first = await result.fetchChunk();
          return {
            executionId: `local-${++runs}-${request.token.slice(0, 12)}`,
            columns: result.columnNames(),
            rows: chunks(result, first, () => release(connection)),
            engineMs: Date.now() - started,
          };
        } catch (e) {
          release(connection);
          if (!isOutOfMemory(e) || limit + 1 >= limits.length) throw e;
          // Lean first, more only when a report needs it: the CLI's memory is part of what it promises.
          limit++;
          const settings = await instance.connect();
          await settings.run(`SET memory_limit = '${limits[limit]}'`);
          settings.closeSync();
        }
      }
    },
    close() {
      for (const connection of open) release(connection);
      instance.closeSync();
    },
  };
}

/**
 * DuckDB's memory_limit, lowest first. Past it, operators spill to the temporary folder; a query that
 * still runs out (some operators cannot spill everything) runs again under the next limit, which then
 * stays. 128 MB runs the three reports over a million facilities (the CLI peaked at 457-484 MB on a
 * 300 MB input, against 681 MB with 256 MB; BENCHMARKS.md).
 */
export const MEMORY_LIMITS = ["128MB", "256MB", "512MB", "1GB", "2GB"] as const;

const isOutOfMemory = (e: unknown) => e instanceof Error && e.message.startsWith("Out of Memory Error");

export interface DuckDbOptions {
  /** DuckDB's memory_limit, lowest first (default MEMORY_LIMITS). */
  memoryLimits?: readonly string[];
  tempDirectory?: string;
}

/** A streamed result as pages of plain values, one DuckDB chunk (2,048 rows) at a time. */
async function* chunks(result: DuckDBResult, first: DuckDBDataChunk | null, done: () => void): AsyncGenerator<unknown[][]> {
  try {
    for (let chunk = first; chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) yield chunk.getRows().map((row) => row.map(plain));
  } finally {
    done();
  }
}

/**
 * (Re)defines the facilities table as a view over whatever curated files exist right now. Always a
 * view, so redefining it never meets an object of another type; with no files it is an empty view of
 * the same columns, and the reports return zero rows. Temporary: it belongs to the run's connection.
 */
async function defineTable(connection: DuckDBConnection, curatedDir: string): Promise<void> {
  const files = fs.existsSync(curatedDir)
    ? fs
        .readdirSync(curatedDir)
        .filter((f) => f.endsWith(".ndjson.gz"))
        .sort()
    : [];
  if (files.length === 0) {
    const nulls = duckDbColumns.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`).join(", ");
    await connection.run(`CREATE OR REPLACE TEMP VIEW ${FACILITY_TABLE} AS SELECT ${nulls} WHERE false`);
    return;
  }
  const columns = duckDbColumns.map((c) => `'${c.name}': '${c.type}'`).join(", ");
  const list = files.map((f) => sqlString(literalGlob(path.join(curatedDir, f)))).join(", ");
  await connection.run(
    `CREATE OR REPLACE TEMP VIEW ${FACILITY_TABLE} AS SELECT * FROM read_json([${list}], format = 'newline_delimited', compression = 'gzip', columns = {${columns}})`,
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
