import { createReadStream, promises as fsp, watch } from "fs";
import * as path from "path";
import { createInterface } from "readline";
import { parseArgs } from "util";
import { createGunzip } from "zlib";
import { BatchResult, processChanges } from "../core/batch";
import { messageOf } from "../core/errors";
import { Change } from "../core/events";
import { QuarantineEntry } from "../core/ingest";
import { isAcceptedName } from "../core/keys";
import { OUTPUT_LAYOUT } from "../core/layout";
import { NO_DEADLINE, SILENT_TELEMETRY } from "../core/ports";
import { addMonths, REPORTS } from "../reports/registry";
import { isCalendarDate, createFacilityValidator } from "../schema/validator";
import { duckDbEngine } from "./duckdb-engine";
import { fsOutputStore, fsSourceStore, localKey, realFolder } from "./fs-store";
import { acquireOutput, emptyOutput } from "./output-folder";
import { count, formatBytes, printable, renderFile, renderReport } from "./render";

/** How the user started this tool, for the usage text: `npm start --` or the installed command. */
export function invokedAs(env: NodeJS.ProcessEnv = process.env): string {
  return env.npm_lifecycle_event === "start" ? "npm start --" : "facility-pipeline";
}

const SYNOPSIS = "[file-or-dir...] [--out DIR] [--fresh] [--as-of YYYY-MM-DD] [--months N] [--watch DIR] [--strict] [--json]";

/** The one line a usage error ends with. */
export const usageLine = (command = invokedAs()) => `Usage: ${command} ${SYNOPSIS}  (--help for details)`;

export const usage = (command = invokedAs()) => `Usage: ${command} [file-or-dir...] [options]

Runs the facility pipeline on this machine: the same validation, curation and report SQL as the
AWS Lambda, with a local folder for the buckets and DuckDB for Athena. No AWS account needed.

Inputs are .json, .jsonl and .ndjson files (optionally .gz): NDJSON, a JSON array, or an object
wrapping one array. A directory means the files directly in it (symbolic links followed); a file that
was there on an earlier run and is gone now is removed from the table, as a deleted upload would be.
A file is keyed by its folder's real path and its name, whatever the working directory.
With no inputs, the sample data in sample-data/ is processed.

The table keeps the uploads of earlier runs on the same --out (a run says which); --fresh starts over.
Reports, tables and --json go to stdout; per-file results, rejects and progress go to stderr.

Options:
  --out DIR          output folder, laid out like the output bucket (default: .pipeline)
  --fresh            empty the output folder first (only what this tool wrote; refused otherwise)
  --as-of YYYY-MM-DD report date (default: today in UTC, taken again at every run)
  --months N         how many months ahead expiring-accreditations looks, 1 to 120 (default: 6)
  --watch DIR        keep running: files created, changed or removed in DIR are processed like
                     uploads and deletions, one report run per burst of changes
  --strict           exit 1 if any record is rejected
  --json             print one machine-readable summary (counts and paths, not report rows)
  -h, --help         show this help

Exit codes: 0 processed (rejected records are reported and quarantined); 1 a file could not be
processed at all, --strict and a record was rejected, or --out cannot be written, is in use by
another run, or holds files --fresh will not remove; 2 usage error; 130 interrupted.`;

export interface CliOptions {
  inputs: string[];
  out: string;
  /** Absent: today (UTC) at the start of each run, so a long --watch moves on after midnight. */
  asOf?: string;
  months: number;
  watch?: string;
  strict: boolean;
  json: boolean;
  /** Empty the output folder (what this tool wrote there) before the run. */
  fresh?: boolean;
}

export class UsageError extends Error {}

