// End to end: the real gateway, archivists and client; an archivist killed with SIGKILL mid-write.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Archive } from "../internal/archive.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const procs = new ProcessPool();
const tmp = mkdtempSync(join(tmpdir(), "lab05-e2e-"));
afterEach(() => procs.stopAll());
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the real processes", () => {
  it("an archivist killed with SIGKILL mid-write: every record is acknowledged and every acknowledged record is in the archive; a crashed write's leftover removed at start", async () => {
    const archive = join(tmp, "archive");
    // What a write killed between its temporary file and its link leaves behind (no process has this pid).
    const leftover = join(archive, "records", `.e2e-0.${2 ** 22 + 7}.x1.tmp`);
    mkdirSync(join(archive, "records"), { recursive: true });
    writeFileSync(leftover, "{");
    const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
    const gateway = procs.start({
      labDir,
      cmd: "cmd/audit-gateway.ts",
      name: "gateway",
      args: ["--front", front, "--back", back, "--request-ttl", "2000"],
    });
    await gateway.waitForLog("listening", WAIT_MS);
    const archivist = (id: string, extra: string[] = []) =>
      procs.start({
        labDir,
        cmd: "cmd/archival-worker.ts",
        name: id,
        args: ["--id", id, "--gateway", back, "--archive", archive, ...extra],
      });
    // The victim holds every record it gets for a minute: it dies with records in hand.
    const victim = archivist("victim", ["--delay", "60000"]);
    const survivor = archivist("survivor");
    await victim.waitForLog("archivist ready", WAIT_MS);
    await survivor.waitForLog("archivist ready", WAIT_MS);
    expect(existsSync(leftover)).toBe(false);
    const client = procs.start({
      labDir,
      cmd: "cmd/audit-client.ts",
      name: "client",
      args: ["--id", "e2e", "--gateway", front, "--records", "200", "--inflight", "20", "--timeout", "1500"],
    });
    await victim.waitForLog("record received", WAIT_MS);
    await procs.crash(victim);
    expect(await client.exited).toEqual({ code: 0, signal: null });
    const summary = client.find("all records acknowledged")[0];
    expect(summary).toMatchObject({ acked: 200, errors: 0 });
    expect(summary?.timeouts).toBeGreaterThan(0);
    // Record ids are <client id>-<session>-<n>: every n from 1 to 200, once, under this run's session.
    const stored = new Archive(archive).keys();
    expect(stored).toHaveLength(200);
    const session = /^e2e-([0-9a-z]+)-1$/.exec(String(client.find("sending")[0]?.firstRecord))?.[1];
    expect(new Set(stored)).toEqual(new Set(Array.from({ length: 200 }, (_, i) => `e2e-${session}-${i + 1}`)));
  });

  it.each([
    [
      "cmd/audit-gateway.ts",
      ["--max-inflight", "0"],
      "audit-gateway: --max-inflight (or LAB05_MAX_INFLIGHT) must be at least 1 (see --help)",
    ],
    ["cmd/audit-client.ts", ["--id", "a/b"], 'audit-client: --id "a/b" may hold only letters, digits, ., - and _ (see --help)'],
  ])("%s with a bad flag exits 2 with one line", async (cmd, args, line) => {
    const p = procs.start({ labDir, cmd, name: cmd, args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual([line]);
  });
});
