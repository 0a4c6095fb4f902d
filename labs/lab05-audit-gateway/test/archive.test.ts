// The shared archive: bounded (the oldest records trimmed), and a crashed write's temporary file
// removed at the next start.
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Archive, RECORDS, STALE_TMP_MS } from "../internal/archive.ts";
import { archivistConfig, DEFAULT_ARCHIVE } from "../internal/config.ts";

const tmp = mkdtempSync(join(tmpdir(), "lab05-archive-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let run = 0;
const folder = () => join(tmp, `archive-${++run}`);

/** A pid no process has: above any pid_max. */
const GONE_PID = 2 ** 22 + 7;

describe("the archive", () => {
  it("stores a record id once, and says duplicate after", () => {
    const archive = new Archive(folder(), 10);
    expect(archive.put("r-1", "{}\n")).toBe("stored");
    expect(archive.put("r-1", "{}\n")).toBe("duplicate");
    expect(archive.keys()).toEqual(["r-1"]);
    expect(archive.files).toBe(1);
  });

  it("keeps about `keep` records (at most a fifth more): the oldest are removed, the newest kept", () => {
    const dir = folder();
    const archive = new Archive(dir, 100);
    for (let i = 1; i <= 500; i++) {
      archive.put(`r-${i}`, "{}\n");
      // Each record a second older than the next, so the order does not rest on the clock's resolution.
      utimesSync(join(dir, RECORDS, `r-${i}.json`), i, i);
      expect(archive.keys().length).toBeLessThanOrEqual(120);
    }
    const kept = archive.keys().map((k) => Number(k.slice(2)));
    expect(kept.length).toBeGreaterThanOrEqual(100);
    expect(Math.min(...kept)).toBe(500 - kept.length + 1);
    expect(archive.trimmed).toBe(500 - kept.length);
    // An archivist that starts on the folder trims what is there back to its bound at once.
    expect(new Archive(dir, 100).files).toBe(100);
    const smaller = new Archive(dir, 50);
    expect(smaller.files).toBe(50);
    expect(smaller.keys().map((k) => Number(k.slice(2)))).toEqual(expect.arrayContaining([500, 451]));
  });

  it("with keep 0 keeps every record", () => {
    const archive = new Archive(folder(), 0);
    for (let i = 1; i <= 50; i++) archive.put(`r-${i}`, "{}\n");
    expect(archive.keys()).toHaveLength(50);
  });

  it("removes the temporary files of writes that crashed, not those of a live writer or a record", () => {
    const dir = folder();
    const archive = new Archive(dir);
    archive.put("kept", "{}\n");
    const records = join(dir, RECORDS);
    const crashed = `.r-9.${GONE_PID}.k3j2.tmp`;
    const live = `.r-8.${process.pid}.a1b2.tmp`;
    const old = `.r-7.${process.pid}.c3d4.tmp`;
    for (const name of [crashed, live, old]) writeFileSync(join(records, name), "{");
    const longAgo = (Date.now() - STALE_TMP_MS - 1000) / 1000;
    utimesSync(join(records, old), longAgo, longAgo);
    expect(archive.removeLeftovers()).toBe(2);
    expect(readdirSync(records).sort()).toEqual([live, "kept.json"].sort());
    expect(archive.keys()).toEqual(["kept"]);
  });
});

describe("the archive's folder", () => {
  const flags = (archive: string) => ({ _: [], id: "a", gateway: "tcp://127.0.0.1:1", archive, delay: 0, keep: 10 });

  it("by default is in the lab's folder, wherever the command ran; a path the user gives is from where they ran it", () => {
    const before = process.env.ZLABS_USER_CWD;
    process.env.ZLABS_USER_CWD = "/somewhere/else";
    try {
      expect(archivistConfig(flags(DEFAULT_ARCHIVE)).archive).toBe(fileURLToPath(new URL("../.store/archive", import.meta.url)));
      expect(archivistConfig(flags("mine")).archive).toBe("/somewhere/else/mine");
      expect(archivistConfig(flags("/abs/arch")).archive).toBe("/abs/arch");
    } finally {
      if (before === undefined) delete process.env.ZLABS_USER_CWD;
      else process.env.ZLABS_USER_CWD = before;
    }
  });
});
