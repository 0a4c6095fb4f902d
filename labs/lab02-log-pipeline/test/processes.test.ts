// End to end: the real processes, a parser killed with SIGKILL in the middle of a batch.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { SAMPLE_PII } from "../internal/generate-logs.ts";
import { MAX_LINE_BYTES } from "../internal/protocol.ts";
import { exactlyOnce, KEY, sampleFile, scratch, storedSeqs } from "./fixtures.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const procs = new ProcessPool();
const tmp = scratch();
afterEach(() => procs.stopAll());
afterAll(tmp.remove);

async function pipeline(outDir: string) {
  const [work, results, bus] = (await freeTcpEndpoints(3)) as [string, string, string];
  const writer = procs.start({
    labDir,
    cmd: "cmd/storage-writer.ts",
    name: "writer",
    args: ["--bind", results, "--bus", bus, "--out", outDir, "--once", "--missing-after", "500", "--rotate-mb", "1"],
  });
  const parser = (id: string, extra: string[] = []) =>
    procs.start({
      labDir,
      cmd: "cmd/log-parser.ts",
      name: id,
      args: ["--id", id, "--work", work, "--results", results, "--bus", bus, "--key", KEY, ...extra],
    });
  const collector = (input: string, extra: string[] = []) =>
    procs.start({
      labDir,
      cmd: "cmd/log-collector.ts",
      name: "collector",
      args: ["--input", input, "--bind", work, "--writer", results, "--bus", bus, ...extra],
    });
  return { writer, parser, collector };
}

function allOutput(outDir: string): string {
  return readdirSync(outDir)
    .map((f) => readFileSync(join(outDir, f), "utf8"))
    .join("");
}

