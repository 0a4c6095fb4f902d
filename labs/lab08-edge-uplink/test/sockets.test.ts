// The receiver in-process over real sockets, with raw peers that misbehave.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANY_LOOPBACK_TCP, SocketJar, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { pack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { Dealer, Request, Router } from "zeromq";
import { CentralReceiver } from "../internal/central-receiver.ts";
import { IngestWorker } from "../internal/ingest-worker.ts";
import { decodeAck, encodeAck, encodeReading, HEARTBEAT, READY, type Reading } from "../internal/protocol.ts";
import { ReadingStore } from "../internal/store.ts";
import { shortEndpoint } from "../internal/view.ts";

const log = testLogger("lab08");
const WAIT_MS = 10_000;
const jar = new SocketJar();
const tasks = new Tasks();
const dirs: string[] = [];
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Liveness 100 (5 s) unless a test is about purging: a raw worker only answers heartbeats, and one
 * purged during a stall of this process (timers run before the socket is read) is never heartbeaten again. */
async function startReceiver(heartbeatMs = 50, liveness = 100) {
  const receiver = new CentralReceiver({ front: ANY_LOOPBACK_TCP, back: ANY_LOOPBACK_TCP, heartbeatMs, liveness }, log);
  await receiver.bind();
  void tasks.run((s) => receiver.run(s));
  return receiver;
}

/** A raw worker: says READY, then records every message that is not a heartbeat. */
async function rawWorker(back: string, heartbeat: boolean, routingId?: string) {
  const dealer = jar.add(new Dealer(routingId ? { routingId } : {}));
  dealer.connect(back);
  await dealer.send(READY);
  const requests: Buffer[][] = [];
  let heartbeats = 0;
  void (async () => {
    try {
      for await (const frames of dealer) {
        if (frames.length === 1 && frames[0]?.equals(HEARTBEAT)) {
          heartbeats += 1;
          if (heartbeat) await dealer.send(HEARTBEAT);
        } else requests.push(frames);
      }
    } catch {
      // closed by the test
    }
  })();
  return { dealer, requests, heartbeats: () => heartbeats };
}

const reading: Reading = { v: 1, device: "dev", seq: 1, takenAt: 0, sensor: "t", value: 1, unit: "C" };

/** The receiver's view table as plain text. */
const rowsOf = (r: CentralReceiver) =>
  (r.view().rows ?? []).map((row) => row.map((cell) => String(typeof cell === "object" ? cell.text : cell)));

