import { expect } from "chai";
import stringWidth from "string-width";
import { table } from "../../handler/local/render";

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
    const out = table(["name", "n"], names.map((name, i) => ({ name, n: i })));
    const lines = out.split("\n");
    const widths = lines.map((l) => stringWidth(l));
    expect(new Set(widths).size, out).to.equal(1);
  });
});
