import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { bytesForLog, createLogger, logLevelFrom, wantsPrettyLogs } from "../src/log.ts";

describe("logging", () => {
  it("is pretty on a terminal and JSON lines otherwise, unless LOG_FORMAT decides", () => {
    expect(wantsPrettyLogs({}, true)).toBe(true);
    expect(wantsPrettyLogs({}, false)).toBe(false);
    expect(wantsPrettyLogs({ LOG_FORMAT: "json" }, true)).toBe(false);
    expect(wantsPrettyLogs({ LOG_FORMAT: "pretty" }, false)).toBe(true);
  });

  it("honours LOG_LEVEL and rejects a level that does not exist", () => {
    expect(logLevelFrom({})).toBe("info");
    expect(logLevelFrom({ LOG_LEVEL: "DEBUG" })).toBe("debug");
    expect(() => logLevelFrom({ LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL must be one of/);
  });

  it("writes JSON lines naming the lab and role, with key material redacted", () => {
    const out = new PassThrough();
    const log = createLogger({ lab: "lab09", role: "c2-server", destination: out, level: "info" });
    log.info({ client: { secretKey: "s3cret", name: "ops" } }, "client authenticated");
    log.debug("not shown at info");
    const lines = String(out.read()).trim().split("\n");
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] as string);
    expect(entry).toMatchObject({
      lab: "lab09",
      role: "c2-server",
      msg: "client authenticated",
      client: { secretKey: "[redacted]", name: "ops" },
    });
  });

  it("logs a peer's BigInt, bytes and huge strings without throwing or flooding", () => {
    const out = new PassThrough();
    const log = createLogger({ lab: "lab05", role: "archivist", destination: out, level: "info" });
    log.warn(
      { details: { n: 2n ** 64n - 1n, worker: Buffer.from("edge-7"), id: Buffer.from([0, 0x6b, 0x8b]) }, text: "x".repeat(10_000) },
      "refused",
    );
    const entry = JSON.parse(String(out.read()));
    expect(entry.details).toEqual({ n: "18446744073709551615", worker: "edge-7", id: "006b8b" });
    expect(entry.text.length).toBeLessThan(600);
    expect(bytesForLog(Buffer.alloc(100, 0x61))).toBe(`${"a".repeat(64)}…(100 bytes)`);
  });
});
