import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "@zlabs/kit";
import { pack } from "msgpackr";
import { afterAll, describe, expect, it } from "vitest";
import { CircuitBreaker } from "../internal/breaker.ts";
import { deviceConfig, deviceOptions, LAB, LAB_STORE, workerConfig, workerOptions } from "../internal/config.ts";
import { Outbox } from "../internal/outbox.ts";
import {
  decodeAck,
  decodeReading,
  encodeAck,
  encodeReading,
  fromDevice,
  fromQueue,
  fromReceiver,
  fromWorker,
  HEARTBEAT,
  READY,
  type Reading,
} from "../internal/protocol.ts";
import { ReadingStore } from "../internal/store.ts";

const dir = mkdtempSync(join(tmpdir(), "lab08-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const reading = (seq: number, device = "dev-1"): Reading => ({
  v: 1,
  device,
  seq,
  takenAt: 1,
  sensor: "temperature",
  value: 21.5,
  unit: "C",
});

describe("6/PPP frames, one decoder per socket", () => {
  const id = Buffer.from("w-1");
  const client = Buffer.from("client-7");
  const empty = Buffer.alloc(0);

  it("the queue's back end: READY is 0x01, HEARTBEAT 0x02, a reply comes in its envelope; anything else is invalid", () => {
    expect([...READY]).toEqual([1]);
    expect([...HEARTBEAT]).toEqual([2]);
    expect(fromWorker([id, READY])).toEqual({ kind: "ready", worker: id });
    expect(fromWorker([id, HEARTBEAT])).toEqual({ kind: "heartbeat", worker: id });
    expect(fromWorker([id, Buffer.from([3])])).toEqual({ kind: "invalid", worker: id, reason: "unknown one-frame command 0x03" });
    expect(fromWorker([id, Buffer.from("READY")])).toMatchObject({ kind: "invalid" });
    expect(fromWorker([id, client, empty, Buffer.from("ack")])).toEqual({ kind: "reply", worker: id, client, body: Buffer.from("ack") });
    expect(fromWorker([id, client, Buffer.from("x"), Buffer.from("ack")])).toMatchObject({ kind: "invalid" });
    expect(fromWorker([id, client, empty, empty])).toMatchObject({ kind: "invalid" });
    expect(fromWorker([id])).toMatchObject({ kind: "invalid" });
  });

  it("the queue's front end: one body in a REQ envelope", () => {
    expect(fromDevice([client, empty, Buffer.from("b")])).toEqual({ kind: "request", client, body: Buffer.from("b") });
    expect(fromDevice([client, Buffer.from("x"), Buffer.from("b")])).toMatchObject({ kind: "invalid" });
    expect(fromDevice([empty, empty, Buffer.from("b")])).toMatchObject({ kind: "invalid" });
    expect(fromDevice([client, Buffer.from("b")])).toMatchObject({ kind: "invalid" });
    expect(fromDevice([client, empty, empty])).toMatchObject({ kind: "invalid" });
  });

  it("a worker's socket: a heartbeat, a request, a request it cannot use (which still needs an answer), or invalid", () => {
    expect(fromQueue([HEARTBEAT])).toEqual({ kind: "heartbeat" });
    expect(fromQueue([READY])).toMatchObject({ kind: "invalid" });
    expect(fromQueue([client, empty, encodeReading(reading(2))])).toEqual({ kind: "request", client, reading: reading(2) });
    expect(fromQueue([client, empty, Buffer.from("junk")])).toMatchObject({ kind: "bad-request", client });
    expect(fromQueue([client, Buffer.from("x"), encodeReading(reading(2))])).toMatchObject({ kind: "invalid" });
  });

  it("a device's socket: the ack of the reading it sent, nothing else", () => {
    const ack = { v: 1, device: "dev-1", seq: 3, status: "stored", worker: "w" } as const;
    expect(fromReceiver([encodeAck(ack)], reading(3))).toEqual({ kind: "ack", ack });
    expect(fromReceiver([encodeAck(ack)], reading(4))).toEqual({ kind: "invalid", reason: "ack for another reading" });
    expect(fromReceiver([encodeAck(ack), empty], reading(3))).toMatchObject({ kind: "invalid" });
  });
});

