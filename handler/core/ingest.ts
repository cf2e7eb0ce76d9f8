import { Facility, facilitySchema } from "../schema/facility";
import { curatedLineWriter, FacilityValidator, FieldProblem } from "../schema/validator";
import { decode } from "./decode";
import { isContentError } from "./errors";
import { findDuplicateKey } from "./duplicate-keys";
import { curatedKey, derivedPrefix, isLineDelimitedName, quarantineKey, versionPrefix } from "./keys";
import { OutputStore, SourceObject } from "./ports";
import { Piece, RecordSplitter } from "./records";
import { NdjsonSink } from "./sink";

export type IngestOutcome =
  /** Every record was valid. */
  | "curated"
  /** Some records were valid, some quarantined (or the file was damaged after valid records). */
  | "partially-curated"
  /** Nothing valid: the curated object is absent and the quarantine says why. */
  | "rejected"
  /** A well-formed file without records (`[]`): nothing to curate, nothing wrong. */
  | "empty";

export interface IngestResult {
  sourceKey: string;
  sourceVersion: string;
  outcome: IngestOutcome;
  accepted: number;
  rejected: number;
  /** Problems with the file as a whole (not JSON, truncated, empty...). */
  fileProblems: string[];
  /** Fields not in the schema, with how many records carried them (kept out of the table). */
  unknownFields: Record<string, number>;
  /**
   * Accepted records whose facility_id an earlier record of this upload already had (the last one
   * wins in reports). Exact up to DUPLICATE_TRACKING_LIMIT distinct ids, a lower bound beyond.
   */
  duplicateIds: number;
  bytesRead: number;
  curatedKey?: string;
  quarantineKey?: string;
}

/** Distinct facility ids remembered per upload for the duplicate count: bounds memory on huge files. */
export const DUPLICATE_TRACKING_LIMIT = 1_000_000;

/** One line of a quarantine object. */
export interface QuarantineEntry {
  source_key: string;
  source_version: string;
  /** 1-based line where the record starts; for a file problem, where it was noticed. */
  line: number;
  /** 1-based record number (the Nth value of the file, or of its array), as the terminal shows it; null for a file problem. */
  record: number | null;
  /** The same position 0-based (`record - 1`), kept for readers of earlier quarantine files. */
  index: number | null;
  errors: FieldProblem[];
  /** The record's text as uploaded, when it could be isolated. */
  raw?: string;
}

export interface IngestDeps {
  output: OutputStore;
  validate: FacilityValidator;
  maxRecordBytes: number;
  /** Called after each input chunk, for progress output. */
  onProgress?: (progress: { bytesRead: number; accepted: number; rejected: number }) => void;
}

/**
 * Streams one upload into its curated object (valid rows, gzip NDJSON) and its quarantine object
 * (rejected records with line and reasons). Memory stays flat whatever the file size. Throws only
 * when reading or writing fails (retryable); every content problem ends up in the quarantine.
 */
