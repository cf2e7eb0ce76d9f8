import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, QueryExecution, Row, StartQueryExecutionCommand } from "@aws-sdk/client-athena";
import { permanentError, retryableError } from "../core/errors";
import { sha256 } from "../core/keys";
import { ParamValue, QueryEngine, QueryRequest, QueryResult } from "../core/ports";
import { awsErrorName, classify, httpStatus } from "./aws-errors";

export interface AthenaEngineOptions {
  workgroup: string;
  database: string;
  /** Stop polling when less than this is left before the deadline, to leave time to report. */
  safetyMarginMs?: number;
  /** When to check a running query's status (see `pollDelays`). */
  poll?: PollSchedule;
  /** Executions tried per report when Athena fails a query for a transient reason. */
  maxExecutions?: number;
  sleep?: (ms: number) => Promise<void>;
  /** The clock compared with executions' SubmissionDateTime (milliseconds since the epoch). */
  now?: () => number;
}

/**
 * Athena ExecutionParameters are SQL literals: a date or string travels with its quotes, a number
 * without. Quotes inside a value are doubled, so a value can never end the literal.
 */
export function athenaLiteral(p: ParamValue): string {
  return p.type === "integer" ? String(Math.trunc(p.value)) : `'${p.value.replace(/'/g, "''")}'`;
}

export interface PollSchedule {
  /** First wait; each wait of the fast phase is `growth` times the last, up to `fastMaxMs`. */
  firstMs: number;
  growth: number;
  fastMaxMs: number;
  /** How long the fast phase lasts: most report queries finish within it. */
  fastPhaseMs: number;
  /** After it, wait this fraction of the time elapsed so far, up to `maxMs`. */
  elapsedFraction: number;
  maxMs: number;
}

export const DEFAULT_POLL: PollSchedule = { firstMs: 100, growth: 1.25, fastMaxMs: 400, fastPhaseMs: 4_000, elapsedFraction: 0.4, maxMs: 5_000 };

/**
 * Waits between status checks, given the time already spent. Report queries mostly finish in a few
 * seconds, so the first 4 s are checked at most 400 ms apart (results appear soon after the query
 * ends); after that the wait grows with the elapsed time, which keeps a long query to about one
 * GetQueryExecution call per second of its run time (Athena allows 100 per second per account).
 * `npm run bench` measures both against the original fixed 2-second polling.
 */
export function pollDelays(s: PollSchedule = DEFAULT_POLL): (elapsedMs: number) => number {
  let n = 0;
  return (elapsed) => {
    if (elapsed < s.fastPhaseMs) return Math.min(s.fastMaxMs, s.firstMs * s.growth ** n++);
    return Math.min(s.maxMs, Math.max(s.fastMaxMs, s.elapsedFraction * elapsed));
  };
}

/**
 * Runs report queries in Athena, idempotently: the request's token is Athena's ClientRequestToken, so
 * a retried invocation gets the execution it already started instead of paying for another.
 * A query that Athena fails for a transient reason is re-run under a token derived from the first
 * (token, then token#1, ...), so a retry after that also finds, rather than repeats, the re-run.
 */
/** Longest chain of re-run tokens one report walks across all its receives. */
const MAX_CHAIN = 32;
/** Allowance for clock differences between the function and Athena when telling earlier executions apart. */
const EARLIER_MARGIN_MS = 5_000;

