// Hostile peers against the real storage-writer process, the one role of the lab that binds a
// socket a peer can send to: its PULL, and its PUB (which takes subscriptions). The collector's
// bound PUSH takes only PULL peers, which cannot send (libzmq refuses other types at the handshake).
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fuzzRole, ProcessPool, type RoleProcess, SocketJar, withDeadline } from "@zlabs/kit/testing";
import { pack } from "msgpackr";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Push, Subscriber } from "zeromq";
import { BUS_SUBSCRIPTION_MAX_BYTES, decodeCollectorBus, EVENTS_MAX_MESSAGE_BYTES, encodeMessage } from "../internal/protocol.ts";
import { scratch } from "./fixtures.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const procs = new ProcessPool();
const jar = new SocketJar();
const tmp = scratch();
afterEach(async () => {
  jar.closeAll();
  await procs.stopAll();
});
afterAll(tmp.remove);

interface Writer {
  process: RoleProcess;
  /** PULL (START, HELLO, EVENTS) and PUB (READY, ACK, MISSING, DONE, KILL). */
  bind: string;
  bus: string;
  outDir: string;
}

/** A writer that keeps serving batch after batch, in a folder of its own inside `parent`. */
async function startWriter(parent: string): Promise<Writer> {
  const outDir = join(parent, "out");
  mkdirSync(parent, { recursive: true });
  const process = procs.start({
    labDir,
    cmd: "cmd/storage-writer.ts",
    name: "storage-writer",
    args: ["--bind", "tcp://127.0.0.1:*", "--bus", "tcp://127.0.0.1:*", "--out", outDir, "--no-kill"],
  });
  const { pull, bus } = (await process.waitForLog("listening", WAIT_MS)) as { pull?: string; bus?: string };
  if (!pull || !bus) throw new Error("the writer logged no endpoints");
  return { process, bind: pull, bus, outDir };
}

/** A peer that speaks to the writer as a collector and a parser would. */
async function peer(writer: Writer) {
  const push = jar.add(new Push({ sendTimeout: WAIT_MS }));
  push.connect(writer.bind);
  const sub = jar.add(new Subscriber({ receiveTimeout: WAIT_MS }));
  sub.connect(writer.bus);
  sub.subscribe("READY", "DONE");
  /** The next READY or DONE for this batch from the bus. */
  const next = async (kind: "ready" | "done", batch: string) => {
    for (;;) {
      const message = decodeCollectorBus(await withDeadline(sub.receive(), WAIT_MS, `${kind} for ${batch}`));
      if (message.kind === kind && message.header.batch === batch) return message.header;
    }
  };
  return { push, next };
}

/**
 * A whole valid batch of two lines, START to DONE, as a collector and a parser would send it: the
 * writer still serves. START is repeated until READY, since a SUB may join after the first one.
 */
async function validBatch(writer: Writer, batch: string): Promise<void> {
  const { push, next } = await peer(writer);
  const start = encodeMessage("START", { batch, expected: 2, source: "probe", parsers: 0 });
  const ready = next("ready", batch);
  const repeat = setInterval(() => void push.send(start).catch(() => {}), 200);
  try {
    await push.send(start);
    await ready;
  } finally {
    clearInterval(repeat);
  }
  const done = next("done", batch);
  await push.send(encodeMessage("EVENTS", { batch, first: 0, count: 2, worker: "probe", unparsed: 0, raw: true }, Buffer.from("a\nb\n")));
  expect(await done).toMatchObject({ batch, stored: 2 });
}

describe("the storage writer against hostile peers", () => {
  it("refuses a START whose expected count is 2**40 (as a float), and serves the next batch", async () => {
    const writer = await startWriter(join(tmp.dir, "huge"));
    const { push } = await peer(writer);
    const from = writer.process.logs.length;
    // msgpackr sends 2**40 as a float64, as Python's msgpack would send 2**40 as uint64.
    await push.send(encodeMessage("START", { batch: "huge", expected: 2 ** 40, source: "x", parsers: 0 }));
    await writer.process.waitForLog("malformed message dropped", WAIT_MS, from);
    await validBatch(writer, "after-huge");
    expect(writer.process.running).toBe(true);
  });

  it("refuses a START whose batch name holds ../ segments: no file is made outside --out", async () => {
    const parent = join(tmp.dir, "escape", "inner");
    const writer = await startWriter(parent);
    const { push } = await peer(writer);
    for (const batch of ["../../escaped", "../escaped", "a/../../b", ".."]) {
      const from = writer.process.logs.length;
      await push.send(encodeMessage("START", { batch, expected: 1, source: "x", parsers: 0 }));
      await push.send(encodeMessage("EVENTS", { batch, first: 0, count: 1, worker: "w", unparsed: 0, raw: true }, Buffer.from("x\n")));
      await writer.process.waitForLog("malformed message dropped", WAIT_MS, from);
    }
    // A batch after them, on the same connection: once it is done, the writer has been through them all.
    await validBatch(writer, "after-escape");
    expect(readdirSync(join(tmp.dir, "escape"))).toEqual(["inner"]);
    expect(readdirSync(parent)).toEqual(["out"]);
    expect(readdirSync(writer.outDir)).toEqual(["events-after-escape-0001.ndjson"]);
  });

  it("passes the kit's fuzz of its PULL socket and still stores a batch", async () => {
    const parent = join(tmp.dir, "fuzz");
    const writer = await startWriter(parent);
    const report = await fuzzRole(writer.process, {
      endpoint: writer.bind,
      peer: "push",
      words: ["HELLO", "START", "EVENTS", pack({ v: 1, batch: "fz", expected: 5, source: "f", parsers: 0 })],
      fields: ["v", "batch", "expected", "source", "parsers", "first", "count", "worker", "unparsed", "raw"],
      maxMessageBytes: EVENTS_MAX_MESSAGE_BYTES,
      maxRssMiB: 400,
      probe: () => validBatch(writer, "after-fuzz"),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(writer.process.find("malformed message dropped").length).toBeGreaterThan(100);
    expect(readdirSync(parent)).toEqual(["out"]);
  });

  it("passes the kit's fuzz of its PUB socket (an XSUB peer sending subscriptions and garbage) and still stores a batch", async () => {
    const writer = await startWriter(join(tmp.dir, "fuzz-bus"));
    const report = await fuzzRole(writer.process, {
      endpoint: writer.bus,
      peer: "xsub",
      words: ["\u0001READY", "\u0001ACK", "\u0000KILL", "\u0001"],
      maxMessageBytes: BUS_SUBSCRIPTION_MAX_BYTES,
      maxRssMiB: 400,
      probe: () => validBatch(writer, "after-bus-fuzz"),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
  });
});
