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
import { NO_DEADLINE, Telemetry } from "../core/ports";
import { addMonths, REPORTS } from "../reports/registry";
import { isCalendarDate, createFacilityValidator } from "../schema/validator";
import { duckDbEngine } from "./duckdb-engine";
import { fsOutputStore, fsSourceStore, localKey, realFolder } from "./fs-store";
import { acquireOutput } from "./output-folder";
import { formatBytes, renderFile, renderReport } from "./render";

export const USAGE = `Usage: npm start -- [file-or-dir...] [options]

Runs the facility pipeline on this machine: the same validation, curation and report SQL as the
AWS Lambda, with a local folder for the buckets and DuckDB for Athena. No AWS account needed.

Inputs are .json, .jsonl and .ndjson files (optionally .gz): NDJSON, a JSON array, or an object
wrapping one array. A directory means the files directly in it (symbolic links followed); a file that
was there on an earlier run and is gone now is removed from the table, as a deleted upload would be.
A file is keyed by its folder's real path and its name, whatever the working directory.
With no inputs, the sample data in sample-data/ is processed.

Options:
  --out DIR          output folder, laid out like the output bucket (default: .pipeline)
  --as-of YYYY-MM-DD report date (default: today in UTC, taken again at every run)
  --months N         how many months ahead expiring-accreditations looks, 1 to 120 (default: 6)
  --watch DIR        keep running: files created, changed or removed in DIR are processed like
                     uploads and deletions, one report run per burst of changes
  --strict           exit 1 if any record is rejected
  --json             print one machine-readable summary instead of tables
  -h, --help         show this help

Exit codes: 0 processed (rejected records are reported and quarantined); 1 a file could not be
processed at all, --strict and a record was rejected, or --out cannot be written or is in use by
another run; 2 usage error; 130 interrupted.`;

export interface CliOptions {
  inputs: string[];
  out: string;
  /** Absent: today (UTC) at the start of each run, so a long --watch moves on after midnight. */
  asOf?: string;
  months: number;
  watch?: string;
  strict: boolean;
  json: boolean;
}

export class UsageError extends Error {}

const SAMPLE_DIR = path.resolve(__dirname, "../../sample-data");

