import { once } from "events";
import { PassThrough } from "stream";
import { createGzip } from "zlib";
import { OutputStore } from "./ports";

/**
 * An NDJSON object written as a stream. It starts only when the first row arrives, and an object
 * that never gets a row is deleted instead, so a re-processed upload never leaves a stale object.
 * Rows are buffered and written once per input chunk, which keeps per-record overhead low and memory
 * bounded by the chunk size.
 */
export class NdjsonSink {
  private stream: PassThrough | undefined;
  private upload: Promise<void> | undefined;
  private buffer: string[] = [];
  rows = 0;

  constructor(
    private readonly store: OutputStore,
    readonly key: string,
    private readonly options: { gzip: boolean; contentType: string },
  ) {}

  add(row: unknown): void {
    this.addLine(JSON.stringify(row));
  }

  /** Adds a row already serialized as one line of JSON. */
  addLine(json: string): void {
    this.buffer.push(`${json}\n`);
    this.rows++;
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const stream = this.stream ?? this.start();
    const text = this.buffer.join("");
    this.buffer = [];
    if (!stream.write(text)) {
      // Wait for the consumer, but fail fast if the upload itself has failed.
      await Promise.race([once(stream, "drain"), this.upload]);
    }
  }

  /** Finishes the object; returns whether it exists (at least one row). */
  async close(): Promise<boolean> {
    await this.flush();
    if (!this.stream) {
      await this.store.delete(this.key);
      return false;
    }
    this.stream.end();
    await this.upload;
    return true;
  }

  /** Abandons the object: a stream upload that ends with an error leaves nothing behind. */
  abort(error: Error): void {
    this.stream?.destroy(error);
    this.upload?.catch(() => undefined);
  }

  private start(): PassThrough {
    // Large buffers let the main thread keep parsing while zlib compresses on the thread pool.
    const input = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
    let body: AsyncIterable<Uint8Array> = input;
    if (this.options.gzip) {
      const gzip = createGzip({ level: 6, chunkSize: 256 * 1024 });
      input.on("error", (e) => gzip.destroy(e));
      // The store reports a failed write through `upload`; one that failed before reading this stream
      // left no listener, and the error passed on by `abort` would be thrown as uncaught.
      gzip.on("error", () => undefined);
      input.pipe(gzip);
      body = gzip;
    }
    this.stream = input;
    this.upload = this.store.putStream(this.key, body, this.options.contentType);
    // Observed in flush/close; this keeps an early failure from being reported as unhandled.
    this.upload.catch(() => undefined);
    return input;
  }
}
