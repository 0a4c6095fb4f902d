// The real processes end to end: start orders, SIGKILL of the primary (the client fails over within
// the README's bound), the primary restarted (it comes back passive: no fail-back), recovery by
// stopping the backup, lone servers, and a dual active ending the process with a clear line.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, type LogEntry, ProcessPool, type RoleProcess, SocketJar, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Publisher, Request } from "zeromq";
import { EXIT_PAIR_BROKEN } from "../internal/ha-broker.ts";
import { encodeRequest } from "../internal/protocol.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const HB = 100;
const TIMEOUT = 300;
const SETTLE = 400;
const procs = new ProcessPool();
const jar = new SocketJar();
afterEach(async () => {
  await procs.stopAll();
  jar.closeAll();
});

interface Pair {
  pf: string;
  bf: string;
  ps: string;
  bs: string;
}

async function endpoints(): Promise<Pair> {
  const [pf, bf, ps, bs] = (await freeTcpEndpoints(4)) as [string, string, string, string];
  return { pf, bf, ps, bs };
}

function broker(role: "primary" | "backup", e: Pair, hb = HB): RoleProcess {
  const [front, stateBind, peerState] = role === "primary" ? [e.pf, e.ps, e.bs] : [e.bf, e.bs, e.ps];
  return procs.start({
    labDir,
    cmd: "cmd/ha-broker.ts",
    name: role,
    args: ["--role", role, "--front", front, "--state-bind", stateBind, "--peer-state", peerState, "--heartbeat", String(hb)],
  });
}

function client(e: Pair): RoleProcess {
  return procs.start({
    labDir,
    cmd: "cmd/client-app.ts",
    name: "client",
    args: ["--servers", e.pf, e.bf, "--id", "c1", "--timeout", String(TIMEOUT), "--settle", String(SETTLE), "--interval", "50"],
  });
}

const becomes = (p: RoleProcess, to: string, from = 0) => p.waitForLog({ msg: "state changed", to }, WAIT_MS, from);

const failedOverTo = (server: string) => (x: LogEntry) => typeof x.msg === "string" && x.msg.startsWith(`failed over to ${server} in `);

/** Tickets the client logged from `from` on. */
const tickets = (c: RoleProcess, from = 0) => c.find("ticket", from);