const OPTIONS = {
  out: { type: "string" },
  "as-of": { type: "string" },
  months: { type: "string" },
  watch: { type: "string" },
  fresh: { type: "boolean" },
  strict: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const PLACEHOLDER: Readonly<Record<string, string>> = { out: "DIR", "as-of": "YYYY-MM-DD", months: "N", watch: "DIR" };

/**
 * Node's parseArgs errors, reworded: its own text suggests `--` for positionals and spans lines.
 * The codes are documented (ERR_PARSE_ARGS_UNKNOWN_OPTION, ERR_PARSE_ARGS_INVALID_OPTION_VALUE).
 */
function parseError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const text = messageOf(e);
  const option = /'(-[^' ]*)/.exec(text)?.[1] ?? "";
  const name = option.replace(/^--?/, "");
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const near = nearestOption(name);
    return `unknown option ${option}${near ? ` (did you mean --${near}?)` : ""}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (/does not take an argument/.test(text)) return `${option} takes no value`;
    return `${option} needs a value, e.g. ${option} ${PLACEHOLDER[name] ?? "VALUE"}`;
  }
  return text.split("\n")[0];
}

/** A known option the user probably meant: the same up to case and `_`, or one it starts. */
function nearestOption(name: string): string | undefined {
  const wanted = name.toLowerCase().replace(/_/g, "-");
  const names = Object.keys(OPTIONS);
  return names.find((n) => n === wanted) ?? (wanted.length >= 2 ? names.find((n) => n.startsWith(wanted) || wanted.startsWith(n)) : undefined);
}

const SAMPLE_DIR = path.resolve(__dirname, "../../sample-data");

export function parseCli(argv: string[]): CliOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    throw new UsageError(parseError(e));
  }
  const v = parsed.values;
  if (v.help) return "help";
  const asOf = v["as-of"];
  if (asOf !== undefined && !isCalendarDate(asOf)) throw new UsageError(`--as-of ${JSON.stringify(asOf)}: expected a calendar date written YYYY-MM-DD`);
  // Digits only: Number() would also take "0x6", "1e1", " 6" and "6.0".
  const months = v.months === undefined ? 6 : /^[0-9]{1,3}$/.test(v.months) ? Number(v.months) : NaN;
  if (!(months >= 1 && months <= 120)) throw new UsageError(`--months ${JSON.stringify(v.months)}: expected a whole number from 1 to 120`);
  if (asOf !== undefined && !isCalendarDate(addMonths(asOf, months))) {
    throw new UsageError(`--as-of ${asOf} --months ${months}: the horizon falls after 9999-12-31`);
  }
  const inputs = parsed.positionals.length > 0 || v.watch ? parsed.positionals : [path.relative(process.cwd(), SAMPLE_DIR) || "."];
  return { inputs, out: v.out ?? ".pipeline", asOf, months, watch: v.watch, strict: v.strict ?? false, json: v.json ?? false, fresh: v.fresh ?? false };
}

interface Expanded {
  files: string[];
  dirs: string[];
}

async function expand(inputs: string[]): Promise<Expanded> {
  const out: Expanded = { files: [], dirs: [] };
  for (const input of inputs) {
    let stat;
    try {
      stat = await fsp.stat(input);
    } catch {
      throw new UsageError(`${input}: no such file or directory`);
    }
    if (stat.isDirectory()) {
      out.dirs.push(input);
      const listed = (await fsp.readdir(input, { withFileTypes: true })).filter((d) => isAcceptedName(d.name));
      // Hidden files are not uploads: macOS writes `._name.json` beside every file it copies, and the
      // pipeline's own `.latest-stamps.json` sits in an output folder placed inside an input folder.
      const hidden = listed.filter((d) => d.name.startsWith("."));
      if (hidden.length > 0)
        warn(
          `${input}: skipped ${hidden.length} hidden file(s): ${hidden
            .map((d) => d.name)
            .slice(0, 5)
            .join(", ")}${hidden.length > 5 ? ", ..." : ""}`,
        );
      const entries = listed.filter((d) => !d.name.startsWith("."));
      const files: string[] = [];
      for (const d of entries) {
        const file = path.join(input, d.name);
        if (d.isFile()) {
          files.push(file);
        } else if (d.isSymbolicLink()) {
          // Followed, as a file named on the command line would be; keyed by the link's own place.
          const target = await fsp.stat(file).catch(() => undefined);
          if (target?.isFile()) files.push(file);
          else warn(`${file}: skipped, a symbolic link to ${await fsp.readlink(file)}, which ${target ? "is not a file" : "does not exist"}`);
        }
      }
      out.files.push(...files.sort());
    } else if (isAcceptedName(input)) {
      out.files.push(input);
    } else {
      throw new UsageError(`${input}: not a .json, .jsonl or .ndjson file (optionally .gz)`);
    }
  }
  return out;
}

/** Problems worth telling the user that do not stop the run, on stderr (stdout may be --json). */
function warn(message: string): void {
  process.stderr.write(`facility-pipeline: ${message}\n`);
}

/**
 * The upload each curated or quarantine object came from, read from its first line. A file that is
 * not one of ours (a stray note, a damaged object) is named and skipped, not fatal.
 */
async function sourcesInOutput(out: string, prefixes = [OUTPUT_LAYOUT.curated, OUTPUT_LAYOUT.quarantine]): Promise<string[]> {
  const keys = new Set<string>();
  for (const prefix of prefixes) {
    const dir = path.join(out, prefix);
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => !n.endsWith(".tmp"))) {
      const file = path.join(dir, name);
      try {
        const first = await firstLine(file);
        const row = first === undefined ? undefined : (JSON.parse(first) as { ingest_source_key?: unknown; source_key?: unknown });
        const key = row?.ingest_source_key ?? row?.source_key;
        if (typeof key !== "string") throw new Error("it names no source upload");
        keys.add(key);
      } catch (e) {
        warn(`${file}: skipped, not a curated or quarantine object this tool wrote (${messageOf(e)})`);
      }
    }
  }
  return [...keys];
}

async function firstLine(file: string): Promise<string | undefined> {
  const source = createReadStream(file);
  const input = file.endsWith(".gz") ? source.pipe(createGunzip()) : source;
  // pipe() does not forward a read error; without this it would be thrown as uncaught.
  if (input !== source) source.on("error", (e) => input.destroy(e));
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) return line;
    return undefined;
  } finally {
    lines.close();
    input.destroy();
    source.destroy();
  }
}

export interface RunSummary {
  exitCode: number;
  result: BatchResult;
}

/** Where the CLI writes: data (reports, --json) to `out`, diagnostics (per-file lines, rejects, notes) to `err`. */
export interface Io {
  out(s: string): void;
  err(s: string): void;
}

/** A bare function is stdout; stderr then is the process's. */
export type Output = ((s: string) => void) | Io;

const toIo = (o: Output): Io => (typeof o === "function" ? { out: o, err: (s) => process.stderr.write(`${s}\n`) } : o);

/** What a run was asked to ingest, to tell which uploads in the table come from earlier runs. */
export interface RunScope {
  /** Upload keys named by this run's inputs; absent (watch mode) when a run sees only what changed. */
  inputs?: string[];
}

/** One batch: the given files, plus removals of files that disappeared from the given directories. */
export async function runOnce(options: CliOptions, changes: Change[], output: Output, now = () => new Date(), scope: RunScope = {}): Promise<RunSummary> {
  const io = toIo(output);
  const asOf = options.asOf ?? now().toISOString().slice(0, 10);
  const store = fsOutputStore(options.out);
  const progress = progressPrinter(process.stderr, options.json, await sizesOf(changes));
  const engine = await duckDbEngine(path.join(options.out, OUTPUT_LAYOUT.current));
  let result: BatchResult;
  try {
    result = await processChanges(changes, {
      source: fsSourceStore(),
      output: store,
      // The first query marks the end of ingest: say so, or the report step is seconds of silence.
      engine: { ...engine, run: (request) => (progress.reports(), engine.run(request)) },
      validate: createFacilityValidator(),
      telemetry: SILENT_TELEMETRY,
      deadline: NO_DEADLINE,
      reports: REPORTS,
      context: { asOf, monthsAhead: options.months },
      maxRecordBytes: 1024 * 1024,
      now: () => new Date(),
      concurrency: 2,
      onProgress: (key, p) => progress.update(key, p),
    });
  } finally {
    progress.done();
    engine.close();
  }

  const rejected = result.files.some((f) => f.status === "ingested" && f.result.rejected > 0);
  const unprocessable = result.files.some(
    (f) => f.status === "failed" || (f.status === "ingested" && f.result.accepted === 0 && f.result.fileProblems.length > 0),
  );
  const reportsFailed = result.reports !== undefined && !result.reports.ok;
  const exitCode = unprocessable || reportsFailed || (options.strict && rejected) ? 1 : 0;

  const rejects = new Map<string, RejectSummary>();
  for (const f of result.files) {
    if (f.status === "ingested" && f.result.quarantineKey) rejects.set(f.key, await readRejects(path.join(options.out, f.result.quarantineKey)));
  }
  const earlier = scope.inputs ? (await sourcesInOutput(options.out, [OUTPUT_LAYOUT.curated])).filter((k) => !scope.inputs!.includes(k)).sort() : [];

  if (options.json) {
    io.out(JSON.stringify(jsonSummary({ ...options, asOf }, result, exitCode, rejects, earlier), null, 2));
    return { exitCode, result };
  }
  for (const f of result.files) io.err(renderFile({ ...f, key: shownPath(f.key) }, options.out, rejects.get(f.key)?.first ?? []));
  if (earlier.length > 0) io.err(earlierNote(earlier));
  if (result.reports?.ok) {
    io.out("");
    for (const r of result.reports.run.reports) io.out(renderReport(r, options.out));
    io.out(
      `Reports as of ${asOf} over ${count(result.reports.run.curatedObjects)} curated file(s), written to ${options.out}/reports/<report>/latest.{json,csv}`,
    );
    // HTML summary (written by processChanges): say where to open it.
    const page = result.reports.summary.latestUpdated ? result.reports.summary.latestKey : result.reports.summary.runKey;
    io.out(`Summary page: ${path.join(options.out, page)}`);
  } else if (result.reports) {
    io.err(`Reports failed: ${messageOf(result.reports.error)}`);
  } else {
    io.err("Nothing changed, so no reports were run.");
  }
  return { exitCode, result };
}

/** How many earlier uploads the note names before it only counts. */
const EARLIER_SHOWN = 5;

function earlierNote(keys: string[]): string {
  const shown = keys.slice(0, EARLIER_SHOWN).map((k) => printable(shownPath(k)));
  const more = keys.length > EARLIER_SHOWN ? ` and ${count(keys.length - EARLIER_SHOWN)} more` : "";
  return `note: the table also holds ${count(keys.length)} upload(s) from earlier runs on this --out, not among this run's inputs: ${shown.join(", ")}${more}. The reports include them; --fresh starts from an empty output folder.`;
}

