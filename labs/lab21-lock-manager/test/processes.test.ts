// The real processes: a holder killed with SIGKILL, a holder frozen with SIGSTOP past its lease, the
// lock server killed with SIGKILL and restarted; bad flags.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, type LogEntry, loggedAt, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { LEDGER_FILE } from "../internal/ledger.ts";
import { removeTmpDirs, tmpDir } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());
afterAll(removeTmpDirs);

interface Lab {
  server: RoleProcess;
  ledger: RoleProcess;
  serverArgs: string[];
  endpoints: { server: string; ledger: string };
  ledgerDir: string;
  writer: (id: string, args: string[]) => RoleProcess;
}

async function startLab(serverFlags: string[]): Promise<Lab> {
  const [server, ledger] = (await freeTcpEndpoints(2)) as [string, string];
  const serverDir = tmpDir("e2e-server");
  const ledgerDir = tmpDir("e2e-ledger");
  const serverArgs = ["--endpoint", server, "--data-dir", serverDir, "--sweep", "20", "--heartbeat", "100", ...serverFlags];
  const s = procs.start({ labDir, cmd: "cmd/lock-server.ts", name: "server", args: serverArgs });
  const l = procs.start({
    labDir,
    cmd: "cmd/ledger.ts",
    name: "ledger",
    args: ["--endpoint", ledger, "--server", server, "--data-dir", ledgerDir],
  });
  await Promise.all([s.waitForLog("listening", WAIT_MS), l.waitForLog("listening", WAIT_MS)]);
  const writer = (id: string, args: string[]) =>
    procs.start({
      labDir,
      cmd: "cmd/lock-client.ts",
      name: id,
      args: ["--id", id, "--server", server, "--ledger", ledger, "--heartbeat", "100", "--timeout", "300", "--rest", "100", ...args],
    });
  return { server: s, ledger: l, serverArgs, endpoints: { server, ledger }, ledgerDir, writer };
}

const ledgerTokens = (dir: string) =>
  readFileSync(join(dir, LEDGER_FILE), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { seq: number; token: number; client: string });