describe("the broker pair as real processes", () => {
  it.each([["primary", "backup"] as const, ["backup", "primary"] as const])(
    "started %s first then %s: the primary ends active, the backup passive",
    async (first, second) => {
      const e = await endpoints();
      const one = broker(first, e);
      await one.waitForLog("binary star started", WAIT_MS);
      const two = broker(second, e);
      const [primary, backup] = first === "primary" ? [one, two] : [two, one];
      await becomes(primary, "active");
      await becomes(backup, "passive");
      expect(primary.find({ msg: "state changed", to: "active" })[0]).toMatchObject({ event: "peer-backup" });
      const c = client(e);
      // At least the third: a ticket whose reply came after the client's timeout is never logged.
      await c.waitForLog((x) => x.msg === "ticket" && x.server === "primary" && (x.ticket as number) >= 3, WAIT_MS);
    },
  );

  it("SIGKILL the primary: the client fails over within timeout + settle (one timeout); restarted, the primary comes back passive and the clients stay on the backup; stopping the backup hands them back", async () => {
    const e = await endpoints();
    let primary = broker("primary", e);
    const backup = broker("backup", e);
    await becomes(primary, "active");
    await becomes(backup, "passive");
    const c = client(e);
    await c.waitForLog((x) => x.msg === "ticket" && (x.ticket as number) >= 5, WAIT_MS);

    await procs.crash(primary);
    const failover = await c.waitForLog(failedOverTo("backup"), WAIT_MS);
    // The README's bound: served by the backup on the first try after one timeout and the settle delay.
    expect(failover).toMatchObject({ from: "primary", to: "backup", timeouts: 1 });
    expect(failover.ms as number).toBeGreaterThanOrEqual(TIMEOUT + SETTLE);
    expect(failover.ms as number).toBeLessThan(2 * (TIMEOUT + SETTLE));
    const took = await becomes(backup, "active");
    expect(took).toMatchObject({ event: "client-request", from: "passive" });
    expect(took.sincePeerMs as number).toBeGreaterThanOrEqual(2 * HB);
    await c.waitForLog({ msg: "ticket", server: "backup" }, WAIT_MS);

    // Restarted, the primary hears an active backup and goes passive: no automatic fail-back.
    primary = broker("primary", e);
    expect(await becomes(primary, "passive")).toMatchObject({ from: "primary", event: "peer-active" });
    const mark = c.logs.length;
    await c.waitForLog({ msg: "ticket", server: "backup" }, WAIT_MS, mark);
    const after = tickets(c, mark).length;
    await c.waitForLog((x) => x.msg === "ticket" && tickets(c, mark).length >= after + 5, WAIT_MS, mark);
    expect(tickets(c, mark).every((t) => t.server === "backup")).toBe(true);
    expect(primary.find({ msg: "state changed", to: "active" })).toEqual([]);
    // The backup's desk started from 1: the client saw numbers it had been given before.
    expect(c.find((x) => typeof x.msg === "string" && x.msg.startsWith("ticket numbers went back")).length).toBe(1);

    // Recovery is the operator's: stop the backup, and the clients vote the passive primary active.
    await backup.stop();
    await c.waitForLog(failedOverTo("primary"), WAIT_MS);
    await becomes(primary, "active");
  });

  it("a primary started alone serves after two heartbeats; a backup started alone never serves", async () => {
    const e = await endpoints();
    const primary = broker("primary", e);
    const c = client({ ...e, bf: e.pf });
    await c.waitForLog({ msg: "ticket", server: "primary" }, WAIT_MS);
    expect(primary.find({ msg: "state changed", to: "active" })[0]).toMatchObject({ event: "client-request", from: "primary" });

    const e2 = await endpoints();
    const backup = broker("backup", e2);
    await backup.waitForLog("binary star started", WAIT_MS);
    const req = jar.add(new Request({ receiveTimeout: 20 * HB }));
    req.connect(e2.bf);
    await req.send(encodeRequest({ v: 1, seq: 1, client: "lonely" }));
    await backup.waitForLog({ msg: "request refused: not active (no reply)", state: "backup" }, WAIT_MS);
    // Refused means no reply at all: the REQ times out.
    await expect(req.receive()).rejects.toMatchObject({ code: "EAGAIN" });
    expect(backup.find({ msg: "state changed" })).toEqual([]);
  });

  it("dual actives: an active broker that hears an active peer logs the Guide's fatal line and exits with code 3", async () => {
    const e = await endpoints();
    const fake = jar.add(new Publisher());
    await fake.bind(e.bs);
    const primary = broker("primary", e);
    await primary.waitForLog("binary star started", WAIT_MS);
    const tick = setInterval(() => void fake.send(primary.find({ msg: "state changed", to: "active" }).length > 0 ? "3" : "2"), HB);
    try {
      const status = await withDeadline(primary.exited, WAIT_MS, "the broker to exit");
      expect(status.code).toBe(EXIT_PAIR_BROKEN);
    } finally {
      clearInterval(tick);
    }
    const fatal = primary.find((x) => x.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]?.msg).toMatch(/^fatal error - dual actives, aborting/);
  });

  it("a bad flag, and an address in use: one line naming it, exit code 2", async () => {
    const e = await endpoints();
    const first = broker("primary", e);
    await first.waitForLog("binary star started", WAIT_MS);
    const again = broker("primary", { ...e, pf: (await endpoints()).pf });
    expect((await withDeadline(again.exited, WAIT_MS, "the second primary to exit")).code).toBe(2);
    expect(again.lines.filter((l) => !l.startsWith("{"))).toEqual([
      `ha-broker: cannot bind state to ${e.ps}: the address is in use (is another instance running?)`,
    ]);
    // One bad flag as a process (units.test.ts checks the others in-process, through the same parser).
    const bad = procs.start({ labDir, cmd: "cmd/ha-broker.ts", name: "bad", args: ["--role", "tertiary"] });
    expect((await withDeadline(bad.exited, WAIT_MS, "a bad flag to exit")).code).toBe(2);
    expect(bad.lines).toHaveLength(1);
    expect(bad.lines[0]).toMatch(/^ha-broker: .*role/);
  });
});