/** Sizes of the files about to be read, so progress can say how far along it is. */
async function sizesOf(changes: Change[]): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const c of changes) {
    if (c.kind !== "created") continue;
    const stat = await fsp.stat(c.key).catch(() => undefined);
    if (stat?.isFile()) sizes.set(c.key, stat.size);
  }
  return sizes;
}

/** A local upload key as the user would type it: relative to the working directory when inside it. */
function shownPath(key: string): string {
  const rel = path.relative(realFolder(process.cwd()), key);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel.split(path.sep).join("/") : key;
}

/**
 * The `--json` document: what happened, counted, and where everything was written. Report rows stay
 * in the report files: embedding them made the summary larger than the input (225 MB for 200 MB).
 */
function jsonSummary(options: CliOptions & { asOf: string }, result: BatchResult, exitCode: number, rejects: Map<string, RejectSummary>, earlier: string[]) {
  const ingested = result.files.flatMap((f) => (f.status === "ingested" ? [f.result] : []));
  const byField = new Map<string, { field: string; records: number; example: string }>();
  for (const summary of rejects.values()) {
    for (const [field, r] of summary.byField) {
      const seen = byField.get(field);
      if (seen) seen.records += r.records;
      else byField.set(field, { field, records: r.records, example: r.example });
    }
  }
  return {
    exit_code: exitCode,
    as_of: options.asOf,
    months: options.months,
    out: options.out,
    totals: {
      files: result.files.length,
      accepted: ingested.reduce((n, r) => n + r.accepted, 0),
      rejected: ingested.reduce((n, r) => n + r.rejected, 0),
      failed: result.files.filter((f) => f.status === "failed").length,
    },
    files: result.files.map((f) => {
      switch (f.status) {
        case "ingested": {
          const r = f.result;
          return {
            file: f.key,
            status: r.outcome,
            accepted: r.accepted,
            rejected: r.rejected,
            file_problems: r.fileProblems,
            unknown_fields: r.unknownFields,
            duplicate_ids: r.duplicateIds,
            curated: r.curatedKey ?? null,
            quarantine: r.quarantineKey ?? null,
          };
        }
        case "failed":
          return { file: f.key, status: "failed", error: messageOf(f.error) };
        case "ignored":
          return { file: f.key, status: "ignored", reason: f.reason };
        case "removed":
          return { file: f.key, status: "removed" };
        case "superseded":
          return { file: f.key, status: "superseded", reason: "changed while it was read; the table keeps its current version" };
      }
    }),
    // Per field (list positions folded: `accreditations[].valid_until`), most frequent first; reasons
    // quote values, so one example stands for the group.
    rejects_by_field: [...byField.values()].sort((a, b) => b.records - a.records || a.field.localeCompare(b.field)),
    earlier_uploads: earlier,
    reports: result.reports?.ok
      ? result.reports.run.reports.map((r) => ({
          report: r.report,
          rows: r.rows,
          json: r.jsonKey,
          csv: r.csvKey,
          latest_json: `${OUTPUT_LAYOUT.reports}${r.report}/latest.json`,
          latest_csv: `${OUTPUT_LAYOUT.reports}${r.report}/latest.csv`,
        }))
      : [],
    summary_page: result.reports?.ok ? result.reports.summary.runKey : null,
    report_error: result.reports && !result.reports.ok ? messageOf(result.reports.error) : null,
  };
}