describe("the Paranoid Pirate queue", () => {
  it("routes a device's request to an idle worker and the reply back, envelope intact", async () => {
    const r = await startReceiver();
    const w = await rawWorker(r.endpoints.back, true);
    await waitUntil(() => r.idleWorkers.length === 1, { timeoutMs: WAIT_MS, what: "the worker listed" });
    const req = jar.add(new Request({ receiveTimeout: WAIT_MS }));
    req.connect(r.endpoints.front);
    await req.send(encodeReading(reading));
    await waitUntil(() => w.requests.length === 1, { timeoutMs: WAIT_MS, what: "the request at the worker" });
    const [client, empty, body] = w.requests[0] as Buffer[];
    expect(empty?.length).toBe(0);
    expect(body?.equals(encodeReading(reading))).toBe(true);
    const ack = encodeAck({ v: 1, device: "dev", seq: 1, status: "stored", worker: "raw" });
    await w.dealer.send([client as Buffer, Buffer.alloc(0), ack]);
    const [reply] = await withDeadline(req.receive(), WAIT_MS, "the reply");
    expect(reply?.equals(ack)).toBe(true);
  });

  it("its view: the LRU line in order, a busy worker out of it, readings answered per worker, identities as text", async () => {
    // Heartbeats every 10 s: no heartbeat reorders the line during the test.
    const r = await startReceiver(10_000, 3);
    const a = await rawWorker(r.endpoints.back, true, "worker-a");
    await waitUntil(() => r.idleWorkers.length === 1, { timeoutMs: WAIT_MS, what: "worker-a listed" });
    await rawWorker(r.endpoints.back, true, "worker-b");
    await waitUntil(() => r.idleWorkers.length === 2, { timeoutMs: WAIT_MS, what: "worker-b listed" });
    expect(rowsOf(r).map((row) => row.slice(0, 3))).toEqual([
      ["worker-a", "idle · next in line", "0"],
      ["worker-b", "idle · 2nd in line", "0"],
    ]);
    const req = jar.add(new Request({ receiveTimeout: WAIT_MS }));
    req.connect(r.endpoints.front);
    await req.send(encodeReading(reading));
    await waitUntil(() => a.requests.length === 1, { timeoutMs: WAIT_MS, what: "the request at worker-a" });
    expect(rowsOf(r).map((row) => row.slice(0, 2))).toEqual([
      ["worker-b", "idle · next in line"],
      ["worker-a", expect.stringMatching(/^busy \d+\.\d s$/)],
    ]);
    const [client] = a.requests[0] as Buffer[];
    await a.dealer.send([client as Buffer, Buffer.alloc(0), encodeAck({ v: 1, device: "dev", seq: 1, status: "stored", worker: "a" })]);
    await withDeadline(req.receive(), WAIT_MS, "the reply");
    expect(rowsOf(r).map((row) => row.slice(0, 3))).toEqual([
      ["worker-b", "idle · next in line", "0"],
      ["worker-a", "idle · 2nd in line", "1"],
    ]);
    expect(r.view().title).toBe(
      `devices ${shortEndpoint(r.endpoints.front)} · workers ${shortEndpoint(r.endpoints.back)} · 2 idle, 0 busy`,
    );
    expect(r.view().summary).toMatch(/^readings routed 1 · acks back to devices 1 · /);
  });

  it("heartbeats an idle worker, purges it after liveness silent intervals, and never hands it a request", async () => {
    // Listed for 10 intervals (500 ms): time to see it listed and heartbeaten before the purge.
    const r = await startReceiver(50, 10);
    const silent = await rawWorker(r.endpoints.back, false, "silent-1");
    await waitUntil(() => r.idleWorkers.length === 1, { timeoutMs: WAIT_MS, what: "the worker listed" });
    await waitUntil(() => silent.heartbeats() >= 2, { timeoutMs: WAIT_MS, what: "heartbeats from the queue" });
    await waitUntil(() => r.idleWorkers.length === 0, { timeoutMs: WAIT_MS, what: "the silent worker purged" });
    // The view keeps it a while, as what the queue knows: expired.
    expect(rowsOf(r)).toEqual([["silent-1", expect.stringMatching(/^expired .* ago \(silent\)$/), "0", expect.any(String)]]);
    expect(r.view().title).toMatch(/0 idle, 0 busy, 1 silent or lost · no idle worker/);
    const req = jar.add(new Request({ receiveTimeout: WAIT_MS }));
    req.connect(r.endpoints.front);
    await req.send(encodeReading(reading));
    // The request waits in ZeroMQ until a live worker shows up, and goes to that one only.
    const live = await rawWorker(r.endpoints.back, true);
    await waitUntil(() => live.requests.length === 1, { timeoutMs: WAIT_MS, what: "the request at the live worker" });
    expect(silent.requests).toEqual([]);
  });

  it("logs and drops an unknown one-frame command and a malformed envelope, never forwarding them", async () => {
    const r = await startReceiver();
    const w = await rawWorker(r.endpoints.back, true);
    await waitUntil(() => r.idleWorkers.length === 1, { timeoutMs: WAIT_MS, what: "the worker listed" });
    const rogueWorker = jar.add(new Dealer());
    rogueWorker.connect(r.endpoints.back);
    await rogueWorker.send(Buffer.from([0x07]));
    await rogueWorker.send([Buffer.from("x"), Buffer.from("y")]);
    const rogueDevice = jar.add(new Dealer());
    rogueDevice.connect(r.endpoints.front);
    await rogueDevice.send(encodeReading(reading)); // no empty delimiter: not a REQ envelope
    await waitUntil(() => r.dropped === 3, { timeoutMs: WAIT_MS, what: "three messages dropped" });
    expect(r.idleWorkers).toHaveLength(1);
    const req = jar.add(new Request({ receiveTimeout: WAIT_MS }));
    req.connect(r.endpoints.front);
    await req.send(encodeReading({ ...reading, seq: 2 }));
    await waitUntil(() => w.requests.length === 1, { timeoutMs: WAIT_MS, what: "the valid request" });
    expect(w.requests[0]?.[2]?.equals(encodeReading({ ...reading, seq: 2 }))).toBe(true);
  });
});

