import { expect } from "chai";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../handler/local/cli";

const root = path.resolve(__dirname, "../..");
const sample = (f: string) => path.join(root, "sample-data", f);

interface Summary {
  exit_code: number;
  files: Array<{ file: string; status: string; accepted?: number; rejected?: number }>;
  reports: Array<{ report: string; rows: number; results: Array<Record<string, unknown>> }>;
}

async function run(args: string[]): Promise<{ code: number; out: string; summary?: Summary }> {
  const lines: string[] = [];
  const code = await main(args, (s) => lines.push(s));
  const out = lines.join("\n");
  return { code, out, summary: args.includes("--json") && out.startsWith("{") ? (JSON.parse(out) as Summary) : undefined };
}

const report = (s: Summary | undefined, name: string) => s!.reports.find((r) => r.report === name)!.results;

describe("local mode (npm start)", () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "facility-cli-"));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe("golden reports over the sample data, as of 2026-11-27", () => {
    let summary: Summary | undefined;
    before(async () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), "facility-golden-"));
      ({ summary } = await run([path.join(root, "sample-data"), "--out", out, "--as-of", "2026-11-27", "--json"]));
      fs.rmSync(out, { recursive: true, force: true });
    });

    it("ingests the four sample files, one per accepted shape", () => {
      expect(summary!.exit_code).to.equal(0);
      expect(summary!.files.map((f) => [path.basename(f.file), f.status, f.accepted])).to.deep.equal([
        ["facilities-array.json", "curated", 2],
        ["facilities-extra.jsonl.gz", "curated", 2],
        ["facilities.ndjson", "curated", 3],
        ["sample_data.json", "curated", 3],
      ]);
    });

    it("accreditation-by-state: each facility and its employees counted once, F001 (in two files) once", () => {
      expect(report(summary, "accreditation-by-state")).to.deep.equal([
        { state: "FL", accredited_facilities: 2, total_employees: 210, active_accreditations: 2 },
        { state: "TX", accredited_facilities: 2, total_employees: 850, active_accreditations: 3 },
        { state: "CA", accredited_facilities: 1, total_employees: 1200, active_accreditations: 2 },
        { state: "NY", accredited_facilities: 1, total_employees: 980, active_accreditations: 1 },
      ]);
    });

    it("facility-metrics: one row per facility, typed, NULL where there is no accreditation", () => {
      expect(report(summary, "facility-metrics")).to.deep.equal([
        { facility_id: "F001", facility_name: "Mercy General Hospital", employee_count: 1200, number_of_offered_services: 3, expiry_date_of_first_accreditation: "2027-03-15" },
        { facility_id: "F002", facility_name: "Bayview Clinic", employee_count: 85, number_of_offered_services: 2, expiry_date_of_first_accreditation: "2026-10-01" },
        { facility_id: "F003", facility_name: "Lone Star Medical Center", employee_count: 640, number_of_offered_services: 4, expiry_date_of_first_accreditation: "2027-05-27" },
        { facility_id: "F004", facility_name: "Austin Community Health", employee_count: 210, number_of_offered_services: 1, expiry_date_of_first_accreditation: "2029-06-30" },
        { facility_id: "F005", facility_name: "Empire Surgical Institute", employee_count: 430, number_of_offered_services: 2, expiry_date_of_first_accreditation: null },
        { facility_id: "F006", facility_name: "Hudson Valley Hospital", employee_count: 980, number_of_offered_services: 5, expiry_date_of_first_accreditation: "2027-01-10" },
        { facility_id: "F007", facility_name: "Sunshine Rehab Center", employee_count: 150, number_of_offered_services: 2, expiry_date_of_first_accreditation: "2027-08-01" },
        { facility_id: "F008", facility_name: "Gulf Coast Dialysis", employee_count: 60, number_of_offered_services: 1, expiry_date_of_first_accreditation: "2027-05-28" },
        { facility_id: "F010", facility_name: "Cascade Health", employee_count: 300, number_of_offered_services: 0, expiry_date_of_first_accreditation: "2026-11-26" },
      ]);
    });

    it("expiring-accreditations: valid today through the 6-month horizon inclusive, soonest first", () => {
      expect(report(summary, "expiring-accreditations")).to.deep.equal([
        { facility_id: "F004", facility_name: "Austin Community Health", state: "TX", accreditation_body: "Joint Commission", accreditation_id: "JC-1004", valid_until: "2026-11-27", days_remaining: 0 },
        { facility_id: "F006", facility_name: "Hudson Valley Hospital", state: "NY", accreditation_body: "Joint Commission", accreditation_id: "JC-1006", valid_until: "2027-01-10", days_remaining: 44 },
        { facility_id: "F001", facility_name: "Mercy General Hospital", state: "CA", accreditation_body: "Joint Commission", accreditation_id: "JC-1001", valid_until: "2027-03-15", days_remaining: 108 },
        { facility_id: "F003", facility_name: "Lone Star Medical Center", state: "TX", accreditation_body: "Joint Commission", accreditation_id: "JC-1003", valid_until: "2027-05-27", days_remaining: 181 },
      ]);
    });
  });

  it("prints readable tables, the output layout matching the output bucket", async () => {
    const out = path.join(tmp, "out");
    const { code, out: text } = await run([sample("facilities.ndjson"), "--out", out, "--as-of", "2026-11-27"]);
    expect(code).to.equal(0);
    expect(text).to.include("== accreditation-by-state (as_of 2026-11-27)");
    expect(text).to.match(/state\s+accredited_facilities\s+total_employees\s+active_accreditations\n-+/);
    expect(text).to.match(/CA\s+1\s+1200\s+2/);
    for (const r of ["accreditation-by-state", "facility-metrics", "expiring-accreditations"]) {
      expect(fs.existsSync(path.join(out, "reports", r, "latest.json")), r).to.equal(true);
      expect(fs.existsSync(path.join(out, "reports", r, "latest.csv")), r).to.equal(true);
    }
    expect(fs.readdirSync(path.join(out, "curated"))).to.have.length(1);
  });

  it("counts a facility uploaded twice once, and a later upload replaces the earlier record", async () => {
    const inbox = path.join(tmp, "in");
    fs.mkdirSync(inbox);
    const first = fs.readFileSync(sample("facilities.ndjson"), "utf8");
    fs.writeFileSync(path.join(inbox, "a.ndjson"), first);
    fs.writeFileSync(path.join(inbox, "b.ndjson"), first.split("\n")[0].replace('"employee_count":1200', '"employee_count":1500'));
    const old = new Date("2026-11-01T00:00:00Z");
    fs.utimesSync(path.join(inbox, "a.ndjson"), old, old);
    const { summary } = await run([inbox, "--out", path.join(tmp, "out"), "--as-of", "2026-11-27", "--json"]);
    const f001 = report(summary, "facility-metrics").filter((r) => r.facility_id === "F001");
    expect(f001).to.deep.equal([{ facility_id: "F001", facility_name: "Mercy General Hospital", employee_count: 1500, number_of_offered_services: 3, expiry_date_of_first_accreditation: "2027-03-15" }]);
  });

  it("drops a removed file's facilities on the next run over its directory", async () => {
    const inbox = path.join(tmp, "in");
    fs.mkdirSync(inbox);
    fs.copyFileSync(sample("facilities.ndjson"), path.join(inbox, "a.ndjson"));
    fs.copyFileSync(sample("facilities-array.json"), path.join(inbox, "b.json"));
    const out = path.join(tmp, "out");
    const before = await run([inbox, "--out", out, "--as-of", "2026-11-27", "--json"]);
    expect(report(before.summary, "facility-metrics")).to.have.length(5);
    fs.rmSync(path.join(inbox, "b.json"));
    const after = await run([inbox, "--out", out, "--as-of", "2026-11-27", "--json"]);
    expect(after.summary!.files.find((f) => f.file.endsWith("b.json"))?.status).to.equal("removed");
    expect(report(after.summary, "facility-metrics").map((r) => r.facility_id)).to.deep.equal(["F001", "F002", "F003"]);
  });

  describe("hostile inputs and output folders", () => {
    it("runs the reports over an empty table (every record rejected): zero rows, exit 0; 1 only with --strict", async () => {
      const file = path.join(root, "sample-data/bad/missing-fields.ndjson");
      const loose = await run([file, "--out", path.join(tmp, "a"), "--json"]);
      expect(loose.summary!.files[0]).to.include({ status: "rejected", accepted: 0 });
      expect(loose.summary!.reports.map((r) => [r.report, r.rows])).to.deep.equal([
        ["accreditation-by-state", 0], ["facility-metrics", 0], ["expiring-accreditations", 0],
      ]);
      expect(loose.code).to.equal(0);
      expect((await run([file, "--out", path.join(tmp, "b"), "--strict", "--json"])).code).to.equal(1);
    });

    it("lets the last record of a facility in one upload win in every layout, and counts the duplicate", async () => {
      const first = { ...JSON.parse(fs.readFileSync(sample("facilities.ndjson"), "utf8").split("\n")[0]), employee_count: 1 };
      const last = { ...first, employee_count: 2 };
      const layouts: Array<[string, string]> = [
        ["minified.json", JSON.stringify([first, last])],
        ["pretty.json", JSON.stringify([first, last], null, 2)],
        ["wrapped.json", JSON.stringify({ sample_data: [first, last] })],
        ["lines.ndjson", `${JSON.stringify(first)}\n${JSON.stringify(last)}\n`],
      ];
      for (const [name, text] of layouts) {
        fs.writeFileSync(path.join(tmp, name), text);
        const { summary } = await run([path.join(tmp, name), "--out", path.join(tmp, `out-${name}`), "--as-of", "2026-11-27", "--json"]);
        expect(report(summary, "facility-metrics").map((r) => r.employee_count), name).to.deep.equal([2]);
        expect(summary!.files[0], name).to.include({ accepted: 2, duplicate_ids: 1 });
      }
    });

    it("reads only its own --out folder when the name holds glob characters", async () => {
      // DuckDB treats every file name it is given as a glob pattern: `o[1]` would also match `o1`.
      await run([sample("facilities-array.json"), "--out", path.join(tmp, "o1"), "--json"]);
      for (const name of ["o[1]", "o*", "o?"]) {
        const { code, summary } = await run([sample("facilities.ndjson"), "--out", path.join(tmp, name), "--as-of", "2026-11-27", "--json"]);
        expect(code, name).to.equal(0);
        expect(report(summary, "facility-metrics").map((r) => r.facility_id), name).to.deep.equal(["F001", "F002", "F003"]);
      }
    });
  });

  describe("exit codes", () => {
    it("0 when records are rejected but reported; 1 with --strict", async () => {
      const file = path.join(root, "sample-data/bad/mixed-good-and-bad.ndjson");
      const loose = await run([file, "--out", path.join(tmp, "a"), "--json"]);
      expect(loose.code).to.equal(0);
      expect(loose.summary!.files[0]).to.include({ status: "partially-curated", accepted: 2, rejected: 3 });
      expect((await run([file, "--out", path.join(tmp, "b"), "--strict", "--json"])).code).to.equal(1);
    });

    it("1 when a file cannot be processed at all, naming the file and line", async () => {
      const file = path.join(root, "sample-data/bad/csv-not-json.json");
      const { code, out } = await run([file, "--out", path.join(tmp, "c")]);
      expect(code).to.equal(1);
      expect(out).to.match(/x .*csv-not-json\.json: 0 accepted, line 1 does not start a JSON value/);
    });

    it("prints the first rejects with line, field and reason, and where the rest went", async () => {
      const file = path.join(root, "sample-data/bad/bad-state-and-zip.ndjson");
      const { out } = await run([file, "--out", path.join(tmp, "d")]);
      expect(out).to.include("line 1 (record 1), location.state: must be a two-letter US state or territory code");
      expect(out).to.include("line 2 (record 2), location.zip: must be a string");
      expect(out).to.match(/rejects and reasons: .*quarantine\/bad-state-and-zip-[0-9a-f]{16}\.ndjson/);
    });

    const usage: Array<[string, string[], RegExp]> = [
      ["an unknown option", ["--frobnicate"], /Unknown option '--frobnicate'/],
      ["an impossible date", ["--as-of", "2026-02-30"], /--as-of "2026-02-30": expected a calendar date/],
      ["a bad month count", ["--months", "0"], /--months "0": expected a whole number from 1 to 120/],
      ["a missing input", ["no/such/file.json"], /no\/such\/file\.json: no such file or directory/],
      ["an input of another type", [path.join(root, "README.md")], /not a \.json, \.jsonl or \.ndjson file/],
    ];
    for (const [what, args, message] of usage) {
      it(`2 for ${what}, with the reason and the usage`, async () => {
        const writes: string[] = [];
        const original = process.stderr.write.bind(process.stderr);
        process.stderr.write = ((s: string) => writes.push(s) > 0) as typeof process.stderr.write;
        try {
          expect((await run(args)).code).to.equal(2);
        } finally {
          process.stderr.write = original;
        }
        expect(writes.join("")).to.match(message).and.to.include("Usage: npm start");
      });
    }
  });

  it("--help documents every option", async () => {
    const { code, out } = await run(["--help"]);
    expect(code).to.equal(0);
    for (const o of ["--out", "--as-of", "--months", "--watch", "--strict", "--json"]) expect(out).to.include(o);
  });

  it("--watch handles a file dropped into the folder as an upload, with one report run per burst", async function () {
    this.timeout(60_000);
    const inbox = path.join(tmp, "watched");
    fs.mkdirSync(inbox);
    const child = spawn(process.execPath, [path.join(root, "handler/local/bin.js"), "--watch", inbox, "--out", path.join(tmp, "out"), "--json", "--as-of", "2026-11-27"], { cwd: root });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    const waitFor = async (pattern: RegExp, count: number) => {
      const deadline = Date.now() + 30_000;
      while ((stdout.match(pattern) ?? []).length < count) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got:\n${stdout}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await waitFor(/Watching /g, 1);
      fs.copyFileSync(sample("facilities.ndjson"), path.join(inbox, "one.ndjson"));
      fs.copyFileSync(sample("facilities-array.json"), path.join(inbox, "two.json"));
      await waitFor(/Watching /g, 2);
      const runs = stdout.split(/Watching [^\n]*\n/).filter((s) => s.trim().startsWith("{")).map((s) => JSON.parse(s) as Summary);
      const last = runs[runs.length - 1];
      expect(last.files.map((f) => path.basename(f.file)).sort()).to.deep.equal(["one.ndjson", "two.json"]);
      expect(report(last, "facility-metrics")).to.have.length(5);
    } finally {
      child.kill("SIGINT");
      await new Promise((r) => child.once("exit", r));
    }
  });
});