interface RejectSummary {
  /** The first rejects as `record K (line N), field: reason`, and a line for the rest. */
  first: string[];
  /** Rejected records per field, with the first reason given for it. */
  byField: Map<string, { records: number; example: string }>;
}

/**
 * Reads a quarantine file as a stream (it can hold millions of rejects): the first few as text, and
 * a count per field. The record number and line are the entry's own `record` and `line`, so the
 * terminal and the file agree.
 */
async function readRejects(file: string, limit = 5): Promise<RejectSummary> {
  const first: string[] = [];
  const byField = new Map<string, { records: number; example: string }>();
  let entries = 0;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  try {
    for await (const text of lines) {
      if (!text) continue;
      const e = JSON.parse(text) as QuarantineEntry;
      entries++;
      for (const x of e.errors) {
        const field = x.field.replace(/\[\d+\]/g, "[]");
        const seen = byField.get(field);
        if (seen) seen.records++;
        else byField.set(field, { records: 1, example: x.reason });
      }
      if (entries > limit) continue;
      const what = e.errors.map((x) => (x.field ? `${x.field}: ${x.reason}` : x.reason)).join("; ");
      // Entries written before `record` existed carry only the 0-based index.
      const record = e.record ?? (typeof e.index === "number" ? e.index + 1 : null);
      first.push(`${record !== null ? `record ${record} (line ${e.line})` : `line ${e.line}`}, ${what}`);
    }
  } catch {
    // A damaged or vanished quarantine file costs its summary, not the run.
  } finally {
    lines.close();
  }
  if (entries > limit) first.push(`... and ${count(entries - limit)} more`);
  return { first, byField };
}

