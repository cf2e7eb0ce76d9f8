import { expect } from "chai";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { invokedAs, main, parseCli, runOnce, usage } from "../../handler/local/cli";
import { localKey } from "../../handler/local/fs-store";

const root = path.resolve(__dirname, "../..");
const sample = (f: string) => path.join(root, "sample-data", f);

interface Summary {
  exit_code: number;
  out: string;
  totals: { files: number; accepted: number; rejected: number; failed: number };
  files: Array<{ file: string; status: string; accepted?: number; rejected?: number }>;
  rejects_by_field: Array<{ field: string; records: number; example: string }>;
  earlier_uploads: string[];
  reports: Array<{ report: string; rows: number; json: string; csv: string; results?: Array<Record<string, unknown>> }>;
}

/** The summary with each report's rows read from the JSON file it names (the summary holds no rows). */
function withRows(summary: Summary): Summary {
  for (const r of summary.reports) {
    r.results = (JSON.parse(fs.readFileSync(path.join(summary.out, r.json), "utf8")) as { results: Array<Record<string, unknown>> }).results;
  }
  return summary;
}

/** Runs `fn` with stderr captured; returns what it wrote there. */
async function capturingStderr<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const writes: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = (s: string) => writes.push(s) > 0;
  try {
    return { value: await fn(), stderr: writes.join("") };
  } finally {
    process.stderr.write = original;
  }
}

/** The CLI as a user runs it, in a child process: exit code, stdout and stderr. */
function runBin(args: string[], options: { cwd?: string; onStart?: (child: ReturnType<typeof spawn>) => void } = {}) {
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "handler/local/bin.js"), ...args], { cwd: options.cwd ?? root });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    options.onStart?.(child);
    child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The CLI in this process: exit code, what went to stdout (`out`) and to stderr (`err`). */
async function run(args: string[]): Promise<{ code: number; out: string; err: string; summary?: Summary }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const code = await main(args, { out: (s) => lines.push(s), err: (s) => errors.push(s) }, "npm start --");
  const out = lines.join("\n");
  return { code, out, err: errors.join("\n"), summary: args.includes("--json") && out.startsWith("{") ? withRows(JSON.parse(out) as Summary) : undefined };
}

/** A folder `in/` holding a.ndjson (F001-F003) and b.json (F004, F005), and where the outputs go. */
function twoFileInbox(tmp: string): { inbox: string; out: string } {
  const inbox = path.join(tmp, "in");
  fs.mkdirSync(inbox);
  fs.copyFileSync(sample("facilities.ndjson"), path.join(inbox, "a.ndjson"));
  fs.copyFileSync(sample("facilities-array.json"), path.join(inbox, "b.json"));
  return { inbox, out: path.join(tmp, "out") };
}

