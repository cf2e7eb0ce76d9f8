import { expect } from "chai";
import { Piece, RecordSplitter } from "../../handler/core/records";

/** Splits text fed in chunks of `size` characters, so every boundary position is exercised. */
function split(text: string, size: number, opts: { lineDelimited?: boolean; max?: number } = {}): Piece[] {
  const s = new RecordSplitter({ maxRecordBytes: opts.max ?? 1000, lineDelimited: opts.lineDelimited ?? false });
  const out: Piece[] = [];
  for (let i = 0; i < text.length; i += size) out.push(...s.push(text.slice(i, i + size)));
  out.push(...s.end());
  return out;
}

const r = (text: string, line: number, index: number, colons = 1): Piece => ({ kind: "record", text, line, index, colons, oneLine: true });

function summary(pieces: Piece[]): string[] {
  return pieces.map((p) => (p.kind === "record" ? `R${p.line}:${p.index}:${p.text}` : p.kind === "problem" ? `P${p.line}:${p.index}` : `F${p.line}`));
}

const CHUNKS = [1, 2, 5, 13, 100000];

describe("record splitter", () => {
  const cases: Array<[string, string, string[], { lineDelimited?: boolean; max?: number }?]> = [
    ["NDJSON", '{"a":1}\n{"b":2}\n', ['R1:0:{"a":1}', 'R2:1:{"b":2}']],
    ["NDJSON with CRLF and a blank line", '{"a":1}\r\n\r\n{"b":2}\r\n', ['R1:0:{"a":1}', 'R3:1:{"b":2}']],
    ["NDJSON without a final newline", '{"a":1}\n{"b":2}', ['R1:0:{"a":1}', 'R2:1:{"b":2}']],
    ["a JSON array over several lines", '[\n  {"a":1},\n  {"b":[1,2]}\n]\n', ['R2:0:{"a":1}', 'R3:1:{"b":[1,2]}']],
    ["a one-line array", '[{"a":1},{"b":2}]', ['R1:0:{"a":1}', 'R1:1:{"b":2}']],
    ["an empty array", "[]", []],
    [
      "the original wrapper, pretty-printed",
      '{\n  "sample_data": [\n    {"a": "x"},\n    {"b": {"c": [1]}}\n  ]\n}\n',
      ['R3:0:{"a": "x"}', 'R4:1:{"b": {"c": [1]}}'],
    ],
    ["a minified wrapper", '{"sample_data":[{"a":1},{"b":2}]}', ['R1:0:{"a":1}', 'R1:1:{"b":2}']],
    [
      "one pretty-printed record whose first field is a list",
      '{\n  "services": ["x", "y"],\n  "facility_id": "F"\n}',
      ['R1:0:{\n  "services": ["x", "y"],\n  "facility_id": "F"\n}'],
    ],
    ["one record on one line", '{"facility_id":"F","services":[]}', ['R1:0:{"facility_id":"F","services":[]}']],
    ["strings holding brackets, quotes and escapes", '[{"a":"]}\\"{["},{"b":"\\\\"}]', ['R1:0:{"a":"]}\\"{["}', 'R1:1:{"b":"\\\\"}']],
    ["a leading byte-order mark", '\ufeff{"a":1}\n', ['R1:0:{"a":1}']],
    ["scalars in an array (rejected later, when parsed)", '[1, "x", null]', ["R1:0:1", 'R1:1:"x"', "R1:2:null"]],
    ["a scalar line in NDJSON", '{"a":1}\n42\n{"b":2}\n', ['R1:0:{"a":1}', "P2:1", 'R3:2:{"b":2}']],
    ["a truncated NDJSON line", '{"a":1}\n{"b":\n{"c":3}\n', ['R1:0:{"a":1}', "P2:1", 'R3:2:{"c":3}']],
    ["an NDJSON line cut right after a backslash", '{"a":1}\n{"b":"x\\\n{"c":3}\n', ['R1:0:{"a":1}', "P2:1", 'R3:2:{"c":3}']],
    ["an NDJSON line with an unclosed string", '{"a":1}\n{"b":"x\n{"c":3}\n', ['R1:0:{"a":1}', "P2:1", 'R3:2:{"c":3}']],
    ["a non-JSON line in NDJSON", '{"a":1}\nhello\n{"c":3}\n', ['R1:0:{"a":1}', "P2:1", 'R3:2:{"c":3}']],
    ["a truncated array", '[{"a":1},{"b":', ['R1:0:{"a":1}', "P1:1", "F1"]],
    ["a truncated wrapper", '{"d":[{"a":1},{"b"', ['R1:0:{"a":1}', "P1:1", "F1"]],
    ["a mismatched bracket in a document", '[\n{"a":1},\n{"b":[}\n]', ['R2:0:{"a":1}', "P3:1", "F3"]],
    ["an empty file", "", ["F1"]],
    ["white space only", " \n\t\n", ["F3"]],
    ["not JSON at all", "<xml/>", ["F1"]],
    ["a second document after a pretty-printed one", '{\n"a":1\n}\n{"b":2}', ['R1:0:{\n"a":1\n}', "F4"]],
    ["a wrapper with a second property", '{"d":[{"a":1},{"b":2}' + " ".repeat(50) + '],"e":1}', ['R1:0:{"a":1}', 'R1:1:{"b":2}', "F1"], { max: 30 }],
    ["a record over the size limit", '{"a":"' + "x".repeat(40) + '"}\n{"b":2}\n', ["P1:0", 'R2:1:{"b":2}'], { max: 30 }],
    ["an array element over the size limit", '[{"a":"' + "x".repeat(40) + '"},{"b":2}]', ["P1:0", 'R1:1:{"b":2}'], { max: 30 }],
    [
      "a large wrapper whose elements fit",
      '{"d":[' + Array.from({ length: 10 }, (_, i) => `{"i":${i}}`).join(",") + "]}",
      Array.from({ length: 10 }, (_, i) => `R1:${i}:{"i":${i}}`),
      { max: 30 },
    ],
    ["NDJSON by name: a broken first line", '{"a":\n{"b":2}\n', ["P1:0", 'R2:1:{"b":2}'], { lineDelimited: true }],
  ];

  for (const [name, text, expected, opts] of cases) {
    it(`${name}: same pieces at every chunk size`, () => {
      for (const size of CHUNKS) {
        expect(summary(split(text, size, opts)), `chunk size ${size}`).to.deep.equal(expected);
      }
    });
  }

  it("explains file-level problems in words", () => {
    const [first] = split("<xml/>", 100);
    expect(first).to.deep.include({ kind: "file-problem" });
    expect((first as { reason: string }).reason).to.match(/line 1 does not start a JSON value .*"<xml\/>".*not JSON/);
    const truncated = split('[{"a":1},{"b":', 100).find((p) => p.kind === "file-problem");
    expect((truncated as { reason: string }).reason).to.match(/ends inside the JSON value that starts at line 1 \(truncated upload\?\)/);
  });

  it("keeps multi-byte characters intact across chunk boundaries and measures the limit in UTF-8 bytes", () => {
    const text = '{"n":"Zürich Ünïcødé 診療所"}\n';
    for (const size of CHUNKS) expect(split(text, size)).to.deep.equal([r('{"n":"Zürich Ünïcødé 診療所"}', 1, 0)]);
    // 26 characters but 37 bytes: over a 30-byte limit.
    expect(split('{"n":"診療所診療所診療所"}', 100, { max: 30 })[0].kind).to.equal("problem");
  });
});