/** The part of a stream progress needs: a terminal or not, and a write. */
export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): boolean;
}

/**
 * Bytes read of the file's size (and the percentage), records per second, then the report step, on
 * stderr while a run works, when stderr is a terminal (a log file would collect every redraw).
 */
export function progressPrinter(stream: ProgressStream, quiet: boolean, sizes: ReadonlyMap<string, number>, clock = () => Date.now()) {
  const enabled = !quiet && stream.isTTY === true;
  const started = new Map<string, number>();
  let last = 0;
  let shown = false;
  let reporting = false;
  return {
    update(key: string, p: { bytesRead: number; accepted: number; rejected: number }) {
      if (!enabled) return;
      const now = clock();
      if (!started.has(key)) started.set(key, now);
      const elapsed = (now - started.get(key)!) / 1000;
      if (elapsed < 1 || now - last < 250) return;
      last = now;
      shown = true;
      stream.write(`\r  ${progressLine(printable(shownPath(key)), p.bytesRead, sizes.get(key), p.accepted + p.rejected, elapsed)}   `);
    },
    /** Ingest is over and the report queries start. */
    reports() {
      if (!enabled || reporting) return;
      reporting = true;
      stream.write(`${shown ? "\n" : ""}  running reports...`);
      shown = true;
    },
    done() {
      if (shown) stream.write("\n");
      shown = false;
    },
  };
}

/** One progress line: `name: 12.0 MiB of 200.0 MiB (6%), 45,000 records/s`. */
export function progressLine(name: string, bytesRead: number, size: number | undefined, records: number, seconds: number): string {
  const of = size !== undefined && size > 0 ? ` of ${formatBytes(size)} (${Math.min(100, Math.floor((bytesRead / size) * 100))}%)` : "";
  return `${name}: ${formatBytes(bytesRead)}${of} read, ${count(Math.round(records / Math.max(seconds, 0.001)))} records/s`;
}