export function parseCli(argv: string[]): CliOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: "string" },
        "as-of": { type: "string" },
        months: { type: "string" },
        watch: { type: "string" },
        strict: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError(messageOf(e));
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
  return { inputs, out: v.out ?? ".pipeline", asOf, months, watch: v.watch, strict: v.strict ?? false, json: v.json ?? false };
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
      const entries = (await fsp.readdir(input, { withFileTypes: true })).filter((d) => isAcceptedName(d.name));
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
async function sourcesInOutput(out: string): Promise<string[]> {
  const keys = new Set<string>();
  for (const prefix of [OUTPUT_LAYOUT.curated, OUTPUT_LAYOUT.quarantine]) {
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

const silent: Telemetry = { info: () => undefined, warn: () => undefined, error: () => undefined, count: () => undefined, milliseconds: () => undefined, bytes: () => undefined };

export interface RunSummary {
  exitCode: number;
  result: BatchResult;
}

/** One batch: the given files, plus removals of files that disappeared from the given directories. */
export async function runOnce(options: CliOptions, changes: Change[], print: (s: string) => void, now = () => new Date()): Promise<RunSummary> {
  const asOf = options.asOf ?? now().toISOString().slice(0, 10);
  const output = fsOutputStore(options.out);
  const engine = await duckDbEngine(path.join(options.out, OUTPUT_LAYOUT.curated));
  const progress = progressPrinter(options.json);
  let result: BatchResult;
  try {
    result = await processChanges(changes, {
      source: fsSourceStore(),
      output,
      engine,
      validate: createFacilityValidator(),
      telemetry: silent,
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
  const unprocessable = result.files.some((f) =>
    f.status === "failed" || (f.status === "ingested" && f.result.accepted === 0 && f.result.fileProblems.length > 0));
  const reportsFailed = result.reports !== undefined && !result.reports.ok;
  const exitCode = unprocessable || reportsFailed || (options.strict && rejected) ? 1 : 0;

  if (options.json) {
    print(JSON.stringify(jsonSummary({ ...options, asOf }, result, exitCode), null, 2));
    return { exitCode, result };
  }
  for (const f of result.files) {
    const rejects = f.status === "ingested" && f.result.quarantineKey ? await firstRejects(path.join(options.out, f.result.quarantineKey)) : [];
    print(renderFile({ ...f, key: shownPath(f.key) }, options.out, rejects));
  }
  print("");
  if (result.reports?.ok) {
    for (const r of result.reports.run.reports) print(renderReport(r, options.out));
    print(`Reports as of ${asOf} over ${result.reports.run.curatedObjects} curated file(s), written to ${options.out}/reports/<report>/latest.{json,csv}`);
    // HTML summary (written by processChanges): say where to open it.
    const page = result.reports.summary.latestUpdated ? result.reports.summary.latestKey : result.reports.summary.runKey;
    print(`Summary page: ${path.join(options.out, page)}`);
  } else if (result.reports) {
    print(`Reports failed: ${messageOf(result.reports.error)}`);
  } else {
    print("Nothing changed, so no reports were run.");
  }
  return { exitCode, result };
}

/** A local upload key as the user would type it: relative to the working directory when inside it. */
function shownPath(key: string): string {
  const rel = path.relative(realFolder(process.cwd()), key);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel.split(path.sep).join("/") : key;
}

function jsonSummary(options: CliOptions & { asOf: string }, result: BatchResult, exitCode: number) {
  return {
    exit_code: exitCode,
    as_of: options.asOf,
    out: options.out,
    files: result.files.map((f) => {
      switch (f.status) {
        case "ingested": {
          const r = f.result;
          return {
            file: f.key, status: r.outcome, accepted: r.accepted, rejected: r.rejected, file_problems: r.fileProblems,
            unknown_fields: r.unknownFields, duplicate_ids: r.duplicateIds, curated: r.curatedKey ?? null, quarantine: r.quarantineKey ?? null,
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
    reports: result.reports?.ok
      ? result.reports.run.reports.map((r) => ({ report: r.report, rows: r.rows, json: r.jsonKey, csv: r.csvKey, results: r.document.results }))
      : [],
    report_error: result.reports && !result.reports.ok ? messageOf(result.reports.error) : null,
  };
}

/** The first rejected records of a quarantine file, as `line N, field: reason`. */
async function firstRejects(file: string, limit = 5): Promise<string[]> {
  const text = await fsp.readFile(file, "utf8").catch(() => "");
  const entries = text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as QuarantineEntry);
  const lines = entries.slice(0, limit).map((e) => {
    const what = e.errors.map((x) => (x.field ? `${x.field}: ${x.reason}` : x.reason)).join("; ");
    return `line ${e.line}${e.index !== null && e.index !== undefined ? ` (record ${e.index + 1})` : ""}, ${what}`;
  });
  if (entries.length > limit) lines.push(`... and ${entries.length - limit} more`);
  return lines;
}

/** Bytes and records per second on stderr while long files stream, when stderr is a terminal. */
function progressPrinter(quiet: boolean) {
  const enabled = !quiet && process.stderr.isTTY === true;
  const started = new Map<string, number>();
  let last = 0;
  let shown = false;
  return {
    update(key: string, p: { bytesRead: number; accepted: number; rejected: number }) {
      if (!enabled) return;
      const now = Date.now();
      if (!started.has(key)) started.set(key, now);
      const elapsed = (now - started.get(key)!) / 1000;
      if (elapsed < 1 || now - last < 250) return;
      last = now;
      shown = true;
      const rate = Math.round((p.accepted + p.rejected) / elapsed).toLocaleString("en-US");
      process.stderr.write(`\r  ${key}: ${formatBytes(p.bytesRead)} read, ${rate} records/s   `);
    },
    done() {
      if (shown) process.stderr.write("\n");
    },
  };
}

async function changesFor(options: CliOptions): Promise<Change[]> {
  const { files, dirs } = await expand(options.inputs);
  const keys = files.map((f) => localKey(f));
  const changes: Change[] = keys.map((key) => ({ kind: "created", key }));
  // A file that was ingested from one of these directories and is gone now is a deleted upload.
  const dirKeys = dirs.map((d) => `${realFolder(d).split(path.sep).join("/").replace(/\/$/, "")}/`);
  for (const key of await sourcesInOutput(options.out)) {
    const inDir = dirKeys.some((d) => key.startsWith(d) && !key.slice(d.length).includes("/"));
    if (inDir && !keys.includes(key) && !(await fsp.access(key).then(() => true, () => false))) changes.push({ kind: "removed", key });
  }
  return changes;
}

async function watchDir(options: CliOptions, print: (s: string) => void): Promise<number> {
  const dir = options.watch!;
  const stat = await fsp.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new UsageError(`--watch ${dir}: not a directory`);
  const output = await acquireOutput(options.out);
  try {
    return await watchLoop(dir, options, print);
  } finally {
    await output.release();
  }
}

async function watchLoop(dir: string, options: CliOptions, print: (s: string) => void): Promise<number> {
  await runOnce(options, await changesFor({ ...options, inputs: [dir, ...options.inputs] }), print);
  print(`Watching ${dir} for changes (Ctrl-C to stop)...`);
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
        const exists = await fsp.stat(file).then((s) => s.isFile(), () => false);
        changes.push({ kind: exists ? "created" : "removed", key: localKey(file) });
      }
      await runOnce(options, changes, print).catch((e) => print(`Run failed: ${messageOf(e)}`));
      print(`Watching ${dir} for changes (Ctrl-C to stop)...`);
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

export async function main(argv: string[], print: (s: string) => void = (s) => console.log(s)): Promise<number> {
  try {
    const options = parseCli(argv);
    if (options === "help") {
      print(USAGE);
      return 0;
    }
    if (options.watch) return await watchDir(options, print);
    const output = await acquireOutput(options.out);
    // Ctrl-C: remove the half-written temporary files and the lock before leaving.
    const interrupted = () => {
      output.releaseNow();
      process.exit(130);
    };
    process.once("SIGINT", interrupted);
    try {
      const changes = await changesFor(options);
      if (changes.length === 0) {
        print(`No .json, .jsonl or .ndjson files in ${options.inputs.join(", ")}`);
        return 0;
      }
      return (await runOnce(options, changes, print)).exitCode;
    } finally {
      process.removeListener("SIGINT", interrupted);
      await output.release();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`facility-pipeline: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`facility-pipeline: ${messageOf(e)}\n`);
    return 1;
  }
}
