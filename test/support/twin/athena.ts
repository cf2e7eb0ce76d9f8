import { pagesOf } from "../../../handler/core/results";
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryExecutionCommandInput,
  GetQueryResultsCommand,
  GetQueryResultsCommandInput,
  QueryExecution,
  StartQueryExecutionCommand,
  StartQueryExecutionCommandInput,
} from "@aws-sdk/client-athena";
import { mockClient } from "aws-sdk-client-mock";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { OUTPUT_LAYOUT } from "../../../handler/core/layout";
import { ParamValue } from "../../../handler/core/ports";
import { duckDbEngine } from "../../../handler/local/duckdb-engine";
import { REPORTS } from "../../../handler/reports/registry";
import { jsonError } from "./errors";
import { Authorizer } from "./iam";
import { S3Twin } from "./s3";

export type Outcome =
  | { state: "SUCCEEDED"; polls?: number }
  | { state: "FAILED"; polls?: number; reason: string; category?: number; retryable?: boolean }
  | { state: "CANCELLED"; polls?: number; reason: string }
  /** Never finishes (until `finishRunning` is called). */
  | { state: "RUNNING" };

interface Execution {
  id: string;
  token: string;
  workgroup: string;
  sql: string;
  params: ParamValue[];
  outcome: Outcome;
  polls: number;
  rows?: Array<Array<string | null>>;
  columns?: string[];
  bytesScanned?: number;
  submittedAt: number;
}

/** Where the table lives and what the workgroup enforces. */
export interface AthenaTwinTable {
  region: string;
  accountId: string;
  workgroup: string;
  database: string;
  table: string;
  /** The bucket holding the table location (`curated/`) and the scratch results (`athena-results/`). */
  outputBucket: string;
  /** The workgroup's BytesScannedCutoffPerQuery; absent: no cutoff. */
  bytesScannedCutoff?: number;
}

/** Where a query finds the table's objects and puts its results: the S3 twin, or a real S3 API (moto). */
export interface TableStore {
  keys(bucket: string, prefix: string): Promise<string[]>;
  read(bucket: string, key: string): Promise<Buffer>;
  write(bucket: string, key: string, body: string): Promise<void>;
}

export function twinTableStore(s3: S3Twin): TableStore {
  return {
    keys: (bucket, prefix) => Promise.resolve(s3.keys(bucket, prefix)),
    read: (bucket, key) => Promise.resolve(s3.get(bucket, key)!.body),
    write: (bucket, key, body) => Promise.resolve(void s3.store(bucket, key, body)),
  };
}

/** Athena's words when the workgroup's per-query data usage control stops a query. */
export const CUTOFF_REASON = "Bytes scanned limit was exceeded";

export const ATHENA_COMMANDS = ["StartQueryExecution", "GetQueryExecution", "GetQueryResults"] as const;

/**
 * Athena as the processor meets it, behind aws-sdk-client-mock; queries really run (DuckDB executes the
 * SQL over the curated objects), and the way AWS documents it:
 *
 * - StartQueryExecution, GetQueryExecution and GetQueryResults are authorized on the workgroup ARN.
 * - A query runs with the caller's permissions (Athena User Guide, "Access to Amazon S3"; "Access to the
 *   AWS Glue Data Catalog"): it reads the table from Glue (glue:GetDatabase, glue:GetTable), lists the
 *   table location (s3:ListBucket with `s3:prefix`), reads every object there (s3:GetObject) and writes
 *   its results to the workgroup's output location (s3:PutObject). A denial FAILS the query (category 2,
 *   user error) with the service's reason rather than failing the API call.
 * - Bytes scanned are the sizes of the objects read (gzip is counted compressed); a query over the
 *   workgroup's cutoff is cancelled with Athena's reason (User Guide, "Setting data usage control limits").
 * - ClientRequestToken (32-128 characters): a known token returns its execution instead of starting
 *   and billing another; the same token with a different query is rejected (API Reference,
 *   StartQueryExecution).
 */
export class AthenaTwin {
  readonly mock = mockClient(AthenaClient);
  readonly executions = new Map<string, Execution>();
  readonly byToken = new Map<string, string>();
  /** Tokens that created a new (billed) execution. */
  readonly started: string[] = [];
  statusCalls = 0;
  resultPages = 0;
  /** Overrides the measured bytes scanned (for cost tests at scale). */
  bytesPerQuery: number | undefined;
  /** False: succeed with no rows instead of running the SQL (for counting queries at scale). */
  runQueries = true;
  outcomeFor: (sql: string, attempt: number) => Outcome = () => ({ state: "SUCCEEDED", polls: 1 });
  /** Athena's clock, for SubmissionDateTime (tests share a simulated one with the engine). */
  now: () => number = Date.now;
  private startFaults: Array<() => Error> = [];
  private next = 0;

