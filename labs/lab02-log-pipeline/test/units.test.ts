import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack } from "msgpackr";
import { afterAll, describe, expect, it } from "vitest";
import { Pseudonymizer } from "../internal/anonymize.ts";
import { countLines, readChunks } from "../internal/chunker.ts";
import { parseLine } from "../internal/formats.ts";
import { SAMPLE_PII, SampleLogs } from "../internal/generator.ts";
import { parseChunk } from "../internal/parse.ts";
import { decode, encode, linesOf } from "../internal/protocol.ts";
import { BatchTracker } from "../internal/tracker.ts";

const KEY = "test-key-0123456789";
const p = new Pseudonymizer(KEY);
const dir = mkdtempSync(join(tmpdir(), "lab02-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the wire format", () => {
  it("round-trips every command, with the payload frame where there is one", () => {
    const lines = Buffer.from("a\nb\n");
    const d = decode(encode("LINES", { batch: "b1", first: 10, count: 2 }, lines), ["LINES"]);
    expect(d).toEqual({ ok: true, message: { cmd: "LINES", header: { v: 1, batch: "b1", first: 10, count: 2 }, payload: lines } });
    expect(decode(encode("KILL", {}), ["KILL"])).toMatchObject({ ok: true, message: { cmd: "KILL" } });
    expect(decode(encode("MISSING", { batch: "b1", ranges: [[0, 5]] }), ["MISSING"])).toMatchObject({ ok: true });
  });

  it.each([
    [[Buffer.from("LINES")], ["LINES"], "expected 2 or 3 frames, got 1"],
    [encode("KILL", {}), ["LINES"], 'unexpected command "KILL"'],
    [[Buffer.from("LINES"), pack({ v: 1, batch: "b", first: 0, count: 1 })], ["LINES"], "LINES needs 3 frames, got 2"],
    [[Buffer.from("LINES"), Buffer.from([0xc1, 0]), Buffer.from("x\n")], ["LINES"], "header is not MessagePack"],
    [[Buffer.from("LINES"), pack({ v: 2, batch: "b", first: 0, count: 1 }), Buffer.from("x\n")], ["LINES"], "unsupported version 2"],
    [[Buffer.from("LINES"), pack({ v: 1, batch: "b", first: -1, count: 1 }), Buffer.from("x\n")], ["LINES"], "LINES: bad first or count"],
    [
      [Buffer.from("LINES"), pack({ v: 1, batch: "b", first: 0, count: 2 }), Buffer.from("x\n")],
      ["LINES"],
      "LINES: payload holds 1 lines, header says 2",
    ],
    [
      [Buffer.from("LINES"), pack({ v: 1, batch: "b", first: 0, count: 1 }), Buffer.from("x")],
      ["LINES"],
      "LINES: payload holds 0 lines, header says 1",
    ],
    [[Buffer.from("MISSING"), pack({ v: 1, batch: "b", ranges: [[0, 0]] })], ["MISSING"], "MISSING: bad ranges"],
    [[Buffer.from("HELLO"), pack({ v: 1 })], ["HELLO"], "HELLO: missing worker"],
  ])("rejects a malformed message %#", (frames, accept, reason) => {
    expect(decode(frames as Buffer[], accept as never)).toEqual({ ok: false, reason });
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
    expect(await countLines([a, b])).toBe(5);
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
