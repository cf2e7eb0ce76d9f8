import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "../..");

/** A facility name that is also markup: the page must show it as text. */
export const HOSTILE_NAME = `<script>document.title="pwned";alert(1)</script> Clínica & Sons`;

/**
 * Runs local mode (`npm start`) over the sample data plus one upload with a hostile facility name and
 * one rejected record, as of 2026-11-27, into `dir`. Returns what it printed and the output folder.
 */
export function runLocalWithHostileUpload(dir: string): { stdout: string; stderr: string; status: number | null; out: string } {
  const inbox = path.join(dir, "inbox");
  fs.mkdirSync(inbox, { recursive: true });
  for (const f of fs.readdirSync(path.join(root, "sample-data"), { withFileTypes: true })) {
    if (f.isFile()) fs.copyFileSync(path.join(root, "sample-data", f.name), path.join(inbox, f.name));
  }
  const hostile = {
    facility_id: "F900",
    facility_name: HOSTILE_NAME,
    location: { address: "1 Plaza", city: "El Paso", state: "TX", zip: "79901" },
    employee_count: 40,
    services: ["Clinic"],
    labs: [],
    accreditations: [{ accreditation_body: "Joint Commission", accreditation_id: "JC-9000", valid_until: "2027-01-10" }],
  };
  const rejected = { ...hostile, facility_id: "F901", location: { ...hostile.location, state: "ZZ" } };
  fs.writeFileSync(path.join(inbox, "hostile.ndjson"), `${JSON.stringify(hostile)}\n${JSON.stringify(rejected)}\n`);
  // Run from `dir` with relative paths, as a user would: keys and printed paths read inbox/..., out/...
  const run = spawnSync(process.execPath, [path.join(root, "handler/local/bin.js"), "inbox", "--out", "out", "--as-of", "2026-11-27"], {
    cwd: dir,
    encoding: "utf8",
  });
  return { stdout: run.stdout, stderr: run.stderr, status: run.status, out: path.join(dir, "out") };
}
