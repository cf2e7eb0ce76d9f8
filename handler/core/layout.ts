/**
 * Where things live in the output bucket (and in the local output folder, which mirrors it).
 * Shared by the processor, the local CLI and the infrastructure (Glue location, IAM scoping, lifecycle).
 */
export const OUTPUT_LAYOUT = {
  /**
   * Valid rows, one gz NDJSON object per source object: the history (Glue table `facilities_history`),
   * never rewritten.
   */
  curated: "curated/",
  /**
   * The current state: the winning row of each facility, in hash shards the processor merges into on
   * every ingest (handler/core/current-state.ts). The location of the Glue table reports read.
   */
  current: "current/",
  /** Rejected records and file-level problems, one NDJSON object per source object. */
  quarantine: "quarantine/",
  /** Report results: `<report>/latest.{json,csv}` and per-run files. */
  reports: "reports/",
  /** Athena's own result files; expired by lifecycle. */
  athenaScratch: "athena-results/",
} as const;

/** File endings the pipeline accepts as uploads (each optionally followed by `.gz`). */
export const ACCEPTED_EXTENSIONS = [".json", ".jsonl", ".ndjson"] as const;

/** Every upload suffix, including the gzip forms. S3 notification filters are built from this list. */
export const ACCEPTED_SUFFIXES: readonly string[] = ACCEPTED_EXTENSIONS.flatMap((e) => [e, `${e}.gz`]);
