// End to end: the real masters and a firewall node; the primary killed with SIGKILL, restarted, and
// the backup killed in turn. Acknowledged updates come from an in-process CHP updater.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool, type RoleProcess, Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterAll, describe, expect, it } from "vitest";
import { CloneClient, chpServer } from "../internal/clone-client.ts";
import { kv } from "../internal/kvmsg.ts";
import { askNode } from "../internal/policy-admin.ts";
import type { NodeStatus } from "../internal/protocol.ts";
import { Updater } from "../internal/updater.ts";
import { freeChpEndpoint } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const log = testLogger("lab07");
const WAIT_MS = 30_000;
const procs = new ProcessPool();
const tasks = new Tasks();
afterAll(async () => {
  await tasks.stopAll();
  await procs.stopAll();
});

const FAST = ["--heartbeat", "100", "--hugz", "100", "--ttl-sweep", "100", "--server-ttl", "1000"];

interface Pair {
  p: string;
  b: string;
  ps: string;
  bs: string;
  query: string;
}

function startMaster(pair: Pair, role: "primary" | "backup"): RoleProcess {
  const [own, peer, state, peerState] = role === "primary" ? [pair.p, pair.b, pair.ps, pair.bs] : [pair.b, pair.p, pair.bs, pair.ps];
  return procs.start({
    labDir,
    cmd: "cmd/policy-master.ts",
    name: `${role}-master`,
    args: ["--role", role, "--endpoint", own, "--peer", peer, "--state", state, "--peer-state", peerState, ...FAST],
  });
}

async function status(query: string): Promise<NodeStatus | undefined> {
  const a = await askNode(query, { op: "status" }, 2000);
  return a?.ok && "status" in a ? a.status : undefined;
}

/** The map a server holds now, read by a whole-map CHP client. */
async function mapAt(server: string): Promise<CloneClient> {
  const c = new CloneClient({ servers: [chpServer(server)], subtree: "", serverTtlMs: 1000, maxKeys: 10_000, name: "reader" }, log);
  const stop = new AbortController();
  const done = c.run(stop.signal);
  await waitUntil(() => c.synced, { timeoutMs: WAIT_MS, what: `a snapshot from ${server}` });
  stop.abort();
  await done;
  return c;
}

describe("the masters and a firewall node as real processes", () => {
  let pair: Pair;
  let primary: RoleProcess;
  let backup: RoleProcess;
  let node: RoleProcess;
  let updater: Updater;
  /** Every acknowledged update: key → value. */
  const acked = new Map<string, string>();

  it("a SIGKILLed primary loses no acknowledged update: the node fails over to the backup, which has them all", async () => {
    const [p, b] = [await freeChpEndpoint(), await freeChpEndpoint()];
    const [ps, bs, query] = (await freeTcpEndpoints(3)) as [string, string, string];
    pair = { p, b, ps, bs, query };
    primary = startMaster(pair, "primary");
    backup = startMaster(pair, "backup");
    await backup.waitForLog("snapshot from the active peer loaded", WAIT_MS);
    node = procs.start({
      labDir,
      cmd: "cmd/firewall-node.ts",
      name: "node",
      args: ["--name", "fw-t", "--subtree", "/acl/edge/", "--servers", `${p},${b}`, "--query", query, "--server-ttl", "1000"],
    });
    await node.waitForLog("policy loaded", WAIT_MS);
    updater = new Updater([chpServer(p), chpServer(b)], log);
    void tasks.run((s) => updater.run(s));
    expect(await tasks.run((s) => updater.untilListening(2, WAIT_MS, s))).toBeGreaterThanOrEqual(2);

    // 300 rules, sent without waiting; the primary is killed once 100 are acknowledged.
    let ackCount = 0;
    const sets = Array.from({ length: 300 }, async (_, i) => {
      const key = `/acl/edge/${String(i).padStart(4, "0")}`;
      const value = `allow tcp 10.${i % 250}.0.0/16 any 10.1.0.0/16 ${1000 + i}`;
      const ack = await updater.set(kv(key, value), 15_000);
      if (ack) {
        acked.set(key, value);
        ackCount += 1;
      }
    });
    await waitUntil(() => ackCount >= 100, { timeoutMs: WAIT_MS, what: "100 acknowledgements" });
    await procs.crash(primary);
    await Promise.all(sets);
    expect(acked.size).toBeGreaterThanOrEqual(100);

    await backup.waitForLog({ msg: "state changed", to: "active" }, WAIT_MS);
    const held = await mapAt(b);
    for (const [key, value] of acked) expect(held.map.get(key)?.value.toString(), key).toBe(value);
    await waitUntil(
      async () => {
        const s = await status(query);
        return s?.server === b && s.digest === held.digest();
      },
      { timeoutMs: WAIT_MS, what: "the node to follow the backup with its map" },
    );
    expect(node.find("failing over to the next server").length).toBeGreaterThan(0);
  });

  it("the primary restarted comes back passive, catches up, and serves everything when the backup dies in turn", async () => {
    primary = startMaster(pair, "primary");
    await primary.waitForLog({ msg: "state changed", to: "passive" }, WAIT_MS);
    const loaded = await primary.waitForLog("snapshot from the active peer loaded", WAIT_MS);
    expect(loaded.digest).toBe((await mapAt(pair.b)).digest());
    // No fail-back: the backup stays active, and new updates go through it to the passive primary.
    for (let i = 0; i < 20; i++) {
      const key = `/acl/edge/late-${i}`;
      const value = `deny udp 192.0.2.${i}/32 any any any`;
      expect(await updater.set(kv(key, value), WAIT_MS)).toBeDefined();
      acked.set(key, value);
    }
    const expected = (await mapAt(pair.b)).digest();
    await procs.crash(backup);
    await primary.waitForLog({ msg: "state changed", to: "active" }, WAIT_MS);
    const now = await mapAt(pair.p);
    expect(now.digest()).toBe(expected);
    for (const [key, value] of acked) expect(now.map.get(key)?.value.toString(), key).toBe(value);
    await waitUntil(
      async () => {
        const s = await status(pair.query);
        return s?.server === pair.p && s.digest === expected;
      },
      { timeoutMs: WAIT_MS, what: "the node back on the primary with the same map" },
    );
    expect(primary.find({ msg: "state changed", to: "active" })).toHaveLength(1);
  });
});

describe.concurrent("bad flags: one line naming the flag, exit code 2 (the other cases: test/units.test.ts)", () => {
  it.each([
    ["cmd/policy-master.ts", ["--endpoint", "ipc:///tmp/x"], /^policy-master: --endpoint: .*tcp:\/\/host:port/],
    ["cmd/firewall-node.ts", ["--subtree", "/acl"], /^firewall-node: --subtree "\/acl" is not/],
    ["cmd/policy-admin.ts", ["--set", "/acl/edge/1=allow tcp any"], /^policy-admin: --set \/acl\/edge\/1: 3 words, not 6/],
  ])("%s %j", async (cmd, args, line) => {
    const p = procs.start({ labDir, cmd, name: cmd, args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatch(line);
  });
});
