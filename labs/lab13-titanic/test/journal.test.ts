// The journal and the store on a real file system: group commit, torn tails, compaction, reopen.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testLogger } from "@zlabs/kit/testing";
import { afterAll, describe, expect, it } from "vitest";
import { checkRecord, encodeRecord, JOURNAL_MAGIC, Journal, type JournalRecord, type Location } from "../internal/journal.ts";
import { JOURNAL_FILE, TitanicStore } from "../internal/store.ts";

const log = testLogger("lab13");
const tmp = mkdtempSync(join(tmpdir(), "lab13-journal-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(tmp, `j${n++}`);
const key = (i: number) => Buffer.alloc(16, i);
const rec = (i: number, body = `body ${i}`): JournalRecord => ({ type: 1, key: key(i), frames: [Buffer.from("svc"), Buffer.from(body)] });

async function reopen(path: string, groupCommit = true) {
  const seen: { record: JournalRecord; loc: Location }[] = [];
  const journal = await Journal.open(path, { groupCommit, log }, (record, loc) => seen.push({ record, loc }));
  return { journal, seen };
}

describe("record format", () => {
  it("round-trips, and every kind of damage is told apart from a good record", () => {
    const buf = encodeRecord(rec(7, "x".repeat(100)));
    const ok = checkRecord(buf);
    expect(ok.kind).toBe("ok");
    if (ok.kind === "ok") expect(ok.record.frames.map(String)).toEqual(["svc", "x".repeat(100)]);
    expect(checkRecord(buf.subarray(0, 5)).kind).toBe("short");
    expect(checkRecord(buf.subarray(0, buf.length - 1)).kind).toBe("short");
    const flipped = Buffer.from(buf);
    flipped.writeUInt8(flipped.readUInt8(buf.length - 3) ^ 0xff, buf.length - 3);
    expect(checkRecord(flipped)).toEqual({ kind: "bad", reason: "checksum mismatch" });
    const huge = Buffer.from(buf);
    huge.writeUInt32BE(0xffffffff, 0);
    expect(checkRecord(huge).kind).toBe("bad");
  });
});

describe("journal", () => {
  it("group commit: 200 appends at once take far fewer fsyncs than records, and all come back after reopen", async () => {
    const path = join(fresh(), JOURNAL_FILE);
    const { journal } = await reopen(path);
    await Promise.all(Array.from({ length: 200 }, (_, i) => journal.append([rec(i)])));
    expect(journal.stats.appended).toBe(200);
    expect(journal.stats.fsyncs).toBeLessThan(40);
    await journal.close();
    const again = await reopen(path);
    expect(again.seen.map((s) => s.record.frames[1]?.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `body ${i}`));
    await again.journal.close();
  });

  it("without group commit every append has its own fsync", async () => {
    const { journal } = await reopen(join(fresh(), JOURNAL_FILE), false);
    await Promise.all(Array.from({ length: 30 }, (_, i) => journal.append([rec(i)])));
    expect(journal.stats.fsyncs).toBe(30);
    await journal.close();
  });

  it("a torn last record (cut short, or bad checksum) is cut off at open, and appends go on after it", async () => {
    for (const damage of ["short", "checksum", "garbage"] as const) {
      const path = join(fresh(), JOURNAL_FILE);
      const { journal } = await reopen(path);
      for (let i = 0; i < 5; i++) await journal.append([rec(i)]);
      await journal.close();
      const good = statSync(path).size;
      const last = encodeRecord(rec(5));
      if (damage === "short") appendFileSync(path, last.subarray(0, last.length - 4));
      if (damage === "checksum") {
        last.writeUInt8(last.readUInt8(last.length - 1) ^ 1, last.length - 1);
        appendFileSync(path, last);
      }
      if (damage === "garbage") appendFileSync(path, Buffer.from([0, 0, 0]));
      const torn = await reopen(path);
      expect(torn.seen).toHaveLength(5);
      expect(torn.journal.stats.tornBytes).toBeGreaterThan(0);
      expect(statSync(path).size).toBe(good);
      await torn.journal.append([rec(9)]);
      await torn.journal.close();
      const final = await reopen(path);
      expect(final.seen.map((s) => s.record.key[0])).toEqual([0, 1, 2, 3, 4, 9]);
      await final.journal.close();
    }
  });

  it("a file cut inside its magic starts again; a foreign file is refused", async () => {
    const dir = fresh();
    const path = join(dir, JOURNAL_FILE);
    await (await reopen(path)).journal.close();
    truncateSync(path, 3);
    const again = await reopen(path);
    expect(again.seen).toHaveLength(0);
    await again.journal.close();
    expect(readFileSync(path)).toEqual(JOURNAL_MAGIC);
    writeFileSync(path, "not a journal at all");
    await expect(reopen(path)).rejects.toThrow(/not a Titanic journal/);
  });

  it("compaction keeps only the records named, in order, and reads follow them to the new file", async () => {
    const path = join(fresh(), JOURNAL_FILE);
    const { journal } = await reopen(path);
    const locs = (await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append([rec(i, "y".repeat(1000))])))).map(
      (l) => l[0] as Location,
    );
    const before = journal.bytes;
    const keep = [locs[3], locs[40]] as Location[];
    let moved: Location[] = [];
    await journal.compact(
      () => keep,
      (l) => {
        moved = l;
      },
    );
    expect(journal.bytes).toBeLessThan(before / 10);
    expect((await journal.read(moved[1] as Location)).key[0]).toBe(40);
    await journal.append([rec(99)]);
    await journal.close();
    const again = await reopen(path);
    expect(again.seen.map((s) => s.record.key[0])).toEqual([3, 40, 99]);
    await again.journal.close();
  });

  it("reads running while a compaction swaps the file all return their own record", async () => {
    const dir = fresh();
    const store = new TitanicStore({ dir, groupCommit: true, compactMinBytes: 0, log });
    await store.open();
    const uuids: string[] = [];
    for (let i = 0; i < 60; i++) uuids.push(await store.submit("echo", [Buffer.from(`req ${i}`)]));
    for (const u of uuids.slice(0, 30)) await store.storeReply(u, [Buffer.from(`rep ${u}`)]);
    const reads: Promise<unknown>[] = [];
    for (let round = 0; round < 5; round++) {
      for (const u of uuids.slice(30, 40))
        reads.push(store.request(u).then((r) => expect(r?.body[0]?.toString()).toBe(`req ${uuids.indexOf(u)}`)));
      for (const u of uuids.slice(0, 10))
        reads.push(store.reply(u).then((r) => expect(r).toEqual({ kind: "done", frames: [Buffer.from(`rep ${u}`)] })));
      // Closing compacts at once (compactMinBytes 0, closed bytes outweigh the rest soon).
      await store.close(uuids[59 - round] as string);
      await store.maybeCompact(true);
    }
    await Promise.all(reads);
    expect(store.stats?.compactions).toBeGreaterThanOrEqual(5);
    await store.shutdown();
  });
});

