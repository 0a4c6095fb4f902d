// Units: each socket's decoder (table-driven), STATISTICS' bytes, the capture formats, the peer table.
import { describe, expect, it } from "vitest";
import { PeerTable } from "../internal/peers.ts";
import {
  captureLine,
  captureMessage,
  decodeLookup,
  decodeStatistics,
  encodeLookup,
  encodeRecord,
  encodeStatistics,
  fromClient,
  fromControl,
  fromService,
  fromSubscriber,
  fromTap,
  parseCaptureLine,
  peerName,
} from "../internal/protocol.ts";
import { customerRecord } from "../internal/records-service.ts";

const b = (s: string) => Buffer.from(s);

describe("the control socket's decoder", () => {
  it.each([
    [["PAUSE"], "command PAUSE"],
    [["RESUME"], "command RESUME"],
    [["TERMINATE"], "command TERMINATE"],
    [["STATISTICS"], "command STATISTICS"],
    [["pause"], "invalid"],
    [["PAUSE "], "invalid"],
    [["PAUSE\0"], "invalid"],
    [[""], "invalid"],
    [["STATISTICS", ""], "invalid"],
    [[], "invalid"],
    [["x".repeat(11)], "invalid"],
  ])("%j is %s", (frames, expected) => {
    const msg = fromControl(frames.map(b));
    expect(msg.kind === "command" ? `command ${msg.command}` : msg.kind).toBe(expected);
  });
});

describe("STATISTICS frames", () => {
  const stats = {
    frontMsgsIn: 1,
    frontBytesIn: 256,
    frontMsgsOut: 3,
    frontBytesOut: 2 ** 32 + 5,
    backMsgsIn: 5,
    backBytesIn: 6,
    backMsgsOut: 7,
    backBytesOut: Number.MAX_SAFE_INTEGER,
  };

  it("are 8 frames of a u64 little-endian each, in libzmq's order", () => {
    const frames = encodeStatistics(stats);
    expect(frames.map((f) => f.toString("hex"))).toEqual([
      "0100000000000000",
      "0001000000000000",
      "0300000000000000",
      "0500000001000000",
      "0500000000000000",
      "0600000000000000",
      "0700000000000000",
      "ffffffffffff1f00",
    ]);
    expect(decodeStatistics(frames)).toEqual({ ok: true, value: stats });
  });

  it("are refused when not 8 frames of 8 bytes, or past 2^53", () => {
    expect(decodeStatistics(encodeStatistics(stats).slice(1)).ok).toBe(false);
    expect(decodeStatistics([...encodeStatistics(stats).slice(1), Buffer.alloc(4)]).ok).toBe(false);
    expect(decodeStatistics([Buffer.alloc(8, 0xff), ...encodeStatistics(stats).slice(1)]).ok).toBe(false);
  });
});

