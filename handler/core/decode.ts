import { Readable } from "stream";
import { createGunzip } from "zlib";
import { contentError, sourceReadError } from "./errors";

export interface DecodedText {
  /** Text chunks, gunzipped and UTF-8 decoded. Throws a source-read or a content error (errors.ts). */
  chunks: AsyncIterable<string>;
  /** Bytes read from the source so far (compressed size for gzip). */
  bytesRead(): number;
}

const GZIP = [0x1f, 0x8b];
const ZIP = [0x50, 0x4b, 0x03, 0x04];

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

/**
 * Turns an upload's bytes into text. Gzip is recognised by its magic bytes whatever the name says;
 * UTF-16 and zip archives are named as such; invalid UTF-8 is reported with its byte offset.
 */
export function decode(body: AsyncIterable<Uint8Array>): DecodedText {
  let read = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of body) {
        read += chunk.length;
        yield chunk;
      }
    } catch (e) {
      throw sourceReadError(e);
    }
  }

  async function* text(): AsyncGenerator<string> {
    const it = source()[Symbol.asyncIterator]();
    let first = await it.next();
    while (!first.done && first.value.length < 4) {
      // Too short to recognise: join with the next chunk.
      const next = await it.next();
      if (next.done) break;
      first = { done: false, value: Buffer.concat([first.value, next.value]) };
    }
    if (first.done) return;
    const head = first.value;
    if (startsWith(head, ZIP)) throw contentError("the file is a zip archive, not JSON or gzip: upload the JSON file itself, or gzip it");
    if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
      throw contentError("the file is UTF-16 encoded: save it as UTF-8");
    }
    async function* rest(): AsyncGenerator<Uint8Array> {
      yield head;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    }
    const bytes: AsyncIterable<Uint8Array> = startsWith(head, GZIP) ? gunzip(rest()) : rest();
    const decoder = new TextDecoder("utf-8", { fatal: true });
    let offset = 0;
    for await (const chunk of bytes) {
      let s: string;
      try {
        s = decoder.decode(chunk, { stream: true });
      } catch {
        // Hand on the valid text before the bad bytes, so the records in it are kept.
        const lenient = new TextDecoder("utf-8").decode(chunk);
        const bad = lenient.indexOf("\ufffd");
        if (bad > 0) yield lenient.slice(0, bad);
        const at = offset + Buffer.byteLength(lenient.slice(0, Math.max(bad, 0)), "utf8");
        throw contentError(`the file is not valid UTF-8 (an invalid byte sequence at byte ${at} of the text)`);
      }
      offset += chunk.length;
      if (s.length > 0) yield s;
    }
    try {
      const tail = decoder.decode();
      if (tail.length > 0) yield tail;
    } catch {
      throw contentError("the file is not valid UTF-8 (it ends inside a multi-byte character)");
    }
  }

  return { chunks: text(), bytesRead: () => read };
}

async function* gunzip(compressed: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let sourceError: unknown;
  const input = Readable.from(
    (async function* () {
      try {
        yield* compressed;
      } catch (e) {
        sourceError = e;
        throw e;
      }
    })(),
  );
  const inflate = createGunzip();
  input.on("error", (e) => inflate.destroy(e));
  input.pipe(inflate);
  try {
    for await (const chunk of inflate) yield chunk as Buffer;
  } catch (e) {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the source's own failure (an S3 or file error) passes through unchanged, whatever it is
    if (sourceError !== undefined) throw sourceError;
    throw contentError(`the gzip data is damaged or truncated (${(e as Error).message})`);
  }
}