const report = (s: Summary | undefined, name: string) => s!.reports.find((r) => r.report === name)!.results!;

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
        {
          facility_id: "F001",
          facility_name: "Mercy General Hospital",
          employee_count: 1200,
          number_of_offered_services: 3,
          expiry_date_of_first_accreditation: "2027-03-15",
        },
        {
          facility_id: "F002",
          facility_name: "Bayview Clinic",
          employee_count: 85,
          number_of_offered_services: 2,
          expiry_date_of_first_accreditation: "2026-10-01",
        },
        {
          facility_id: "F003",
          facility_name: "Lone Star Medical Center",
          employee_count: 640,
          number_of_offered_services: 4,
          expiry_date_of_first_accreditation: "2027-05-27",
        },
        {
          facility_id: "F004",
          facility_name: "Austin Community Health",
          employee_count: 210,
          number_of_offered_services: 1,
          expiry_date_of_first_accreditation: "2029-06-30",
        },
        {
          facility_id: "F005",
          facility_name: "Empire Surgical Institute",
          employee_count: 430,
          number_of_offered_services: 2,
          expiry_date_of_first_accreditation: null,
        },
        {
          facility_id: "F006",
          facility_name: "Hudson Valley Hospital",
          employee_count: 980,
          number_of_offered_services: 5,
          expiry_date_of_first_accreditation: "2027-01-10",
        },
        {
          facility_id: "F007",
          facility_name: "Sunshine Rehab Center",
          employee_count: 150,
          number_of_offered_services: 2,
          expiry_date_of_first_accreditation: "2027-08-01",
        },
        {
          facility_id: "F008",
          facility_name: "Gulf Coast Dialysis",
          employee_count: 60,
          number_of_offered_services: 1,
          expiry_date_of_first_accreditation: "2027-05-28",
        },
        {
          facility_id: "F010",
          facility_name: "Cascade Health",
          employee_count: 300,
          number_of_offered_services: 0,
          expiry_date_of_first_accreditation: "2026-11-26",
        },
      ]);
    });

    it("expiring-accreditations: valid today through the 6-month horizon inclusive, soonest first", () => {
      expect(report(summary, "expiring-accreditations")).to.deep.equal([
        {
          facility_id: "F004",
          facility_name: "Austin Community Health",
          state: "TX",
          accreditation_body: "Joint Commission",
          accreditation_id: "JC-1004",
          valid_until: "2026-11-27",
          days_remaining: 0,
        },
        {
          facility_id: "F006",
          facility_name: "Hudson Valley Hospital",
          state: "NY",
          accreditation_body: "Joint Commission",
          accreditation_id: "JC-1006",
          valid_until: "2027-01-10",
          days_remaining: 44,
        },
        {
          facility_id: "F001",
          facility_name: "Mercy General Hospital",
          state: "CA",
          accreditation_body: "Joint Commission",
          accreditation_id: "JC-1001",
          valid_until: "2027-03-15",
          days_remaining: 108,
        },
        {
          facility_id: "F003",
          facility_name: "Lone Star Medical Center",
          state: "TX",
          accreditation_body: "Joint Commission",
          accreditation_id: "JC-1003",
          valid_until: "2027-05-27",
          days_remaining: 181,
        },
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
    expect(f001).to.deep.equal([
      {
        facility_id: "F001",
        facility_name: "Mercy General Hospital",
        employee_count: 1500,
        number_of_offered_services: 3,
        expiry_date_of_first_accreditation: "2027-03-15",
      },
    ]);
  });

  it("drops a removed file's facilities on the next run over its directory", async () => {
    const { inbox, out } = twoFileInbox(tmp);
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
        ["accreditation-by-state", 0],
        ["facility-metrics", 0],
        ["expiring-accreditations", 0],
      ]);
      expect(loose.code).to.equal(0);
      expect((await run([file, "--out", path.join(tmp, "b"), "--strict", "--json"])).code).to.equal(1);
    });

    it("lets the last record of a facility in one upload win in every layout, and counts the duplicate", async () => {
      const first = { ...(JSON.parse(fs.readFileSync(sample("facilities.ndjson"), "utf8").split("\n")[0]) as Record<string, unknown>), employee_count: 1 };
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
        expect(
          report(summary, "facility-metrics").map((r) => r.employee_count),
          name,
        ).to.deep.equal([2]);
        expect(summary!.files[0], name).to.include({ accepted: 2, duplicate_ids: 1 });
      }
    });

    it("reads only its own --out folder when the name holds glob characters", async () => {
      // DuckDB treats every file name it is given as a glob pattern: `o[1]` would also match `o1`.
      await run([sample("facilities-array.json"), "--out", path.join(tmp, "o1"), "--json"]);
      for (const name of ["o[1]", "o*", "o?"]) {
        const { code, summary } = await run([sample("facilities.ndjson"), "--out", path.join(tmp, name), "--as-of", "2026-11-27", "--json"]);
        expect(code, name).to.equal(0);
        expect(
          report(summary, "facility-metrics").map((r) => r.facility_id),
          name,
        ).to.deep.equal(["F001", "F002", "F003"]);
      }
    });
  });

  describe("options, output folders and inputs that used to break a run", () => {
    it("--watch recomputes today's date for every run when --as-of is not given", async () => {
      const options = parseCli(["--watch", tmp, "--out", path.join(tmp, "out")]);
      if (options === "help") throw new Error("unexpected help");
      const afterMidnight = () => new Date("2026-11-28T00:01:00Z");
      const { result } = await runOnce(
        options,
        [{ kind: "created", key: localKey(sample("facilities.ndjson")) }],
        { out: () => undefined, err: () => undefined },
        afterMidnight,
      );
      expect(result.reports?.ok && result.reports.run.reports.map((r) => r.document.as_of)).to.deep.equal(["2026-11-28", "2026-11-28", "2026-11-28"]);
    });

    it("keys a local file by its real folder, so a run from another working directory sees the same upload", async () => {
      const { inbox, out } = twoFileInbox(tmp);
      const cwd = process.cwd();
      try {
        process.chdir(tmp);
        const first = await run(["in", "--out", out, "--as-of", "2026-11-27", "--json"]);
        expect(report(first.summary, "facility-metrics")).to.have.length(5);
        fs.rmSync(path.join(inbox, "b.json"));
        process.chdir(inbox);
        const second = await run([".", "--out", out, "--as-of", "2026-11-27", "--json"]);
        expect(second.summary!.files.map((f) => [path.basename(f.file), f.status])).to.deep.equal([
          ["a.ndjson", "curated"],
          ["b.json", "removed"],
        ]);
        expect(report(second.summary, "facility-metrics").map((r) => r.facility_id)).to.deep.equal(["F001", "F002", "F003"]);
      } finally {
        process.chdir(cwd);
      }
      expect(localKey(path.join(inbox, "a.ndjson"), root)).to.equal(localKey(path.join(inbox, "a.ndjson"), tmp));
    });

    it("exits 1 with a clear message when --out is a file, in one-shot and watch mode", async function () {
      this.timeout(60_000);
      const file = path.join(tmp, "not-a-folder");
      fs.writeFileSync(file, "x");
      const once = await runBin([sample("facilities.ndjson"), "--out", file]);
      expect(once.code, once.stderr).to.equal(1);
      expect(once.stderr).to.match(/--out .*not-a-folder: .*not a folder/);
      expect(once.stderr).to.not.match(/\n\s+at /);
      const watched = await runBin(["--watch", tmp, "--out", file]);
      expect(watched.code, watched.stderr).to.equal(1);
      expect(watched.stdout).to.not.include("Watching");
      expect(watched.stderr)
        .to.match(/--out .*not-a-folder: .*not a folder/)
        .and.not.match(/\n\s+at /);
    });

    it("refuses a second run on the same --out while the first holds it, and takes over a lock left by a dead process", async () => {
      const out = path.join(tmp, "out");
      const args = [sample("facilities.ndjson"), "--out", out, "--as-of", "2026-11-27", "--json"];
      const codes = await Promise.all([run(args), run(args)]);
      expect(codes.map((c) => c.code).sort()).to.deep.equal([0, 1]);
      expect(codes.map((c) => c.err).join("\n")).to.include(`another run is using ${out}`);
      fs.writeFileSync(path.join(out, ".lock"), JSON.stringify({ pid: 2 ** 22 + 12345, started: "2026-01-01T00:00:00Z" }));
      expect((await run(args)).code).to.equal(0);
      expect(fs.existsSync(path.join(out, ".lock"))).to.equal(false);
    });

    it("cleans temporary files an interrupted run left, and names an unreadable output file instead of failing on it", async () => {
      const out = path.join(tmp, "out");
      fs.mkdirSync(path.join(out, "curated"), { recursive: true });
      fs.mkdirSync(path.join(out, "quarantine"), { recursive: true });
      fs.writeFileSync(path.join(out, "curated", "x-0123456789abcdef.ndjson.gz.4242.1.tmp"), "partial");
      fs.writeFileSync(path.join(out, "quarantine", "notes.txt"), "not JSON at all");
      const { value, stderr } = await capturingStderr(() => run([sample("facilities.ndjson"), "--out", out, "--as-of", "2026-11-27", "--json"]));
      expect(value.code).to.equal(0);
      expect(fs.readdirSync(path.join(out, "curated")).filter((f) => f.endsWith(".tmp"))).to.deep.equal([]);
      expect(stderr).to.include(path.join(out, "quarantine", "notes.txt"));
    });

    it("leaves no temporary file behind when interrupted with Ctrl-C", async function () {
      this.timeout(60_000);
      const big = path.join(tmp, "big.ndjson");
      const line = fs.readFileSync(sample("facilities.ndjson"), "utf8").split("\n")[0];
      fs.writeFileSync(big, `${Array.from({ length: 60_000 }, (_, i) => line.replace('"F001"', `"B${i}"`)).join("\n")}\n`);
      const out = path.join(tmp, "out");
      const curated = path.join(out, "curated");
      const result = await runBin([big, "--out", out], {
        onStart: (child) => {
          const poll = setInterval(() => {
            if (fs.existsSync(curated) && fs.readdirSync(curated).some((f) => f.endsWith(".tmp"))) {
              clearInterval(poll);
              child.kill("SIGINT");
            }
          }, 5);
          child.once("exit", () => clearInterval(poll));
        },
      });
      expect(result.code === 130 || result.signal === "SIGINT", `exit ${result.code} ${result.signal}`).to.equal(true);
      expect(fs.readdirSync(curated).filter((f) => f.endsWith(".tmp"))).to.deep.equal([]);
      expect(fs.existsSync(path.join(out, ".lock"))).to.equal(false);
    });

    it("follows symlinked files in an input folder and names a broken link it skips", async () => {
      const inbox = path.join(tmp, "in");
      fs.mkdirSync(inbox);
      fs.symlinkSync(sample("facilities.ndjson"), path.join(inbox, "linked.ndjson"));
      fs.symlinkSync(path.join(tmp, "nowhere.json"), path.join(inbox, "broken.json"));
      const { value, stderr } = await capturingStderr(() => run([inbox, "--out", path.join(tmp, "out"), "--json"]));
      expect(value.summary!.files.map((f) => [path.basename(f.file), f.status, f.accepted])).to.deep.equal([["linked.ndjson", "curated", 3]]);
      expect(stderr).to.match(/broken\.json: skipped, a symbolic link to .*nowhere\.json, which does not exist/);
    });

    it("skips hidden files in an input folder (macOS ._ files, an output folder's own stamps) and says so", async () => {
      const inbox = path.join(tmp, "in");
      fs.mkdirSync(inbox);
      fs.copyFileSync(sample("facilities.ndjson"), path.join(inbox, "facilities.ndjson"));
      fs.writeFileSync(path.join(inbox, "._facilities.ndjson"), Buffer.from([0, 5, 22, 7, 0, 2]));
      fs.writeFileSync(path.join(inbox, ".latest-stamps.json"), "{}");
      const { value, stderr } = await capturingStderr(() => run([inbox, "--out", path.join(tmp, "out"), "--json", "--strict"]));
      expect(value.code).to.equal(0);
      expect(value.summary!.files.map((f) => path.basename(f.file))).to.deep.equal(["facilities.ndjson"]);
      expect(stderr).to.match(/skipped 2 hidden file\(s\): \._facilities\.ndjson, \.latest-stamps\.json/);
    });

    it("writes a formula-like facility name to the CSV as text, and to the JSON as it was", async () => {
      const record = {
        ...(JSON.parse(fs.readFileSync(sample("facilities.ndjson"), "utf8").split("\n")[0]) as Record<string, unknown>),
        facility_name: '=HYPERLINK("http://evil","x")',
      };
      fs.writeFileSync(path.join(tmp, "f.ndjson"), `${JSON.stringify(record)}\n`);
      const out = path.join(tmp, "out");
      expect((await run([path.join(tmp, "f.ndjson"), "--out", out, "--as-of", "2026-11-27", "--json"])).code).to.equal(0);
      const json = JSON.parse(fs.readFileSync(path.join(out, "reports/facility-metrics/latest.json"), "utf8")) as { results: Array<Record<string, unknown>> };
      expect(json.results[0].facility_name).to.equal(record.facility_name);
      expect(fs.readFileSync(path.join(out, "reports/facility-metrics/latest.csv"), "utf8").split("\r\n")[1]).to.equal(
        `F001,"'=HYPERLINK(""http://evil"",""x"")",1200,3,2027-03-15`,
      );
    });

    const strictUsage: Array<[string, string[], RegExp]> = [
      ["a hexadecimal month count", ["--months", "0x6"], /--months "0x6": expected a whole number from 1 to 120/],
      ["an exponent month count", ["--months", "1e1"], /--months "1e1": expected a whole number/],
      ["a month count with a space", ["--months", " 6"], /--months " 6": expected a whole number/],
      ["a month count with a sign", ["--months", "+6"], /--months "\+6": expected a whole number/],
      ["a month count with a decimal point", ["--months", "6.0"], /--months "6.0": expected a whole number/],
    ];
    for (const [what, args, message] of strictUsage) {
      it(`exits 2 for ${what}`, async () => {
        const { code, err } = await run(args);
        expect(code).to.equal(2);
        expect(err).to.match(message);
      });
    }

    it("accepts --as-of dates in the years 0000-0099", () => {
      for (const asOf of ["0099-12-31", "0004-02-29", "0000-02-29"]) {
        const options = parseCli(["--as-of", asOf]);
        expect(options !== "help" && options.asOf, asOf).to.equal(asOf);
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
      const { code, err } = await run([file, "--out", path.join(tmp, "c")]);
      expect(code).to.equal(1);
      expect(err).to.match(/x .*csv-not-json\.json: 0 accepted, line 1 does not start a JSON value/);
    });

    it("prints the first rejects with line, field and reason, and where the rest went", async () => {
      const file = path.join(root, "sample-data/bad/bad-state-and-zip.ndjson");
      const { err: out } = await run([file, "--out", path.join(tmp, "d")]);
      expect(out).to.include(`record 1 (line 1), location.state: "Texas": use the two-letter code (TX)`);
      expect(out).to.include(`record 2 (line 2), location.zip: 75001 is a number: write it in quotes ("75001")`);
      // The quarantine file numbers the same records the same way.
      const entries = fs
        .readFileSync(path.join(tmp, "d", out.match(/quarantine\/\S+\.ndjson/)![0]), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { record: number; line: number; index: number });
      expect(entries.map((e) => [e.record, e.line, e.index])).to.deep.equal([
        [1, 1, 0],
        [2, 2, 1],
        [3, 3, 2],
      ]);
      expect(out).to.match(/rejects and reasons: .*quarantine\/bad-state-and-zip-[0-9a-f]{16}\.v[0-9a-f]{16}(\.u[0-9a-f]{8})?\.ndjson/);
    });

    const usage: Array<[string, string[], RegExp]> = [
      ["an unknown option", ["--frobnicate"], /^facility-pipeline: unknown option --frobnicate$/m],
      ["a misspelt option", ["--as_of", "2026-01-01"], /^facility-pipeline: unknown option --as_of \(did you mean --as-of\?\)$/m],
      ["an option without its value", ["--out"], /^facility-pipeline: --out needs a value, e.g\. --out DIR$/m],
      ["a value for a switch", ["--json=yes"], /^facility-pipeline: --json takes no value$/m],
      ["an impossible date", ["--as-of", "2026-02-30"], /--as-of "2026-02-30": expected a calendar date/],
      ["a bad month count", ["--months", "0"], /--months "0": expected a whole number from 1 to 120/],
      ["a missing input", ["no/such/file.json"], /no\/such\/file\.json: no such file or directory/],
      ["an input of another type", [path.join(root, "README.md")], /not a \.json, \.jsonl or \.ndjson file/],
    ];
    for (const [what, args, message] of usage) {
      it(`2 for ${what}, with the reason and one usage line`, async () => {
        const { code, out, err } = await run(args);
        expect(code).to.equal(2);
        expect(out).to.equal("");
        expect(err).to.match(message);
        const lines = err.split("\n");
        expect(lines, err).to.have.length(2);
        expect(lines[1]).to.match(/^Usage: npm start -- \[file-or-dir\.\.\.\] .*\(--help for details\)$/);
      });
    }
  });

  describe("analyst experience: streams, summary, state, reruns", () => {
    it("writes reports to stdout and per-file results and rejects to stderr", async () => {
      const bad = path.join(root, "sample-data/bad/bad-state-and-zip.ndjson");
      const { stdout, stderr, code } = await runBin([sample("facilities.ndjson"), bad, "--out", path.join(tmp, "out"), "--as-of", "2026-11-27"]);
      expect(code).to.equal(0);
      expect(stdout).to.include("== accreditation-by-state (as_of 2026-11-27)");
      expect(stdout).not.to.match(/accepted|rejected|record 1 \(line 1\)/);
      expect(stderr).to.match(/ok .*facilities\.ndjson: 3 accepted/);
      expect(stderr).to.include(`record 1 (line 1), location.state: "Texas": use the two-letter code (TX)`);
      expect(stderr).not.to.include("== accreditation-by-state");
    });

    it("--json is a summary of counts and paths, not report rows, however large the input", async () => {
      const first = JSON.parse(fs.readFileSync(sample("facilities.ndjson"), "utf8").split("\n")[0]) as Record<string, unknown>;
      const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ ...first, facility_id: `G${i}`, employee_count: i % 7 === 0 ? String(i) : i }));
      const file = path.join(tmp, "many.ndjson");
      fs.writeFileSync(file, `${lines.join("\n")}\n`);
      const out = path.join(tmp, "out");
      const { code, out: text, summary } = await run([file, "--out", out, "--as-of", "2026-11-27", "--json"]);
      expect(code).to.equal(0);
      expect(text.length, "summary bytes").to.be.below(4000);
      expect(text).not.to.include('"results"');
      expect(summary!.totals).to.deep.equal({ files: 1, accepted: 4285, rejected: 715, failed: 0 });
      expect(summary!.rejects_by_field).to.deep.equal([{ field: "employee_count", records: 715, example: '"0" is text: write 0 without quotes' }]);
      const metrics = summary!.reports.find((r) => r.report === "facility-metrics")!;
      expect(metrics.rows).to.equal(4285);
      expect(fs.existsSync(path.join(out, metrics.json)) && fs.existsSync(path.join(out, metrics.csv))).to.equal(true);
      expect(metrics.results).to.have.length(4285);
    });

    it("names uploads from earlier runs that the table still holds, and --fresh starts from an empty folder", async () => {
      const out = path.join(tmp, "out");
      await run([sample("facilities-array.json"), "--out", out, "--as-of", "2026-11-27"]);
      const second = await run([sample("facilities.ndjson"), "--out", out, "--as-of", "2026-11-27"]);
      expect(second.err).to.match(
        /note: the table also holds 1 upload\(s\) from earlier runs on this --out, not among this run's inputs: .*facilities-array\.json\..*--fresh/,
      );
      expect(second.out).to.include("over 2 curated file(s)");
      const fresh = await run([sample("facilities.ndjson"), "--out", out, "--as-of", "2026-11-27", "--fresh", "--json"]);
      expect(fresh.code).to.equal(0);
      expect(fresh.summary!.earlier_uploads).to.deep.equal([]);
      expect(fs.readdirSync(path.join(out, "curated"))).to.have.length(1);
      expect(report(fresh.summary, "facility-metrics").map((r) => r.facility_id)).to.deep.equal(["F001", "F002", "F003"]);
    });

    it("--fresh refuses a folder holding anything this tool did not write, and deletes nothing", async () => {
      const home = path.join(tmp, "home");
      fs.mkdirSync(path.join(home, "reports"), { recursive: true });
      fs.writeFileSync(path.join(home, ".bashrc"), "x");
      fs.writeFileSync(path.join(home, "reports", "q3-board.pdf"), "x");
      const { code, err } = await run([sample("facilities.ndjson"), "--out", home, "--fresh"]);
      expect(code).to.equal(1);
      expect(err).to.include(`--fresh: refusing to empty ${home}: it holds .bashrc, reports/q3-board.pdf, which this tool does not write`);
      expect(err).to.include("Nothing was deleted.");
      expect(fs.readdirSync(home).sort()).to.deep.equal([".bashrc", "reports"]);
      expect(fs.existsSync(path.join(home, "reports", "q3-board.pdf"))).to.equal(true);
    });

    it("re-running identical data writes no new run file, even after its mtime changed", async () => {
      const { inbox, out } = twoFileInbox(tmp);
      const runFiles = () =>
        fs
          .readdirSync(out, { recursive: true, encoding: "utf8" })
          .filter((f) => f.includes(`runs${path.sep}`) && /\.(json|csv|html)$/.test(f))
          .sort();
      const first = await run([inbox, "--out", out, "--as-of", "2026-11-27", "--json"]);
      const before = runFiles();
      expect(before.length).to.be.at.least(7);
      const later = new Date(Date.now() + 60_000);
      for (const f of ["a.ndjson", "b.json"]) fs.utimesSync(path.join(inbox, f), later, later);
      const second = await run([inbox, "--out", out, "--as-of", "2026-11-27", "--json"]);
      expect(runFiles()).to.deep.equal(before);
      expect(second.summary!.reports.map((r) => r.json)).to.deep.equal(first.summary!.reports.map((r) => r.json));
      // Different content is a different version, and a new run.
      fs.writeFileSync(path.join(inbox, "a.ndjson"), fs.readFileSync(sample("facilities.ndjson"), "utf8").split("\n").slice(0, 2).join("\n"));
      const third = await run([inbox, "--out", out, "--as-of", "2026-11-27", "--json"]);
      expect(third.summary!.reports[0].json).not.to.equal(first.summary!.reports[0].json);
    });

    it("names the command as it was invoked in the help and the usage line", async () => {
      const direct = await runBin(["--frobnicate"]);
      expect(direct.code).to.equal(2);
      expect(direct.stderr).to.equal(
        "facility-pipeline: unknown option --frobnicate\nUsage: facility-pipeline [file-or-dir...] [--out DIR] [--fresh] [--as-of YYYY-MM-DD] [--months N] [--watch DIR] [--strict] [--json]  (--help for details)\n",
      );
      expect((await runBin(["--help"])).stdout).to.match(/^Usage: facility-pipeline \[file-or-dir\.\.\.\] \[options\]/);
      expect(usage(invokedAs({ npm_lifecycle_event: "start" }))).to.match(/^Usage: npm start -- \[file-or-dir/);
    });
  });

  it("--help documents every option", async () => {
    const { code, out } = await run(["--help"]);
    expect(code).to.equal(0);
    for (const o of ["--out", "--fresh", "--as-of", "--months", "--watch", "--strict", "--json"]) expect(out).to.include(o);
  });

  it("--watch handles a file dropped into the folder as an upload, with one report run per burst", async function () {
    this.timeout(60_000);
    const inbox = path.join(tmp, "watched");
    fs.mkdirSync(inbox);
    const child = spawn(
      process.execPath,
      [path.join(root, "handler/local/bin.js"), "--watch", inbox, "--out", path.join(tmp, "out"), "--json", "--as-of", "2026-11-27"],
      { cwd: root },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const waitFor = async (pattern: RegExp, count: number) => {
      const deadline = Date.now() + 30_000;
      while ((stderr.match(pattern) ?? []).length < count) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await waitFor(/Watching /g, 1);
      fs.copyFileSync(sample("facilities.ndjson"), path.join(inbox, "one.ndjson"));
      fs.copyFileSync(sample("facilities-array.json"), path.join(inbox, "two.json"));
      await waitFor(/Watching /g, 2);
      // stdout holds only the runs' --json documents, one after another.
      const runs = stdout.split(/\n(?=\{)/).map((s) => JSON.parse(s) as Summary);
      const last = withRows(runs[runs.length - 1]);
      expect(last.files.map((f) => path.basename(f.file)).sort()).to.deep.equal(["one.ndjson", "two.json"]);
      expect(report(last, "facility-metrics")).to.have.length(5);
    } finally {
      child.kill("SIGINT");
      await new Promise((r) => child.once("exit", r));
    }
  });
});
