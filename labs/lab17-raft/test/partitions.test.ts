// Network partitions, not only crashes: five nodes, each in a network namespace of its own on a
// switch (the kit's NetnsSwitch, 10.117.0.0/24, this test's namespace on it too). The leader and one follower are cut off: that minority cannot commit, the
// majority elects a leader and commits; once healed, every log converges. Skipped, with the
// reason, where ip netns cannot be used (not root, not Linux).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type LogEntry,
  NetnsSwitch,
  namespacesWithPrefix,
  netnsUnusable,
  ProcessPool,
  type RoleProcess,
  testLogger,
  waitUntil,
  withDeadline,
} from "@zlabs/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RaftClient } from "../internal/client.ts";
import { labDir, leaderAllFollow, nodeArgs } from "./cluster.ts";

const PREFIX = "zl17";
const SIZE = 5;
const unusable = netnsUnusable(PREFIX);
const WAIT_MS = 30_000;
const ids = Array.from({ length: SIZE }, (_, i) => `n${i + 1}`);
const ipOf = (i: number) => `10.117.0.${11 + i}`;
const bus = (i: number) => `tcp://${ipOf(i)}:5170`;
const clientEndpoint = (i: number) => `tcp://${ipOf(i)}:5175`;
const procs = new ProcessPool();
const stop = new AbortController();
let dir = "";
let nodes: RoleProcess[] = [];
let client: RaftClient;
let net: NetnsSwitch | undefined;

/** A cmd/ file run on node i's host. */
const onHost = (i: number, name: string, cmd: string, args: string[]) =>
  procs.start({ labDir, cmd, name, args, netns: net?.host(ids[i] as string).ns });

const leaderAfter = (term: number, among: number[]) =>
  waitUntil(
    () => {
      for (const i of among)
        for (const e of (nodes[i] as RoleProcess).find("leader elected"))
          if ((e.term as number) > term) return { index: i, term: e.term as number };
      return undefined;
    },
    { timeoutMs: WAIT_MS, what: `a leader of a term after ${term}`, everyMs: 20 },
  );

/** One sweep of every node's status: the leader every node follows now, and the committed log they all hold. */
const settledUnderLeader = (minCommit: number) =>
  waitUntil(
    async () => {
      const statuses = await Promise.all(ids.map(async (_, index) => ({ index, status: await client.status(index) })));
      const leader = leaderAllFollow(statuses, ids);
      const head = leader && statuses[leader.index]?.status;
      if (!leader || !head || head.commit < minCommit) return undefined;
      const same = statuses.every(
        ({ status: s }) => s?.commit === head.commit && s.digest === head.digest && s.lastIndex === head.lastIndex,
      );
      return same && { ...leader, commit: head.commit };
    },
    { timeoutMs: WAIT_MS, what: `one leader every node follows, and the same committed log (at least ${minCommit} entries)`, everyMs: 200 },
  );

async function converged(minCommit: number): Promise<number> {
  return waitUntil(
    async () => {
      const statuses = await Promise.all(ids.map((_, i) => client.status(i)));
      const first = statuses[0];
      if (!first || first.commit < minCommit) return undefined;
      return (
        statuses.every((s) => s?.commit === first.commit && s.digest === first.digest && s.lastIndex === first.lastIndex) && first.commit
      );
    },
    { timeoutMs: WAIT_MS, what: `every node to hold the same committed log (at least ${minCommit} entries)`, everyMs: 200 },
  );
}

async function put(key: string, value: string, seq: number): Promise<void> {
  const outcome = await withDeadline(client.call({ op: "put", key, value }, { client: "netns-test", seq }), WAIT_MS, `put ${key}`);
  expect(outcome?.ok).toBe(true);
}

const appliedAbove = (i: number, index: number) =>
  (nodes[i] as RoleProcess).find((e: LogEntry) => e.msg === "applied" && (e.index as number) > index);

describe.skipIf(unusable)(`network partitions in namespaces${unusable ? ` (skipped: ${unusable})` : ""}`, () => {
  beforeAll(async () => {
    const made = new NetnsSwitch(PREFIX, "10.117.0");
    net = made;
    for (const [i, id] of ids.entries()) made.addHost(id, 11 + i);
    made.connectTest();
    dir = mkdtempSync(join(tmpdir(), "lab17-netns-"));
    const cluster = ids.map((id, i) => `${id}=${bus(i)}`).join(",");
    nodes = ids.map((id, i) => onHost(i, id, "cmd/consensus-node.ts", nodeArgs(id, cluster, clientEndpoint(i), dir)));
    await Promise.all(nodes.map((n) => n.waitForLog("listening", WAIT_MS)));
    client = new RaftClient(
      ids.map((_, i) => clientEndpoint(i)),
      testLogger("lab17"),
      1000,
      60,
    );
    void client.run(stop.signal);
  }, 60_000);

  afterAll(async () => {
    try {
      stop.abort();
      client?.close();
      await procs.stopAll();
    } finally {
      net?.remove();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
    expect(namespacesWithPrefix(PREFIX)).toEqual([]);
    expect(execFileSync("ip", ["-o", "link", "show"]).toString()).not.toContain("zl17");
  }, 30_000);

  it("a minority (the old leader and one follower) cannot commit, the majority can; once healed, every log converges", async () => {
    await leaderAfter(0, [0, 1, 2, 3, 4]);
    for (let i = 1; i <= 5; i++) await put(`policy/${i}`, "before", i);
    const first = await settledUnderLeader(6);
    const commitBefore = first.commit;
    const minority = [first.index, (first.index + 1) % SIZE];
    const majority = [0, 1, 2, 3, 4].filter((i) => !minority.includes(i));
    net?.partition(minority.map((i) => ids[i] as string));
    // A proposer beside the old leader, writing to it alone.
    const cutOff = onHost(first.index, "minority-proposer", "cmd/client-proposer.ts", [
      "--nodes",
      clientEndpoint(first.index),
      "--rate",
      "10",
      "--timeout",
      "300",
      "--client-id",
      "minority",
    ]);
    // The old leader, cut off, still takes its writes: they reach its log, never its commit index.
    await (nodes[first.index] as RoleProcess).waitForLog({ msg: "write received", client: "minority-1", role: "leader" }, WAIT_MS);
    const next = await leaderAfter(first.term, majority);
    for (let i = 6; i <= 10; i++) await put(`policy/${i}`, "during", i);
    // While the majority elected a leader and committed five writes, the minority committed nothing.
    expect(cutOff.find("committed")).toEqual([]);
    for (const i of minority) expect(appliedAbove(i, commitBefore)).toEqual([]);
    expect(cutOff.running).toBe(true);
    await cutOff.stop();
    net?.heal();
    // The old leader hears the new term and follows; its uncommitted entries are replaced.
    await (nodes[first.index] as RoleProcess).waitForLog(
      (e: LogEntry) => e.msg === "following" && (e.term as number) >= next.term,
      WAIT_MS,
    );
    await converged(commitBefore + 6);
    for (let i = 1; i <= 10; i++) {
      const outcome = await withDeadline(client.call({ op: "get", key: `policy/${i}` }), WAIT_MS, `get policy/${i}`);
      expect(outcome?.value).toBe(i <= 5 ? "before" : "during");
    }
  });
});