export function athenaEngine(client: AthenaClient, options: AthenaEngineOptions): QueryEngine {
  const margin = options.safetyMarginMs ?? 10_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxExecutions = options.maxExecutions ?? 3;
  const now = options.now ?? Date.now;

  /**
   * Athena allows StartQueryExecution 20/s and GetQueryExecution 100/s per account. Throttling and
   * server errors are retried here with exponential backoff (on top of the SDK's own adaptive
   * retries), within the deadline; what still fails is retryable for the whole batch.
   */
  async function call<T>(request: QueryRequest, doing: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const backoff = 200 * 2 ** attempt;
        const throttled = /Throttl|TooManyRequests|RequestLimitExceeded/.test(awsErrorName(e)) || (httpStatus(e) ?? 0) >= 500 || httpStatus(e) === 429;
        if (!throttled || attempt >= 3 || request.deadline.remainingMs() - backoff < margin) throw classify(e, doing);
        await sleep(backoff);
      }
    }
  }

  async function start(request: QueryRequest, token: string): Promise<string> {
    const res = await call(request, `starting report ${request.name}`, () =>
      client.send(
        new StartQueryExecutionCommand({
          QueryString: request.sql,
          ClientRequestToken: token,
          WorkGroup: options.workgroup,
          QueryExecutionContext: { Database: options.database, Catalog: "AwsDataCatalog" },
          ExecutionParameters: request.params.length > 0 ? request.params.map(athenaLiteral) : undefined,
        }),
      ),
    );
    if (!res.QueryExecutionId) throw retryableError(`starting report ${request.name}: Athena returned no execution id`);
    return res.QueryExecutionId;
  }

  async function waitFor(request: QueryRequest, id: string): Promise<QueryExecution> {
    const delay = pollDelays(options.poll);
    let elapsed = 0;
    for (;;) {
      const wait = delay(elapsed);
      elapsed += wait;
      if (request.deadline.remainingMs() - wait < margin) {
        // Leave the query running: the retried invocation presents the same token and picks it up.
        throw retryableError(`report ${request.name}: Athena query ${id} is still running near the function's deadline; the retry resumes it`);
      }
      await sleep(wait);
      const execution = (
        await call(request, `checking report ${request.name} (query ${id})`, () => client.send(new GetQueryExecutionCommand({ QueryExecutionId: id })))
      ).QueryExecution;
      const state = execution?.Status?.State;
      if (execution && (state === "SUCCEEDED" || state === "FAILED" || state === "CANCELLED")) return execution;
    }
  }

  /**
   * The result in GetQueryResults pages (up to 1,000 rows each): the first is read here for the
   * column names, the rest only as the caller consumes them, so a result never sits in memory whole.
   */
  async function results(request: QueryRequest, id: string): Promise<{ columns: string[]; rows: AsyncIterable<unknown[][]> }> {
    const page = (token: string | undefined) =>
      call(request, `reading results of report ${request.name} (query ${id})`, () =>
        client.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token, MaxResults: 1000 })),
      );
    const cells = (rows: Row[]) => rows.map((row) => (row.Data ?? []).map((d) => d.VarCharValue ?? null));
    const first = await page(undefined);
    const columns = (first.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? "");
    async function* pages(): AsyncGenerator<unknown[][]> {
      // The first row of a SELECT's first page repeats the column names.
      yield cells((first.ResultSet?.Rows ?? []).slice(1));
      let next = first.NextToken;
      while (next) {
        const res = await page(next);
        yield cells(res.ResultSet?.Rows ?? []);
        next = res.NextToken;
      }
    }
    return { columns, rows: pages() };
  }

  return {
    name: "athena",
    async run(request: QueryRequest): Promise<QueryResult> {
      const reasons: string[] = [];
      // Re-runs are `token#1`, `token#2`, ...: a retried invocation walks the same chain and finds the
      // executions earlier receives left (Athena returns the execution a known token started). One that
      // was submitted well before this invocation asked is an earlier receive's failure: it is stepped
      // over without counting, so every receive gets its own `maxExecutions` fresh tries instead of
      // finding the same failed executions until the message is dead-lettered.
      let fresh = 0;
      for (let n = 0; n < MAX_CHAIN && fresh < maxExecutions; n++) {
        const token = n === 0 ? request.token : sha256(`${request.token}#${n}`);
        const askedAt = now();
        const id = await start(request, token);
        const execution = await waitFor(request, id);
        const submitted = execution.Status?.SubmissionDateTime?.getTime();
        const earlier = submitted !== undefined && submitted < askedAt - EARLIER_MARGIN_MS;
        const status = execution.Status;
        if (status?.State === "SUCCEEDED") {
          const { columns, rows } = await results(request, id);
          return {
            executionId: id,
            columns,
            rows,
            bytesScanned: execution.Statistics?.DataScannedInBytes,
            engineMs: execution.Statistics?.EngineExecutionTimeInMillis,
          };
        }
        const reason = status?.StateChangeReason ?? status?.State ?? "unknown";
        if (status?.State === "CANCELLED") {
          if (/limit|cutoff|scanned/i.test(reason)) {
            throw permanentError(`report ${request.name}: query ${id} was cancelled by the workgroup's bytes-scanned cutoff: ${reason}`);
          }
        } else if (!transient(execution)) {
          throw permanentError(`report ${request.name}: query ${id} failed: ${reason}`);
        }
        if (!earlier) fresh++;
        reasons.push(`${id}: ${reason}`);
      }
      throw retryableError(`report ${request.name}: ${reasons.length} executions failed transiently (${reasons.slice(-maxExecutions).join("; ")})`);
    },
  };
}

/**
 * Athena's own verdict when it gives one (AthenaError.Retryable); otherwise system errors
 * (ErrorCategory 1) and internal or throttling messages count as transient. User errors (category 2:
 * syntax, permissions, data) are not.
 */
function transient(execution: QueryExecution): boolean {
  const error = execution.Status?.AthenaError;
  if (error?.Retryable !== undefined) return error.Retryable;
  if (error?.ErrorCategory === 1) return true;
  if (error?.ErrorCategory === 2) return false;
  return /internal|throttl|rate exceeded|slow ?down|temporar|unavailable/i.test(execution.Status?.StateChangeReason ?? "");
}
