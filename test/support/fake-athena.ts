import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  QueryExecution,
  StartQueryExecutionCommand,
} from "@aws-sdk/client-athena";
import { mockClient } from "aws-sdk-client-mock";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { OUTPUT_LAYOUT } from "../../handler/core/layout";
import { ParamValue } from "../../handler/core/ports";
import { duckDbEngine } from "../../handler/local/duckdb-engine";
import { REPORTS } from "../../handler/reports/registry";
import { FakeS3 } from "./fake-s3";

export type Outcome =
  | { state: "SUCCEEDED"; polls?: number }
  | { state: "FAILED"; polls?: number; reason: string; category?: number; retryable?: boolean }
  | { state: "CANCELLED"; polls?: number; reason: string }
  /** Never finishes (until `finish` is called). */
  | { state: "RUNNING" };

interface Execution {
  id: string;
  token: string;
  sql: string;
  params: ParamValue[];
  outcome: Outcome;
  polls: number;
  rows?: string[][];
  columns?: string[];
}

export function athenaError(name: string, status = 400): Error {
  return Object.assign(new Error(name), { name, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status } });
}

/**
 * Athena behind aws-sdk-client-mock whose queries really run: on success the SQL is executed by
 * DuckDB over the curated objects in the fake S3 output bucket, so results are what the SQL computes.
 * ClientRequestToken is honoured the way Athena does: a known token returns its existing execution.
 */
export class FakeAthena {
  readonly mock = mockClient(AthenaClient);
  readonly executions = new Map<string, Execution>();
  readonly byToken = new Map<string, string>();
  /** Tokens that created a new (billed) execution. */
  readonly started: string[] = [];
  statusCalls = 0;
  resultPages = 0;
  bytesPerQuery = 12 * 1024 * 1024;
  /** False: succeed with no rows instead of running the SQL (for counting queries at scale). */
  runQueries = true;
  outcomeFor: (sql: string, attempt: number) => Outcome = () => ({ state: "SUCCEEDED", polls: 1 });
  private startFaults: Array<() => Error> = [];
  private next = 0;

  /** Where query execution finds the curated files: the fake S3's output bucket, or a callback (a real S3 API). */
  private readonly curated: () => Promise<Array<{ name: string; body: Buffer }>>;

  constructor(source: FakeS3 | (() => Promise<Array<{ name: string; body: Buffer }>>), outputBucket = "") {
    this.curated = typeof source === "function"
      ? source
      : async () => source.keys(outputBucket, OUTPUT_LAYOUT.curated).map((key) => ({ name: key.slice(OUTPUT_LAYOUT.curated.length), body: source.get(outputBucket, key)!.body }));
    this.mock.on(StartQueryExecutionCommand).callsFake(async (input) => {
      const fault = this.startFaults.shift();
      if (fault) throw fault();
      const token = input.ClientRequestToken!;
      if (token.length < 32 || token.length > 128) throw athenaError("InvalidRequestException");
      const known = this.byToken.get(token);
      if (known) return { QueryExecutionId: known };
      const id = `qe-${++this.next}`;
      const sql = input.QueryString!;
      const attempt = [...this.executions.values()].filter((e) => e.sql === sql).length;
      this.executions.set(id, { id, token, sql, params: (input.ExecutionParameters ?? []).map(parseLiteral), outcome: this.outcomeFor(sql, attempt), polls: 0 });
      this.byToken.set(token, id);
      this.started.push(token);
      return { QueryExecutionId: id };
    });
    this.mock.on(GetQueryExecutionCommand).callsFake(async (input) => {
      this.statusCalls++;
      const e = this.executions.get(input.QueryExecutionId!);
      if (!e) throw athenaError("InvalidRequestException");
      e.polls++;
      return { QueryExecution: await this.status(e) };
    });
    this.mock.on(GetQueryResultsCommand).callsFake(async (input) => {
      this.resultPages++;
      const e = this.executions.get(input.QueryExecutionId!);
      if (!e?.rows || !e.columns) throw athenaError("InvalidRequestException");
      const start = input.NextToken ? Number(input.NextToken) : 0;
      const size = input.MaxResults ?? 1000;
      // Like Athena: the first page starts with a header row and holds MaxResults rows including it.
      const all = [e.columns, ...e.rows];
      const page = all.slice(start, start + size);
      const next = start + size < all.length ? String(start + size) : undefined;
      return {
        ResultSet: {
          ResultSetMetadata: { ColumnInfo: e.columns.map((Name) => ({ Name, Type: "varchar" })) },
          Rows: page.map((r) => ({ Data: r.map((v) => (v === null ? {} : { VarCharValue: v })) })),
        },
        NextToken: next,
      };
    });
  }

  client(): AthenaClient {
    return new AthenaClient({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 3 });
  }

  /** The next StartQueryExecution calls fail with these errors, in order. */
  failStarts(...errors: Array<() => Error>): void {
    this.startFaults.push(...errors);
  }

  /** Lets executions that were left RUNNING succeed at their next status check. */
  finishRunning(): void {
    for (const e of this.executions.values()) if (e.outcome.state === "RUNNING") e.outcome = { state: "SUCCEEDED", polls: 0 };
  }

  private async status(e: Execution): Promise<QueryExecution> {
    const base = { QueryExecutionId: e.id, Query: e.sql };
    const o = e.outcome;
    if (o.state === "RUNNING" || e.polls < (o.polls ?? 1)) return { ...base, Status: { State: "RUNNING" } };
    if (o.state === "FAILED") {
      return {
        ...base,
        Status: { State: "FAILED", StateChangeReason: o.reason, AthenaError: { ErrorCategory: o.category, Retryable: o.retryable } },
      };
    }
    if (o.state === "CANCELLED") return { ...base, Status: { State: "CANCELLED", StateChangeReason: o.reason } };
    if (!e.rows && this.runQueries) await this.execute(e);
    if (!e.rows) {
      e.columns = REPORTS.find((r) => r.sql === e.sql)?.columns.map((c) => c.name) ?? [];
      e.rows = [];
    }
    return {
      ...base,
      Status: { State: "SUCCEEDED" },
      Statistics: { DataScannedInBytes: this.bytesPerQuery, EngineExecutionTimeInMillis: 420 },
    };
  }

  private async execute(e: Execution): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-athena-"));
    try {
      for (const file of await this.curated()) fs.writeFileSync(path.join(dir, file.name), file.body);
      const engine = await duckDbEngine(dir);
      try {
        const result = await engine.run({ name: "fake", sql: e.sql, params: e.params, token: e.token, deadline: { remainingMs: () => 1e9 } });
        e.columns = result.columns;
        e.rows = result.rows.map((r) => r.map((v) => (v === null ? null : String(v)))) as string[][];
      } finally {
        engine.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  restore(): void {
    this.mock.restore();
  }
}

/** Athena ExecutionParameters are SQL literals; the fake turns them back into typed values. */
function parseLiteral(literal: string): ParamValue {
  return literal.startsWith("'") ? { type: "date", value: literal.slice(1, -1).replace(/''/g, "'") } : { type: "integer", value: Number(literal) };
}
