// The alert-store contract against a real Redis (Debian's redis-server, started here on a free
// loopback port, no persistence), plus what only Redis shows: the keys, their TTLs, foreign values.
import { testLogger, waitUntil } from "@zlabs/kit/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BY_EXPIRY, BY_LAST_SEEN, openRedisAlertStore, type RedisAlertStore } from "../internal/alert-store-redis.ts";
import { alert, describeAlertStoreContract } from "./support/alert-store-contract.ts";
import { missingBinary } from "./support/etcd-server.ts";
import { REDIS_BIN, RedisServer } from "./support/redis-server.ts";

const missing = missingBinary(REDIS_BIN);
const log = testLogger("lab10");

describe.skipIf(missing)(`Redis alert store${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await RedisServer.start();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  describeAlertStoreContract("redis", async () => {
    await admin.flushdb();
    return openRedisAlertStore(server.url, log);
  });

  it("keys are alerts:<severity>:<rule>:<subject> holding JSON with a TTL; a duplicate keeps the TTL", async () => {
    await admin.flushdb();
    const store = await openRedisAlertStore(server.url, log);
    try {
      await store.put(alert("10.9.0.1", 1_000, { severity: "critical", rule: "intel-match" }), 60_000);
      const ttl = await admin.pttl("alerts:critical:intel-match:10.9.0.1");
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
      expect(JSON.parse((await admin.get("alerts:critical:intel-match:10.9.0.1")) ?? "")).toMatchObject({ subject: "10.9.0.1", count: 1 });
      await store.put(alert("10.9.0.1", 2_000, { severity: "critical", rule: "intel-match" }), 600_000);
      const after = await admin.pttl("alerts:critical:intel-match:10.9.0.1");
      expect(after).toBeLessThanOrEqual(ttl);
    } finally {
      await store.close();
    }
  });

  it("values in the index that are not alerts are skipped and counted, never returned", async () => {
    await admin.flushdb();
    const store = (await openRedisAlertStore(server.url, log)) as RedisAlertStore;
    try {
      const good = alert("10.9.0.2", 1_000);
      await store.put(good, 60_000);
      // Alerts stored, then their values replaced behind the store's back.
      for (const subject of ["junk", "wrong", "other"]) await store.put(alert(subject, 900), 60_000);
      await admin.set("alerts:high:port-scan:junk", "{not json", "KEEPTTL");
      await admin.set("alerts:high:port-scan:wrong", JSON.stringify({ ...good, subject: "wrong", count: -1 }), "KEEPTTL");
      await admin.set("alerts:high:port-scan:other", JSON.stringify(good), "KEEPTTL"); // another alert's value
      await admin.set("alerts:big", "x".repeat(20_000));
      await admin.zadd(BY_LAST_SEEN, 800, "alerts:big");
      expect(await store.list(10)).toEqual([good]);
      expect(store.invalid).toBe(4);
      // A put over a corrupt value stores the alert as new.
      expect(await store.put(alert("junk", 5_000), 60_000)).toBe("stored");
    } finally {
      await store.close();
    }
  });

  it("list reads the index, not every key: expired alerts leave it", async () => {
    await admin.flushdb();
    const store = await openRedisAlertStore(server.url, log);
    try {
      for (let i = 0; i < 50; i++) await store.put(alert(`10.8.0.${i}`, 1_000 + i), 200);
      await store.put(alert("10.8.1.1", 5_000), 60_000);
      await waitUntil(async () => (await admin.exists("alerts:high:port-scan:10.8.0.49")) === 0, {
        timeoutMs: 20_000,
        what: "short alerts expired",
      });
      expect((await store.list(10)).map((a) => a.subject)).toEqual(["10.8.1.1"]);
      expect(await admin.zcard(BY_LAST_SEEN)).toBe(1);
      expect(await admin.zcard(BY_EXPIRY)).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("the store outlives a Redis restart: puts fail while it is down, work again once it is back", async () => {
    await admin.flushdb();
    const store = await openRedisAlertStore(server.url, log);
    try {
      expect(await store.put(alert("10.9.0.3", 1_000), 60_000)).toBe("stored");
      await server.restart();
      // No persistence: the restarted Redis is empty, and the same alert is new again.
      const result = await waitUntil(() => store.put(alert("10.9.0.3", 2_000), 60_000).catch(() => undefined), {
        timeoutMs: 20_000,
        what: "a put accepted after the restart",
        everyMs: 100,
      });
      expect(result).toBe("stored");
      expect((await store.list(10)).map((a) => a.lastSeen)).toEqual([2_000]);
    } finally {
      await store.close();
      admin.disconnect();
      admin = new Redis(server.url);
    }
  });
});
