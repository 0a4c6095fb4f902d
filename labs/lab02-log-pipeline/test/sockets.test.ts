// In-process over real sockets: the collector, parsers and writer, and peers that misbehave.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { View } from "@zlabs/kit";
import { ANY_LOOPBACK_TCP, SocketJar, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { pack } from "msgpackr";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Publisher, Pull, Push } from "zeromq";
import { Pseudonymizer } from "../internal/anonymize.ts";
import { LogCollector } from "../internal/log-collector.ts";
import { LogParser } from "../internal/log-parser.ts";
import { decodeWriterMessage, encodeMessage as encode, MAX_WORKERS } from "../internal/protocol.ts";
import { StorageWriter } from "../internal/storage-writer.ts";
import { exactlyOnce, KEY, sampleFile, scratch, storedSeqs } from "./fixtures.ts";

const log = testLogger("lab02");
const WAIT_MS = 20_000;
const tmp = scratch();
afterAll(tmp.remove);
const jar = new SocketJar();
const tasks = new Tasks();
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
});

async function startWriter(outDir: string, missingAfterMs = 500) {
  const writer = new StorageWriter(
    { bind: ANY_LOOPBACK_TCP, bus: ANY_LOOPBACK_TCP, outDir, rotateBytes: 256 * 1024, missingAfterMs, killWorkers: true, once: true },
    log,
  );
  await writer.bind();
  const finished = tasks.run((s) => writer.run(s));
  return { writer, finished };
}

/** A collector with small chunks and window, bound and ready to collect. */
async function startCollector(writer: { bind: string; bus: string }, minParsers: number) {
  const collector = new LogCollector(
    { bind: ANY_LOOPBACK_TCP, writer: writer.bind, bus: writer.bus, linesPerChunk: 500, windowLines: 5000, minParsers },
    log,
  );
  return { collector, work: await collector.bind() };
}

function startParser(id: string, endpoints: { work: string; results: string; bus: string }) {
  const parser = new LogParser({ id, ...endpoints, parse: true }, new Pseudonymizer(KEY), log);
  return { parser, stopped: tasks.run((s) => parser.run(s)) };
}

