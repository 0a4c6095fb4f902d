// The registry contract against a real etcd (Debian's etcd-server, started here on free loopback
// ports with a temporary data dir), plus what only etcd shows: foreign values under /services/.
import { testLogger, waitUntil } from "@zlabs/kit/testing";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EtcdRegistry, openEtcdRegistry, ttlSeconds } from "../internal/registry-etcd.ts";
import { ETCD_BIN, EtcdServer, missingBinary } from "./support/etcd-server.ts";
import { describeRegistryContract, record } from "./support/registry-contract.ts";

const missing = missingBinary(ETCD_BIN);
const log = testLogger("lab10");

describe.skipIf(missing)(`etcd registry${missing ? ` (skipped: ${missing})` : ""}`, () => {
  describeRegistryContract("etcd", async () => {
    const server = await EtcdServer.start();
    return {
      registry: () => openEtcdRegistry([server.clientUrl], log),
      restart: () => server.restart(),
      close: () => server.stop(),
    };
  });

  describe("values under /services/ are peer data", () => {
    let server: EtcdServer;
    beforeAll(async () => {
      server = await EtcdServer.start();
    });
    afterAll(() => server?.stop());

    it("invalid values are skipped and counted, valid ones found; a watch reports only valid records", async () => {
      const raw = new Etcd3({ hosts: server.clientUrl });
      const registry = (await openEtcdRegistry([server.clientUrl], log)) as EtcdRegistry;
      try {
        const good = record("intel-feed", "feed-1", 5104);
        await raw.put("/services/intel-feed/feed-1").value(JSON.stringify(good));
        await raw.put("/services/intel-feed/junk").value("{not json");
        await raw.put("/services/intel-feed/big").value(`{"x":"${"a".repeat(20_000)}"}`);
        await raw.put("/services/intel-feed/bad-health").value(JSON.stringify({ ...good, instance: "bad-health", health: "fine" }));
        // A record that names another key than the one it is stored under.
        await raw.put("/services/intel-feed/liar").value(JSON.stringify({ ...good, instance: "feed-1" }));
        await raw.put("/services/intel-feed/bad-meta").value(JSON.stringify({ ...good, instance: "bad-meta", meta: { n: 1 } }));
        expect(await registry.find("intel-feed")).toEqual([good]);
        expect(registry.invalid).toBe(5);
        const lists: string[][] = [];
        const unwatch = registry.watch(undefined, (records) => lists.push(records.map((r) => r.instance)));
        await waitUntil(() => lists.length > 0, { timeoutMs: 20_000, what: "the first watch list" });
        expect(lists[0]).toEqual(["feed-1"]);
        unwatch();
      } finally {
        await registry.close();
        raw.close();
      }
    });

    it("etcd restarted empty (its leases lost): a registration is written again under a new lease", async () => {
      const registry = await openEtcdRegistry([server.clientUrl], log);
      const raw = new Etcd3({ hosts: server.clientUrl });
      try {
        await registry.register(record("alert-sink", "sink-9"), { ttlMs: 2_000, renewMs: 300 });
        await server.restartEmpty();
        const back = await waitUntil(
          async () =>
            (
              await raw
                .get("/services/alert-sink/sink-9")
                .exec()
                .catch(() => undefined)
            )?.kvs[0],
          {
            timeoutMs: 30_000,
            what: "the registration written again after etcd lost its data",
            everyMs: 200,
          },
        );
        expect(JSON.parse(back.value.toString())).toEqual(record("alert-sink", "sink-9"));
        expect(back.lease).not.toBe("0");
      } finally {
        await registry.close();
        raw.close();
      }
    });

    it("a registration is a key under an etcd lease with the TTL asked for, in whole seconds", async () => {
      const raw = new Etcd3({ hosts: server.clientUrl });
      const registry = await openEtcdRegistry([server.clientUrl], log);
      try {
        await registry.register(record("detector", "d1"), { ttlMs: 4_500, renewMs: 60_000 });
        const got = await raw.get("/services/detector/d1").exec();
        const kv = got.kvs[0];
        expect(JSON.parse(kv?.value.toString() ?? "")).toEqual(record("detector", "d1"));
        const lease = await raw.leaseClient.leaseTimeToLive({ ID: kv?.lease as string });
        expect(Number(lease.grantedTTL)).toBe(ttlSeconds(4_500));
        expect(ttlSeconds(4_500)).toBe(5);
      } finally {
        await registry.close();
        raw.close();
      }
    });
  });
});
