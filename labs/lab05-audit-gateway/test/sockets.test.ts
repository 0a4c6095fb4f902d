// The gateway, archivists and clients in-process over real sockets.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "@zlabs/kit";
import { ANY_LOOPBACK_TCP, SocketJar, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { pack, unpack } from "msgpackr";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import { ArchivalWorker } from "../internal/archival-worker.ts";
import { Archive } from "../internal/archive.ts";
import { AuditClient } from "../internal/audit-client.ts";
import { AuditGateway } from "../internal/audit-gateway.ts";
import { encodeRecord } from "../internal/protocol.ts";

const log = testLogger("lab05");
const WAIT_MS = 30_000;
const tmp = mkdtempSync(join(tmpdir(), "lab05-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const jar = new SocketJar();
const tasks = new Tasks();
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
});

let run = 0;
async function system(options: { maxInflight?: number; delays?: number[]; clientTtlMs?: number } = {}) {
  run += 1;
  const gateway = new AuditGateway(
    {
      front: ANY_LOOPBACK_TCP,
      back: ANY_LOOPBACK_TCP,
      maxInflight: options.maxInflight ?? 1000,
      requestTtlMs: 10_000,
      clientTtlMs: options.clientTtlMs ?? 30_000,
    },
    log,
  );
  await gateway.bind();
  void tasks.run((s) => gateway.run(s));
  const archive = join(tmp, `archive-${run}`);
  const store = new Archive(archive);
  for (const [i, delayMs] of (options.delays ?? [0]).entries()) {
    const a = new ArchivalWorker({ id: `a${i}`, gateway: gateway.endpoints.back, delayMs }, store, log);
    void tasks.run((s) => a.run(s));
  }
  return { gateway, store };
}

function client(gateway: AuditGateway, id: string, records: number, inflight: number) {
  const c = new AuditClient({ id, gateway: gateway.endpoints.front, records, rate: 0, inflight, timeoutMs: 10_000 }, log);
  return { client: c, done: tasks.run((s) => c.run(s)) };
}

const record = (id: string) => encodeRecord({ v: 1, id, at: 0, actor: "u", action: "read", target: "t" });

/** A raw client, to see replies as they come. */
async function rawClient(gateway: AuditGateway) {
  const d = jar.add(new Dealer({ receiveTimeout: WAIT_MS }));
  d.connect(gateway.endpoints.front);
  return d;
}

describe("the audit gateway", () => {
  it("serves 10 concurrent clients with replies out of order: none lost, none duplicated, no cross-talk", async () => {
    const { gateway, store } = await system({ delays: [0, 3, 15] });
    const clients = Array.from({ length: 10 }, (_, i) => client(gateway, `c${i}`, 100, 20));
    const stats = await withDeadline(Promise.all(clients.map((c) => c.done)), WAIT_MS, "every client done");
    for (const s of stats) expect(s).toMatchObject({ acked: 100, duplicates: 0, errors: 0 });
    for (const [i, c] of clients.entries()) {
      expect([...c.client.acknowledged].every((id) => id.startsWith(`c${i}-`))).toBe(true);
      expect(c.client.acknowledged.size).toBe(100);
    }
    expect(store.keys()).toHaveLength(1000);
    expect(gateway.stats).toMatchObject({ acked: 1000, lost: 0, clientGone: 0 });
    // Out of order: a raw client's replies do not come back in the order it asked.
    const raw = await rawClient(gateway);
    for (let i = 0; i < 30; i++) await raw.send([String(i), "AUDIT", record(`raw-${i}`)]);
    const order: number[] = [];
    for (let i = 0; i < 30; i++) order.push(Number(String((await raw.receive())[0])));
    expect(order.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(order).not.toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it("under overload answers BUSY beyond its bound, keeps in-flight work bounded, and every record still gets stored", async () => {
    const { gateway, store } = await system({ maxInflight: 5, delays: [20] });
    const c = client(gateway, "eager", 60, 25);
    const stats = await withDeadline(c.done, WAIT_MS, "the client done");
    expect(stats.acked).toBe(60);
    expect(stats.busy).toBeGreaterThan(0);
    expect(gateway.stats.maxInflight).toBeLessThanOrEqual(5);
    expect(store.keys()).toHaveLength(60);
  });

  it("answers BUSY at once when no archivist is connected, instead of blocking", async () => {
    const { gateway } = await system({ delays: [] });
    const raw = await rawClient(gateway);
    await raw.send(["1", "AUDIT", record("r-1")]);
    const [corr, status] = await withDeadline(raw.receive(), WAIT_MS, "a reply");
    expect([String(corr), String(status)]).toEqual(["1", "BUSY"]);
  });

  it("counts a client that vanished before its acks, and forgets it", async () => {
    const { gateway, store } = await system({ delays: [100], clientTtlMs: 300 });
    const raw = await rawClient(gateway);
    for (let i = 0; i < 5; i++) await raw.send([String(i), "AUDIT", record(`gone-${i}`)]);
    await waitUntil(() => gateway.inflight === 5, { timeoutMs: WAIT_MS, what: "five requests in flight" });
    raw.close();
    await waitUntil(() => gateway.stats.clientGone === 5, { timeoutMs: WAIT_MS, what: "five replies for a client that is gone" });
    await waitUntil(() => gateway.clientCount === 0, { timeoutMs: WAIT_MS, what: "the client forgotten" });
    expect(store.keys()).toHaveLength(5);
  });

  it("answers each malformed request with one ERROR under its first frame, and carries on", async () => {
    const { gateway } = await system();
    const raw = await rawClient(gateway);
    await raw.send(["9", "NOPE", record("x")]);
    expect(String((await raw.receive())[1])).toBe("ERROR");
    await raw.send(["8", "AUDIT", Buffer.from([0xc1, 0])]);
    expect(String((await raw.receive())[1])).toBe("ERROR");
    await raw.send("lonely");
    expect((await raw.receive()).map(String).slice(0, 2)).toEqual(["lonely", "ERROR"]);
    await raw.send(["7", "AUDIT", record("ok-1")]);
    const [corr, status] = await raw.receive();
    expect([String(corr), String(status)]).toEqual(["7", "ACK"]);
    expect(gateway.stats.malformed).toBe(3);
  });

  it("answers an empty or a 65-byte correlation id with one ERROR addressed to it", async () => {
    const { gateway } = await system();
    const raw = await rawClient(gateway);
    for (const corr of [Buffer.alloc(0), Buffer.alloc(65, 0x6b)]) {
      await raw.send([corr, "AUDIT", record("corr-x")]);
      const [back, status, body] = await raw.receive();
      expect([back, String(status)]).toEqual([corr, "ERROR"]);
      expect(unpack(body as Buffer)).toEqual({ reason: "bad correlation id (1 to 64 bytes)" });
    }
    // One ERROR each, nothing else queued before the next reply.
    await raw.send(["ok", "AUDIT", record("corr-ok")]);
    expect((await raw.receive()).map(String).slice(0, 2)).toEqual(["ok", "ACK"]);
    expect(gateway.stats.malformed).toBe(2);
  });

  it("counts a short request's frames as the client sent them, not the ROUTER's identity frame", async () => {
    const { gateway } = await system();
    const raw = await rawClient(gateway);
    await raw.send(["k", "AUDIT"]);
    const [corr, status, body] = await raw.receive();
    expect([String(corr), String(status)]).toEqual(["k", "ERROR"]);
    expect(unpack(body as Buffer)).toEqual({ reason: 'expected 3 frames (corr, "AUDIT", record), got 2' });
  });

  it("stores records whose at and details hold uint64 numbers, as Python's msgpack sends them", async () => {
    const { gateway, store } = await system();
    const raw = await rawClient(gateway);
    const ms = BigInt(Date.now());
    // at as uint64, details.bytes as uint64: what msgpack.packb gives for ints of 2**32 and more.
    await raw.send(["u1", "AUDIT", rawRecord("u64-at", uint64(ms), { bytes: uint64(2n ** 40n) })]);
    expect((await raw.receive()).map(String).slice(0, 2)).toEqual(["u1", "ACK"]);
    await raw.send(["u2", "AUDIT", rawRecord("u64-details", pack(Date.now()), { bytes: uint64(2n ** 40n), ratio: pack(0.25) })]);
    expect((await raw.receive()).map(String).slice(0, 2)).toEqual(["u2", "ACK"]);
    // Larger than a double holds exactly: refused with a reason, and the archivist carries on.
    await raw.send(["u3", "AUDIT", rawRecord("u64-huge", pack(1), { bytes: uint64(2n ** 64n - 1n) })]);
    const [, status, body] = await raw.receive();
    expect(String(status)).toBe("ERROR");
    expect(String((unpack(body as Buffer) as { reason: string }).reason)).toMatch(/2\*\*53/);
    await raw.send(["u4", "AUDIT", record("after-huge")]);
    expect((await raw.receive()).map(String).slice(0, 2)).toEqual(["u4", "ACK"]);
    expect(store.keys().sort()).toEqual(["after-huge", "u64-at", "u64-details"]);
  });
});

describe("what the demo shows", () => {
  it("a client without end sends at its rate until stopped, and the gateway's view names it by its id", async () => {
    const { gateway, store } = await system();
    const steady = new AuditClient(
      { id: "steady", gateway: gateway.endpoints.front, records: 0, rate: 20, inflight: 5, timeoutMs: 10_000 },
      log,
    );
    const stop = new AbortController();
    const started = performance.now();
    const done = steady.run(stop.signal);
    await waitUntil(() => steady.stats.acked >= 12, { timeoutMs: WAIT_MS, what: "12 records acknowledged" });
    // 20 a second at most: the 12th record cannot have gone out before 11/20 s.
    expect(performance.now() - started).toBeGreaterThanOrEqual(550);
    const row = gateway.view().rows?.[0];
    expect(row?.[0]).toBe("steady");
    stop.abort();
    const stats = await withDeadline(done, WAIT_MS, "the client stopped");
    expect(stats.errors).toBe(0);
    expect(store.keys().every((id) => id.startsWith(`steady-${steady.session}-`))).toBe(true);
    expect(steady.view().title).toMatch(/^acked \d+ \(\d+\/s\) · in flight \d\/5 · BUSY 0 · sent again 0 · duplicates 0$/);
  });

  it("logs one line when the BUSY phase starts, one per burst of lost requests, and one when BUSY is over", async () => {
    const { log: recording, lines } = recordingLog();
    // Requests dealt to the hole are lost after 3 s: not before the test has filled the window and
    // read every BUSY, however slowly this loaded process runs.
    const gateway = new AuditGateway(
      { front: ANY_LOOPBACK_TCP, back: ANY_LOOPBACK_TCP, maxInflight: 3, requestTtlMs: 3000, clientTtlMs: 30_000 },
      recording,
    );
    await gateway.bind();
    void tasks.run((s) => gateway.run(s));
    // An archivist that takes records and never answers: they are lost with it.
    const hole = jar.add(new Dealer());
    hole.connect(gateway.endpoints.back);
    const raw = await rawClient(gateway);
    let busy = 0;
    const send = async (n: number) => {
      await raw.send([`c${n}`, "AUDIT", record(`lost-${n}`)]);
      await waitUntil(() => gateway.stats.requests === n, { timeoutMs: WAIT_MS, what: `request ${n} handled` });
    };
    // Until the gateway deals to the hole (a BUSY before that: it is not connected yet).
    let n = 0;
    while (gateway.inflight === 0) {
      await send(++n);
      if (gateway.inflight === 0) {
        expect(String((await raw.receive())[1])).toBe("BUSY");
        busy += 1;
      }
    }
    for (let i = 0; i < 10; i++) await send(++n);
    for (; busy < n - 3; busy++) expect(String((await raw.receive())[1])).toBe("BUSY");
    expect(gateway.view().title).toBe("3/3 in flight · BUSY: the archive's hands are full");
    const said = (start: string) => lines.filter((l) => l.msg.startsWith(start));
    await waitUntil(() => said("BUSY over").length === 1, { timeoutMs: WAIT_MS, what: "BUSY over" });
    await waitUntil(() => said("3 requests lost").length === 1, { timeoutMs: WAIT_MS, what: "one line for the 3 lost requests" });
    expect(said("BUSY:")).toHaveLength(1);
    expect(said("3 requests lost")[0]?.fields).toMatchObject({ clients: expect.any(String), lost: 3 });
    expect(lines.filter((l) => l.msg.includes("lost"))).toHaveLength(1);
    expect(gateway.view().title).toMatch(/^0\/3 in flight · 0 archived\/s · 1 client$/);
  });
});

/** A logger that keeps what it is told, to count lines. */
function recordingLog(): { log: Logger; lines: { level: string; msg: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (a: unknown, b?: string) =>
    lines.push(typeof a === "string" ? { level, msg: a, fields: {} } : { level, msg: b ?? "", fields: a as Record<string, unknown> });
  const recording = { trace: at("trace"), debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), fatal: at("fatal") };
  const logger = { ...recording, child: () => logger } as unknown as Logger;
  return { log: logger, lines };
}

/** MessagePack uint64 (0xcf), as Python's msgpack encodes an int of 2**32 or more. */
function uint64(n: bigint): Buffer {
  const b = Buffer.alloc(9);
  b[0] = 0xcf;
  b.writeBigUInt64BE(n, 1);
  return b;
}

/** A fixmap of already-encoded values. */
function rawMap(entries: [string, Buffer][]): Buffer {
  return Buffer.concat([Buffer.from([0x80 | entries.length]), ...entries.flatMap(([k, v]) => [pack(k), v])]);
}

/** A record with `at` and `details` encoded by hand. */
function rawRecord(id: string, at: Buffer, details: Record<string, Buffer>): Buffer {
  return rawMap([
    ["v", pack(1)],
    ["id", pack(id)],
    ["at", at],
    ["actor", pack("u")],
    ["action", pack("read")],
    ["target", pack("t")],
    ["details", rawMap(Object.entries(details))],
  ]);
}