describe("capture formats", () => {
  const frames = [b("client-1"), Buffer.alloc(0), Buffer.from([0, 255, 10])];

  it("a tap message: direction, sequence number (u64 big-endian), the frames as forwarded", () => {
    const msg = captureMessage("be>fe", 258, frames);
    expect(msg[0]).toEqual(b("be>fe"));
    expect(msg[1]?.toString("hex")).toBe("0000000000000102");
    expect(fromTap(msg)).toEqual({ kind: "captured", direction: "be>fe", seq: 258, frames });
  });

  it.each([
    [["xx>yy", "00000000", "a"], "no direction tag"],
    [["fe>be", "short", "a"], "no 8-byte sequence number"],
    [["fe>be", "\0\0\0\0\0\0\0\0", "a"], "sequence number out of range"],
    [["fe>be", "\0\0\0\0\0\0\0\x01"], "no message frames"],
  ])("a tap message %j is refused: %s", (msg, reason) => {
    expect(fromTap(msg.map((f) => Buffer.from(f, "latin1")))).toEqual({ kind: "invalid", reason });
  });

  it("a file line is JSON with the frames in base64, read back byte for byte", () => {
    const line = captureLine("fe>be", 7, frames, new Date("2026-12-01T12:00:00.000Z"));
    expect(line).toBe('{"at":"2026-12-01T12:00:00.000Z","dir":"fe>be","seq":7,"frames":["Y2xpZW50LTE=","","AP8K"]}\n');
    expect(JSON.parse(line)).toEqual({ at: "2026-12-01T12:00:00.000Z", dir: "fe>be", seq: 7, frames: ["Y2xpZW50LTE=", "", "AP8K"] });
    expect(parseCaptureLine(line)).toEqual({ ok: true, value: { at: "2026-12-01T12:00:00.000Z", dir: "fe>be", seq: 7, frames } });
    expect(parseCaptureLine("{").ok).toBe(false);
    expect(parseCaptureLine('{"dir":"up","seq":1,"at":"x","frames":[]}').ok).toBe(false);
  });

  it.each([
    [[Buffer.from("\x01fe>be", "latin1")], "subscribe"],
    [[Buffer.from("\x01")], "subscribe"],
    [[Buffer.from("\x00be>fe", "latin1")], "unsubscribe"],
    [[Buffer.from("\x02x")], "invalid"],
    [[Buffer.alloc(0)], "invalid"],
    [[Buffer.from("\x01"), Buffer.from("x")], "invalid"],
  ])("a subscriber's message %j is %s", (frames, kind) => {
    expect(fromSubscriber(frames).kind).toBe(kind);
  });
});

describe("the records service's messages", () => {
  it("a lookup is v 1 and a customer C-nnnnn; anything else is refused", () => {
    expect(decodeLookup(encodeLookup({ v: 1, customer: "C-00042" }))).toEqual({ ok: true, value: { v: 1, customer: "C-00042" } });
    for (const bad of [{ v: 2, customer: "C-00042" }, { v: 1, customer: "C-42" }, { v: 1, customer: "../etc" }, { v: 1 }])
      expect(decodeLookup(encodeLookup(bad as never)).ok).toBe(false);
    expect(fromClient([b("x"), b("y")]).kind).toBe("invalid");
    expect(fromClient([Buffer.from([0xc1])]).kind).toBe("invalid");
  });

  it("a record is the same for the same customer whoever serves it, and is read back by a client", () => {
    const r = customerRecord({ v: 1, customer: "C-00042" }, "svc-1");
    expect(r).toEqual({ v: 1, customer: "C-00042", name: "Alan Liskov", tier: "gold", by: "svc-1" });
    expect(fromService([encodeRecord(r)])).toEqual({ kind: "record", record: r });
    expect(fromService([encodeRecord({ v: 1, error: "nope" })])).toEqual({ kind: "record", record: { v: 1, error: "nope" } });
    expect(fromService([encodeRecord({ v: 1, customer: "C-1" } as never)]).kind).toBe("invalid");
  });
});

describe("peers", () => {
  it("routing ids as people read them: text when printable, hex otherwise", () => {
    expect(peerName(b("client-app-1"))).toBe("client-app-1");
    expect(peerName(Buffer.from([0, 0x6b, 0x8b, 0x45, 0x67]))).toBe("0x006b8b4567");
    expect(peerName(Buffer.alloc(0))).toBe("0x");
  });

  it("the table counts requests and replies per peer and forgets the longest silent when full", () => {
    const t = new PeerTable(2);
    t.request(b("a"), 10, 1);
    t.request(b("b"), 20, 2);
    t.reply(b("a"), 5, 3);
    t.reply(b("nobody"), 5, 3);
    t.reply(undefined, 5, 3);
    // b was heard from longest ago (a answered at 3): c takes its place.
    t.request(b("c"), 30, 4);
    expect(t.forgotten).toBe(1);
    expect(t.list().map((p) => [String(p.id), p.requests, p.requestBytes, p.replies, p.replyBytes, p.lastAt])).toEqual([
      ["a", 1, 10, 1, 5, 3],
      ["c", 1, 30, 0, 0, 4],
    ]);
    // The id is copied: a buffer reused by the caller does not rename the peer.
    const id = b("d");
    t.request(id, 1, 5);
    id.write("z");
    expect(t.list().map((p) => String(p.id))).toContain("d");
  });
});