describe("the pipeline over real sockets", () => {
  it("stores every line exactly once, splits the work, rotates files, and KILL stops every parser", async () => {
    const input = sampleFile(tmp.dir, 20_000);
    const outDir = join(tmp.dir, "out-1");
    const { writer } = await startWriter(outDir);
    const { collector, work } = await startCollector(writer.endpoints, 2);
    const endpoints = { work, results: writer.endpoints.bind, bus: writer.endpoints.bus };
    const a = startParser("a", endpoints);
    const b = startParser("b", endpoints);
    const stats = await withDeadline(
      tasks.run((s) => collector.collect([input], s)),
      WAIT_MS,
      "the batch",
    );
    expect(stats?.done).toMatchObject({ stored: 20_000, duplicates: 0 });
    expect(await withDeadline(Promise.all([a.stopped, b.stopped]), WAIT_MS, "KILL")).toEqual(["killed", "killed"]);
    expect(a.parser.lines + b.parser.lines).toBe(20_000);
    expect(Math.min(a.parser.lines, b.parser.lines)).toBeGreaterThan(0);
    expect(exactlyOnce(storedSeqs(outDir), 20_000)).toEqual({ missing: 0, duplicates: 0 });
    expect(stats?.done.files.length).toBeGreaterThan(1);
  });

  it("runs the batch --repeat times at --rate, the writer keeps the last N batches' files, and both publish their views", async () => {
    const input = sampleFile(tmp.dir, 3000, 5);
    const outDir = join(tmp.dir, "out-repeat");
    const writerViews: View[] = [];
    const writer = new StorageWriter(
      {
        bind: ANY_LOOPBACK_TCP,
        bus: ANY_LOOPBACK_TCP,
        outDir,
        rotateBytes: 1024 * 1024,
        missingAfterMs: 2000,
        killWorkers: false,
        once: false,
        keepBatches: 2,
      },
      log,
      (v) => writerViews.push(v),
    );
    await writer.bind();
    void tasks.run((s) => writer.run(s));
    const collectorViews: View[] = [];
    const collector = new LogCollector(
      {
        bind: ANY_LOOPBACK_TCP,
        writer: writer.endpoints.bind,
        bus: writer.endpoints.bus,
        linesPerChunk: 500,
        windowLines: 5000,
        minParsers: 1,
        repeat: 3,
        pauseMs: 0,
        rate: 10_000,
      },
      log,
      (v) => collectorViews.push(v),
    );
    const work = await collector.bind();
    startParser("a", { work, results: writer.endpoints.bind, bus: writer.endpoints.bus });
    const stats = await withDeadline(
      tasks.run((s) => collector.collect([input], s)),
      WAIT_MS,
      "three batches",
    );
    expect(collector.batches).toBe(3);
    expect(stats?.done).toMatchObject({ stored: 3000, duplicates: 0 });
    // 3,000 lines at 10,000 a second: the last chunk is due 0.3 s after the first.
    expect(stats?.seconds).toBeGreaterThanOrEqual(0.29);
    // The batches' names in the order they ran (from the collector's views): the last two are kept,
    // also when two of them started in the same second.
    const names = new Map<number, string>();
    for (const v of collectorViews) {
      const m = /^batch (\d) of 3 \(([^)]+)\)/.exec(v.title);
      if (m) names.set(Number(m[1]), m[2] as string);
    }
    expect(names.get(3)).toBe(stats?.batch);
    const batches = new Set(readdirSync(outDir).map((f) => f.replace(/-\d{4}\.ndjson$/, "")));
    expect(batches).toEqual(new Set([`events-${names.get(2)}`, `events-${names.get(3)}`]));
    expect(storedSeqs(outDir)).toHaveLength(3000 * 2);
    expect(collectorViews.some((v) => String(v.summary).startsWith("last batch done: 3,000 lines"))).toBe(true);
    expect(writerViews.some((v) => v.rows?.some((r) => r[0] === "a"))).toBe(true);
  });

  it("keeps memory flat under a stalled writer: reading stops at the window, and resumes on ACK", async () => {
    const input = sampleFile(tmp.dir, 50_000, 2);
    // A writer that answers START and then stalls: it never reads results and never acknowledges.
    const writerPull = jar.add(new Pull());
    await writerPull.bind(ANY_LOOPBACK_TCP);
    const bus = jar.add(new Publisher());
    await bus.bind(ANY_LOOPBACK_TCP);
    const { collector, work } = await startCollector({ bind: writerPull.lastEndpoint as string, bus: bus.lastEndpoint as string }, 0);
    // A parser that takes nothing either: whatever the pipes hold is all that can leave.
    const sink = jar.add(new Pull({ receiveHighWaterMark: 2 }));
    sink.connect(work);
    void tasks.run((s) => collector.collect([input], s));
    const start = decodeWriterMessage(await withDeadline(writerPull.receive(), WAIT_MS, "START"));
    if (start.kind !== "start") throw new Error("START expected");
    const batch = start.header.batch;
    const readyUntilStarted = setInterval(() => void bus.send(encode("READY", { batch, workers: 0 })), 50);
    try {
      await waitUntil(() => collector.windowFull, { timeoutMs: WAIT_MS, what: "the window to fill" });
    } finally {
      clearInterval(readyUntilStarted);
    }
    expect(collector.unackedLines).toBeLessThanOrEqual(5000);
    expect(collector.chunksSent).toBe(10);
    // The writer acknowledges the first 2,000 lines: the collector forgets them and reads on.
    await bus.send(encode("ACK", { batch, watermark: 2000, stored: 2000 }));
    await waitUntil(() => collector.chunksSent === 14 && collector.windowFull, { timeoutMs: WAIT_MS, what: "four more chunks" });
    expect(collector.unackedLines).toBe(5000);
  });

  it("drops and counts malformed messages at the writer and the parser, and carries on", async () => {
    const input = sampleFile(tmp.dir, 3000, 4);
    const outDir = join(tmp.dir, "out-3");
    const { writer } = await startWriter(outDir);
    const { collector, work } = await startCollector(writer.endpoints, 1);
    const p = startParser("p", { work, results: writer.endpoints.bind, bus: writer.endpoints.bus });
    const rogue = jar.add(new Push());
    rogue.connect(writer.endpoints.bind);
    await rogue.send(["EVENTS", "not msgpack", "x\n"]);
    await rogue.send(["NONSENSE"]);
    await waitUntil(() => writer.malformed === 2, { timeoutMs: WAIT_MS, what: "two malformed messages at the writer" });
    const stats = await withDeadline(
      tasks.run((s) => collector.collect([input], s)),
      WAIT_MS,
      "the batch",
    );
    expect(stats?.done.stored).toBe(3000);
    expect(await p.stopped).toBe("killed");
  });
});

