// The masters and clients in-process over real sockets: the snapshot race, late joiners, gaps,
// subtrees, TTL, and the pair's pending list.
import { SocketJar, Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Publisher, Router } from "zeromq";
import { CloneClient, chpServer } from "../internal/clone-client.ts";
import { EMPTY, encodeKvMsg, type KvMsg, kv, newUuid } from "../internal/kvmsg.ts";
import { fromSnapshotClient, hugz, kthxbai } from "../internal/protocol.ts";
import { Updater } from "../internal/updater.ts";
import { FAST, freeChpEndpoint, PolicyMaster, pairConfigs, plus } from "./helpers.ts";

const log = testLogger("lab07");
const WAIT_MS = 20_000;
const tasks = new Tasks();
const jar = new SocketJar();
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
});

/** A lone primary, active once a first client (the test's probe) has voted. */
async function lonePrimary(): Promise<PolicyMaster> {
  const { primary } = await pairConfigs();
  const master = new PolicyMaster(primary, log);
  void tasks.run((s) => master.run(s));
  await master.bind();
  const probe = client(master, "");
  await waitUntil(() => probe.synced, { timeoutMs: WAIT_MS, what: "the lone primary to serve a snapshot" });
  return master;
}

function client(
  master: PolicyMaster,
  subtree: string,
  hooks: ConstructorParameters<typeof CloneClient>[2] = {},
  name = "test",
  clientLog = log,
): CloneClient {
  const c = new CloneClient(
    { servers: [chpServer(master.endpoints.snapshot)], subtree, serverTtlMs: FAST.serverTtlMs, maxKeys: 200_000, name },
    clientLog,
    hooks,
  );
  void tasks.run((s) => c.run(s));
  return c;
}

async function updater(...masters: PolicyMaster[]): Promise<Updater> {
  const u = new Updater(
    masters.map((m) => chpServer(m.endpoints.snapshot)),
    log,
  );
  void tasks.run((s) => u.run(s));
  await tasks.run((s) => u.untilListening(masters.length, WAIT_MS, s));
  return u;
}

const rule = (i: number) => `allow tcp 10.${i % 250}.0.0/16 any 10.1.0.0/16 ${1 + (i % 60000)}`;

