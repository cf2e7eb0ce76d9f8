import { expect } from "chai";
import stringWidth from "string-width";
import { FileOutcome } from "../../handler/core/batch";
import { progressLine, progressPrinter } from "../../handler/local/cli";
import { count, formatBytes, renderFile, table } from "../../handler/local/render";

describe("terminal tables", () => {
  it("shows control characters and line breaks as escapes, never raw", () => {
    const out = table(["name"], [{ name: "two\nlines" }, { name: "\u001b[31mred\u001b[0m" }, { name: "tab\there\r" }, { name: "bidi\u202eevil" }]);
    // Nothing below U+0020 but the table's own line breaks, no DEL, no C1, no bidi override.
    // eslint-disable-next-line no-control-regex -- the assertion is about control characters, so the pattern names them
    expect(out).to.not.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(out.split("\n")).to.have.length(6);
    expect(out).to.include("two\\nlines").and.include("\\u001b[31mred").and.include("tab\\there\\r").and.include("bidi\\u202eevil");
  });

  it("aligns columns by display width: emoji and CJK are two columns, combining marks none", () => {
    const names = ["Zoë", "Zoe\u0308", "診療所", "Clinic 🏥", "👩‍⚕️ care", "plain"];
    const out = table(
      ["name", "n"],
      names.map((name, i) => ({ name, n: i })),
    );
    const lines = out.split("\n");
    const widths = lines.map((l) => stringWidth(l));
    expect(new Set(widths).size, out).to.equal(1);
  });

  it("shows progress as bytes of the file's size with a percentage and records per second, in binary units", () => {
    expect(progressLine("big.ndjson", 50 * 1024 * 1024, 200 * 1024 * 1024, 123_456, 2)).to.equal(
      "big.ndjson: 50.0 MiB of 200.0 MiB (25%) read, 61,728 records/s",
    );
    expect(progressLine("stdin", 1536, undefined, 10, 1)).to.equal("stdin: 1.5 KiB read, 10 records/s");
    expect(formatBytes(3 * 1024 ** 3)).to.equal("3.0 GiB");
    expect(count(1234567)).to.equal("1,234,567");
  });

  it("on a terminal, redraws the progress line and then says the reports are running", () => {
    const writes: string[] = [];
    let now = 0;
    const p = progressPrinter({ isTTY: true, write: (s) => writes.push(s) > 0 }, false, new Map([["/x/a.ndjson", 4096]]), () => now);
    p.update("/x/a.ndjson", { bytesRead: 0, accepted: 0, rejected: 0 });
    now = 2000;
    p.update("/x/a.ndjson", { bytesRead: 2048, accepted: 90, rejected: 10 });
    p.reports();
    p.done();
    expect(writes.join("")).to.match(/^\r {2}\/x\/a\.ndjson: 2\.0 KiB of 4\.0 KiB \(50%\) read, 50 records\/s {3}\n {2}running reports\.\.\.\n$/);
    const quiet: string[] = [];
    const q = progressPrinter({ isTTY: false, write: (s) => quiet.push(s) > 0 }, false, new Map(), () => now);
    q.reports();
    q.done();
    expect(quiet).to.deep.equal([]);
  });

  it("shows counts with thousands separators in the per-file line", () => {
    const line = renderFile(
      {
        key: "a.ndjson",
        status: "ingested",
        result: {
          outcome: "partially-curated",
          accepted: 1234567,
          rejected: 2345,
          duplicateIds: 0,
          fileProblems: [],
          unknownFields: {},
          bytesRead: 1,
          curatedKey: "c",
          quarantineKey: undefined,
        },
      } as unknown as FileOutcome,
      ".pipeline",
      [],
    );
    expect(line).to.equal("!  a.ndjson: 1,234,567 accepted, 2,345 rejected");
  });
});
