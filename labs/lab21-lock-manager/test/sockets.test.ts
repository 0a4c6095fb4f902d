// The lock server over real sockets, in-process: raw DEALER peers speak the protocol by hand.
import { encode } from "@zlabs/kit";
import { Tasks, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { Router } from "zeromq";
import { LockClient, SAFETY_MARGIN } from "../internal/lease-client.ts";
import type { LockServer } from "../internal/lock-server.ts";
import { decodeRequest, encodeReply } from "../internal/protocol.ts";
import { boundServer, log, RawClient, removeTmpDirs } from "./helpers.ts";

const tasks = new Tasks();
const peers: RawClient[] = [];
afterAll(removeTmpDirs);
afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await tasks.stopAll();
});

/** Silent waiters stay in line for 10 s unless a test is about dropping them: a stalled test process
 * (the server shares its event loop) must not drop a raw peer that never heartbeats. */
const PATIENT = { liveness: 200 };
/** 150 ms: for the tests that wait for a silent waiter to be dropped. */
const BRISK = { liveness: 3 };

async function start(overrides = {}): Promise<{ server: LockServer; peer: (id: string) => RawClient }> {
  const server = await boundServer({ ...PATIENT, ...overrides });
  void tasks.run((signal) => server.run(signal));
  const peer = (id: string) => {
    const p = new RawClient(server.endpoints.endpoint, id);
    peers.push(p);
    return p;
  };
  return { server, peer };
}

