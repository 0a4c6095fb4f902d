// Network partitions, not only crashes: the primary, the backup and the client each in a network
// namespace of their own, joined by veth pairs (netns.ts), links cut with `ip link set ... down`.
// Skipped, with the reason, where ip netns cannot be used (not root, not Linux).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  type LogEntry,
  namespacesWithPrefix,
  netnsUnusable,
  ProcessPool,
  type RoleProcess,
  removeNamespaces,
  withDeadline,
} from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, LINKS, NAMESPACES, PREFIX, setLink } from "./netns.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const unusable = netnsUnusable(PREFIX);
const procs = new ProcessPool();
const inNamespace = (where: keyof typeof NAMESPACES, cmd: string, args: string[]): RoleProcess =>
  procs.start({ labDir, cmd, args, name: where, netns: NAMESPACES[where] });
const WAIT_MS = 20_000;
const HB = 100;
// Who serves is the point here, not how fast: a client timeout that no stall of a loaded machine
// reaches (at 300 ms, one such stall of the primary while the state link is cut would send the client
// to a backup that has not heard the primary, and Binary Star then rightly has two actives).
const TIMEOUT = 2000;
const SETTLE = 1000;

const [P_STATE, B_STATE] = LINKS.state;
const PRIMARY_FRONT = `tcp://${LINKS.primaryClient[0].ip}:5111`;
const BACKUP_FRONT = `tcp://${LINKS.backupClient[0].ip}:5112`;
const PRIMARY_STATE = `tcp://${P_STATE.ip}:5113`;
const BACKUP_STATE = `tcp://${B_STATE.ip}:5114`;

let primary: RoleProcess;
let backup: RoleProcess;
let client: RoleProcess;

const broker = (role: "primary" | "backup") =>
  inNamespace(role, "cmd/ha-broker.ts", [
    "--role",
    role,
    "--front",
    role === "primary" ? PRIMARY_FRONT : BACKUP_FRONT,
    "--state-bind",
    role === "primary" ? PRIMARY_STATE : BACKUP_STATE,
    "--peer-state",
    role === "primary" ? BACKUP_STATE : PRIMARY_STATE,
    "--heartbeat",
    String(HB),
  ]);

const ticketsFrom = (server: string, from: number) => (x: LogEntry) =>
  x.msg === "ticket" && client.find((t) => t.msg === "ticket" && t.server === server, from).length >= 10;

describe.skipIf(unusable)(`network partitions in namespaces${unusable ? ` (skipped: ${unusable})` : ""}`, () => {
  beforeAll(async () => {
    build();
    primary = broker("primary");
    backup = broker("backup");
    await primary.waitForLog({ msg: "state changed", to: "active" }, WAIT_MS);
    await backup.waitForLog({ msg: "state changed", to: "passive" }, WAIT_MS);
    client = inNamespace("client", "cmd/client-app.ts", [
      "--servers",
      PRIMARY_FRONT,
      BACKUP_FRONT,
      "--id",
      "netns-client",
      "--timeout",
      String(TIMEOUT),
      "--settle",
      String(SETTLE),
      "--interval",
      "50",
    ]);
    await client.waitForLog({ msg: "ticket", server: "primary" }, WAIT_MS);
  }, 60_000);

  afterAll(async () => {
    try {
      await procs.stopAll();
    } finally {
      removeNamespaces(PREFIX);
    }
    expect(namespacesWithPrefix(PREFIX)).toEqual([]);
    expect(execFileSync("ip", ["-o", "link", "show"]).toString()).not.toContain("zl11");
  }, 30_000);

  it("cut only the state link: the backup hears nothing, yet no client fails over, so it stays passive (no split brain)", async () => {
    const [b, c, p] = [backup.logs.length, client.logs.length, primary.logs.length];
    setLink("state", false);
    await backup.waitForLog("peer silent for two heartbeats", WAIT_MS, b);
    await primary.waitForLog({ msg: "peer silent for two heartbeats: holding our state until the peer is heard again" }, WAIT_MS, p);
    const silentFrom = client.logs.length;
    await client.waitForLog(ticketsFrom("primary", silentFrom), WAIT_MS, silentFrom);
    expect(backup.find({ msg: "state changed" }, b)).toEqual([]);
    expect(client.find("no response from server, failing over", c)).toEqual([]);

    setLink("state", true);
    await backup.waitForLog("peer heard again", WAIT_MS, b);
    await primary.waitForLog("peer heard again", WAIT_MS, p);
    expect(backup.find({ msg: "state changed" }, b)).toEqual([]);
    expect(primary.find({ msg: "state changed" }, p)).toEqual([]);
  });

  it("cut the primary from everyone: the backup takes over on the first client request two heartbeats after the primary's last state", async () => {
    const [b, c] = [backup.logs.length, client.logs.length];
    setLink("state", false);
    setLink("primaryClient", false);
    const failover = await client.waitForLog((x) => typeof x.msg === "string" && x.msg.startsWith("failed over to backup in "), WAIT_MS, c);
    expect(failover).toMatchObject({ from: "primary", to: "backup", timeouts: 1 });
    const took = await backup.waitForLog({ msg: "state changed", to: "active" }, WAIT_MS, b);
    expect(took).toMatchObject({ from: "passive", event: "client-request" });
    expect(took.sincePeerMs as number).toBeGreaterThanOrEqual(2 * HB);
    // Before it, the backup refused nothing: the first request it saw was the vote.
    expect(backup.find("request refused: not active (no reply)", b)).toEqual([]);
    // The cut-off primary never learns: it is still active, alone.
    expect(primary.find({ msg: "state changed" }).at(-1)).toMatchObject({ to: "active" });
  });

  it("heal: the stale primary hears the active backup and stops on dual actives; the backup keeps serving (no fail-back, no dual active)", async () => {
    const [b, c, p] = [backup.logs.length, client.logs.length, primary.logs.length];
    setLink("state", true);
    setLink("primaryClient", true);
    const fatal = await primary.waitForLog((x) => x.level === 60, WAIT_MS, p);
    expect(fatal.msg).toMatch(/^fatal error - dual actives, aborting/);
    const exit = await withDeadline(primary.exited, WAIT_MS, "the primary to exit");
    expect(exit.code).toBe(3);
    // The primary sent no state while holding, so the backup never heard an active peer.
    expect(backup.find((x) => x.level === 60, b)).toEqual([]);
    const from = client.logs.length;
    await client.waitForLog(ticketsFrom("backup", from), WAIT_MS, from);
    expect(client.find("ticket", c).every((t) => t.server === "backup")).toBe(true);
    expect(client.find("no response from server, failing over", c)).toEqual([]);
    expect(backup.find({ msg: "state changed" }, b)).toEqual([]);
  });
});