describe("readings and acks", () => {
  it("round-trip and reject what is malformed", () => {
    expect(decodeReading(encodeReading(reading(3)))).toEqual({ ok: true, value: reading(3) });
    expect(decodeReading(Buffer.from([0x93, 1, 2, 3]))).toEqual({ ok: false, reason: "reading is not a MessagePack map" });
    expect(decodeReading(Buffer.from([0xc1, 0]))).toMatchObject({ ok: false });
    expect(decodeReading(pack({ ...reading(1), seq: 0 }))).toEqual({ ok: false, reason: "bad seq" });
    expect(decodeReading(pack({ ...reading(1), device: "a.b" }))).toEqual({ ok: false, reason: "bad device" });
    expect(decodeReading(pack({ ...reading(1), value: "hot" }))).toEqual({ ok: false, reason: "bad value" });
    expect(decodeReading(pack({ ...reading(1), value: Number.NaN }))).toEqual({ ok: false, reason: "bad value" });
    expect(decodeReading(pack({ ...reading(1), takenAt: -1 }))).toEqual({ ok: false, reason: "bad takenAt" });
    expect(decodeReading(pack({ ...reading(1), unit: "x".repeat(65) }))).toEqual({ ok: false, reason: "bad sensor or unit" });
    const ack = { v: 1, device: "dev-1", seq: 3, status: "stored", worker: "w" } as const;
    expect(decodeAck(encodeAck(ack))).toEqual({ ok: true, value: ack });
    expect(decodeAck(pack({ ...ack, status: "maybe" }))).toEqual({ ok: false, reason: "bad status" });
  });
});

describe("numbers as other languages send them", () => {
  // msgpackr packs a BigInt as uint64, as Python's msgpack packs any int of 2**32 or more (a ms timestamp).
  it("accepts takenAt and seq as uint64, and keeps only the reading's own fields", () => {
    const now = Date.now();
    const decoded = decodeReading(pack({ ...reading(1), seq: 2n ** 32n + 5n, takenAt: BigInt(now), batch: 2n ** 40n }));
    expect(decoded).toEqual({ ok: true, value: { ...reading(1), seq: 2 ** 32 + 5, takenAt: now } });
  });

  it("refuses an integer past 2**53 anywhere in a reading, rather than hand on a BigInt", () => {
    expect(decodeReading(pack({ ...reading(1), takenAt: 2n ** 63n })).ok).toBe(false);
    expect(decodeReading(pack({ ...reading(1), extra: 2n ** 64n - 1n })).ok).toBe(false);
  });
});

describe("the circuit breaker", () => {
  it("opens after the threshold, half-opens after the cool-down, closes on a success", () => {
    const b = new CircuitBreaker(3, 1000);
    expect(b.failure(0)).toBe(false);
    expect(b.failure(10)).toBe(false);
    expect(b.state(10)).toBe("closed");
    expect(b.failure(20)).toBe(true);
    expect(b.state(500)).toBe("open");
    expect(b.allows(500)).toBe(false);
    expect(b.state(1020)).toBe("half-open");
    expect(b.failure(1030)).toBe(true); // the probe failed: open again, for a full cool-down
    expect(b.state(1500)).toBe("open");
    expect(b.state(2030)).toBe("half-open");
    b.success();
    expect(b.state(2040)).toBe("closed");
    expect(b.failure(2050)).toBe(false);
  });

  it("tells how long until a probe may go, and whether a success closed it (for the view and the log)", () => {
    const b = new CircuitBreaker(1, 1000);
    expect(b.probeIn(0)).toBe(0);
    expect(b.success()).toBe(false);
    b.failure(100);
    expect(b.probeIn(400)).toBe(700);
    expect(b.probeIn(1100)).toBe(0); // half-open
    expect(b.success()).toBe(true);
    expect(b.success()).toBe(false);
  });
});

describe("the device's outbox", () => {
  it("numbers readings, keeps them on disk in order across restarts, and forgets delivered ones", () => {
    const path = join(dir, "outbox-1");
    const a = new Outbox(path, 10);
    for (let i = 0; i < 3; i++) a.add((seq) => reading(seq));
    a.remove(1);
    const b = new Outbox(path, 10);
    expect(b.size).toBe(2);
    expect(b.oldest()?.seq).toBe(2);
    expect(b.add((seq) => reading(seq)).seq).toBe(4);
    b.remove(2);
    b.remove(3);
    b.remove(4);
    expect(new Outbox(path, 10).add((seq) => reading(seq)).seq).toBe(5);
  });

  it("is bounded: past its capacity the oldest reading goes, and is counted", () => {
    const box = new Outbox(join(dir, "outbox-2"), 3);
    for (let i = 0; i < 5; i++) box.add((seq) => reading(seq));
    expect(box.size).toBe(3);
    expect(box.dropped).toBe(2);
    expect(box.oldest()?.seq).toBe(3);
  });

  it("removes a write the device crashed in (a .tmp) when it starts, and keeps its readings", () => {
    const path = join(dir, "outbox-3");
    new Outbox(path, 10).add((seq) => reading(seq));
    writeFileSync(join(path, "2.reading.tmp"), "half a reading");
    const box = new Outbox(path, 10);
    expect(readdirSync(path).sort()).toEqual(["1.reading", "next-seq"]);
    expect(box.oldest()?.seq).toBe(1);
    expect(box.add((seq) => reading(seq)).seq).toBe(2);
  });
});