  private readonly store: TableStore;

  constructor(
    s3: S3Twin | TableStore,
    readonly where: AthenaTwinTable,
    private readonly authorizer?: Authorizer,
  ) {
    this.store = s3 instanceof S3Twin ? twinTableStore(s3) : s3;
    this.mock
      .onAnyCommand()
      .callsFake((input: unknown) => Promise.reject(new Error(`the Athena twin does not model this call (input ${JSON.stringify(input)})`)));
    this.mock.on(StartQueryExecutionCommand).callsFake(async (input: StartQueryExecutionCommandInput) => {
      const workgroup = input.WorkGroup ?? "primary";
      await this.authorize("athena:StartQueryExecution", this.workgroupArn(workgroup));
      const fault = this.startFaults.shift();
      if (fault) throw fault();
      const token = input.ClientRequestToken ?? "";
      if (token.length < 32 || token.length > 128) throw jsonError("InvalidRequestException", 400, "ClientRequestToken must be 32 to 128 characters");
      const sql = input.QueryString ?? "";
      const params = (input.ExecutionParameters ?? []).map(parseLiteral);
      const known = this.byToken.get(token);
      if (known) {
        const e = this.executions.get(known)!;
        if (e.sql !== sql || JSON.stringify(e.params) !== JSON.stringify(params) || e.workgroup !== workgroup) {
          throw jsonError("InvalidRequestException", 400, "Idempotent parameters do not match");
        }
        return { QueryExecutionId: known };
      }
      const id = `qe-${++this.next}`;
      const attempt = [...this.executions.values()].filter((e) => e.sql === sql).length;
      this.executions.set(id, { id, token, workgroup, sql, params, outcome: this.outcomeFor(sql, attempt), polls: 0, submittedAt: this.now() });
      this.byToken.set(token, id);
      this.started.push(token);
      return { QueryExecutionId: id };
    });
    this.mock.on(GetQueryExecutionCommand).callsFake(async (input: GetQueryExecutionCommandInput) => {
      this.statusCalls++;
      const e = this.executions.get(input.QueryExecutionId ?? "");
      if (!e) throw jsonError("InvalidRequestException", 400, `QueryExecution ${input.QueryExecutionId} was not found`);
      await this.authorize("athena:GetQueryExecution", this.workgroupArn(e.workgroup));
      e.polls++;
      return { QueryExecution: await this.status(e) };
    });
    this.mock.on(GetQueryResultsCommand).callsFake(async (input: GetQueryResultsCommandInput) => {
      this.resultPages++;
      const e = this.executions.get(input.QueryExecutionId ?? "");
      if (!e) throw jsonError("InvalidRequestException", 400, `QueryExecution ${input.QueryExecutionId} was not found`);
      await this.authorize("athena:GetQueryResults", this.workgroupArn(e.workgroup));
      if (!e.rows || !e.columns) throw jsonError("InvalidRequestException", 400, `Query has not yet finished. Current state: RUNNING`);
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

  workgroupArn = (workgroup: string) => `arn:aws:athena:${this.where.region}:${this.where.accountId}:workgroup/${workgroup}`;

  /** The next StartQueryExecution calls fail with these errors, in order. */
  failStarts(...errors: Array<() => Error>): void {
    this.startFaults.push(...errors);
  }

  /** Lets executions that were left RUNNING succeed at their next status check. */
  finishRunning(): void {
    for (const e of this.executions.values()) if (e.outcome.state === "RUNNING") e.outcome = { state: "SUCCEEDED", polls: 0 };
  }

  restore(): void {
    this.mock.restore();
  }

  private async authorize(action: string, resource: string): Promise<void> {
    if (!this.authorizer || (await this.authorizer.allows(action, resource))) return;
    throw jsonError("AccessDeniedException", 400, this.authorizer.deniedMessage(action, resource));
  }

  private async status(e: Execution): Promise<QueryExecution> {
    const base = { QueryExecutionId: e.id, Query: e.sql, WorkGroup: e.workgroup };
    const submitted = { SubmissionDateTime: new Date(e.submittedAt) };
    const o = e.outcome;
    if (o.state === "RUNNING" || e.polls < (o.polls ?? 1)) return { ...base, Status: { State: "RUNNING", ...submitted } };
    if (o.state === "SUCCEEDED" && !e.rows) e.outcome = await this.execute(e);
    const done = e.outcome;
    if (done.state === "FAILED") {
      return {
        ...base,
        Status: { State: "FAILED", ...submitted, StateChangeReason: done.reason, AthenaError: { ErrorCategory: done.category, Retryable: done.retryable } },
      };
    }
    if (done.state === "CANCELLED") return { ...base, Status: { State: "CANCELLED", ...submitted, StateChangeReason: done.reason } };
    return {
      ...base,
      Status: { State: "SUCCEEDED", ...submitted },
      Statistics: { DataScannedInBytes: this.bytesPerQuery ?? e.bytesScanned ?? 0, EngineExecutionTimeInMillis: 420 },
    };
  }

  /** Runs the query as the caller: what it may not read or write fails it, as in Athena. */
  private async execute(e: Execution): Promise<Outcome> {
    const w = this.where;
    const userError = (reason: string): Outcome => ({ state: "FAILED", reason, category: 2, retryable: false });
    const glue = (suffix: string) => `arn:aws:glue:${w.region}:${w.accountId}:${suffix}`;
    for (const [action, resource] of [
      ["glue:GetDatabase", glue(`database/${w.database}`)],
      ["glue:GetTable", glue(`table/${w.database}/${w.table}`)],
    ]) {
      if (this.authorizer && !(await this.authorizer.allows(action, resource))) {
        return userError(`Insufficient permissions to execute the query. ${this.authorizer.deniedMessage(action, resource)}`);
      }
    }
    const bucketArn = `arn:aws:s3:::${w.outputBucket}`;
    // The `facilities` table's location is the current state (infra/catalog.ts).
    const location = OUTPUT_LAYOUT.current;
    if (this.authorizer && !(await this.authorizer.allows("s3:ListBucket", bucketArn, { "s3:prefix": location }))) {
      return userError(`Permission denied on S3 path: s3://${w.outputBucket}/${location}`);
    }
    const files: Array<{ name: string; body: Buffer }> = [];
    for (const key of await this.store.keys(w.outputBucket, location)) {
      if (this.authorizer && !(await this.authorizer.allows("s3:GetObject", `${bucketArn}/${key}`))) {
        return userError(`Permission denied on S3 path: s3://${w.outputBucket}/${key}`);
      }
      files.push({ name: key.slice(location.length), body: await this.store.read(w.outputBucket, key) });
    }
    e.bytesScanned = files.reduce((n, f) => n + f.body.length, 0);
    if (w.bytesScannedCutoff !== undefined && e.bytesScanned > w.bytesScannedCutoff) return { state: "CANCELLED", reason: CUTOFF_REASON };

    if (this.runQueries) {
      const result = await runOnDuckDb(files, e);
      e.columns = result.columns;
      e.rows = result.rows;
    } else {
      e.columns = REPORTS.find((r) => r.sql === e.sql)?.columns.map((c) => c.name) ?? [];
      e.rows = [];
    }
    const resultKey = `${OUTPUT_LAYOUT.athenaScratch}${e.id}.csv`;
    // Athena locates the results bucket as the caller before writing to it (Athena User Guide, "Access
    // to Amazon S3": s3:GetBucketLocation on the query result location's bucket).
    if (this.authorizer && !(await this.authorizer.allows("s3:GetBucketLocation", bucketArn))) {
      return userError(`Access denied when locating the output bucket: s3://${w.outputBucket}`);
    }
    if (this.authorizer && !(await this.authorizer.allows("s3:PutObject", `${bucketArn}/${resultKey}`))) {
      return userError(`Access denied when writing output to url: s3://${w.outputBucket}/${resultKey}`);
    }
    await this.store.write(w.outputBucket, resultKey, [e.columns, ...e.rows].map((r) => r.map((v) => JSON.stringify(v ?? "")).join(",")).join("\n"));
    return { state: "SUCCEEDED" };
  }
}

async function runOnDuckDb(files: Array<{ name: string; body: Buffer }>, e: Execution): Promise<{ columns: string[]; rows: Array<Array<string | null>> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "athena-twin-"));
  try {
    for (const file of files) fs.writeFileSync(path.join(dir, file.name), file.body);
    const engine = await duckDbEngine(dir);
    try {
      const result = await engine.run({ name: "twin", sql: e.sql, params: e.params, token: e.token, deadline: { remainingMs: () => 1e9 } });
      const rows: Array<Array<string | null>> = [];
      for await (const page of pagesOf(result.rows)) for (const r of page) rows.push(r.map((v) => (v === null ? null : varchar(v))));
      return { columns: result.columns, rows };
    } finally {
      engine.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Athena ExecutionParameters are SQL literals; the twin turns them back into typed values. */
/** Athena answers every cell as text (VarCharValue); the engine's cells are plain JS scalars. */
function varchar(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  throw new Error(`the Athena twin cannot give a ${typeof v} cell as VarCharValue: ${JSON.stringify(v)}`);
}

function parseLiteral(literal: string): ParamValue {
  return literal.startsWith("'") ? { type: "date", value: literal.slice(1, -1).replace(/''/g, "'") } : { type: "integer", value: Number(literal) };
}
