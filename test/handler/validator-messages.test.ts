import { expect } from "chai";
import { createFacilityValidator } from "../../handler/schema/validator";

const validate = createFacilityValidator();

function facility(overrides: Record<string, unknown> = {}, location: Record<string, unknown> = {}, validUntil: unknown = "2027-01-01") {
  return {
    facility_id: "F1",
    facility_name: "Clinic",
    location: { address: "1 Main St", city: "Portland", state: "OR", zip: "97201", ...location },
    employee_count: 12,
    services: [],
    labs: [],
    accreditations: [{ accreditation_body: "JC", accreditation_id: "J1", valid_until: validUntil }],
    ...overrides,
  };
}

function reasonFor(record: unknown, field: string): string | undefined {
  const result = validate(record);
  if (result.ok) return undefined;
  return result.problems.find((p) => p.field === field)?.reason;
}

describe("validator reject reasons name the value and the fix", () => {
  const cases: Array<[string, unknown, string, string]> = [
    ["a number written as text", facility({ employee_count: "120" }), "employee_count", `"120" is text: write 120 without quotes`],
    ["a fractional number written as text", facility({ employee_count: "12.5" }), "employee_count", `"12.5" is text: must be a whole number`],
    ["a fraction", facility({ employee_count: 12.5 }), "employee_count", "12.5 is not whole: must be a whole number"],
    ["a negative count", facility({ employee_count: -3 }), "employee_count", "-3: must be at least 0"],
    ["a state name", facility({}, { state: "Oregon" }), "location.state", `"Oregon": use the two-letter code (OR)`],
    ["a two-word state name in any case", facility({}, { state: "new york" }), "location.state", `"new york": use the two-letter code (NY)`],
    ["an unknown code", facility({}, { state: "zz" }), "location.state", `"ZZ": use a two-letter US state or territory code (e.g. CA, NY, PR)`],
    ["a slash date", facility({}, {}, "2026/05/01"), "accreditations[0].valid_until", `"2026/05/01": write dates as YYYY-MM-DD (2026-05-01)`],
    ["a date without separators", facility({}, {}, "20270101"), "accreditations[0].valid_until", `"20270101": write dates as YYYY-MM-DD`],
    [
      "a day the month does not have",
      facility({}, {}, "2026-02-30"),
      "accreditations[0].valid_until",
      `"2026-02-30" is not a real calendar date: February 2026 has 28 days`,
    ],
    ["a numeric ZIP", facility({}, { zip: 97201 }), "location.zip", `97201 is a number: write it in quotes ("97201")`],
    ["a short ZIP", facility({}, { zip: "9720" }), "location.zip", `"9720": write a US ZIP code as 5 digits, optionally -4 more (e.g. 97201 or 97201-1234)`],
    ["text for a list", facility({ services: "Emergency" }), "services", `"Emergency" is text: write a list, e.g. ["Emergency"]`],
    ["a list for an object", facility({ location: ["1 Main St"] }), "location", "a list: must be an object"],
    [
      "a missing field",
      (() => {
        const f: Record<string, unknown> = { ...facility() };
        delete f.facility_name;
        return f;
      })(),
      "facility_name",
      "is required: add it",
    ],
  ];
  for (const [what, record, field, reason] of cases) {
    it(`${what}: ${field}: ${reason}`, () => {
      expect(reasonFor(record, field)).to.equal(reason);
    });
  }

  it("shortens a long value to a quote, never the whole field", () => {
    const reason = reasonFor(facility({ facility_name: "x".repeat(5000) }), "facility_name")!;
    expect(reason).to.match(/^"x{37}…" is 5000 characters long: write at most 1024$/);
  });

  it("still upper-cases a two-letter code, so `or` is accepted as OR", () => {
    const result = validate(facility({}, { state: "or" }));
    expect(result.ok && result.facility.location.state).to.equal("OR");
  });
});