export async function ingestObject(source: SourceObject, deps: IngestDeps): Promise<IngestResult> {
  const curated = new NdjsonSink(deps.output, curatedKey(source.key, source.version, source.uploadedAt), { gzip: true, contentType: "application/x-ndjson" });
  const quarantine = new NdjsonSink(deps.output, quarantineKey(source.key, source.version, source.uploadedAt), {
    gzip: false,
    contentType: "application/x-ndjson",
  });
  const splitter = new RecordSplitter({ maxRecordBytes: deps.maxRecordBytes, lineDelimited: isLineDelimitedName(source.key) });
  const decoded = decode(source.body);
  const curatedLine = curatedLineWriter({
    sourceKey: source.key,
    sourceVersion: source.version,
    ingestTime: source.lastModified,
    uploadTime: source.uploadedAt ?? source.lastModified,
  });
  const fileProblems: string[] = [];
  const unknownFields: Record<string, number> = {};
  const seenIds = new Set<string>();
  let duplicateIds = 0;

  const reject = (line: number, index: number | null, errors: FieldProblem[], raw?: string) => {
    const entry: QuarantineEntry = { source_key: source.key, source_version: source.version, line, record: index === null ? null : index + 1, index, errors };
    if (raw !== undefined) entry.raw = raw;
    quarantine.add(entry);
  };

  const handle = (piece: Piece) => {
    if (piece.kind === "file-problem") {
      fileProblems.push(piece.reason);
      reject(piece.line, null, [{ field: "", reason: piece.reason }]);
    } else if (piece.kind === "problem") {
      reject(piece.line, piece.index, [{ field: "", reason: piece.reason }], piece.raw);
    } else {
      const problems = checkRecord(piece.text, piece.colons, deps.validate, (row) => {
        curated.addLine(curatedLine(row.facility, piece.line, piece.index, row.asWritten && piece.oneLine ? piece.text : undefined));
        for (const f of row.unknownFields) unknownFields[f] = (unknownFields[f] ?? 0) + 1;
        const id = row.facility.facility_id;
        if (seenIds.has(id)) duplicateIds++;
        else if (seenIds.size < DUPLICATE_TRACKING_LIMIT) seenIds.add(id);
      });
      if (problems) reject(piece.line, piece.index, problems, piece.text);
    }
  };

  try {
    try {
      for await (const text of decoded.chunks) {
        for (const piece of splitter.push(text)) handle(piece);
        await Promise.all([curated.flush(), quarantine.flush()]);
        deps.onProgress?.({ bytesRead: decoded.bytesRead(), accepted: curated.rows, rejected: quarantine.rows - fileProblems.length });
      }
      for (const piece of splitter.end()) handle(piece);
    } catch (e) {
      if (!isContentError(e)) throw e;
      // Records before the damage were already handled and are kept.
      for (const piece of splitter.end().filter((p) => p.kind !== "file-problem")) handle(piece);
      handle({ kind: "file-problem", line: splitter.currentLine, reason: e.message });
    }
    const hasCurated = await curated.close();
    const hasQuarantine = await quarantine.close();
    const rejected = quarantine.rows - fileProblems.length;
    return {
      sourceKey: source.key,
      sourceVersion: source.version,
      outcome: quarantine.rows === 0 ? (curated.rows === 0 ? "empty" : "curated") : curated.rows === 0 ? "rejected" : "partially-curated",
      accepted: curated.rows,
      rejected,
      fileProblems,
      unknownFields,
      duplicateIds,
      bytesRead: decoded.bytesRead(),
      curatedKey: hasCurated ? curated.key : undefined,
      quarantineKey: hasQuarantine ? quarantine.key : undefined,
    };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    curated.abort(error);
    quarantine.abort(error);
    throw e;
  }
}

/** Parses and validates one record's text; returns its problems, or hands the valid row on. */
function checkRecord(
  text: string,
  colons: number,
  validate: FacilityValidator,
  accept: (row: { facility: Facility; unknownFields: string[]; asWritten: boolean }) => void,
): FieldProblem[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return [{ field: "", reason: `malformed JSON: ${(e as Error).message}` }];
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const found = value === null ? "null" : Array.isArray(value) ? "a list" : `a ${typeof value}`;
    return [{ field: "", reason: `expected a facility object, found ${found}` }];
  }
  const notRecord = wrapperLike(value as Record<string, unknown>);
  if (notRecord) return [{ field: "", reason: notRecord }];
  const result = validate(value, colons);
  if (!result.ok && result.duplicateKeys) {
    return [{ field: findDuplicateKey(text) ?? "", reason: "appears twice in the same object; which value is meant is ambiguous" }];
  }
  if (!result.ok) return result.problems;
  accept(result);
  return undefined;
}

/**
 * An object that holds lists but no facility field is a container the splitter could not take as
 * the wrapper (it has more than one property), not a facility missing all its fields: say so.
 */
function wrapperLike(value: Record<string, unknown>): string | undefined {
  const keys = Object.keys(value);
  if (keys.some((k) => k in facilitySchema.properties)) return undefined;
  const arrays = keys.filter((k) => Array.isArray(value[k]));
  if (arrays.length === 0) return undefined;
  const found = `found array propert${arrays.length === 1 ? "y" : "ies"} ${arrays.map((k) => `\`${k}\``).join(", ")}`;
  return `an object with ${keys.length} propert${keys.length === 1 ? "y" : "ies"}: expected NDJSON, an array, or an object wrapping exactly one array (${found})`;
}

/**
 * Removes what was derived from an upload except what `keep` names: exactly `keep.keys` when given (the
 * objects just written for the current version), else every object of `keep.version`; nothing is kept
 * when `keep` is undefined (the upload no longer exists). Returns the keys removed.
 */
export async function forgetOtherVersions(sourceKey: string, keep: { version: string; keys?: string[] } | undefined, output: OutputStore): Promise<string[]> {
  const areas = ["curated", "quarantine"] as const;
  const kept = (k: string) =>
    keep !== undefined && (keep.keys ? keep.keys.includes(k) : areas.some((a) => k.startsWith(`${derivedPrefix(a, sourceKey)}${versionPrefix(keep.version)}`)));
  const listed = await Promise.all(areas.map((a) => output.list(derivedPrefix(a, sourceKey))));
  const stale = listed
    .flat()
    .map((o) => o.key)
    .filter((k) => !kept(k));
  await Promise.all(stale.map((k) => output.delete(k)));
  return stale;
}