describe("the real processes", () => {
  it("a parser killed with SIGKILL mid-batch loses no line: stored events are the input, once each", async () => {
    const lines = 30_000;
    const input = sampleFile(tmp.dir, lines);
    const outDir = join(tmp.dir, "out-kill");
    const { writer, parser, collector } = await pipeline(outDir);
    await writer.waitForLog("listening", WAIT_MS);
    // The victim is so slow that it dies with its first chunk in hand and more in its pipe.
    const victim = parser("victim", ["--delay", "60000"]);
    const survivor = parser("survivor");
    await writer.waitForLog({ msg: "parser joined", worker: "victim" }, WAIT_MS);
    await writer.waitForLog({ msg: "parser joined", worker: "survivor" }, WAIT_MS);
    const c = collector(input, ["--chunk-lines", "500", "--window", "10000", "--min-parsers", "2"]);
    await victim.waitForLog("chunk received", WAIT_MS);
    await procs.crash(victim);
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(await writer.exited).toEqual({ code: 0, signal: null });
    expect(await survivor.exited).toEqual({ code: 0, signal: null });
    const complete = writer.find("batch complete")[0];
    expect(complete).toMatchObject({ stored: lines });
    expect(writer.find("lines missing; asking again").length).toBeGreaterThan(0);
    expect(c.find("batch done")[0]?.chunksResent).toBeGreaterThan(0);
    expect(exactlyOnce(storedSeqs(outDir), lines)).toEqual({ missing: 0, duplicates: 0 });
    expect(survivor.find("KILL received")).toHaveLength(1);
  });

  it("ingests globbed files with PII and stores none of it", async () => {
    sampleFile(tmp.dir, 5000, 9);
    sampleFile(tmp.dir, 2000, 10);
    const outDir = join(tmp.dir, "out-glob");
    const { writer, parser, collector } = await pipeline(outDir);
    parser("p1");
    const c = collector(join(tmp.dir, "sample-*-{9,10}.log"), ["--chunk-lines", "250"]);
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(await writer.exited).toEqual({ code: 0, signal: null });
    expect(writer.find("batch complete")[0]).toMatchObject({ stored: 7000 });
    expect(writer.find("batch started")[0]?.source).toBe("sample-2000-10.log,sample-5000-9.log");
    const out = allOutput(outDir);
    for (const secret of [...SAMPLE_PII.users, ...SAMPLE_PII.emails, ...SAMPLE_PII.ipv4, ...SAMPLE_PII.ipv6])
      expect(out.includes(secret), secret).toBe(false);
  });

  it("a collector stopped (Ctrl-C) while it waits for the writer and parsers exits 0, and deletes its spooled sample", async () => {
    const [work, results, bus] = (await freeTcpEndpoints(3)) as [string, string, string];
    const spool = join(tmp.dir, "spool-stop");
    const c = procs.start({
      labDir,
      cmd: "cmd/log-collector.ts",
      name: "collector",
      args: ["--sample", "100", "--spool-dir", spool, "--bind", work, "--writer", results, "--bus", bus, "--min-parsers", "2"],
    });
    await c.waitForLog("waiting for the writer and parsers", WAIT_MS);
    expect(readdirSync(spool)).toEqual([expect.stringMatching(/^sample-\d+\.log$/)]);
    expect(await c.kill("SIGINT")).toEqual({ code: 0, signal: null });
    expect(c.lines.filter((l) => l.includes("MaxListenersExceeded"))).toEqual([]);
    expect(readdirSync(spool)).toEqual([]);
  });

  it("a relative --input resolves against the directory the user ran the command in, not the lab's", async () => {
    sampleFile(tmp.dir, 300, 11);
    const outDir = join(tmp.dir, "out-relative");
    const [work, results, bus] = (await freeTcpEndpoints(3)) as [string, string, string];
    const writer = procs.start({
      labDir,
      cmd: "cmd/storage-writer.ts",
      name: "writer",
      args: ["--bind", results, "--bus", bus, "--out", outDir, "--once"],
    });
    procs.start({
      labDir,
      cmd: "cmd/log-parser.ts",
      name: "p1",
      args: ["--id", "p1", "--work", work, "--results", results, "--bus", bus, "--key", KEY],
    });
    const c = procs.start({
      labDir,
      cmd: "cmd/log-collector.ts",
      name: "collector",
      args: ["--input", "sample-300-11.log", "--bind", work, "--writer", results, "--bus", bus],
      env: { ZLABS_USER_CWD: tmp.dir },
    });
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(await writer.exited).toEqual({ code: 0, signal: null });
    expect(writer.find("batch complete")[0]).toMatchObject({ stored: 300 });
  });

  it.each([
    [["--input", "/nonexistent/x.log"], "log-collector: no such file: /nonexistent/x.log"],
    [["--input", "/nonexistent/*.log"], "log-collector: no file matches /nonexistent/*.log"],
  ])("the collector refuses bad input %j with one line and exit code 2", async (args, line) => {
    const p = procs.start({ labDir, cmd: "cmd/log-collector.ts", name: "collector", args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual([line]);
  });

  it("the collector refuses an input with a line over 1 MiB, or with no line, before it starts", async () => {
    const long = join(tmp.dir, "long-line.log");
    writeFileSync(long, `short\n${"x".repeat(MAX_LINE_BYTES)}\nshort\n`);
    const empty = join(tmp.dir, "empty.log");
    writeFileSync(empty, "");
    const [a, b] = [long, empty].map((input) =>
      procs.start({ labDir, cmd: "cmd/log-collector.ts", name: "collector", args: ["--input", input] }),
    );
    expect(await a?.exited).toEqual({ code: 2, signal: null });
    expect(a?.lines).toEqual([
      `log-collector: ${long} has a line of ${MAX_LINE_BYTES + 1} bytes; lines of at most ${MAX_LINE_BYTES} bytes are ingested`,
    ]);
    expect(await b?.exited).toEqual({ code: 2, signal: null });
    expect(b?.lines).toEqual(["log-collector: nothing to ingest: the input holds no lines"]);
  });

  it.each([
    ["cmd/log-collector.ts", [], "log-collector: nothing to ingest: give --input (a path, a glob or -) or --sample N (see --help)"],
    ["cmd/log-parser.ts", ["--key", "short"], "log-parser: --key must be at least 16 characters (see --help)"],
    ["cmd/storage-writer.ts", ["--rotate-mb", "0"], "storage-writer: --rotate-mb (or LAB02_ROTATE_MB) must be at least 1 (see --help)"],
    [
      "cmd/log-collector.ts",
      ["--sample", "10", "--chunk-lines", "20000"],
      "log-collector: --chunk-lines (or LAB02_CHUNK_LINES) must be at most 10000 (see --help)",
    ],
    [
      "cmd/log-collector.ts",
      ["--sample", "10", "--bind", "5020"],
      'log-collector: --bind (or LAB02_BIND) must be a ZeroMQ endpoint such as tcp://127.0.0.1:5555 (got "5020") (see --help)',
    ],
    ["cmd/generate-logs.ts", ["--lines", "1.5"], "generate-logs: --lines (or LAB02_LINES) must be a whole number (see --help)"],
  ])("%s with a bad flag exits 2 with one line", async (cmd, args, line) => {
    const p: RoleProcess = procs.start({ labDir, cmd, name: cmd, args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual([line]);
  });
});