describe("the readings store", () => {
  it("stores a reading once; a retry, from any worker, is a duplicate", () => {
    const store = new ReadingStore(join(dir, "store"));
    expect(store.put(reading(1), "w1")).toBe("stored");
    expect(store.put(reading(1), "w2")).toBe("duplicate");
    expect(store.put(reading(2), "w2")).toBe("stored");
    expect(store.seqs("dev-1")).toEqual([1, 2]);
    expect(readdirSync(join(dir, "store", "dev-1")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("keeps the last `keep` readings per device: storing seq N deletes N - keep; a retry of a kept one is still a duplicate", () => {
    const store = new ReadingStore(join(dir, "store-keep"), 3);
    for (let seq = 1; seq <= 5; seq++) store.put(reading(seq), "w");
    store.put(reading(1, "dev-2"), "w");
    expect(store.seqs("dev-1")).toEqual([3, 4, 5]);
    expect(store.seqs("dev-2")).toEqual([1]);
    expect(store.put(reading(5), "w")).toBe("duplicate");
    expect(store.put(reading(3), "w")).toBe("duplicate");
    expect(store.seqs("dev-1")).toEqual([3, 4, 5]);
  });

  it("sweep: trims what an older run left (a larger keep, gaps) and crashed writes' stale temporary files, not fresh ones", () => {
    const root = join(dir, "store-sweep");
    const big = new ReadingStore(root);
    for (const seq of [1, 2, 4, 7, 8, 9, 10]) big.put(reading(seq), "w");
    mkdirSync(join(root, "dev-1"), { recursive: true });
    const stale = join(root, "dev-1", ".11.123.abc.tmp");
    writeFileSync(stale, "crashed");
    utimesSync(stale, new Date(0), new Date(0));
    writeFileSync(join(root, "dev-1", ".12.123.def.tmp"), "being written");
    const store = new ReadingStore(root, 3);
    expect(store.sweep()).toBe(5); // 1, 2, 4, 7 and the stale .tmp
    expect(store.seqs("dev-1")).toEqual([8, 9, 10]);
    expect(readdirSync(join(root, "dev-1")).filter((f) => f.endsWith(".tmp"))).toEqual([".12.123.def.tmp"]);
    expect(new ReadingStore(root, 0).sweep()).toBe(0); // keep 0: keeps every reading
    expect(new ReadingStore(join(dir, "no-store-yet"), 3).sweep()).toBe(0);
  });
});

describe("where the demo's data goes", () => {
  const worker = (...argv: string[]) =>
    workerConfig(parseConfig({ lab: LAB, role: "ingest-worker", describe: "", options: workerOptions }, argv));
  const device = (...argv: string[]) =>
    deviceConfig(parseConfig({ lab: LAB, role: "field-device", describe: "", options: deviceOptions }, ["--id", "d", ...argv]));
  const userCwd = process.env.ZLABS_USER_CWD;
  afterAll(() => {
    if (userCwd === undefined) delete process.env.ZLABS_USER_CWD;
    else process.env.ZLABS_USER_CWD = userCwd;
  });

  it("by default in the lab's .store (what the manifest's data lists), whatever the current directory", () => {
    const lab = fileURLToPath(new URL("..", import.meta.url));
    expect(LAB_STORE).toBe(join(lab, ".store"));
    expect(worker()).toMatchObject({ storeDir: join(lab, ".store", "readings"), keep: 1000 });
    expect(device().outboxDir).toBe(join(lab, ".store", "outbox", "d"));
  });

  it("a --store or --outbox the user gives resolves against the directory the user ran the command in", () => {
    process.env.ZLABS_USER_CWD = "/home/someone/work";
    expect(worker("--store", "data/readings", "--keep", "0")).toMatchObject({ storeDir: "/home/someone/work/data/readings", keep: 0 });
    expect(device("--outbox", "./box").outboxDir).toBe("/home/someone/work/box");
    expect(device("--outbox", "/abs/box").outboxDir).toBe("/abs/box");
  });
});
