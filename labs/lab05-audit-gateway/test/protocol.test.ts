import { encode } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import { archivedText } from "../internal/archival-worker.ts";
import { exitCodeOf } from "../internal/audit-client.ts";
import {
  decodeRecord,
  decodeReply,
  decodeRequest,
  decodeResult,
  decodeWork,
  encodeBody,
  encodeRecord,
  MAX_RECORD_BYTES,
  MAX_RETRY_AFTER_MS,
} from "../internal/protocol.ts";

const record = { v: 1, id: "c1-7", at: 1, actor: "alice", action: "read", target: "doc-1" };
const id = Buffer.from([0, 1, 2, 3, 4]);
const k = Buffer.from("k");
const AUDIT = Buffer.from("AUDIT");

describe("requests at the gateway's ROUTER", () => {
  it("accept a well-formed request", () => {
    expect(decodeRequest([id, k, AUDIT, encodeRecord(record)])).toMatchObject({ kind: "audit", recordId: "c1-7", client: id, corr: k });
    expect(decodeRecord(encodeRecord({ ...record, details: { ip: "x" } }))).toMatchObject({ ok: true });
  });

  it("accept at as a float and as a uint64 that fits a double", () => {
    expect(decodeRecord(encode({ ...record, at: Date.now() + 0.5 }))).toMatchObject({ ok: true });
    const u64 = Buffer.alloc(9);
    u64[0] = 0xcf;
    u64.writeBigUInt64BE(BigInt(Date.now()), 1);
    const { at: _, ...rest } = record;
    // `at` last, as nil, then its nil replaced by the uint64 that Python's msgpack would send.
    const withAt = Buffer.concat([encode({ ...rest, at: null }).subarray(0, -1), u64]);
    expect(decodeRecord(withAt)).toMatchObject({ ok: true, value: { at: Number(u64.readBigUInt64BE(1)) } });
  });

  it.each([
    [[id, k, AUDIT], 'expected 3 frames (corr, "AUDIT", record), got 2'],
    [[id, k], 'expected 3 frames (corr, "AUDIT", record), got 1'],
    [[id, k, AUDIT, encodeRecord(record), k], 'expected 3 frames (corr, "AUDIT", record), got 4'],
    [[id, Buffer.alloc(0), AUDIT, encodeRecord(record)], "bad correlation id (1 to 64 bytes)"],
    [[id, Buffer.alloc(65), AUDIT, encodeRecord(record)], "bad correlation id (1 to 64 bytes)"],
    [[id, k, Buffer.from("DELETE"), encodeRecord(record)], 'unknown request "DELETE"'],
    [[id, k, AUDIT, Buffer.from([0xc1, 0])], /^record: not MessagePack/],
    [[id, k, AUDIT, encode({ ...record, id: "../etc" })], "bad record id"],
    [[id, k, AUDIT, encode({ ...record, actor: "" })], "missing actor (text of 1 to 256 characters)"],
    [[id, k, AUDIT, encode({ ...record, at: "yesterday" })], "missing at (ms since the epoch)"],
    [[id, k, AUDIT, encode({ ...record, details: [1] })], "details is not a map"],
    [[id, k, AUDIT, Buffer.alloc(MAX_RECORD_BYTES + 1)], `record over ${MAX_RECORD_BYTES} bytes`],
  ])("refuse a malformed request, answered under its first frame %#", (frames, reason) => {
    const decoded = decodeRequest(frames as Buffer[]);
    expect(decoded).toMatchObject({ kind: "invalid", client: id, corr: (frames as Buffer[])[1] });
    expect(decoded.kind === "invalid" && decoded.reason).toMatch(reason);
  });
});

describe("the other sockets' decoders", () => {
  const ack = encodeBody({ recordId: "c1-7", result: "stored", archivist: "a1" });

  it("results from an archivist: ACK or ERROR with a checked body", () => {
    expect(decodeResult([id, k, Buffer.from("ACK"), ack])).toMatchObject({ kind: "result", status: "ACK" });
    expect(decodeResult([id, k, Buffer.from("ERROR"), encodeBody({ reason: "no" })])).toMatchObject({ kind: "result", status: "ERROR" });
    expect(decodeResult([id, k, Buffer.from("BUSY"), ack])).toMatchObject({ kind: "invalid" });
    expect(decodeResult([id, k, Buffer.from("ACK"), encode({ result: "stored" })])).toMatchObject({ kind: "invalid" });
    expect(decodeResult([Buffer.alloc(0), k, Buffer.from("ACK"), ack])).toMatchObject({ kind: "invalid" });
  });

  it("work at an archivist: an addressed bad record is refused, an unaddressed message invalid", () => {
    expect(decodeWork([id, k, AUDIT, encodeRecord(record)])).toMatchObject({ kind: "audit", record });
    expect(decodeWork([id, k, AUDIT, encode({ ...record, v: 2 })])).toEqual({
      kind: "refused",
      client: id,
      corr: k,
      reason: "unsupported version 2",
    });
    expect(decodeWork([id, k, AUDIT])).toMatchObject({ kind: "invalid" });
  });

  it("replies at a client: BUSY's wait is bounded", () => {
    expect(decodeReply([k, Buffer.from("ACK"), ack])).toMatchObject({ kind: "ack", corr: "k", body: { result: "stored" } });
    expect(decodeReply([k, Buffer.from("BUSY"), encode({ retryAfterMs: 50 })])).toEqual({ kind: "busy", corr: "k", retryAfterMs: 50 });
    expect(decodeReply([k, Buffer.from("BUSY"), encode({ retryAfterMs: 1e12 })])).toMatchObject({ retryAfterMs: MAX_RETRY_AFTER_MS });
    expect(decodeReply([k, Buffer.from("BUSY"), encode({ retryAfterMs: -1 })])).toMatchObject({ retryAfterMs: MAX_RETRY_AFTER_MS });
    expect(decodeReply([k, Buffer.from("NOPE"), ack])).toMatchObject({ kind: "invalid" });
  });
});

describe("archiving and exit codes", () => {
  it("writes a record as JSON whatever its details hold", () => {
    const text = archivedText({ ...record, details: { big: 2 ** 40, bytes: Buffer.from("x"), odd: 1n as unknown as number } }, "a1");
    expect(JSON.parse(text)).toMatchObject({ id: "c1-7", archivedBy: "a1", details: { big: 2 ** 40, odd: "1" } });
  });

  it("exits 1 when a record was refused, 0 otherwise", () => {
    const stats = { acked: 3, duplicates: 0, busy: 0, timeouts: 0, errors: 0, invalid: 0, seconds: 1 };
    expect(exitCodeOf(stats)).toBe(0);
    expect(exitCodeOf({ ...stats, errors: 1 })).toBe(1);
  });
});