describe("loss and recovery", () => {
  it("a parser that vanishes with chunks in hand loses nothing: the writer asks again, duplicates are dropped", async () => {
    const input = sampleFile(tmp.dir, 10_000, 5);
    const outDir = join(tmp.dir, "out-4");
    const { writer } = await startWriter(outDir, 300);
    const { collector, work } = await startCollector(writer.endpoints, 2);
    const good = startParser("good", { work, results: writer.endpoints.bind, bus: writer.endpoints.bus });
    // A black hole that says HELLO, takes chunks and is then closed without a word: a crashed parser.
    const hole = jar.add(new Pull({ receiveHighWaterMark: 2 }));
    hole.connect(work);
    const hello = jar.add(new Push());
    hello.connect(writer.endpoints.bind);
    await hello.send(encode("HELLO", { worker: "doomed" }));
    const batch = tasks.run((s) => collector.collect([input], s));
    await withDeadline(hole.receive(), WAIT_MS, "a chunk at the doomed parser");
    hole.close();
    const stats = await withDeadline(batch, WAIT_MS, "the batch");
    expect(stats?.done.stored).toBe(10_000);
    expect(stats?.chunksResent).toBeGreaterThan(0);
    expect(stats?.done.resends).toBeGreaterThan(0);
    expect(exactlyOnce(storedSeqs(outDir), 10_000)).toEqual({ missing: 0, duplicates: 0 });
    expect(await good.stopped).toBe("killed");
  });
});

