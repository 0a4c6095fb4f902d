// TSP over real sockets, in-process: lab12's broker, Titanic, the archive and a test client.
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tasks } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { TITANIC_CLOSE, TITANIC_REPLY, TITANIC_REQUEST } from "../internal/protocol.ts";
import { digestOf, STORAGE_SERVICE } from "../internal/storage-service.ts";
import { JOURNAL_FILE, TitanicStore } from "../internal/store.ts";
import { log, startBroker, startStorage, startTitanic, Tsp, titanicConfig } from "./helpers.ts";

const tasks = new Tasks();
const clients: Tsp[] = [];
const tmp = mkdtempSync(join(tmpdir(), "lab13-sockets-"));
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await tasks.stopAll();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const dir = (what: string) => join(tmp, `${what}-${n++}`);
const client = (broker: string) => {
  const c = new Tsp(broker);
  clients.push(c);
  return c;
};

describe("TSP through lab12's broker", () => {
  it("request -> 200 + uuid; reply 300 until the service answers, then 200 with its body, the same each time; close; then 400", async () => {
    const broker = await startBroker(tasks);
    startTitanic(tasks, titanicConfig(broker, dir("titanic")));
    const tsp = client(broker);
    const content = Buffer.from("evidence bytes");
    const uuid = await tsp.submit(STORAGE_SERVICE, ["disk.img", content]);
    expect(uuid).toMatch(/^[0-9A-F]{32}$/);
    expect(await tsp.call(TITANIC_REPLY, [uuid])).toEqual({ kind: "pending" });
    startStorage(tasks, broker, dir("archive"));
    const body = await tsp.awaitReply(uuid);
    expect(body).toEqual(["stored", digestOf(content), String(content.length)]);
    // Idempotent: the same answer again (lower-case uuid too), until closed.
    expect((await tsp.call(TITANIC_REPLY, [uuid.toLowerCase()])).kind).toBe("ok");
    expect(await tsp.call(TITANIC_CLOSE, [uuid])).toEqual({ kind: "ok", frames: [] });
    expect(await tsp.call(TITANIC_CLOSE, [uuid])).toEqual({ kind: "ok", frames: [] });
    expect(await tsp.call(TITANIC_REPLY, [uuid])).toEqual({ kind: "unknown" });
  });

  it("bad uuids and malformed requests get 400 (never a path); close of an unknown uuid gets 200", async () => {
    const broker = await startBroker(tasks);
    const titanic = startTitanic(tasks, titanicConfig(broker, dir("titanic")));
    const tsp = client(broker);
    const bad = [
      "../../../../etc/passwd",
      "0".repeat(31),
      "0".repeat(33),
      `${"0".repeat(31)}G`,
      `/${"A".repeat(31)}`,
      "",
      "\u0000".repeat(32),
    ];
    for (const uuid of bad) {
      expect(await tsp.call(TITANIC_REPLY, [uuid])).toEqual({ kind: "unknown" });
      expect(await tsp.call(TITANIC_CLOSE, [uuid])).toEqual({ kind: "unknown" });
    }
    expect(await tsp.call(TITANIC_REPLY, ["A".repeat(32), "extra"])).toEqual({ kind: "unknown" });
    expect(await tsp.call(TITANIC_REPLY, ["F".repeat(32)])).toEqual({ kind: "unknown" });
    expect(await tsp.call(TITANIC_CLOSE, ["F".repeat(32)])).toEqual({ kind: "ok", frames: [] });
    expect(await tsp.call(TITANIC_REQUEST, ["only-a-service"])).toEqual({ kind: "unknown" });
    expect(await tsp.call(TITANIC_REQUEST, ["titanic.request", "loop"])).toEqual({ kind: "unknown" });
    expect(await tsp.call(TITANIC_REQUEST, ["mmi.service", "x"])).toEqual({ kind: "unknown" });
    expect(titanic.counters.refused).toBe(bad.length * 2 + 4);
    expect(titanic.counters.stored).toBe(0);
  });

  it("past --max-open requests stored and not closed, titanic.request answers 500 until one closes", async () => {
    const broker = await startBroker(tasks);
    startTitanic(tasks, titanicConfig(broker, dir("titanic"), { maxOpen: 2 }));
    const tsp = client(broker);
    const first = await tsp.submit(STORAGE_SERVICE, ["a", "x"]);
    await tsp.submit(STORAGE_SERVICE, ["b", "x"]);
    expect(await tsp.call(TITANIC_REQUEST, [STORAGE_SERVICE, "c", "x"])).toEqual({ kind: "error" });
    expect((await tsp.call(TITANIC_CLOSE, [first])).kind).toBe("ok");
    expect((await tsp.call(TITANIC_REQUEST, [STORAGE_SERVICE, "c", "x"])).kind).toBe("ok");
  });

  it("the archive refuses unsafe names and oversized artefacts with a reply, not a file", async () => {
    const broker = await startBroker(tasks);
    const archive = dir("archive");
    const storage = startStorage(tasks, broker, archive);
    expect((await storage.handle([Buffer.from("../escape"), Buffer.from("x")])).map(String)[0]).toBe("refused");
    expect((await storage.handle([Buffer.from(".hidden"), Buffer.from("x")])).map(String)[0]).toBe("refused");
    expect((await storage.handle([Buffer.from("big"), Buffer.alloc(256 * 1024 + 1)])).map(String)[0]).toBe("refused");
    expect((await storage.handle([Buffer.from("a")])).map(String)[0]).toBe("refused");
    const ok = (await storage.handle([Buffer.from("fine.bin"), Buffer.from("x")])).map(String);
    expect(ok).toEqual(["stored", digestOf(Buffer.from("x")), "1"]);
  });

  it("a torn journal tail (a crash mid-append): Titanic starts, cuts it off, and runs the request stored before it", async () => {
    const titanicDir = dir("torn");
    const store = new TitanicStore({ dir: titanicDir, groupCommit: true, compactMinBytes: 1 << 20, log });
    await store.open();
    const content = Buffer.from("stored before the crash");
    const uuid = await store.submit(STORAGE_SERVICE, [Buffer.from("before.bin"), content]);
    await store.shutdown();
    // Half a record: a length and a checksum, and the payload cut short.
    appendFileSync(join(titanicDir, JOURNAL_FILE), Buffer.from([0, 0, 0, 200, 1, 2, 3, 4, 1, 0xab, 0xcd]));
    const broker = await startBroker(tasks);
    const titanic = startTitanic(tasks, titanicConfig(broker, titanicDir));
    startStorage(tasks, broker, dir("archive"));
    const tsp = client(broker);
    expect(await tsp.awaitReply(uuid)).toEqual(["stored", digestOf(content), String(content.length)]);
    expect(titanic.store.stats?.tornBytes).toBe(11);
  });

  it("storage whose folder cannot exist (its parent is a file): 500, the process goes on, and 200 once the folder can be made", async () => {
    const broker = await startBroker(tasks);
    const parent = dir("blocker");
    writeFileSync(parent, "a file where a folder should be");
    const titanic = startTitanic(tasks, titanicConfig(broker, join(parent, "titanic")));
    const tsp = client(broker);
    expect(await tsp.call(TITANIC_REQUEST, [STORAGE_SERVICE, "a", "b"])).toEqual({ kind: "error" });
    expect(await tsp.call(TITANIC_REPLY, ["A".repeat(32)])).toEqual({ kind: "error" });
    expect(await tsp.call(TITANIC_CLOSE, ["A".repeat(32)])).toEqual({ kind: "error" });
    expect(titanic.counters.stored).toBe(0);
    rmSync(parent);
    mkdirSync(parent);
    // The storage loop opens it again by itself.
    const uuid = await (async () => {
      for (;;) {
        const r = await tsp.call(TITANIC_REQUEST, [STORAGE_SERVICE, "a", "b"]);
        if (r.kind === "ok") return String(r.frames[0]);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    expect(uuid).toMatch(/^[0-9A-F]{32}$/);
  });
});

const canMount = (() => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), "zl13-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "zl13probe", probe], { stdio: "ignore" });
    execFileSync("umount", [probe], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();

describe.skipIf(!canMount)("full storage (a small tmpfs; needs root and mount)", () => {
  it("ENOSPC: 500, nothing acknowledged that is not stored, 200 again once there is room", async () => {
    const mnt = mkdtempSync(join(tmpdir(), "zl13-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "zl13full", mnt]);
    try {
      const filler = join(mnt, "filler");
      writeFileSync(filler, Buffer.alloc(96 * 1024));
      const broker = await startBroker(tasks);
      const titanic = startTitanic(tasks, titanicConfig(broker, join(mnt, "titanic")));
      const tsp = client(broker);
      const acked: string[] = [];
      let refused = 0;
      for (let i = 0; i < 40 && refused < 3; i++) {
        const r = await tsp.call(TITANIC_REQUEST, [STORAGE_SERVICE, `a${i}`, Buffer.alloc(20_000, i)]);
        if (r.kind === "ok") acked.push(String(r.frames[0]));
        else if (r.kind === "error") refused += 1;
        else throw new Error(`unexpected ${r.kind}`);
      }
      expect(refused).toBe(3);
      expect(acked.length).toBeGreaterThan(3);
      expect(titanic.counters.failed500).toBeGreaterThanOrEqual(3);
      // Still serving: replies to what it stored.
      expect(await tsp.call(TITANIC_REPLY, [acked[0] as string])).toEqual({ kind: "pending" });
      rmSync(filler);
      const again = await tsp.call(TITANIC_REQUEST, [STORAGE_SERVICE, "after", Buffer.alloc(20_000)]);
      expect(again.kind).toBe("ok");
      if (again.kind === "ok") acked.push(String(again.frames[0]));
      await tasks.stopAll();
      // Every acknowledged request is in the journal, whole.
      const store = new TitanicStore({ dir: join(mnt, "titanic"), groupCommit: true, compactMinBytes: 1 << 20, log });
      expect(await store.open()).toBe(true);
      expect([...store.pending]).toEqual(acked);
      for (const uuid of acked) expect((await store.request(uuid))?.body.length).toBe(2);
      await store.shutdown();
    } finally {
      await tasks.stopAll();
      execFileSync("umount", ["-l", mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