describe("the lock server over sockets", () => {
  it("a waiter gets an asynchronous GRANTED with its ACQUIRE's req id when the holder releases", async () => {
    const { peer } = await start();
    const a = peer("a");
    const b = peer("b");
    expect(await a.ask("ACQUIRE", { lock: "L", ttl: 1000 }, 10)).toMatchObject({ req: 10, status: "GRANTED", token: 1 });
    expect(await b.ask("ACQUIRE", { lock: "L", ttl: 1000 }, 20)).toMatchObject({ req: 20, status: "QUEUED", place: 1 });
    expect(await a.ask("RELEASE", { lock: "L" }, 11)).toMatchObject({ req: 11, status: "RELEASED" });
    expect(await b.next("the GRANTED")).toMatchObject({ req: 20, status: "GRANTED", lock: "L", token: 2, async: true });
  });

  it("a retried request (same req id) gets the same answer and never a second grant", async () => {
    const { server, peer } = await start();
    const a = peer("a");
    const b = peer("b");
    const first = await a.ask("ACQUIRE", { lock: "L", ttl: 1000 }, 5);
    expect(await a.ask("ACQUIRE", { lock: "L", ttl: 1000 }, 5)).toEqual({ ...first, ttl: expect.any(Number) });
    await b.ask("ACQUIRE", { lock: "L", ttl: 1000 }, 1);
    expect(await a.ask("RELEASE", { lock: "L" }, 6)).toMatchObject({ status: "RELEASED" });
    await b.next("b's GRANTED");
    // The RELEASE sent again (its reply lost, say): RELEASED again, and b keeps the lock.
    expect(await a.ask("RELEASE", { lock: "L" }, 6)).toMatchObject({ status: "RELEASED" });
    expect(server.table.holderOf("L")?.client).toBe("b");
    // b's ACQUIRE sent again after its QUEUED: now the grant it has, not a new one.
    expect(await b.ask("ACQUIRE", { lock: "L", ttl: 1000 }, 1)).toMatchObject({ status: "GRANTED", token: 2 });
    expect(server.table.counts.grants).toBe(2);
    expect(server.retried).toBe(2);
  });

  it("a lease is bound to the client id: a new socket keeps it and gets its GRANTED again", async () => {
    const { server, peer } = await start();
    const old = peer("a");
    expect(await old.ask("ACQUIRE", { lock: "L", ttl: 1000 })).toMatchObject({ status: "GRANTED", token: 1 });
    old.close();
    const fresh = peer("a");
    await fresh.send("HEARTBEAT", {}, 100);
    const [first, second] = [await fresh.next(), await fresh.next()];
    expect([first, second]).toContainEqual(expect.objectContaining({ status: "GRANTED", lock: "L", token: 1, async: true }));
    expect([first, second]).toContainEqual(expect.objectContaining({ req: 100, status: "ALIVE" }));
    expect(await fresh.ask("RENEW", { lock: "L", token: 1 })).toMatchObject({ status: "GRANTED", token: 1 });
    expect(await fresh.ask("RELEASE", { lock: "L" })).toMatchObject({ status: "RELEASED" });
    expect(server.table.counts.grants).toBe(1);
  });

  it("a silent holder's lease expires after its TTL and the next waiter gets the lock", async () => {
    const { server, peer } = await start();
    const a = peer("a");
    const b = peer("b");
    // Taken before a's ACQUIRE: its lease runs from when the server handled it, which is later.
    const acquiredBefore = performance.now();
    await a.ask("ACQUIRE", { lock: "L", ttl: 300 });
    await b.ask("ACQUIRE", { lock: "L", ttl: 300 });
    // b stays alive (heartbeats); a says nothing more.
    const beat = setInterval(() => {
      try {
        void b.send("HEARTBEAT").catch(() => {});
      } catch {
        // a send still pending: skip this beat
      }
    }, 40);
    const seen: string[] = [];
    try {
      const granted = await withDeadline(
        (async () => {
          for (;;) {
            const r = await b.next("the GRANTED after a TTL");
            seen.push(r.status);
            if (r.status === "GRANTED") return r;
          }
        })(),
        5000,
        `b's GRANTED (server: ${JSON.stringify(server.snapshot())})`,
      );
      expect(granted).toMatchObject({ token: 2, async: true });
    } finally {
      clearInterval(beat);
    }
    expect(performance.now() - acquiredBefore).toBeGreaterThanOrEqual(300);
  });

  it("a silent waiter loses its place; RENEW and RELEASE by others are refused", async () => {
    const { server, peer } = await start(BRISK);
    const a = peer("a");
    const b = peer("b");
    await a.ask("ACQUIRE", { lock: "L", ttl: 2000 });
    await b.ask("ACQUIRE", { lock: "L", ttl: 2000 });
    await waitUntil(() => server.table.waitersOf("L").length === 0, { timeoutMs: 5000, what: "the silent waiter dropped" });
    expect(await b.ask("RENEW", { lock: "L", token: 9 })).toMatchObject({ status: "EXPIRED" });
    expect(await b.ask("RELEASE", { lock: "L" })).toMatchObject({ status: "NOT_OWNER" });
    expect(server.table.holderOf("L")?.client).toBe("a");
  });

  it("a waiter dropped while silent that asks again with the same req id is queued again, then granted", async () => {
    // Dropped after 1 s of silence: queued again, it must still be in line when a's RELEASE comes.
    const { server, peer } = await start({ heartbeatMs: 200, liveness: 5 });
    const a = peer("a");
    const b = peer("b");
    await a.ask("ACQUIRE", { lock: "L", ttl: 2000 });
    expect(await b.ask("ACQUIRE", { lock: "L", ttl: 2000 }, 7)).toMatchObject({ status: "QUEUED", place: 1 });
    await waitUntil(() => server.table.waitersOf("L").length === 0, { timeoutMs: 5000, what: "the silent waiter dropped" });
    expect(await b.ask("ACQUIRE", { lock: "L", ttl: 2000 }, 7)).toMatchObject({ req: 7, status: "QUEUED", place: 1 });
    await a.ask("RELEASE", { lock: "L" });
    expect(await b.next("b's GRANTED")).toMatchObject({ req: 7, status: "GRANTED", token: 2, async: true });
  });

  it("the client's own deadline is earlier than the server's by the safety margin, and renewals move both", async () => {
    const { server } = await start();
    const client = new LockClient({ id: "m", server: server.endpoints.endpoint, heartbeatMs: 50, timeoutMs: 500 }, log);
    const controller = new AbortController();
    const running = client.start(controller.signal);
    try {
      // A TTL of 1.5 s, renewed every 0.5 s: a stall of this process (client and server share it) up to
      // a second does not let the lease lapse.
      const ttl = 1500;
      const before = performance.now();
      const lease = await client.acquire("L", ttl, controller.signal);
      expect(lease?.token).toBe(1);
      const serverDeadline = server.table.holderOf("L")?.deadline as number;
      expect(lease?.deadline).toBeLessThanOrEqual(serverDeadline - ttl * SAFETY_MARGIN + 1);
      expect(lease?.deadline).toBeGreaterThanOrEqual(before + ttl - ttl * SAFETY_MARGIN - 1);
      // Renewed every TTL/3: still held by both clocks well past the first TTL.
      await waitUntil(() => performance.now() > before + 2 * ttl, { timeoutMs: 10_000, what: "two TTLs" });
      expect(client.holds("L")?.token).toBe(1);
      expect(server.table.holderOf("L")?.client).toBe("m");
    } finally {
      client.close();
      controller.abort();
      await running;
    }
  });

  it("a waiter whose ACQUIRE sent again is answered GRANTED (it crossed the asynchronous GRANTED) holds the lock as one that waited", async () => {
    // A server by hand: QUEUED to the first ACQUIRE, GRANTED to the same ACQUIRE sent again, no notification.
    const fake = new Router({ linger: 0 });
    await fake.bind("tcp://127.0.0.1:*");
    const acquires: number[] = [];
    void tasks.run(async (signal) => {
      signal.addEventListener("abort", () => fake.close());
      for await (const [peer, body] of fake) {
        const r = decodeRequest(body);
        if (!r.ok || r.value.op !== "ACQUIRE") continue;
        acquires.push(r.value.req);
        const reply = acquires.length === 1 ? { status: "QUEUED" as const, place: 1 } : { status: "GRANTED" as const, token: 7, ttl: 600 };
        await fake.send([peer as Buffer, encodeReply({ req: r.value.req, lock: "L", ...reply })]);
      }
    });
    const info = vi.spyOn(log, "info");
    const client = new LockClient({ id: "w", server: fake.lastEndpoint as string, heartbeatMs: 1000, timeoutMs: 100 }, log);
    const controller = new AbortController();
    const running = client.start(controller.signal);
    try {
      const lease = await withDeadline(client.acquire("L", 600, controller.signal), 10_000, "the lease");
      expect(lease?.token).toBe(7);
      expect(new Set(acquires).size).toBe(1);
      expect(info).toHaveBeenCalledWith(expect.objectContaining({ lock: "L", token: 7, waited: true }), "lock held");
    } finally {
      info.mockRestore();
      client.close();
      controller.abort();
      await running;
    }
  });

  it("limits: too many clients, locks, waiters and a TTL over the maximum are DENIED", async () => {
    const { peer } = await start({ maxClients: 3, maxLocks: 1, maxWaiters: 1, maxTtlMs: 500, graceMs: 500 });
    const [a, b, c, d] = ["a", "b", "c", "d"].map(peer) as [RawClient, RawClient, RawClient, RawClient];
    expect(await a.ask("ACQUIRE", { lock: "L", ttl: 501 })).toMatchObject({ status: "DENIED" });
    await a.ask("ACQUIRE", { lock: "L", ttl: 500 });
    expect(await a.ask("ACQUIRE", { lock: "M", ttl: 500 })).toMatchObject({ status: "DENIED", reason: "too many locks (1)" });
    await b.ask("ACQUIRE", { lock: "L", ttl: 500 });
    expect(await c.ask("ACQUIRE", { lock: "L", ttl: 500 })).toMatchObject({ status: "DENIED", reason: "too many waiters (1)" });
    expect(await d.ask("HEARTBEAT")).toMatchObject({ status: "DENIED", reason: "too many clients (3)" });
  });

  it("malformed messages are counted and dropped; the server still answers", async () => {
    const { server, peer } = await start();
    const a = peer("a");
    await a.dealer.send([Buffer.from("two"), Buffer.from("frames")]);
    await a.dealer.send(Buffer.from([0xc1]));
    await a.dealer.send(encode({ v: 1, op: "ACQUIRE", req: 1, client: "a", lock: "L", ttl: 2 ** 40 }));
    expect(await a.ask("HEARTBEAT")).toMatchObject({ status: "ALIVE" });
    expect(server.dropped).toBe(3);
  });
});
