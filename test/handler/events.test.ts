import { expect } from "chai";
import { decodeS3Key, parseS3Notification } from "../../handler/core/events";

describe("S3 notifications in SQS messages", () => {
  const body = (records: unknown[]) => JSON.stringify({ Records: records });
  const rec = (eventName: string, key: string, bucket = "raw") => ({ eventName, s3: { bucket: { name: bucket }, object: { key } } });

  it("reads several records of one message, created and removed", () => {
    expect(parseS3Notification(body([rec("ObjectCreated:Put", "a.json"), rec("ObjectRemoved:DeleteMarkerCreated", "b.json")]), "raw")).to.deep.equal({
      kind: "changes",
      changes: [
        { kind: "created", key: "a.json" },
        { kind: "removed", key: "b.json" },
      ],
    });
  });

  it("recognises the test event S3 sends when the notification is configured", () => {
    expect(parseS3Notification(JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent" }), "raw")).to.deep.equal({ kind: "test" });
  });

  const invalid: Array<[string, string, RegExp]> = [
    ["not JSON", "{", /not JSON/],
    ["no records", "{}", /no Records/],
    ["another bucket", body([rec("ObjectCreated:Put", "a.json", "other")]), /bucket other, not the upload bucket/],
    ["an unexpected event", body([rec("ObjectRestore:Completed", "a.json")]), /unexpected event/],
    ["broken URL encoding", body([rec("ObjectCreated:Put", "%E0%A4%A.json")]), /not valid URL encoding/],
  ];
  for (const [what, text, reason] of invalid) {
    it(`rejects ${what} with a reason`, () => {
      const parsed = parseS3Notification(text, "raw");
      expect(parsed.kind).to.equal("invalid");
      expect((parsed as { reason: string }).reason).to.match(reason);
    });
  }

  it("decodes keys the way S3 encodes them: %XX escapes and + for a space", () => {
    expect(decodeS3Key("incoming/My+Facilities+%282026%29%2B.json")).to.equal("incoming/My Facilities (2026)+.json");
    expect(decodeS3Key("d%C3%BCsseldorf.ndjson")).to.equal("düsseldorf.ndjson");
  });
});
