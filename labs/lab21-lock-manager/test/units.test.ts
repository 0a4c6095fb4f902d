// The lock table's rules, the history checker, the token store and the decoders, without sockets.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode } from "@zlabs/kit";
import { afterAll, describe, expect, it } from "vitest";
import { checkHistory, type HistoryEvent, LockTable, type TableLimits } from "../internal/lock-table.ts";
import { decodeReply, decodeRequest, decodeWrite, encodeReply, encodeRequest, fromPeer } from "../internal/protocol.ts";
import { STATE_FILE, TokenStore } from "../internal/token-store.ts";

const limits: TableLimits = { maxLocks: 3, maxWaiters: 2, maxTtlMs: 1000, minTtlMs: 10 };
const counter = () => {
  let n = 0;
  return { next: () => ++n };
};
const tmp = mkdtempSync(join(tmpdir(), "lab21-units-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the lock table", () => {
  it("grants a free lock, queues the rest first come first served, hands over on release with a higher token", () => {
    const history: HistoryEvent[] = [];
    const t = new LockTable(limits, counter(), 0, history);
    expect(t.acquire("a", 1, "L", 500, 0)).toEqual({ req: 1, status: "GRANTED", lock: "L", token: 1, ttl: 500 });
    expect(t.acquire("b", 1, "L", 500, 1)).toEqual({ req: 1, status: "QUEUED", lock: "L", place: 1 });
    expect(t.acquire("c", 7, "L", 300, 2)).toEqual({ req: 7, status: "QUEUED", lock: "L", place: 2 });
    expect(t.acquire("b", 2, "L", 500, 3)).toMatchObject({ status: "QUEUED", place: 1 });
    expect(t.release("b", 3, "X", 4)).toMatchObject({ status: "NOT_OWNER" });
    expect(t.release("a", 2, "L", 10)).toMatchObject({ status: "RELEASED" });
    expect(t.takeGrants()).toEqual([
      { lock: "L", lease: expect.objectContaining({ client: "b", token: 2, req: 1, deadline: 510 }), waitedMs: 9 },
    ]);
    expect(t.release("b", 4, "L", 20)).toMatchObject({ status: "RELEASED" });
    expect(t.takeGrants()).toEqual([
      { lock: "L", lease: expect.objectContaining({ client: "c", token: 3, req: 7, deadline: 320 }), waitedMs: 18 },
    ]);
    expect(checkHistory(history)).toEqual([]);
  });

  it("acquiring a lock already held returns the same lease, never a second grant", () => {
    const t = new LockTable(limits, counter());
    t.acquire("a", 1, "L", 500, 0);
    expect(t.acquire("a", 2, "L", 500, 100)).toMatchObject({ status: "GRANTED", token: 1, ttl: 400 });
    expect(t.counts.grants).toBe(1);
  });

  it("RENEW extends only the holder's lease; others get NOT_OWNER, a former holder EXPIRED", () => {
    const t = new LockTable(limits, counter());
    t.acquire("a", 1, "L", 500, 0);
    expect(t.renew("a", 2, "L", 1, 400)).toMatchObject({ status: "GRANTED", token: 1, ttl: 500 });
    expect(t.holderOf("L")?.deadline).toBe(900);
    expect(t.renew("b", 3, "L", 0, 400)).toMatchObject({ status: "NOT_OWNER" });
    expect(t.renew("a", 4, "L", 99, 400)).toMatchObject({ status: "EXPIRED" });
    t.acquire("b", 1, "L", 500, 401);
    t.sweep(900, () => true);
    expect(t.holderOf("L")).toMatchObject({ client: "b", token: 2 });
    expect(t.renew("a", 5, "L", 1, 901)).toMatchObject({ status: "EXPIRED" });
    expect(t.counts.expiries).toBe(1);
  });

  it("the sweep ends a lease at its deadline, not before, and skips silent waiters", () => {
    const history: HistoryEvent[] = [];
    const t = new LockTable(limits, counter(), 0, history);
    t.acquire("a", 1, "L", 100, 0);
    t.acquire("dead", 1, "L", 100, 1);
    t.acquire("c", 1, "L", 100, 2);
    t.sweep(99, () => true);
    expect(t.holderOf("L")?.client).toBe("a");
    t.sweep(100, (client) => client !== "dead");
    expect(t.holderOf("L")?.client).toBe("c");
    expect(t.counts.waitersDropped).toBe(1);
    expect(checkHistory(history)).toEqual([]);
  });

  it("grants nothing during the grace period; the line is served when it ends", () => {
    const t = new LockTable(limits, counter(), 1000);
    expect(t.acquire("a", 1, "L", 100, 10)).toMatchObject({ status: "QUEUED", place: 1, reason: "grace period after a restart" });
    t.sweep(999, () => true);
    expect(t.holderOf("L")).toBeUndefined();
    t.sweep(1000, () => true);
    expect(t.holderOf("L")).toMatchObject({ client: "a", grantedAt: 1000 });
  });

  it("bounds locks, waiters per lock and TTL (DENIED with the reason)", () => {
    const t = new LockTable(limits, counter());
    for (const l of ["A", "B", "C"]) t.acquire("a", 1, l, 100, 0);
    expect(t.acquire("a", 2, "D", 100, 0)).toMatchObject({ status: "DENIED", reason: "too many locks (3)" });
    t.acquire("b", 1, "A", 100, 0);
    t.acquire("c", 1, "A", 100, 0);
    expect(t.acquire("d", 1, "A", 100, 0)).toMatchObject({ status: "DENIED", reason: "too many waiters (2)" });
    expect(t.acquire("a", 3, "A", 1001, 0)).toMatchObject({ status: "DENIED" });
    expect(t.acquire("a", 3, "A", 9, 0)).toMatchObject({ status: "DENIED" });
    expect(t.counts.denied).toBe(4);
  });

  it("a waiter that releases leaves the line; a lock with nobody is forgotten", () => {
    const t = new LockTable(limits, counter());
    t.acquire("a", 1, "L", 100, 0);
    t.acquire("b", 1, "L", 100, 0);
    expect(t.release("b", 2, "L", 1)).toMatchObject({ status: "RELEASED" });
    expect(t.waitersOf("L")).toEqual([]);
    t.release("a", 2, "L", 2);
    expect(t.size).toBe(0);
  });

  it("CHECK says VALID only for the live lease's token", () => {
    const t = new LockTable(limits, counter());
    t.acquire("a", 1, "L", 100, 0);
    expect(t.check(9, "L", 1, 50)).toMatchObject({ status: "VALID", token: 1 });
    expect(t.check(9, "L", 1, 100)).toMatchObject({ status: "STALE" });
    expect(t.check(9, "L", 2, 50)).toMatchObject({ status: "STALE", token: 1 });
    expect(t.check(9, "M", 1, 50)).toEqual({ req: 9, status: "STALE", lock: "M" });
  });
});

describe("the history checker", () => {
  const grant = (lock: string, client: string, token: number, at: number, deadline: number): HistoryEvent => ({
    kind: "grant",
    lock,
    client,
    token,
    at,
    deadline,
  });
  const end = (lock: string, client: string, token: number, at: number): HistoryEvent => ({
    kind: "end",
    lock,
    client,
    token,
    at,
    why: "released",
  });

  it("finds two holders at once, and a token that does not increase", () => {
    expect(checkHistory([grant("L", "a", 1, 0, 100), grant("L", "b", 2, 10, 110)])).toHaveLength(1);
    expect(checkHistory([grant("L", "a", 2, 0, 100), end("L", "a", 2, 5), grant("L", "b", 2, 10, 110)])).toHaveLength(1);
    expect(checkHistory([grant("L", "a", 1, 0, 100), end("L", "a", 1, 5), grant("L", "b", 2, 10, 110)])).toEqual([]);
  });

  it("a server crash leaves its leases held until their deadline", () => {
    const events = [grant("L", "a", 1, 0, 100), grant("L", "b", 2, 90, 200)];
    expect(checkHistory(events, [50])).toHaveLength(1);
    expect(checkHistory([grant("L", "a", 1, 0, 100), grant("L", "b", 2, 100, 200)], [50])).toEqual([]);
  });
});

describe("the token store", () => {
  it("tokens keep increasing across a restart, the high-water mark reserved on disk before use", () => {
    const dir = join(tmp, "tokens");
    const first = new TokenStore(dir, 10);
    expect(first.restarted).toBe(false);
    const before = Array.from({ length: 15 }, () => first.next());
    expect(before.at(-1)).toBe(15);
    expect(JSON.parse(readFileSync(join(dir, STATE_FILE), "utf8"))).toEqual({ highWater: 20 });
    const second = new TokenStore(dir, 10);
    expect(second.restarted).toBe(true);
    expect(second.next()).toBe(21);
  });

  it("refuses a file it did not write, naming it", () => {
    const dir = join(tmp, "bad");
    new TokenStore(dir);
    writeFileSync(join(dir, STATE_FILE), "{nope");
    expect(() => new TokenStore(dir)).toThrow(/is not the token file/);
  });
});

describe("the decoders", () => {
  const req = (r: Record<string, unknown>) => decodeRequest(encode({ v: 1, req: 1, client: "a", ...r }));

  it("takes every op with its fields, uint64 numbers included", () => {
    expect(req({ op: "ACQUIRE", lock: "L", ttl: 500 })).toEqual({
      ok: true,
      value: { op: "ACQUIRE", req: 1, client: "a", lock: "L", ttl: 500, token: 0 },
    });
    expect(req({ op: "HEARTBEAT" })).toMatchObject({ ok: true, value: { op: "HEARTBEAT", lock: "" } });
    expect(req({ op: "RENEW", lock: "L", token: 2 ** 40 })).toMatchObject({ ok: true, value: { token: 2 ** 40 } });
    expect(decodeRequest(encodeRequest({ op: "CHECK", req: 2, client: "ledger", lock: "L", token: 3 }))).toMatchObject({ ok: true });
  });

  it.each([
    ["an unknown op", { op: "STEAL", lock: "L" }],
    ["a lock name with a slash", { op: "ACQUIRE", lock: "../x", ttl: 5 }],
    ["no ttl", { op: "ACQUIRE", lock: "L" }],
    ["a float ttl", { op: "ACQUIRE", lock: "L", ttl: 1.5 }],
    ["RENEW without a token", { op: "RENEW", lock: "L" }],
    ["a negative token", { op: "RELEASE", lock: "L", token: -1 }],
    ["a long client id", { op: "HEARTBEAT", client: "x".repeat(65) }],
    ["a float req", { op: "HEARTBEAT", req: 0.5 }],
    ["version 2", { op: "HEARTBEAT", v: 2 }],
  ])("refuses %s", (_what, fields) => {
    expect(req(fields).ok).toBe(false);
  });

  it("replies, writes and envelopes", () => {
    const reply = { req: 5, status: "GRANTED" as const, lock: "L", token: 7, ttl: 100, async: true };
    expect(decodeReply(encodeReply(reply))).toEqual({ ok: true, value: reply });
    expect(decodeReply(encode({ v: 1, req: 5, status: "MAYBE" })).ok).toBe(false);
    expect(decodeWrite(encode({ v: 1, req: 1, client: "a", lock: "L", token: 0, text: "x" })).ok).toBe(false);
    expect(decodeWrite(encode({ v: 1, req: 1, client: "a", lock: "L", token: 1, text: "x".repeat(1025) })).ok).toBe(false);
    expect(fromPeer([Buffer.from("id"), Buffer.from("x")]).kind).toBe("message");
    expect(fromPeer([Buffer.from("id"), Buffer.alloc(0), Buffer.from("x")]).kind).toBe("invalid");
  });
});