describe("a CHP client and a master", () => {
  it("updates racing the snapshot are applied exactly once; the client's digest then equals the server's", async () => {
    const master = await lonePrimary();
    const u = await updater(master);
    for (let i = 0; i < 3000; i++) await u.send(kv(`/race/k${i}`, rule(i)));
    await waitUntil(() => master.seq >= 3000n, { timeoutMs: WAIT_MS, what: "3,000 updates at the master" });
    // Updates keep coming (sets, re-sets and deletes) while the client asks for and loads its snapshot.
    const applied: bigint[] = [];
    let snapshotSeq = -1n;
    let sending = true;
    const flood = (async () => {
      for (let i = 0; sending && i < 20_000; i++) {
        await u.send(kv(`/race/k${i % 4000}`, i % 7 === 0 ? EMPTY : rule(i + 1)));
        if (i % 200 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    const c = client(master, "", {
      onSnapshot: (_map, seq) => {
        snapshotSeq = seq;
      },
      onUpdate: (m) => applied.push(m.seq),
    });
    await waitUntil(() => c.synced && applied.length > 500, { timeoutMs: WAIT_MS, what: "the client synced while updates flow" });
    sending = false;
    await flood;
    await waitUntil(() => c.seq === master.seq, { timeoutMs: WAIT_MS, what: "the client to catch up" });
    expect(c.counts.snapshots).toBe(1);
    expect(c.counts.gaps).toBe(0);
    // Updates did race the snapshot: some came in while it loaded (held, then applied or dropped by sequence).
    expect(c.lastBuffered).toBeGreaterThan(0);
    expect(snapshotSeq).toBeGreaterThanOrEqual(3000n);
    // Every update after the snapshot's sequence, once each, in order, none missing.
    expect(applied.length).toBe(Number(master.seq - snapshotSeq));
    expect(applied.every((s, i) => s === snapshotSeq + BigInt(i) + 1n)).toBe(true);
    expect(c.digest()).toBe(master.digest());
  });

  it("a late joiner's map digest equals the server's (sets, deletes and ttls before it came)", async () => {
    const master = await lonePrimary();
    const u = await updater(master);
    for (let i = 0; i < 500; i++) await u.send(kv(`/acl/edge/${i}`, rule(i), i % 10 === 0 ? { ttl: "3600" } : {}));
    for (let i = 0; i < 500; i += 3) await u.send(kv(`/acl/edge/${i}`, EMPTY));
    await waitUntil(() => master.seq === 667n, { timeoutMs: WAIT_MS, what: "the updates at the master" });
    const late = client(master, "");
    await waitUntil(() => late.synced, { timeoutMs: WAIT_MS, what: "the late joiner's snapshot" });
    expect(late.map.size).toBe(master.map.size);
    expect(late.digest()).toBe(master.digest());
    expect(late.map.get("/acl/edge/10")?.ttlS).toBeGreaterThan(3500);
  });

  it("subtree clients never see other keys, in the snapshot or in updates", async () => {
    const master = await lonePrimary();
    const u = await updater(master);
    const keys = ["/acl/edge/1", "/acl/core/1", "/acl/edgeware/1", "/other/1", "/acl/edge/2"];
    for (const k of keys) await u.send(kv(k, rule(1)));
    await waitUntil(() => master.seq === 5n, { timeoutMs: WAIT_MS, what: "the first updates" });
    const seen: string[] = [];
    const edge = client(master, "/acl/edge/", { onUpdate: (m) => seen.push(m.key) }, "edge");
    await waitUntil(() => edge.synced, { timeoutMs: WAIT_MS, what: "the edge client synced" });
    for (const k of keys) await u.send(kv(k, rule(2)));
    await u.send(kv("/acl/edge/3", rule(3), { ttl: "1" }));
    await waitUntil(() => edge.seq >= 11n && !edge.map.has("/acl/edge/3") && seen.includes("/acl/edge/3"), {
      timeoutMs: WAIT_MS,
      what: "the edge client to see its updates and the ttl's delete",
    });
    expect([...edge.map.keys()].sort()).toEqual(["/acl/edge/1", "/acl/edge/2"]);
    expect(seen.every((k) => k.startsWith("/acl/edge/"))).toBe(true);
    expect(seen).toEqual(["/acl/edge/1", "/acl/edge/2", "/acl/edge/3", "/acl/edge/3"]);
    expect(edge.counts.outside).toBe(0);
    expect(master.map.has("/acl/core/1")).toBe(true);
  });

  it("a ttl expires at the master: published as a delete with a new sequence number, everywhere", async () => {
    const master = await lonePrimary();
    const u = await updater(master);
    const updates: KvMsg[] = [];
    const c = client(master, "", { onUpdate: (m) => updates.push(m) });
    await waitUntil(() => c.synced, { timeoutMs: WAIT_MS, what: "the client synced" });
    const started = performance.now();
    const ack = await u.set(kv("/acl/edge/0300", rule(3), { ttl: "1" }), WAIT_MS);
    expect(ack?.seq).toBe(1n);
    await waitUntil(() => updates.length === 2, { timeoutMs: WAIT_MS, what: "the expiry's delete" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(updates[1]).toMatchObject({ key: "/acl/edge/0300", seq: 2n, body: EMPTY });
    expect(master.map.size + c.map.size).toBe(0);
    expect(master.counts.expired).toBe(1);
  });
});

describe("bounds", () => {
  it("a snapshot larger than the client's --max-keys is abandoned, never loaded, and not asked for again at once", async () => {
    const master = await lonePrimary();
    const u = await updater(master);
    for (let i = 0; i < 30; i++) await u.send(kv(`/acl/edge/${i}`, rule(i)));
    await waitUntil(() => master.seq === 30n, { timeoutMs: WAIT_MS, what: "30 keys at the master" });
    const small = new CloneClient(
      { servers: [chpServer(master.endpoints.snapshot)], subtree: "", serverTtlMs: 2000, maxKeys: 10, name: "small" },
      log,
    );
    void tasks.run((s) => small.run(s));
    // Each session's routing id is "small#" and a new suffix: the master lists each snapshot it sent.
    const sentToSmall = () => [...master.clients.keys()].filter((name) => name.startsWith("small#")).length;
    await waitUntil(() => sentToSmall() > 0, { timeoutMs: WAIT_MS, what: "the snapshot sent" });
    await waitUntil(() => small.state === "connecting", { timeoutMs: WAIT_MS, what: "the client to give the snapshot up" });
    expect(small.synced).toBe(false);
    expect(small.map.size).toBe(0);
    // It waits a server silence before asking again: no storm of snapshot requests.
    expect(sentToSmall()).toBe(1);
  });
});

describe("a gap in sequence numbers", () => {
  it("makes a whole-map client take a new snapshot (the policy: re-snapshot, not stop)", async () => {
    // A hand-written CHP server: the snapshot at seq 1, then KVPUB 2 and 4 (3 lost).
    const base = await freeChpEndpoint();
    const router = jar.add(new Router());
    const pub = jar.add(new Publisher());
    await router.bind(base);
    await pub.bind(plus(base, 1));
    const c = new CloneClient({ servers: [chpServer(base)], subtree: "", serverTtlMs: 5000, maxKeys: 100, name: "gap" }, log);
    void tasks.run((s) => c.run(s));
    const hugzTimer = setInterval(() => pub.send(hugz()).catch(() => {}), 20);
    try {
      const snapshot = async (entries: [string, bigint][], seq: bigint) => {
        const req = fromSnapshotClient(await router.receive());
        if (req.kind !== "icanhaz") throw new Error(req.kind);
        for (const [k, s] of entries) await router.send([req.client, ...encodeKvMsg(kv(k, "v", {}, EMPTY, s))]);
        await router.send([req.client, ...kthxbai(seq, "")]);
      };
      await snapshot([["/a", 1n]], 1n);
      await waitUntil(() => c.synced, { timeoutMs: WAIT_MS, what: "the first snapshot" });
      await pub.send(encodeKvMsg(kv("/b", "v", {}, newUuid(), 2n)));
      await waitUntil(() => c.seq === 2n, { timeoutMs: WAIT_MS, what: "update 2" });
      await pub.send(encodeKvMsg(kv("/d", "v", {}, newUuid(), 4n)));
      await snapshot(
        [
          ["/a", 1n],
          ["/b", 2n],
          ["/c", 3n],
          ["/d", 4n],
        ],
        4n,
      );
      await waitUntil(() => c.counts.snapshots === 2, { timeoutMs: WAIT_MS, what: "the second snapshot" });
    } finally {
      clearInterval(hugzTimer);
    }
    expect(c.counts.gaps).toBe(1);
    expect(c.seq).toBe(4n);
    expect([...c.map.keys()]).toEqual(["/a", "/b", "/c", "/d"]);
  });
});

describe("the Binary Star pair (model 6)", () => {
  it("the passive backup follows the primary; each client update it also got is de-duplicated by uuid", async () => {
    const { primary: pc, backup: bc } = await pairConfigs();
    const primary = new PolicyMaster(pc, log);
    const backup = new PolicyMaster(bc, log);
    void tasks.run((s) => primary.run(s));
    void tasks.run((s) => backup.run(s));
    await Promise.all([primary.bind(), backup.bind()]);
    await waitUntil(() => primary.state === "active" && backup.state === "passive", { timeoutMs: WAIT_MS, what: "active + passive" });
    await waitUntil(() => backup.snapshotView().following === "synced", { timeoutMs: WAIT_MS, what: "the backup following" });
    const u = await updater(primary, backup);
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => u.set(kv(`/acl/edge/${i}`, rule(i)), WAIT_MS)));
    expect(acks.every((a) => a !== undefined)).toBe(true);
    await waitUntil(() => backup.seq === 200n && backup.counts.held + backup.counts.duplicates === 200 && backup.pending.size === 0, {
      timeoutMs: WAIT_MS,
      what: "the backup to have every update once and an empty pending list",
    });
    expect(backup.digest()).toBe(primary.digest());
    expect(backup.pending.seenSize).toBe(0);
  });

  it("an update only the backup got (the primary never published it) is published by the backup when it takes over", async () => {
    const { primary: pc, backup: bc } = await pairConfigs();
    const primary = new PolicyMaster(pc, log);
    const backup = new PolicyMaster(bc, log);
    const primaryTask = new Tasks();
    void primaryTask.run((s) => primary.run(s));
    void tasks.run((s) => backup.run(s));
    await Promise.all([primary.bind(), backup.bind()]);
    await waitUntil(() => backup.snapshotView().following === "synced", { timeoutMs: WAIT_MS, what: "the backup following" });
    const both = await updater(primary, backup);
    expect(await both.set(kv("/acl/edge/1", rule(1)), WAIT_MS)).toBeDefined();
    const onlyBackup = await updater(backup);
    await onlyBackup.send(kv("/acl/edge/2", rule(2), {}, newUuid()));
    await waitUntil(() => backup.pending.size === 1, { timeoutMs: WAIT_MS, what: "the update held" });
    await primaryTask.stopAll();
    // A client's snapshot request after the primary went silent is the vote that makes the backup active.
    const c = client(backup, "");
    await waitUntil(() => c.synced, { timeoutMs: WAIT_MS, what: "the backup to serve" });
    expect(backup.state).toBe("active");
    expect(backup.counts.flushed).toBe(1);
    expect([...c.map.keys()].sort()).toEqual(["/acl/edge/1", "/acl/edge/2"]);
    expect(c.seq).toBe(2n);
  });
});
