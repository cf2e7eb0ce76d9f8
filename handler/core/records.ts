/**
 * Splits a stream of JSON text into facility records without holding the file in memory.
 *
 * Accepted shapes:
 * - NDJSON / JSON Lines: one value per line (known from a `.jsonl`/`.ndjson` name, or detected when the
 *   first value fits on its line and another value follows on a later line);
 * - a JSON array of records, in any layout;
 * - an object wrapping exactly one array of records (`{"sample_data": [...]}`), in any layout.
 *
 * A single pretty-printed object that is not such a wrapper is one record. The splitter only finds
 * record boundaries; each record's text is parsed by `JSON.parse` afterwards, which reports any error
 * inside it. Structural damage (a truncated file, a mismatched bracket) ends a JSON document with a
 * file problem, keeping the records before it; in NDJSON it costs only the damaged line.
 *
 * It is a character scanner rather than a streaming JSON library because it must report the line of
 * every record, cap the size of any one record, and recover at the next line in NDJSON, and because
 * handing each record to the native `JSON.parse` is several times faster than token-level parsing in JS.
 */

export interface RawRecord {
  kind: "record";
  text: string;
  /** 1-based line where the record starts. */
  line: number;
  /** 0-based position: in its array, or among the file's top-level values. */
  index: number;
  /** Colons outside strings: the number of keys the text writes (duplicate-keys.ts compares it). */
  colons: number;
  /** The record's text holds no line break. */
  oneLine: boolean;
}

export interface RecordProblem {
  kind: "problem";
  line: number;
  index: number;
  reason: string;
  /** The damaged record's text, when it is known and within the size limit. */
  raw?: string;
}

export interface FileProblem {
  kind: "file-problem";
  line: number;
  reason: string;
}

export type Piece = RawRecord | RecordProblem | FileProblem;

export interface SplitOptions {
  /** Largest record accepted, in bytes of UTF-8. */
  maxRecordBytes: number;
  /** The name says NDJSON: every line is a value, a damaged line is skipped. */
  lineDelimited: boolean;
}

const NL = 10,
  CR = 13,
  SP = 32,
  TAB = 9,
  QUOTE = 34,
  BACKSLASH = 92,
  COMMA = 44,
  COLON = 58;
const LBRACE = 123,
  RBRACE = 125,
  LBRACKET = 91,
  RBRACKET = 93;
const MINUS = 45,
  DIGIT0 = 48,
  DIGIT9 = 57,
  LOWER_T = 116,
  LOWER_F = 102,
  LOWER_N = 110,
  BOM = 0xfeff;

const isSpace = (c: number) => c === SP || c === NL || c === CR || c === TAB;
const isContainer = (c: number) => c === LBRACE || c === LBRACKET;

