import { createWriteStream } from "fs";
import { once } from "events";

const STATES = ["CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "WA", "AZ", "MA", "TN", "IN"];
const SERVICES = ["Emergency", "Surgery", "Radiology", "Cardiology", "Oncology", "Pediatrics", "Maternity", "Primary Care", "Dialysis", "Rehabilitation"];
const BODIES = ["Joint Commission", "DNV", "CARF", "AAAHC", "CAP"];

/** A deterministic pseudo-random facility (same i, same record), about 600 bytes as JSON. */
export function facility(i: number): Record<string, unknown> {
  let seed = (i * 2654435761) >>> 0;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const services = Array.from({ length: 1 + rnd(5) }, () => SERVICES[rnd(SERVICES.length)]);
  const accreditations = Array.from({ length: rnd(4) }, (_, k) => ({
    accreditation_body: BODIES[rnd(BODIES.length)],
    accreditation_id: `AC-${i}-${k}`,
    valid_until: `${2025 + rnd(5)}-${String(1 + rnd(12)).padStart(2, "0")}-${String(1 + rnd(28)).padStart(2, "0")}`,
  }));
  return {
    facility_id: `FAC${String(i).padStart(8, "0")}`,
    facility_name: `Facility ${i} Medical Center`,
    location: { address: `${1 + rnd(9999)} Main Street`, city: `City ${rnd(500)}`, state: STATES[rnd(STATES.length)], zip: String(10000 + rnd(89999)) },
    employee_count: rnd(5000),
    services,
    labs: Array.from({ length: rnd(3) }, (_, k) => ({ lab_name: `Lab ${k}`, certifications: ["CLIA", "CAP"].slice(0, 1 + rnd(2)) })),
    accreditations,
  };
}

/** Writes NDJSON facilities until the file reaches `targetBytes`; returns bytes and records written. */
export async function writeNdjson(file: string, targetBytes: number): Promise<{ bytes: number; records: number }> {
  const out = createWriteStream(file);
  let bytes = 0;
  let records = 0;
  while (bytes < targetBytes) {
    const lines: string[] = [];
    for (let k = 0; k < 1000 && bytes < targetBytes; k++) {
      const line = `${JSON.stringify(facility(records++))}\n`;
      bytes += Buffer.byteLength(line);
      lines.push(line);
    }
    if (!out.write(lines.join(""))) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return { bytes, records };
}
