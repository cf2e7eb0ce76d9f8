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
  const slug = stripExtension(base).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "upload";
  return `${slug}-${sha256(sourceKey).slice(0, 16)}`;
}

export const curatedKey = (sourceKey: string) => `${OUTPUT_LAYOUT.curated}${derivedName(sourceKey)}.ndjson.gz`;
export const quarantineKey = (sourceKey: string) => `${OUTPUT_LAYOUT.quarantine}${derivedName(sourceKey)}.ndjson`;

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
