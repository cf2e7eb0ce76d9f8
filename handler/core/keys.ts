import { createHash } from "crypto";
import { ACCEPTED_EXTENSIONS, OUTPUT_LAYOUT } from "./layout";

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * A flat, deterministic name for everything derived from one upload: a readable slug plus a hash of
 * the full key. Flat because the Glue table reads one prefix; deterministic so that a re-delivered
 * upload overwrites its outputs instead of duplicating them. Never starts with `_` or `.`, which
 * Athena skips.
 */
export function derivedName(sourceKey: string): string {
  const base = sourceKey.split("/").pop() ?? sourceKey;
  const slug =
    stripExtension(base)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 60) || "upload";
  return `${slug}-${sha256(sourceKey).slice(0, 16)}`;
}

/**
 * Everything derived from one version of an upload is named after that version too, so the key set of
 * `curated/` is the content identity of the table: the report fingerprint is built from keys alone,
 * never from ETags (S3 ETags of SSE-KMS and multipart objects are not content digests and change on
 * every rewrite). A stale ingest of an older version also writes under its own name and can then be
 * removed without ever having overwritten the current version's rows.
 */
export const curatedKey = (sourceKey: string, sourceVersion: string, uploadedAt?: string) =>
  `${derivedPrefix("curated", sourceKey)}${versionTag(sourceVersion, uploadedAt)}.ndjson.gz`;
export const quarantineKey = (sourceKey: string, sourceVersion: string, uploadedAt?: string) =>
  `${derivedPrefix("quarantine", sourceKey)}${versionTag(sourceVersion, uploadedAt)}.ndjson`;

/**
 * The prefix every object derived from an upload starts with, whatever its version. `.` cannot occur in
 * a derived name, so no other upload's objects share it (and the unversioned names of earlier releases,
 * `<name>.ndjson.gz`, fall under it and are cleaned up with the superseded versions).
 */
export const derivedPrefix = (area: "curated" | "quarantine", sourceKey: string) => `${OUTPUT_LAYOUT[area]}${derivedName(sourceKey)}.`;

/**
 * A short, fixed-length, key-safe tag for a source version (S3 version ids may hold `.` and `_`), plus
 * the precise upload time when the rows carry one: it is part of what the rows hold (it breaks ties
 * between uploads in the same second), so rows with and without it must not share a name, or the
 * fingerprint would stay the same while the table changed. Every tag of a version starts with
 * `versionPrefix(version)`.
 */
export function versionTag(sourceVersion: string, uploadedAt?: string): string {
  const version = `v${sha256(sourceVersion).slice(0, 16)}`;
  return uploadedAt === undefined ? version : `${version}.u${sha256(uploadedAt).slice(0, 8)}`;
}

/** What every object name of one version continues its upload's prefix with. */
export const versionPrefix = (sourceVersion: string) => `${versionTag(sourceVersion)}.`;

/** `x.ndjson.gz` -> `x`; `x.json` -> `x`. */
export function stripExtension(name: string): string {
  const plain = name.toLowerCase().endsWith(".gz") ? name.slice(0, -3) : name;
  const ext = ACCEPTED_EXTENSIONS.find((e) => plain.toLowerCase().endsWith(e));
  return ext ? plain.slice(0, -ext.length) : plain;
}

/** Whether the name says one record per line (`.jsonl`, `.ndjson`, optionally gzipped). */
export function isLineDelimitedName(key: string): boolean {
  return /\.(jsonl|ndjson)(\.gz)?$/i.test(key);
}

export function isAcceptedName(key: string): boolean {
  return /\.(json|jsonl|ndjson)(\.gz)?$/i.test(key);
}