describe("the Paranoid Pirate worker", () => {
  it("is back in rotation at once after a request it cannot parse, not at its next heartbeat", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab08-worker-"));
    dirs.push(dir);
    // Heartbeats every 10 s: only the worker's own answer to the bad request can put it back in line.
    const r = await startReceiver(10_000, 3);
    const worker = new IngestWorker(
      { id: "w", queue: r.endpoints.back, heartbeatMs: 10_000, liveness: 3, backoffInitMs: 100, backoffMaxMs: 100, delayMs: 0 },
      new ReadingStore(dir),
      log,
    );
    void tasks.run((s) => worker.run(s));
    await waitUntil(() => r.idleWorkers.length === 1, { timeoutMs: WAIT_MS, what: "the worker listed" });
    const garbage = jar.add(new Request());
    garbage.connect(r.endpoints.front);
    await garbage.send(Buffer.from("not a reading"));
    await waitUntil(() => r.loops.front.received === 1, { timeoutMs: WAIT_MS, what: "the bad request taken by the queue" });
    const req = jar.add(new Request({ receiveTimeout: WAIT_MS }));
    req.connect(r.endpoints.front);
    await req.send(encodeReading(reading));
    const [ack] = await withDeadline(req.receive(), 3000, "the ack of the next, valid, reading (well before the 10 s heartbeat)");
    expect(decodeAck(ack as Buffer)).toMatchObject({ ok: true, value: { seq: 1, status: "stored" } });
    expect(worker.dropped).toBe(1);
  });

  it("stores a reading with a 64-bit integer in an extra field, refuses one past 2**53, and keeps serving", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab08-worker-"));
    dirs.push(dir);
    const queue = jar.add(new Router());
    await queue.bind(ANY_LOOPBACK_TCP);
    const worker = new IngestWorker(
      { id: "w64", queue: queue.lastEndpoint as string, heartbeatMs: 1000, liveness: 3, backoffInitMs: 100, backoffMaxMs: 100, delayMs: 0 },
      new ReadingStore(dir),
      log,
    );
    void tasks.run((s) => worker.run(s));
    const [identity] = await withDeadline(queue.receive(), WAIT_MS, "READY");
    // msgpackr packs a BigInt as uint64, as Python's msgpack packs any int of 2**32 or more.
    const request = (body: Buffer) => queue.send([identity as Buffer, Buffer.from("client"), Buffer.alloc(0), body]);
    await request(pack({ ...reading, seq: 1, batch: 2n ** 40n }));
    await request(pack({ ...reading, seq: 2, counter: 2n ** 63n }));
    await request(encodeReading({ ...reading, seq: 3 }));
    const acks: number[] = [];
    const collect = async () => {
      while (acks.length < 2) {
        const frames = await queue.receive();
        const ack = frames.length === 4 ? decodeAck(frames[3]) : undefined;
        if (ack?.ok) acks.push(ack.value.seq);
      }
    };
    await withDeadline(collect(), WAIT_MS, "two acks");
    expect(acks).toEqual([1, 3]);
    expect(worker.dropped).toBe(1);
    const stored = new ReadingStore(dir);
    expect(stored.seqs("dev")).toEqual([1, 3]);
  });

  it("sends no heartbeat while busy with a reading, and heartbeats again once idle", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab08-worker-"));
    dirs.push(dir);
    const queue = jar.add(new Router());
    await queue.bind(ANY_LOOPBACK_TCP);
    const worker = new IngestWorker(
      {
        id: "busy",
        queue: queue.lastEndpoint as string,
        heartbeatMs: 50,
        liveness: 100,
        backoffInitMs: 50,
        backoffMaxMs: 50,
        delayMs: 500,
      },
      new ReadingStore(dir),
      log,
    );
    void tasks.run((s) => worker.run(s));
    const [identity, ready] = await withDeadline(queue.receive(), WAIT_MS, "READY");
    expect(ready?.equals(READY)).toBe(true);
    await queue.send([identity as Buffer, Buffer.from("client"), Buffer.alloc(0), encodeReading(reading)]);
    await waitUntil(() => worker.view().title.startsWith("storing a reading · "), { timeoutMs: WAIT_MS, what: "the view: storing" });
    // Everything the worker sends from now on, in order: while it works (500 ms, ten heartbeat
    // intervals) nothing, then the reply, then heartbeats.
    const next = async () => (await withDeadline(queue.receive(), WAIT_MS, "a message from the worker")).slice(1);
    let first = await next();
    let heartbeatsWhileBusy = 0;
    while (first.length === 1 && first[0]?.equals(HEARTBEAT)) {
      heartbeatsWhileBusy += 1;
      first = await next();
    }
    // One may have been on its way before the request arrived; a worker beating while busy sends ~10.
    expect(heartbeatsWhileBusy).toBeLessThanOrEqual(1);
    expect(first).toHaveLength(3);
    expect(decodeAck(first[2] as Buffer)).toMatchObject({ ok: true, value: { seq: 1, status: "stored" } });
    expect((await next())[0]?.equals(HEARTBEAT)).toBe(true);
    // Liveness drops by one every 50 ms of silence from this queue, which never beats: restored to 100 by
    // the request, it may have dropped a little by the time the view is read.
    const title = worker.view().title;
    expect(title).toMatch(/^idle, liveness \d+\/100 · :\d+ as busy-[0-9a-f]{6} · stored 1 · duplicates 0 · reconnects 0$/);
    expect(Number(/liveness (\d+)/.exec(title)?.[1])).toBeGreaterThanOrEqual(90);
  });

  it("its view counts a silent queue's liveness down, then shows the pause before it reconnects", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab08-worker-"));
    dirs.push(dir);
    const mute = jar.add(new Router());
    await mute.bind(ANY_LOOPBACK_TCP);
    const worker = new IngestWorker(
      {
        id: "w",
        queue: mute.lastEndpoint as string,
        heartbeatMs: 200,
        liveness: 3,
        backoffInitMs: 60_000,
        backoffMaxMs: 60_000,
        delayMs: 0,
      },
      new ReadingStore(dir),
      log,
    );
    void tasks.run((s) => worker.run(s));
    await waitUntil(() => /^queue silent: liveness [12]\/3 · /.test(worker.view().title), {
      timeoutMs: WAIT_MS,
      what: "liveness counting down",
    });
    await waitUntil(() => worker.view().title.startsWith("queue presumed dead: reconnecting in "), {
      timeoutMs: WAIT_MS,
      what: "the pause",
    });
    expect(worker.view().title).toMatch(/reconnecting in (59\.\d|60\.0) s \(pause 60\.0 s\) · stored 0 /);
  });
});
