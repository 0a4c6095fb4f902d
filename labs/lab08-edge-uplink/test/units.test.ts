import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack } from "msgpackr";
import { afterAll, describe, expect, it } from "vitest";
import { CircuitBreaker } from "../internal/breaker.ts";
import { Outbox } from "../internal/outbox.ts";
import {
  decodeAck,
  decodeReading,
  encodeAck,
  encodeReading,
  HEARTBEAT,
  isEnvelope,
  READY,
  type Reading,
  workerCommand,
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

describe("6/PPP frames", () => {
  it("READY is 0x01, HEARTBEAT 0x02, anything else one-frame is invalid", () => {
    expect([...READY]).toEqual([1]);
    expect([...HEARTBEAT]).toEqual([2]);
    expect(workerCommand(READY)).toEqual({ kind: "ready" });
    expect(workerCommand(HEARTBEAT)).toEqual({ kind: "heartbeat" });
    expect(workerCommand(Buffer.from([3]))).toEqual({ kind: "invalid", reason: "unknown one-frame command 0x03" });
    expect(workerCommand(Buffer.from("READY"))).toMatchObject({ kind: "invalid" });
  });

  it("an envelope is [identity, empty delimiter, body]", () => {
    expect(isEnvelope([Buffer.from("id"), Buffer.alloc(0), Buffer.from("b")])).toBe(true);
    expect(isEnvelope([Buffer.from("id"), Buffer.from("x"), Buffer.from("b")])).toBe(false);
    expect(isEnvelope([Buffer.alloc(0), Buffer.alloc(0), Buffer.from("b")])).toBe(false);
    expect(isEnvelope([Buffer.from("id"), Buffer.from("b")])).toBe(false);
  });
});

describe("readings and acks", () => {
  it("round-trip and reject what is malformed", () => {
    expect(decodeReading(encodeReading(reading(3)))).toEqual({ ok: true, value: reading(3) });
    expect(decodeReading(Buffer.from([0xc1, 0]))).toEqual({ ok: false, reason: "reading is not a MessagePack map" });
    expect(decodeReading(pack({ ...reading(1), seq: 0 }))).toEqual({ ok: false, reason: "bad seq" });
    expect(decodeReading(pack({ ...reading(1), device: "a.b" }))).toEqual({ ok: false, reason: "bad device" });
    expect(decodeReading(pack({ ...reading(1), value: "hot" }))).toEqual({ ok: false, reason: "bad takenAt or value" });
    const ack = { v: 1, device: "dev-1", seq: 3, status: "stored", worker: "w" } as const;
    expect(decodeAck(encodeAck(ack))).toEqual({ ok: true, value: ack });
    expect(decodeAck(pack({ ...ack, status: "maybe" }))).toEqual({ ok: false, reason: "bad status" });
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
});
