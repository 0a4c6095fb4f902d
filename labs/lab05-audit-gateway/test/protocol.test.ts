import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { checkRequest, decodeRecord, encodeRecord, MAX_RECORD_BYTES } from "../internal/protocol.ts";

const record = { v: 1, id: "c1-7", at: 1, actor: "alice", action: "read", target: "doc-1" };
const id = Buffer.from([0, 1, 2, 3, 4]);

describe("audit records and requests", () => {
  it("accept a well-formed request", () => {
    const checked = checkRequest([id, Buffer.from("k1"), Buffer.from("AUDIT"), encodeRecord(record)]);
    expect(checked).toMatchObject({ ok: true, value: { recordId: "c1-7" } });
    expect(decodeRecord(encodeRecord({ ...record, details: { ip: "x" } }))).toMatchObject({ ok: true });
  });

  it.each([
    [[id, Buffer.from("k"), Buffer.from("AUDIT")], "expected 4 frames, got 3"],
    [[id, Buffer.alloc(0), Buffer.from("AUDIT"), encodeRecord(record)], "bad correlation id"],
    [[id, Buffer.alloc(65), Buffer.from("AUDIT"), encodeRecord(record)], "bad correlation id"],
    [[id, Buffer.from("k"), Buffer.from("DELETE"), encodeRecord(record)], 'unknown request "DELETE"'],
    [[id, Buffer.from("k"), Buffer.from("AUDIT"), Buffer.from([0xc1, 0])], "record is not MessagePack"],
    [[id, Buffer.from("k"), Buffer.from("AUDIT"), pack({ ...record, id: "../etc" })], "bad record id"],
    [[id, Buffer.from("k"), Buffer.from("AUDIT"), pack({ ...record, actor: "" })], "missing actor"],
    [[id, Buffer.from("k"), Buffer.from("AUDIT"), pack({ ...record, details: [1] })], "details is not a map"],
    [[id, Buffer.from("k"), Buffer.from("AUDIT"), Buffer.alloc(MAX_RECORD_BYTES + 1)], `record over ${MAX_RECORD_BYTES} bytes`],
  ])("reject a malformed request %#", (frames, reason) => {
    expect(checkRequest(frames as Buffer[])).toEqual({ ok: false, reason });
  });
});