describe("the real processes", () => {
  it("a holder killed with SIGKILL: the next waiter gets the lock once the lease has run out", async () => {
    const lab = await startLab([]);
    const a = lab.writer("holder", ["--ttl", "1500", "--writes", "1000", "--write-every", "200"]);
    await a.waitForLog("lock held", WAIT_MS);
    const b = lab.writer("waiter", ["--ttl", "1500", "--writes", "2", "--write-every", "100"]);
    await lab.server.waitForLog({ msg: "queued", client: "waiter" }, WAIT_MS);
    const killedAt = Date.now();
    await procs.crash(a);
    const expired = await lab.server.waitForLog({ msg: "lease expired (the holder did not renew)", client: "holder" }, WAIT_MS);
    const granted = await lab.server.waitForLog({ msg: "granted to the next in line", client: "waiter" }, WAIT_MS);
    await b.waitForLog({ msg: "lock held", token: granted.token }, WAIT_MS);
    await lab.ledger.waitForLog({ msg: "entry appended", client: "waiter" }, WAIT_MS);
    // Not before the lease ran out: a full TTL after the last renewal the server took from the holder
    // (log times are whole milliseconds: 2 ms of rounding between the two lines).
    const lastRenewal = lab.server.find({ msg: "renewed", client: "holder" }).at(-1);
    expect(lastRenewal).toBeDefined();
    expect(loggedAt(lastRenewal as LogEntry)).toBeLessThanOrEqual(killedAt);
    expect(loggedAt(granted)).toBeGreaterThanOrEqual(loggedAt(lastRenewal as LogEntry) + 1500 - 2);
    expect(loggedAt(granted)).toBeGreaterThanOrEqual(loggedAt(expired));
    expect(granted.token as number).toBeGreaterThan(a.find("lock held")[0]?.token as number);
  });

  it("a holder frozen with SIGSTOP past its lease writes late when resumed: the ledger refuses it", async () => {
    const lab = await startLab([]);
    const a = lab.writer("frozen", ["--ttl", "1000", "--writes", "1000", "--write-every", "600"]);
    const held = await a.waitForLog("lock held", WAIT_MS);
    const b = lab.writer("next", ["--ttl", "1000", "--writes", "1", "--write-every", "1500"]);
    await lab.server.waitForLog({ msg: "queued", client: "next" }, WAIT_MS);
    // Frozen right after its lease check, while it prepares the entry.
    const from = a.logs.length;
    await a.waitForLog("preparing entry", WAIT_MS, from);
    process.kill(a.pid as number, "SIGSTOP");
    try {
      await lab.server.waitForLog({ msg: "lease expired (the holder did not renew)", client: "frozen" }, WAIT_MS);
      const granted = await lab.server.waitForLog({ msg: "granted to the next in line", client: "next" }, WAIT_MS);
      await b.waitForLog({ msg: "lock held", token: granted.token }, WAIT_MS);
    } finally {
      process.kill(a.pid as number, "SIGCONT");
    }
    const refused = await a.waitForLog("entry refused", WAIT_MS, from);
    expect(refused.token).toBe(held.token);
    await lab.ledger.waitForLog({ msg: "stale write refused", client: "frozen", token: held.token }, WAIT_MS);
    await a.waitForLog({ msg: "lease lost" }, WAIT_MS, from);
    const late = lab.ledger.find({ msg: "entry appended", client: "frozen" }).filter((e) => loggedAt(e) > loggedAt(refused));
    expect(late).toEqual([]);
  });

  it("the lock server killed with SIGKILL and restarted: no grant during the grace period, tokens keep rising", async () => {
    const lab = await startLab(["--max-ttl", "2000"]);
    const a = lab.writer("first", ["--ttl", "2000", "--writes", "1000", "--write-every", "150"]);
    const held = await a.waitForLog("lock held", WAIT_MS);
    lab.writer("second", ["--ttl", "2000", "--writes", "3", "--write-every", "150"]);
    await lab.server.waitForLog({ msg: "queued", client: "second" }, WAIT_MS);
    await lab.ledger.waitForLog({ msg: "entry appended", client: "first" }, WAIT_MS);
    await procs.crash(lab.server);
    const again = procs.start({ labDir, cmd: "cmd/lock-server.ts", name: "server-again", args: lab.serverArgs });
    const restarted = await again.waitForLog(/^restarted: no grants/, WAIT_MS);
    expect(restarted.graceMs).toBe(2000);
    const firstGrant = await again.waitForLog((e) => e.msg === "granted" || e.msg === "granted to the next in line", WAIT_MS);
    // No grant before every lease of the old server has run out: the grace period is the longest TTL.
    expect(loggedAt(firstGrant) - loggedAt(restarted)).toBeGreaterThanOrEqual(2000 - 20);
    expect(firstGrant.token as number).toBeGreaterThan(held.token as number);
    await lab.ledger.waitForLog({ msg: "entry appended", token: firstGrant.token }, WAIT_MS);
    // The ledger's tokens never go down, and the old token wrote nothing after the new one.
    const tokens = ledgerTokens(lab.ledgerDir).map((e) => e.token);
    expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
  });
});

describe("bad flags: one line, exit code 2", () => {
  it("each command refuses a bad flag with one line naming it", async () => {
    const cases: [string, string[], RegExp][] = [
      ["cmd/lock-server.ts", ["--max-ttl", "5000", "--grace", "1000"], /^lock-server: --grace 1000 is shorter than --max-ttl 5000/],
      ["cmd/lock-server.ts", ["--max-ttl", "10"], /^lock-server: --max-ttl \(or LAB21_MAX_TTL\) must be at least 50/],
      ["cmd/lock-client.ts", ["--id", "a b"], /^lock-client: --id "a b" must be 1-64 letters/],
      ["cmd/lock-client.ts", ["--ttl", "1.5"], /^lock-client: --ttl \(or LAB21_TTL\) must be a whole number/],
      ["cmd/ledger.ts", ["--server", "nope"], /^ledger: --server \(or LAB21_SERVER\) must be a ZeroMQ endpoint/],
    ];
    const started = cases.map(([cmd, args]) => procs.start({ labDir, cmd, name: cmd, args }));
    for (const [i, p] of started.entries()) {
      expect(await p.exited).toEqual({ code: 2, signal: null });
      expect(p.lines).toHaveLength(1);
      expect(p.lines[0]).toMatch((cases[i] as [string, string[], RegExp])[2]);
    }
  });
});
