// The gateway, archivists and clients in-process over real sockets.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OnceStore } from "@zlabs/kit";
import { ANY_LOOPBACK_TCP, SocketJar, Tasks, testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import { ArchivalWorker } from "../internal/archivist.ts";
import { AuditClient } from "../internal/client.ts";
import { AuditGateway } from "../internal/gateway.ts";
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
  const store = new OnceStore(archive);
  for (const [i, delayMs] of (options.delays ?? [0]).entries()) {
    const a = new ArchivalWorker({ id: `a${i}`, gateway: gateway.endpoints.back, delayMs }, store, log);
    void tasks.run((s) => a.run(s));
  }
  return { gateway, store };
}

function client(gateway: AuditGateway, id: string, records: number, inflight: number) {
  const c = new AuditClient({ id, gateway: gateway.endpoints.front, records, inflight, timeoutMs: 10_000 }, log);
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
    expect(store.keys("records")).toHaveLength(1000);
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
    expect(store.keys("records")).toHaveLength(60);
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
    expect(store.keys("records")).toHaveLength(5);
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
});