describe("TitanicStore", () => {
  it("request, reply, close: states survive a reopen; closed ones are gone; close of unknown is fine", async () => {
    const dir = fresh();
    const store = new TitanicStore({ dir, groupCommit: true, compactMinBytes: 1 << 20, log });
    expect(await store.open()).toBe(true);
    const a = await store.submit("echo", [Buffer.from("A")]);
    const b = await store.submit("echo", [Buffer.from("B")]);
    const c = await store.submit("echo", [Buffer.from("C")]);
    expect([...store.pending]).toEqual([a, b, c]);
    expect(await store.reply(a)).toEqual({ kind: "pending" });
    expect(await store.storeReply(a, [Buffer.from("ra")])).toBe(true);
    expect(await store.storeReply(a, [Buffer.from("again")])).toBe(false);
    expect(await store.storeReply(b, [Buffer.from("rb")])).toBe(true);
    await store.close(b);
    await store.close(b);
    await store.close("0".repeat(32));
    await store.shutdown();

    const again = new TitanicStore({ dir, groupCommit: true, compactMinBytes: 1 << 20, log });
    expect(await again.open()).toBe(true);
    expect(await again.reply(a)).toEqual({ kind: "done", frames: [Buffer.from("ra")] });
    expect(await again.reply(b)).toEqual({ kind: "unknown" });
    expect(await again.reply(c)).toEqual({ kind: "pending" });
    expect([...again.pending]).toEqual([c]);
    expect(await again.request(c)).toEqual({ service: "echo", body: [Buffer.from("C")] });
    await again.shutdown();
  });

  it("compacts by itself once closed entries outweigh open ones", async () => {
    const dir = fresh();
    const store = new TitanicStore({ dir, groupCommit: true, compactMinBytes: 10_000, log });
    await store.open();
    const keep = await store.submit("echo", [Buffer.from("keep")]);
    for (let i = 0; i < 40; i++) {
      const u = await store.submit("echo", [Buffer.alloc(500, i)]);
      await store.storeReply(u, [Buffer.alloc(500, i)]);
      await store.close(u);
    }
    expect(store.stats?.compactions).toBeGreaterThan(0);
    expect(store.size.entries).toBe(1);
    await store.shutdown();
    const again = new TitanicStore({ dir, groupCommit: true, compactMinBytes: 10_000, log });
    await again.open();
    expect([...again.pending]).toEqual([keep]);
    expect(statSync(again.path).size).toBeLessThan(10_000);
    await again.shutdown();
  });

  it("an unusable folder (its parent is a file): open says no, submit throws StorageUnavailable", async () => {
    const file = join(fresh());
    writeFileSync(file, "a file, not a folder");
    const store = new TitanicStore({ dir: join(file, "titanic"), groupCommit: true, compactMinBytes: 1 << 20, log });
    expect(await store.open()).toBe(false);
    expect(store.unavailableReason).toMatch(/ENOTDIR|not a directory/);
    await expect(store.submit("echo", [Buffer.from("x")])).rejects.toThrow(/StorageUnavailable|not a directory|ENOTDIR/);
  });
});
