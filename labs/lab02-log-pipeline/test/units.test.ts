import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@zlabs/kit";
import { pack } from "msgpackr";
import { afterAll, describe, expect, it } from "vitest";
import { Pseudonymizer } from "../internal/anonymize.ts";
import { countLines, readChunks } from "../internal/chunker.ts";
import { parseLine } from "../internal/formats.ts";
import { SAMPLE_PII, SampleLogs } from "../internal/generate-logs.ts";
import { parseChunk } from "../internal/parse.ts";
import {
  decodeCollectorBus,
  decodeParserBus,
  decodeParserWork,
  decodeWriterMessage,
  EVENTS_MAX_MESSAGE_BYTES,
  encodeMessage,
  linesOf,
  MAX_CHUNK_BYTES,
  MAX_CHUNK_LINES,
} from "../internal/protocol.ts";
import { BatchTracker } from "../internal/tracker.ts";

const KEY = "test-key-0123456789";
const p = new Pseudonymizer(KEY);
const dir = mkdtempSync(join(tmpdir(), "lab02-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const text = (reason: string | RegExp) => (typeof reason === "string" ? reason : expect.stringMatching(reason));
const lines = (header: Record<string, unknown>, payload = "x\n") => [Buffer.from("LINES"), pack({ v: 1, ...header }), Buffer.from(payload)];
const start = (header: Record<string, unknown>) => [Buffer.from("START"), pack({ v: 1, source: "s", parsers: 0, ...header })];

describe("the wire format", () => {
  it("round-trips every command through the decoder of the socket that receives it", () => {
    const payload = Buffer.from("a\nb\n");
    expect(decodeParserWork(encodeMessage("LINES", { batch: "b1", first: 10, count: 2 }, payload))).toEqual({
      kind: "lines",
      header: { batch: "b1", first: 10, count: 2 },
      payload,
    });
    const events = { batch: "b1", first: 0, count: 2, worker: "w", unparsed: 1, raw: false };
    expect(decodeWriterMessage(encodeMessage("EVENTS", events, payload))).toEqual({ kind: "events", header: events, payload });
    expect(decodeWriterMessage(encodeMessage("HELLO", { worker: "w" }))).toEqual({ kind: "hello", header: { worker: "w" } });
    const startHeader = { batch: "b1", expected: 5, source: "x.log", parsers: 2 };
    expect(decodeWriterMessage(encodeMessage("START", startHeader))).toEqual({ kind: "start", header: startHeader });
    expect(decodeParserBus(encodeMessage("KILL", {}))).toEqual({ kind: "kill" });
    expect(decodeCollectorBus(encodeMessage("READY", { batch: "b1", workers: 3 }))).toEqual({
      kind: "ready",
      header: { batch: "b1", workers: 3 },
    });
    expect(decodeCollectorBus(encodeMessage("ACK", { batch: "b1", watermark: 4, stored: 5 }))).toMatchObject({ kind: "ack" });
    expect(decodeCollectorBus(encodeMessage("MISSING", { batch: "b1", ranges: [[0, 5]] }))).toMatchObject({ kind: "missing" });
    const done = { batch: "b1", stored: 5, duplicates: 0, unparsed: 1, resends: 0, seconds: 0.25, files: ["/x/events-b1-0001.ndjson"] };
    expect(decodeCollectorBus(encodeMessage("DONE", done))).toEqual({ kind: "done", header: done });
  });

  it("takes numbers sent as uint64 or as a whole float, as a Python peer may send them", () => {
    const u64 = (n: number) => Buffer.concat([Buffer.from([0xcf]), Buffer.from(BigInt(n).toString(16).padStart(16, "0"), "hex")]);
    const f64 = (x: number) => Buffer.concat([Buffer.from([0xcb]), Buffer.from(new Float64Array([x]).buffer).reverse()]);
    const header = Buffer.concat([
      Buffer.from([0x85]),
      ...[pack("v"), u64(1), pack("batch"), pack("b"), pack("expected"), u64(7), pack("source"), pack(""), pack("parsers"), f64(1)],
    ]);
    expect(decodeWriterMessage([Buffer.from("START"), header])).toEqual({
      kind: "start",
      header: { batch: "b", expected: 7, source: "", parsers: 1 },
    });
  });

  it.each([
    [[Buffer.from("LINES")], "expected 2 or 3 frames, got 1"],
    [encodeMessage("KILL", {}), 'unexpected command "KILL"'],
    [[Buffer.from("LINESX"), pack({ v: 1 }), Buffer.from("x\n")], 'unexpected command "LINESX"'],
    [lines({ batch: "b", first: 0, count: 1 }).slice(0, 2), "LINES needs 3 frames, got 2"],
    [[Buffer.from("LINES"), Buffer.from([0xc1, 0]), Buffer.from("x\n")], /^LINES header: not MessagePack/],
    [[Buffer.from("LINES"), pack([1]), Buffer.from("x\n")], "LINES header is not a MessagePack map"],
    [lines({ v: 2, batch: "b", first: 0, count: 1 }), "LINES: unsupported version 2"],
    [lines({ batch: "b", first: -1, count: 1 }), "LINES: bad first or count"],
    [lines({ batch: "b", first: 0, count: 1.5 }), "LINES: bad first or count"],
    [lines({ batch: "b", first: 0, count: 10_001 }), "LINES: bad first or count"],
    [lines({ batch: "b", first: 2 ** 40, count: 1 }), "LINES: bad first or count"],
    [lines({ batch: "../b", first: 0, count: 1 }), "LINES: bad batch"],
    [lines({ batch: "b", first: 0, count: 2 }), "LINES: payload holds 1 lines, header says 2"],
    [lines({ batch: "b", first: 0, count: 1 }, "x"), "LINES: payload holds 0 lines, header says 1"],
    [lines({ batch: "b", first: 0, count: 1 }, "x\ny\nz\n"), "LINES: payload holds more lines, header says 1"],
  ])("the parser refuses a malformed LINES %#", (frames, reason) => {
    expect(decodeParserWork(frames as Buffer[])).toEqual({ kind: "invalid", reason: text(reason) });
  });

  it.each([
    [start({ batch: "b", expected: 2 ** 40 }), /^START: bad expected/],
    [start({ batch: "b", expected: 0 }), /^START: bad expected/],
    [start({ batch: "b", expected: 100_000_001 }), /^START: bad expected/],
    [start({ batch: "../../escaped", expected: 1 }), /^START: bad batch/],
    [start({ batch: "..", expected: 1 }), /^START: bad batch/],
    [start({ batch: "a/b", expected: 1 }), /^START: bad batch/],
    [start({ batch: "x".repeat(65), expected: 1 }), /^START: bad batch/],
    [start({ batch: "b", expected: 1, parsers: -1 }), "START: bad parsers"],
    [[Buffer.from("START"), Buffer.from("81a176cfffffffffffffffff", "hex")], "START header: integer beyond 2**53 (not exact as a number)"],
    [[Buffer.from("HELLO"), pack({ v: 1 })], "HELLO: bad worker"],
    [[Buffer.from("HELLO"), pack({ v: 1, worker: "w".repeat(129) })], "HELLO: bad worker"],
    [
      [Buffer.from("EVENTS"), pack({ v: 1, batch: "b", first: 0, count: 1, worker: "w", unparsed: 2, raw: false }), Buffer.from("x\n")],
      "EVENTS: bad unparsed",
    ],
  ])("the writer refuses a malformed message %#", (frames, reason) => {
    expect(decodeWriterMessage(frames as Buffer[])).toEqual({ kind: "invalid", reason: text(reason) });
  });

  it.each([
    [[Buffer.from("MISSING"), pack({ v: 1, batch: "b", ranges: [[0, 0]] })], "MISSING: bad ranges"],
    [[Buffer.from("MISSING"), pack({ v: 1, batch: "b", ranges: Array.from({ length: 257 }, () => [0, 1]) })], "MISSING: bad ranges"],
    [[Buffer.from("ACK"), pack({ v: 1, batch: "b", watermark: 2 ** 40, stored: 0 })], "ACK: bad watermark or stored"],
    [[Buffer.from("READY"), pack({ v: 1, batch: "b", workers: 1e308 })], "READY: bad workers"],
    [
      [Buffer.from("DONE"), pack({ v: 1, batch: "b", stored: 1, duplicates: 0, unparsed: 0, resends: 0, seconds: 1, files: [7] })],
      "DONE: bad files",
    ],
  ])("the collector refuses a malformed bus message %#", (frames, reason) => {
    expect(decodeCollectorBus(frames as Buffer[])).toEqual({ kind: "invalid", reason: text(reason) });
  });

  it("splits a payload into lines, dropping a CR before the LF", () => {
    expect(linesOf(Buffer.from("one\r\ntwo\n\nfour\n"))).toEqual(["one", "two", "", "four"]);
  });
});

describe("the writer's loss accounting", () => {
  it("stores a chunk once, drops a duplicate, moves the watermark, and lists the holes", () => {
    const t = new BatchTracker(10);
    expect(t.record(0, 2)).toBe("stored");
    expect(t.record(4, 2)).toBe("stored");
    expect(t.watermark).toBe(2);
    expect(t.holes()).toEqual([
      [2, 2],
      [6, 4],
    ]);
    expect(t.record(4, 2)).toBe("duplicate");
    expect(t.record(8, 3)).toBe("out of range");
    expect(t.record(2, 2)).toBe("stored");
    expect(t.watermark).toBe(6);
    expect(t.record(6, 4)).toBe("stored");
    expect(t).toMatchObject({ complete: true, stored: 10, duplicates: 1, watermark: 10 });
    expect(t.holes()).toEqual([]);
  });
});

describe("the collector's chunker", () => {
  it("counts and cuts lines across files, ending a last line that lacks its newline", async () => {
    const a = join(dir, "a.log");
    const b = join(dir, "b.log");
    writeFileSync(a, "a1\na2\na3");
    writeFileSync(b, "b1\r\nb2\n");
    expect(await countLines([a, b])).toEqual({ lines: 5, longest: 4, longestIn: b });
    const chunks = [];
    for await (const c of readChunks([a, b], 2)) chunks.push({ first: c.first, count: c.count, text: c.payload.toString() });
    expect(chunks).toEqual([
      { first: 0, count: 2, text: "a1\na2\n" },
      { first: 2, count: 2, text: "a3\nb1\r\n" },
      { first: 4, count: 1, text: "b2\n" },
    ]);
  });

  it("cuts a large file into exact chunks whatever the read block boundaries", async () => {
    const f = join(dir, "big.log");
    writeFileSync(f, new SampleLogs(3).lines(25_000));
    let expectedFirst = 0;
    for await (const c of readChunks([f], 1000)) {
      expect(c.first).toBe(expectedFirst);
      expect(linesOf(c.payload)).toHaveLength(c.count);
      expectedFirst += c.count;
    }
    expect(expectedFirst).toBe(25_000);
  });

  it("cuts a chunk larger than its byte bound into pieces of whole lines, numbered on", async () => {
    const f = join(dir, "long-lines.log");
    const line = (c: string, n: number) => `${c.repeat(n - 1)}\n`;
    writeFileSync(f, line("a", 40) + line("b", 30) + line("c", 80) + line("d", 10) + line("e", 10));
    const chunks = [];
    for await (const c of readChunks([f], 1000, 64)) chunks.push({ first: c.first, count: c.count, bytes: c.payload.length });
    // Lines pack up to 64 bytes; the 80-byte line goes alone (the collector refuses such input).
    expect(chunks).toEqual([
      { first: 0, count: 1, bytes: 40 },
      { first: 1, count: 1, bytes: 30 },
      { first: 2, count: 1, bytes: 80 },
      { first: 3, count: 2, bytes: 20 },
    ]);
    expect(await countLines([f])).toEqual({ lines: 5, longest: 80, longestIn: f });
  });

  it("says which file it cannot read, as a usage error", async () => {
    const gone = join(dir, "gone.log");
    await expect(countLines([gone])).rejects.toThrow(new UsageError(`cannot read ${gone}: ENOENT`));
  });
});

describe("parsing", () => {
  it("reads RFC 5424 and RFC 3164 syslog", () => {
    expect(parseLine("<34>1 2026-11-24T08:00:00Z web-01 sshd 42 ID47 - Accepted password for bob from 203.0.113.7", 1, p)).toMatchObject({
      format: "rfc5424",
      facility: 4,
      severity: 2,
      host: "web-01",
      app: "sshd",
      procid: "42",
      msgid: "ID47",
      sd: null,
    });
    expect(parseLine("<38>Nov 24 08:00:00 auth-01 sshd[1234]: session opened", 2, p)).toMatchObject({
      format: "rfc3164",
      facility: 4,
      severity: 6,
      ts: "Nov 24 08:00:00",
      app: "sshd",
      pid: 1234,
      msg: "session opened",
    });
  });

  it("reads Common and Combined access logs and JSON lines", () => {
    expect(parseLine('203.0.113.7 - alice [24/Nov/2026:08:00:00 +0000] "GET /a HTTP/1.1" 200 512', 3, p)).toMatchObject({
      format: "clf",
      method: "GET",
      path: "/a",
      status: 200,
      bytes: 512,
      user: p.pseudonym("usr", "alice"),
      client: p.pseudonym("ip", "203.0.113.7"),
    });
    expect(parseLine('::1 - - [24/Nov/2026:08:00:00 +0000] "GET / HTTP/1.1" 404 - "-" "curl/8"', 4, p)).toMatchObject({
      format: "combined",
      bytes: null,
      agent: "curl/8",
    });
    expect(parseLine('{"user":"bob","n":1}', 5, p)).toEqual({ seq: 5, format: "json", fields: { user: p.pseudonym("usr", "bob"), n: 1 } });
  });

  it.each([
    ["-- MARK --", "no known format"],
    ["", "empty line"],
    ["{broken", "invalid JSON"],
    ["[1,2]", "no known format"],
    ["<999>1 2026-11-24T08:00:00Z h a - - - m", "syslog priority over 191"],
    ["<13>not a header", "syslog header does not parse"],
  ])("keeps %j as an unparsed event with the reason", (line, reason) => {
    expect(parseLine(line, 9, p)).toMatchObject({ seq: 9, format: "unparsed", reason });
  });

  it("turns a chunk of any size into one event per line, numbered from the chunk's first", () => {
    // Far larger than the pieces the text is decoded in, with multi-byte characters, CRLF endings
    // and one line longer than a piece, so every cut between pieces is exercised.
    const lines = [...new SampleLogs(3).lines(3000).split("\n").filter(Boolean), `{"msg":"${"é€".repeat(40_000)}"}`, "-- MARK --"];
    for (let i = 0; i < lines.length; i += 7) lines[i] = `${lines[i]} ünïcödé`;
    const payload = Buffer.from(lines.map((l, i) => (i % 5 === 0 ? `${l}\r\n` : `${l}\n`)).join(""));
    const { ndjson, unparsed } = parseChunk(payload, 1000, p);
    const events = ndjson.toString("utf8").split("\n");
    expect(events.pop()).toBe("");
    expect(events.map((e) => JSON.parse(e))).toEqual(lines.map((l, i) => JSON.parse(JSON.stringify(parseLine(l, 1000 + i, p)))));
    expect(unparsed).toBe(events.filter((e) => e.includes('"format":"unparsed"')).length);
  });

  it("keeps a chunk's events under the writer's limit, even for the worst lines at the chunk bounds", () => {
    const chunk = (line: string) => {
      const lines = Math.min(MAX_CHUNK_LINES, Math.floor(MAX_CHUNK_BYTES / (Buffer.byteLength(line) + 1)));
      return Buffer.from(`${Array.from({ length: lines }, () => line).join("\n")}\n`);
    };
    // Control bytes (JSON writes each as six), short user names and addresses (pseudonyms are
    // longer), a line of one control byte per line's worth, and one line at the byte bound.
    for (const payload of [
      chunk("\u0001".repeat(103)),
      chunk("user=a ".repeat(14)),
      chunk("a@b.cc 1.1.1.1 ".repeat(7)),
      chunk("\u0001"),
      chunk("\u0001".repeat(MAX_CHUNK_BYTES - 1)),
    ]) {
      expect(payload.length).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
      expect(parseChunk(payload, 0, p).ndjson.length).toBeLessThan(EVENTS_MAX_MESSAGE_BYTES - 64 * 1024);
    }
  });

  it("hands out events that the next chunk does not overwrite", () => {
    const first = parseChunk(Buffer.from("<34>1 2026-11-24T08:00:00Z web-01 sshd 42 - - first\n"), 0, p).ndjson;
    const copy = Buffer.from(first);
    parseChunk(Buffer.from(new SampleLogs(5).lines(500)), 1, p);
    expect(first.equals(copy)).toBe(true);
  });
});

describe("pseudonymisation", () => {
  it("is deterministic for a key and differs between keys", () => {
    const other = new Pseudonymizer("another-key-0123456789");
    expect(p.pseudonym("usr", "alice")).toBe(new Pseudonymizer(KEY).pseudonym("usr", "alice"));
    expect(p.pseudonym("usr", "alice")).not.toBe(other.pseudonym("usr", "alice"));
    expect(p.pseudonym("mail", "Bob@Example.com")).toBe(p.pseudonym("mail", "bob@example.com"));
    expect(() => new Pseudonymizer("short")).toThrow(/at least 16 bytes/);
  });

  it("leaves times and C++ scopes alone", () => {
    expect(p.scrub("at 12:30:45 in std::vector")).toBe("at 12:30:45 in std::vector");
  });

  it("lets no PII of the sample logs through, on any line of any format", () => {
    const text = new SampleLogs(7).lines(20_000);
    const { ndjson, unparsed } = parseChunk(Buffer.from(text), 0, p);
    const out = ndjson.toString();
    for (const secret of [...SAMPLE_PII.users, ...SAMPLE_PII.emails, ...SAMPLE_PII.ipv4, ...SAMPLE_PII.ipv6]) {
      expect(out.includes(secret), `${secret} leaked`).toBe(false);
      expect(text.includes(secret), `${secret} is in the input`).toBe(true);
    }
    expect(out.split("\n").filter(Boolean)).toHaveLength(20_000);
    expect(unparsed).toBeGreaterThan(0);
    expect(unparsed).toBeLessThan(1000);
  });
});