describe("hostile peers on the sockets that connect", () => {
  /** Header frames a hostile peer might send: wrong types, 64-bit and huge numbers, paths, garbage. */
  const hostile = (cmd: string, fields: Record<string, unknown>[]) => [
    [cmd],
    [cmd, "not msgpack"],
    [cmd, Buffer.from([0xc1])],
    [cmd, Buffer.from("81a176cfffffffffffffffff", "hex")],
    [cmd, Buffer.concat([Buffer.alloc(100, 0x91), Buffer.from([0xc0])])],
    [`${cmd}X`, pack({ v: 1 })],
    ...fields.map((f) => [cmd, pack({ v: 1, ...f }), "x\n"]),
    ...fields.map((f) => [cmd, pack({ v: 1, ...f })]),
  ];

  it("a parser drops and counts what a rogue collector and bus send, then parses and obeys KILL", async () => {
    const work = jar.add(new Push());
    await work.bind(ANY_LOOPBACK_TCP);
    const results = jar.add(new Pull());
    await results.bind(ANY_LOOPBACK_TCP);
    const bus = jar.add(new Publisher());
    await bus.bind(ANY_LOOPBACK_TCP);
    const { parser, stopped } = startParser("p", {
      work: work.lastEndpoint as string,
      results: results.lastEndpoint as string,
      bus: bus.lastEndpoint as string,
    });
    const hello = decodeWriterMessage(await withDeadline(results.receive(), WAIT_MS, "HELLO"));
    expect(hello).toEqual({ kind: "hello", header: { worker: "p" } });
    const bad = hostile("LINES", [
      { batch: "b", first: 0, count: 2 ** 40 },
      { batch: "b", first: 2 ** 53 + 2, count: 1 },
      { batch: "../../x", first: 0, count: 1 },
      { batch: "b", first: -1, count: 1 },
      { batch: "b", first: 0, count: 3 },
    ]);
    for (const frames of bad) await work.send(frames);
    await work.send(encode("LINES", { batch: "b", first: 7, count: 1 }, Buffer.from("user=alice from 10.0.0.1\n")));
    let events = decodeWriterMessage(await withDeadline(results.receive(), WAIT_MS, "EVENTS"));
    while (events.kind === "hello") events = decodeWriterMessage(await withDeadline(results.receive(), WAIT_MS, "EVENTS"));
    expect(events).toMatchObject({ kind: "events", header: { batch: "b", first: 7, count: 1, worker: "p", raw: false } });
    expect(parser.malformed).toBe(bad.length);
    // The bus: garbage under the KILL topic, then KILL, repeated until the parser has joined the
    // bus and stops: it has then been through the garbage published before that KILL.
    const burst = [...hostile("KILL", [{ v: 2 ** 40 }]), encode("KILL", {})];
    const publish = setInterval(
      () =>
        void (async () => {
          for (const frames of burst) await bus.send(frames);
        })().catch(() => {}),
      50,
    );
    try {
      expect(await withDeadline(stopped, WAIT_MS, "KILL")).toBe("killed");
    } finally {
      clearInterval(publish);
    }
    expect(parser.malformed).toBeGreaterThanOrEqual(bad.length + burst.length - 1);
  });

  it("the writer counts at most MAX_WORKERS parser names, whatever names a peer invents", async () => {
    const { writer } = await startWriter(join(tmp.dir, "out-names"));
    const rogue = jar.add(new Push());
    rogue.connect(writer.endpoints.bind);
    for (let i = 0; i < MAX_WORKERS + 50; i++) await rogue.send(encode("HELLO", { worker: `w${i}` }));
    await waitUntil(() => writer.loop.received === MAX_WORKERS + 50, { timeoutMs: WAIT_MS, what: "every HELLO" });
    expect(writer.parsers).toBe(MAX_WORKERS);
  });

  it("the collector drops and counts what a rogue writer publishes, and finishes on a valid DONE", async () => {
    const input = sampleFile(tmp.dir, 1000, 6);
    const writerPull = jar.add(new Pull());
    await writerPull.bind(ANY_LOOPBACK_TCP);
    const bus = jar.add(new Publisher());
    await bus.bind(ANY_LOOPBACK_TCP);
    const { collector, work } = await startCollector({ bind: writerPull.lastEndpoint as string, bus: bus.lastEndpoint as string }, 0);
    const sink = jar.add(new Pull());
    sink.connect(work);
    const batchDone = tasks.run((s) => collector.collect([input], s));
    const start = decodeWriterMessage(await withDeadline(writerPull.receive(), WAIT_MS, "START"));
    if (start.kind !== "start") throw new Error("START expected");
    const batch = start.header.batch;
    const garbage = [
      ...hostile("READY", [
        { batch, workers: 1e308 },
        { batch: "../x", workers: 1 },
      ]),
      ...hostile("ACK", [{ batch, watermark: 2 ** 40, stored: 0 }]),
      ...hostile("MISSING", [
        { batch, ranges: Array.from({ length: 300 }, () => [0, 1]) },
        { batch, ranges: [[0, -1]] },
      ]),
      ...hostile("DONE", [{ batch, stored: 1000, duplicates: 0, unparsed: 0, resends: 0, seconds: 1, files: ["x".repeat(5000)] }]),
    ];
    // The SUB may join after the first messages: publish until READY (valid) starts the batch.
    await waitUntil(
      async () => {
        for (const frames of garbage) await bus.send(frames);
        await bus.send(encode("READY", { batch, workers: 0 }));
        return collector.chunksSent > 0;
      },
      { timeoutMs: WAIT_MS, what: "the batch to start" },
    );
    expect(collector.malformed).toBeGreaterThanOrEqual(garbage.length - 6);
    for (let i = 0; i < 2; i++) await withDeadline(sink.receive(), WAIT_MS, "the chunks");
    const done = { batch, stored: 1000, duplicates: 0, unparsed: 0, resends: 0, seconds: 0.5, files: [] };
    const stats = await withDeadline(
      (async () => {
        const t = setInterval(() => void bus.send(encode("DONE", done)).catch(() => {}), 50);
        try {
          return await batchDone;
        } finally {
          clearInterval(t);
        }
      })(),
      WAIT_MS,
      "the batch",
    );
    expect(stats?.done).toEqual(done);
  });
});
