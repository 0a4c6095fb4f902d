import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { formatResult } from "../internal/format.ts";
import { parsePsOutput, parseTasklistOutput } from "../internal/host.ts";
import { decodeReply, decodeRequest, encodeReply, encodeRequest, errorReply, MAX_REQUEST_BYTES, okReply } from "../internal/protocol.ts";

/** An exact reason, or one matching a pattern (the codec's own messages name msgpackr's). */
const text = (reason: string | RegExp) => (typeof reason === "string" ? reason : expect.stringMatching(reason));

describe("requests", () => {
  it("round-trip", () => {
    const frame = encodeRequest({ v: 1, id: "ab-1", cmd: "ps", args: { limit: 5 } });
    expect(decodeRequest([frame])).toEqual({ kind: "query", request: { v: 1, id: "ab-1", cmd: "ps", args: { limit: 5 } } });
  });

  it("take numbers sent as uint64 or as float, as a Python peer may send them", () => {
    // {v: uint64 1, id: "u", cmd: "ps", args: {limit: float64 5.0}}
    const frame = Buffer.concat([
      Buffer.from("84a176cf0000000000000001a26964a175a3636d64a27073a46172677381a56c696d6974", "hex"),
      Buffer.from("cb4014000000000000", "hex"),
    ]);
    expect(decodeRequest([frame])).toEqual({ kind: "query", request: { v: 1, id: "u", cmd: "ps", args: { limit: 5 } } });
  });

  it.each([
    [[], null, "expected 1 frame, got 0"],
    [[pack({ v: 1, id: "x", cmd: "ps" }), Buffer.from("extra")], null, "expected 1 frame, got 2"],
    [[Buffer.from([0xc1, 0x00])], null, /^request: not MessagePack/],
    [[Buffer.from([0xc1])], null, "request is not a MessagePack map"],
    [[pack([1, 2])], null, "request is not a MessagePack map"],
    [[Buffer.alloc(0)], null, "request: empty frame where MessagePack was expected"],
    [[Buffer.from("81a176cfffffffffffffffff", "hex")], null, "request: integer beyond 2**53 (not exact as a number)"],
    [[Buffer.concat([Buffer.alloc(100, 0x91), Buffer.from([0xc0])])], null, "request: nested deeper than 32"],
    [[pack({ v: 1, cmd: "ps" })], null, "missing id"],
    [[pack({ v: 1, id: "x".repeat(65), cmd: "ps" })], null, "missing id"],
    [[pack({ v: 2, id: "x", cmd: "ps" })], "x", "unsupported version 2"],
    [[pack({ v: 1, id: "x" })], "x", "missing cmd"],
    [[pack({ v: 1, id: "x", cmd: "ps", args: [1] })], "x", "args is not a map"],
    [[Buffer.alloc(MAX_REQUEST_BYTES + 1)], null, `request over ${MAX_REQUEST_BYTES} bytes`],
  ])("reject a malformed request %#, keeping the id when there is one", (frames, id, reason) => {
    expect(decodeRequest(frames as Buffer[])).toEqual({ kind: "invalid", id, code: "bad-request", reason: text(reason) });
  });
});

describe("replies", () => {
  it("round-trip, ok and error", () => {
    expect(decodeReply([encodeReply(okReply("a-1", { load1: 1 }))])).toEqual({
      kind: "reply",
      reply: { v: 1, id: "a-1", ok: true, result: { load1: 1 } },
    });
    const err = errorReply(null, "bad-request", "body is not MessagePack");
    expect(decodeReply([encodeReply(err)])).toEqual({ kind: "reply", reply: err });
  });

  it.each([
    [[Buffer.from("x"), Buffer.from("y")], "expected 1 frame, got 2"],
    [[Buffer.from([0xc1, 0x00])], /^reply: not MessagePack/],
    [[pack("just a string")], "reply is not a MessagePack map"],
    [[pack({ v: 9, id: "a", ok: true })], "unsupported version 9"],
    [[pack({ v: 1, id: 7, ok: true })], "bad id"],
    [[pack({ v: 1, id: "a", ok: false, error: "nope" })], "reply is neither ok nor a well-formed error"],
    [[pack({ v: 1, id: "a", ok: false, error: { code: "teapot", message: "no" } })], "reply is neither ok nor a well-formed error"],
  ])("reject a malformed reply %#", (frames, reason) => {
    expect(decodeReply(frames as Buffer[])).toEqual({ kind: "invalid", reason: text(reason) });
  });
});

describe("host queries", () => {
  it("parse ps output, names with spaces included", () => {
    const text = "    1  0.0  1234 systemd\n  812 12.5 20480 Google Chrome Helper\ngarbage\n";
    expect(parsePsOutput(text)).toEqual([
      { pid: 1, cpu: 0, rssBytes: 1234 * 1024, name: "systemd" },
      { pid: 812, cpu: 12.5, rssBytes: 20480 * 1024, name: "Google Chrome Helper" },
    ]);
  });

  it("parse Windows tasklist output", () => {
    const text = '"System Idle Process","0","Services","0","8 K"\r\n"node.exe","4242","Console","1","45,120 K"\r\n';
    expect(parseTasklistOutput(text)).toEqual([
      { name: "System Idle Process", pid: 0, cpu: null, rssBytes: 8 * 1024 },
      { name: "node.exe", pid: 4242, cpu: null, rssBytes: 45120 * 1024 },
    ]);
  });
});

describe("the CLI's tables", () => {
  it("render ps as aligned columns", () => {
    const out = formatResult("ps", {
      total: 90,
      sortedBy: "cpu",
      processes: [
        { pid: 7, cpu: 3.25, rssBytes: 2 * 1024 ** 2, name: "node" },
        { pid: 12345, cpu: null, rssBytes: 512 * 1024, name: "sshd" },
      ],
    });
    expect(out.split("\n")).toEqual([
      "  PID  CPU%      RSS  NAME",
      "    7   3.3  2.0 MiB  node",
      "12345     -  512 KiB  sshd",
      "(2 of 90 processes, by cpu)",
    ]);
  });

  it("fall back to JSON for a result they do not know", () => {
    expect(formatResult("future", { a: 1 })).toBe('{\n  "a": 1\n}');
  });
});
