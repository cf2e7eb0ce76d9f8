import { once } from "events";
import { PassThrough } from "stream";
import { OutputStore } from "./ports";

/**
 * An object written as text in pieces, streamed to the store while it is produced (multipart on
 * S3), so its size never has to fit in memory. `write` waits while the store is behind, and fails
 * fast once the store's write has failed; `close` resolves when the object exists.
 */
export class TextStream {
  private readonly stream = new PassThrough({ highWaterMark: 1024 * 1024 });
  private readonly upload: Promise<void>;

  constructor(
    store: OutputStore,
    readonly key: string,
    contentType: string,
  ) {
    this.upload = store.putStream(key, this.stream, contentType);
    // Observed in write/close; this keeps an early failure from being reported as unhandled.
    this.upload.catch(() => undefined);
  }

  async write(text: string): Promise<void> {
    if (text.length === 0) return;
    if (!this.stream.write(text)) await Promise.race([once(this.stream, "drain"), this.upload]);
  }

  async close(): Promise<void> {
    this.stream.end();
    await this.upload;
  }

  /** Abandons the object: a stream that ends with an error leaves nothing behind. */
  abort(error: Error): void {
    this.stream.destroy(error);
  }
}