/** Position of `what` in s from `from`, or n when absent. */
function indexOr(s: string, what: string, from: number, n: number): number {
  const at = s.indexOf(what, from);
  return at < 0 ? n : at;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

interface Capture {
  parts: string[];
  /** Start of the captured text in the current chunk. */
  start: number;
  chars: number;
  line: number;
  index: number;
  oversized: boolean;
  /** Opening character: { [ " or the first character of a scalar. */
  opener: number;
  colons: number;
}

type Mode = "between" | "value" | "skip-line" | "stopped";
type TopKind = "array" | "object" | "scalar";
type ObjState = "key" | "colon" | "value" | "after";

export class RecordSplitter {
  private readonly max: number;
  private ndjson: boolean;
  private chunk = "";
  private line = 1;
  private mode: Mode = "between";
  private out: Piece[] = [];
  private stack: number[] = [];
  private inString = false;
  private escaped = false;
  /** Top-level values completed so far. */
  private values = 0;
  private firstValueOneLine = false;
  private lastValueEndLine = 0;

  private top: TopKind = "scalar";
  private topLine = 1;
  /** Depth of the array whose elements are records (1: top-level array, 2: wrapped array), or 0. */
  private recordDepth = 0;
  private elementIndex = 0;
  private element: Capture | undefined;
  /** The whole top-level object, while it may still be a single record. */
  private outer: Capture | undefined;

  // A top-level object: one record, or a wrapper around one array of records?
  private objState: ObjState = "key";
  private inKey = false;
  private keys = 0;
  private firstIsArray: boolean | undefined;
  private decision: "undecided" | "wrapper" | "record" = "undecided";
  /** Elements of a possible wrapper, held until the object proves to be one. Bounded by the record limit. */
  private pending: Piece[] = [];

  /** In the array of records, the next thing must be a value: at its start and after each comma. */
  private expectElement = false;
  private lastCommaLine = 0;
  /** Lines of commas no value follows (`[a,]`, `[a,,b]`, `{...},` in NDJSON). */
  private strayCommas: number[] = [];
  /** The same, inside a top-level object not yet known to be a wrapper (dropped if it is a record). */
  private pendingStrayCommas: number[] = [];

  constructor(options: SplitOptions) {
    this.max = options.maxRecordBytes;
    this.ndjson = options.lineDelimited;
  }

  /** The line the scanner has reached. */
  get currentLine(): number {
    return this.line;
  }

  /** Feeds the next chunk of text; returns what it completed. */
  push(s: string): Piece[] {
    this.chunk = s;
    const n = s.length;
    // Most of the text is inside strings. There, only a quote, a backslash or a line end matters, so
    // the scanner jumps to the nearest one (positions found with the native indexOf and reused).
    let nextBackslash = -1;
    let nextNewline = -1;
    for (let i = 0; i < n && this.mode !== "stopped"; i++) {
      if (this.inString && !this.escaped) {
        if (nextBackslash < i) nextBackslash = indexOr(s, "\\", i, n);
        if (nextNewline < i) nextNewline = indexOr(s, "\n", i, n);
        const quote = indexOr(s, '"', i, n);
        const next = Math.min(quote, nextBackslash, nextNewline);
        if (next >= n) break;
        i = next;
      }
      const c = s.charCodeAt(i);
      if (this.mode === "skip-line") {
        if (c === NL) {
          this.line++;
          this.mode = "between";
        }
      } else if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          // No JSON escape is a line break: the line was cut after a backslash. Taking the break as
          // escaped would swallow the next line into this string.
          if (c === NL) {
            this.damaged(i, "a string is not closed before the end of the line", true);
            this.line++;
          }
        } else if (c === BACKSLASH) {
          this.escaped = true;
        } else if (c === QUOTE) {
          this.inString = false;
          this.afterString(i);
        } else if (c === NL) {
          this.damaged(i, "a string is not closed before the end of the line", true);
          this.line++;
        }
      } else if (this.mode === "between") {
        this.between(i, c);
      } else {
        this.inValue(i, c);
      }
    }
    this.carry(this.element);
    this.carry(this.outer);
    return this.drain();
  }

  /** Ends the stream; returns what it completed and any problem with how the file ended. */
  end(): Piece[] {
    this.chunk = "";
    if (this.mode === "value") {
      if (this.top === "scalar" && !this.inString) {
        this.finishTopScalar(0);
      } else {
        this.truncated();
      }
    } else if (this.values === 0 && this.mode !== "stopped") {
      this.fileProblem(this.line, "the file holds no JSON value (it is empty or only white space)");
    }
    this.reportStrayCommas();
    this.mode = "stopped";
    return this.drain();
  }

  /**
   * A trailing comma is not JSON, but what it means is clear, so the records are kept and the file
   * says once what was wrong, in every layout (NDJSON lines and arrays alike).
   */
  private reportStrayCommas(): void {
    const lines = this.strayCommas;
    if (lines.length === 0) return;
    const more = lines.length > 1 ? `; ${lines.length - 1} more on later lines` : "";
    this.fileProblem(
      lines[0],
      `line ${lines[0]}: a comma that no value follows (a trailing comma), which JSON does not allow${more}; the records were read as if it were absent`,
    );
    this.strayCommas = [];
  }

  private strayComma(line: number): void {
    (this.top === "object" && this.decision === "undecided" ? this.pendingStrayCommas : this.strayCommas).push(line);
  }

  private truncated(): void {
    const el = this.element;
    if (el) {
      const target = this.top === "object" && this.decision === "undecided" ? this.pending : this.out;
      target.push({ kind: "problem", line: el.line, index: el.index, reason: "the file ends inside this record (truncated)" });
    }
    this.element = undefined;
    if (this.top === "object" && this.decision !== "record" && this.keys === 1 && this.firstIsArray) {
      this.decideWrapper();
    } else if (this.outer) {
      this.problem(this.outer, "the file ends inside this record (truncated)");
    }
    this.outer = undefined;
    const recordsInside = this.top === "array" || this.decision === "wrapper";
    if (!this.ndjson || recordsInside) {
      this.fileProblem(this.line, `the file ends inside the JSON value that starts at line ${this.topLine} (truncated upload?)`);
    }
  }

  private drain(): Piece[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  // ---- between top-level values -------------------------------------------------------------

  private between(i: number, c: number): void {
    if (c === NL) {
      this.line++;
      return;
    }
    if (isSpace(c) || c === BOM) return;
    if (c === COMMA && this.values > 0 && this.line === this.lastValueEndLine) {
      // `{...},` as a line of NDJSON: a value follows on the next line, if at all.
      this.strayCommas.push(this.line);
      return;
    }
    if (this.values > 0 && !this.ndjson) {
      if (this.values === 1 && this.firstValueOneLine && this.line > this.lastValueEndLine) {
        this.ndjson = true;
      } else {
        this.stop(`unexpected content after the JSON document at line ${this.line}: a file holds one JSON document, or one record per line (NDJSON)`);
        return;
      }
    }
    this.startTop(i, c);
  }

  private startTop(i: number, c: number): void {
    this.mode = "value";
    this.topLine = this.line;
    this.stack.length = 0;
    this.recordDepth = 0;
    this.elementIndex = 0;
    if (c === LBRACKET) {
      this.top = "array";
      this.stack.push(c);
      this.recordDepth = 1;
      this.expectElement = true;
    } else if (c === LBRACE) {
      this.top = "object";
      this.stack.push(c);
      this.objState = "key";
      this.inKey = false;
      this.keys = 0;
      this.firstIsArray = undefined;
      this.decision = "undecided";
      this.pending = [];
      this.pendingStrayCommas = [];
      this.outer = this.capture(i, this.values, c);
    } else if (c === QUOTE || c === MINUS || (c >= DIGIT0 && c <= DIGIT9) || c === LOWER_T || c === LOWER_F || c === LOWER_N) {
      // A string, number, true, false or null where a record should be.
      this.top = "scalar";
      this.element = this.capture(i, this.values, c);
      if (c === QUOTE) this.inString = true;
    } else {
      const reason = `line ${this.line} does not start a JSON value (it starts with ${JSON.stringify(this.chunk.slice(i, i + 12))})`;
      if (this.ndjson) {
        this.out.push({ kind: "problem", line: this.line, index: this.values, reason });
        this.values++;
        this.mode = "skip-line";
      } else {
        this.stop(`${reason}: the file is not JSON`);
      }
    }
  }

  // ---- inside a top-level value -------------------------------------------------------------

  private inValue(i: number, c: number): void {
    if (this.top === "scalar") {
      if (isSpace(c) || c === COMMA) {
        this.finishTopScalar(i);
        if (c === NL) this.line++;
      }
      return;
    }
    const depth = this.stack.length;
    if (c === NL) {
      if (this.ndjson) {
        this.damaged(i, "the line ends before its JSON value is complete", true);
      } else if (this.element && depth === this.recordDepth && !isContainer(this.element.opener)) {
        this.finishElement(i);
      }
      this.line++;
      return;
    }
    if (isSpace(c)) {
      if (this.element && depth === this.recordDepth && !isContainer(this.element.opener)) this.finishElement(i);
      return;
    }
    const inRecordArray = this.recordDepth > 0 && depth === this.recordDepth && this.collecting();
    if (inRecordArray && !this.element && c !== COMMA && c !== RBRACKET) {
      this.element = this.capture(i, this.elementIndex++, c);
      this.expectElement = false;
    }
    if (this.top === "object" && depth === 1) this.objectTopLevel(c);

    switch (c) {
      case COLON:
        if (this.element) this.element.colons++;
        if (this.outer) this.outer.colons++;
        return;
      case QUOTE:
        this.inString = true;
        this.inKey = this.top === "object" && depth === 1 && this.objState === "key";
        return;
      case LBRACE:
      case LBRACKET:
        this.stack.push(c);
        return;
      case RBRACE:
      case RBRACKET:
        if (inRecordArray && c === RBRACKET && this.expectElement && this.elementIndex > 0) this.strayComma(this.lastCommaLine);
        this.closer(i, c);
        return;
      case COMMA:
        if (this.element && depth === this.recordDepth && !isContainer(this.element.opener)) this.finishElement(i);
        if (inRecordArray) {
          if (this.expectElement) this.strayComma(this.line);
          this.expectElement = true;
          this.lastCommaLine = this.line;
        }
        return;
      default:
        return;
    }
  }

  private closer(i: number, c: number): void {
    const open = this.stack.pop();
    if (open === undefined || (open === LBRACE) !== (c === RBRACE)) {
      const expected = open === LBRACE ? "'}'" : "']'";
      this.damaged(i, `found '${String.fromCharCode(c)}' where ${expected} was expected`, false);
      return;
    }
    const now = this.stack.length;
    if (this.element) {
      if (isContainer(this.element.opener) && now === this.recordDepth) {
        this.finishElement(i + 1);
      } else if (!isContainer(this.element.opener) && now === this.recordDepth - 1) {
        // The array closed right after a scalar element, as in `[1, 2]`.
        this.finishElement(i);
      }
    }
    if (now === 0) this.finishTop(i + 1);
  }

  /** Follows the keys and the first value of a top-level object, at its own depth. */
  private objectTopLevel(c: number): void {
    if (c === COLON && this.objState === "colon") {
      this.objState = "value";
    } else if (c === COMMA) {
      this.objState = "key";
    } else if (this.objState === "value") {
      this.objState = "after";
      if (this.keys === 1) {
        this.firstIsArray = c === LBRACKET;
        if (this.firstIsArray) {
          this.recordDepth = 2;
          this.expectElement = true;
        } else {
          this.decideRecord();
        }
      }
    }
  }

  private afterString(i: number): void {
    if (this.mode !== "value" || this.top === "scalar") return;
    const depth = this.stack.length;
    if (this.inKey) {
      this.inKey = false;
      this.objState = "colon";
      this.keys++;
      if (this.keys === 2) {
        // Decide as a chunk boundary would have: an object already over the limit is no single record.
        const outer = this.outer;
        if (outer && this.decision === "undecided" && this.firstIsArray && outer.chars + (i - outer.start) > this.max) {
          this.decideWrapper();
        }
        if (this.decision === "wrapper") {
          this.stop(
            `an object with more than one property (the second at line ${this.line}): expected NDJSON, an array, or an object wrapping exactly one array; the records before it were kept`,
          );
          return;
        }
        this.decideRecord();
      }
    }
    if (this.element && this.element.opener === QUOTE && depth === this.recordDepth) this.finishElement(i + 1);
  }

  private collecting(): boolean {
    return this.top === "array" || (this.top === "object" && this.firstIsArray === true && this.decision !== "record");
  }

  // ---- a top-level object: one record or a wrapper ------------------------------------------

  private decideRecord(): void {
    if (this.decision !== "undecided") return;
    this.decision = "record";
    this.pending = [];
    // Commas inside one record are its own malformed JSON, reported when it is parsed.
    this.pendingStrayCommas = [];
    this.element = undefined;
    this.recordDepth = 0;
  }

  private decideWrapper(): void {
    if (this.decision === "wrapper") return;
    this.decision = "wrapper";
    this.outer = undefined;
    this.out.push(...this.pending);
    this.pending = [];
    this.strayCommas.push(...this.pendingStrayCommas);
    this.pendingStrayCommas = [];
  }

  // ---- captured text ------------------------------------------------------------------------

  private capture(i: number, index: number, opener: number): Capture {
    return { parts: [], start: i, chars: 0, line: this.line, index, oversized: false, opener, colons: 0 };
  }

  /** At the end of a chunk, keeps what a capture holds so far, or gives up on an oversized one. */
  private carry(cap: Capture | undefined): void {
    if (!cap) return;
    if (!cap.oversized) {
      const part = this.chunk.slice(cap.start);
      cap.chars += part.length;
      if (cap.chars > this.max) {
        cap.oversized = true;
        cap.parts = [];
        // No single record is that large, so an undecided object holding an array must be a wrapper.
        if (cap === this.outer && this.decision === "undecided" && this.firstIsArray) this.decideWrapper();
      } else {
        cap.parts.push(part);
      }
    }
    cap.start = 0;
  }

  /** The captured text up to `endExclusive`, or undefined when it exceeds the record limit. */
  private rawOf(cap: Capture, endExclusive: number): string | undefined {
    if (cap.oversized) return undefined;
    const text = cap.parts.join("") + this.chunk.slice(cap.start, endExclusive);
    return Buffer.byteLength(text, "utf8") > this.max ? undefined : text;
  }

  private emit(cap: Capture, endExclusive: number, target: Piece[]): void {
    const text = this.rawOf(cap, endExclusive);
    target.push(
      text === undefined
        ? { kind: "problem", line: cap.line, index: cap.index, reason: `the record is larger than the ${this.max}-byte limit` }
        : { kind: "record", text, line: cap.line, index: cap.index, colons: cap.colons, oneLine: cap.line === this.line },
    );
  }

  private finishElement(endExclusive: number): void {
    const el = this.element;
    if (!el) return;
    this.element = undefined;
    this.emit(el, endExclusive, this.top === "object" && this.decision === "undecided" ? this.pending : this.out);
  }

  private finishTopScalar(endExclusive: number): void {
    const el = this.element;
    this.element = undefined;
    this.mode = "between";
    if (!el) return;
    const text = this.rawOf(el, endExclusive);
    if (text !== undefined && !isJson(text)) {
      // Not a JSON value at all (`facility_id,name` in a CSV, say).
      const reason = `line ${el.line} does not start a JSON value (it starts with ${JSON.stringify(text.slice(0, 12))})`;
      if (!this.ndjson && this.values === 0) {
        this.stop(`${reason}: the file is not JSON`);
        return;
      }
      this.endValue();
      this.problem(el, reason);
      if (this.ndjson) this.mode = "skip-line";
      return;
    }
    this.endValue();
    const shown = text === undefined ? "a value" : text.length > 40 ? `${text.slice(0, 40)}...` : text;
    this.problem(el, `expected a facility object, found ${shown}`);
  }

  private finishTop(endExclusive: number): void {
    if (this.top === "object") {
      if (this.decision === "undecided") {
        if (this.keys === 1 && this.firstIsArray) this.decideWrapper();
        else this.decideRecord();
      }
      if (this.decision === "record" && this.outer) this.emit(this.outer, endExclusive, this.out);
    }
    this.outer = undefined;
    this.element = undefined;
    this.mode = "between";
    this.endValue();
  }

  private endValue(): void {
    this.values++;
    if (this.values === 1) this.firstValueOneLine = this.topLine === this.line;
    this.lastValueEndLine = this.line;
    this.recordDepth = 0;
  }

  // ---- problems -----------------------------------------------------------------------------

  private problem(cap: Capture, reason: string): void {
    this.out.push({ kind: "problem", line: cap.line, index: cap.index, reason });
  }

  private fileProblem(line: number, reason: string): void {
    this.out.push({ kind: "file-problem", line, reason });
  }

  private stop(reason: string): void {
    this.fileProblem(this.line, reason);
    this.mode = "stopped";
    this.element = undefined;
    this.outer = undefined;
    this.pending = [];
  }

  /**
   * Structural damage. NDJSON loses the damaged line and carries on at the next one; a JSON document
   * cannot be resynchronised, so scanning stops, keeping the records already found.
   */
  private damaged(i: number, what: string, atNewline: boolean): void {
    if (this.ndjson) {
      const line = this.topLine;
      const cap = this.outer ?? this.element;
      const problem: RecordProblem = { kind: "problem", line, index: this.values, reason: `line ${line}: ${what}` };
      const raw = cap && this.rawOf(cap, i);
      if (raw !== undefined) problem.raw = raw.replace(/\r$/, "");
      this.out.push(problem);
      this.values++;
      this.element = undefined;
      this.outer = undefined;
      this.inString = false;
      this.escaped = false;
      this.stack.length = 0;
      this.mode = atNewline ? "between" : "skip-line";
      return;
    }
    const el = this.element;
    if (el) this.problem(el, `malformed JSON at line ${this.line}: ${what}`);
    const inside = el ? ` in the record that starts at line ${el.line}` : "";
    this.stop(`malformed JSON at line ${this.line}${inside}: ${what}; the records before it were kept`);
  }
}