async function changesFor(options: CliOptions): Promise<Change[]> {
  const { files, dirs } = await expand(options.inputs);
  const keys = files.map((f) => localKey(f));
  const changes: Change[] = keys.map((key) => ({ kind: "created", key }));
  // A file that was ingested from one of these directories and is gone now is a deleted upload.
  const dirKeys = dirs.map((d) => `${realFolder(d).split(path.sep).join("/").replace(/\/$/, "")}/`);
  for (const key of await sourcesInOutput(options.out)) {
    const inDir = dirKeys.some((d) => key.startsWith(d) && !key.slice(d.length).includes("/"));
    if (
      inDir &&
      !keys.includes(key) &&
      !(await fsp.access(key).then(
        () => true,
        () => false,
      ))
    )
      changes.push({ kind: "removed", key });
  }
  return changes;
}

async function watchDir(options: CliOptions, io: Io): Promise<number> {
  const dir = options.watch!;
  const stat = await fsp.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new UsageError(`--watch ${dir}: not a directory`);
  const output = await acquireOutput(options.out);
  try {
    if (options.fresh) await emptyOutput(options.out);
    return await watchLoop(dir, options, io);
  } finally {
    await output.release();
  }
}

async function watchLoop(dir: string, options: CliOptions, io: Io): Promise<number> {
  const initial = await changesFor({ ...options, inputs: [dir, ...options.inputs] });
  await runOnce(options, initial, io, undefined, { inputs: initial.map((c) => c.key) });
  io.err(`Watching ${dir} for changes (Ctrl-C to stop)...`);
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const flush = () => {
    const names = [...pending];
    pending.clear();
    running = running.then(async () => {
      const changes: Change[] = [];
      for (const name of names) {
        const file = path.join(dir, name);
        const exists = await fsp.stat(file).then(
          (s) => s.isFile(),
          () => false,
        );
        changes.push({ kind: exists ? "created" : "removed", key: localKey(file) });
      }
      await runOnce(options, changes, io).catch((e) => io.err(`Run failed: ${messageOf(e)}`));
      io.err(`Watching ${dir} for changes (Ctrl-C to stop)...`);
    });
  };
  const watcher = watch(dir, (_event, name) => {
    if (!name || !isAcceptedName(name.toString())) return;
    pending.add(name.toString());
    // Debounced: a burst of changes (a copy of many files, an editor's save) is one report run.
    clearTimeout(timer);
    timer = setTimeout(flush, 500);
  });
  return new Promise((resolve) => {
    const stop = () => {
      watcher.close();
      clearTimeout(timer);
      void running.then(() => resolve(0));
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

/**
 * Runs the CLI. `output` is stdout (a function) or both streams; `command` is how the user started
 * it, for the usage text.
 */
export async function main(argv: string[], output: Output = (s) => console.log(s), command = invokedAs()): Promise<number> {
  const io = toIo(output);
  try {
    const options = parseCli(argv);
    if (options === "help") {
      io.out(usage(command));
      return 0;
    }
    if (options.watch) return await watchDir(options, io);
    const held = await acquireOutput(options.out);
    // Ctrl-C: remove the half-written temporary files and the lock before leaving.
    const interrupted = () => {
      held.releaseNow();
      process.exit(130);
    };
    process.once("SIGINT", interrupted);
    try {
      if (options.fresh) await emptyOutput(options.out);
      const changes = await changesFor(options);
      if (changes.length === 0) {
        io.err(`No .json, .jsonl or .ndjson files in ${options.inputs.join(", ")}`);
        return 0;
      }
      const inputs = changes.filter((c) => c.kind === "created").map((c) => c.key);
      return (await runOnce(options, changes, io, undefined, { inputs })).exitCode;
    } finally {
      process.removeListener("SIGINT", interrupted);
      await held.release();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      // Short: what was wrong and one usage line; --help has the rest.
      io.err(`facility-pipeline: ${e.message}\n${usageLine(command)}`);
      return 2;
    }
    io.err(`facility-pipeline: ${messageOf(e)}`);
    return 1;
  }
}
