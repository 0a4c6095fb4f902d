// The real processes: five consensus nodes, the leader killed with SIGKILL, every node killed and
// restarted from its disk, the proposer end to end, and bad flags.
import { ProcessPool, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { ELECTION_MAX, labDir, TestCluster } from "./cluster.ts";

const WAIT_MS = 30_000;
const procs = new ProcessPool();
let cluster: TestCluster | undefined;
afterEach(async () => {
  await procs.stopAll();
  cluster?.close();
  cluster = undefined;
});

/** Writes policy/0..n-1 and returns what was written. */
async function writeKeys(c: TestCluster, n: number, tag: string): Promise<Map<string, string>> {
  const written = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const key = `policy/${i}`;
    const value = `${tag}-${i}`;
    const outcome = await withDeadline(
      c.client.call({ op: "put", key, value }, { client: `test-${tag}`, seq: i + 1 }),
      WAIT_MS,
      `put ${key}`,
    );
    expect(outcome?.ok).toBe(true);
    written.set(key, value);
  }
  return written;
}

async function readBack(c: TestCluster, written: Map<string, string>): Promise<void> {
  for (const [key, value] of written) {
    const outcome = await withDeadline(c.client.call({ op: "get", key }), WAIT_MS, `get ${key}`);
    expect(outcome?.value, key).toBe(value);
  }
}

describe("five consensus nodes as real processes", () => {
  it("the leader killed with SIGKILL: a new leader within a few election timeouts, no committed entry lost, the old one catches up", async () => {
    cluster = new TestCluster(procs);
    await cluster.start();
    await cluster.leader();
    const written = await writeKeys(cluster, 20, "before");
    // The leader at the kill: it holds every committed entry (below, at least 21).
    const first = await cluster.agreedLeader();
    const leader = cluster.nodes[first.index];
    if (!leader) throw new Error("no leader process");
    const killedAt = performance.now();
    await procs.crash(leader);
    const next = await cluster.leader(first.term, WAIT_MS);
    const electedAfterMs = performance.now() - killedAt;
    console.log(
      `lab17: new leader ${cluster.ids[next.index]} (term ${next.term}) ${Math.round(electedAfterMs)} ms after the leader was killed`,
    );
    expect(next.index).not.toBe(first.index);
    // A few election timeouts (at most 800 ms each here), with room for a loaded machine.
    expect(electedAfterMs).toBeLessThan(12 * ELECTION_MAX);
    // Every committed write is still there, read through the new leader (read index: not stale).
    await readBack(cluster, written);
    const more = await writeKeys(cluster, 5, "after");
    // The killed node restarts from its disk and catches up: every log the same.
    const restarted = cluster.startNode(first.index);
    await restarted.waitForLog({ msg: "state loaded" }, WAIT_MS);
    expect((restarted.find("state loaded")[0]?.entries as number) >= 21).toBe(true);
    await cluster.converged(27);
    await readBack(cluster, new Map([...written, ...more]));
  });

  it("every node killed at once and restarted from disk: term, vote and log come back, and so does every committed write", async () => {
    cluster = new TestCluster(procs);
    await cluster.start();
    const first = await cluster.leader();
    const written = await writeKeys(cluster, 15, "durable");
    const { commit } = await cluster.converged(16);
    await Promise.all(cluster.nodes.map((n) => n && procs.crash(n)));
    const restarted = cluster.ids.map((_, i) => (cluster as TestCluster).startNode(i));
    for (const n of restarted) {
      const loaded = await n.waitForLog("state loaded", WAIT_MS);
      expect(loaded.term as number).toBeGreaterThanOrEqual(first.term);
      expect(loaded.entries as number).toBeGreaterThanOrEqual(commit);
    }
    const next = await cluster.leader(first.term);
    expect(next.term).toBeGreaterThan(first.term);
    await readBack(cluster, written);
    await cluster.converged(commit + 1);
  });

  it("the proposer commits its operations through whichever node leads and exits 0", async () => {
    cluster = new TestCluster(procs);
    await cluster.start();
    await cluster.leader();
    const proposer = procs.start({
      labDir,
      cmd: "cmd/client-proposer.ts",
      name: "proposer",
      args: ["--nodes", cluster.clients.join(","), "--count", "40", "--rate", "0", "--sessions", "4", "--client-id", "e2e"],
    });
    expect(await withDeadline(proposer.exited, 60_000, "the proposer to finish")).toEqual({ code: 0, signal: null });
    const done = proposer.find("done")[0];
    expect(done).toMatchObject({ committed: 40, failed: 0 });
    const writes = proposer.find("committed");
    expect(writes.length + proposer.find("read").length).toBe(40);
    // Each write has its own log index.
    expect(new Set(writes.map((w) => w.index)).size).toBe(writes.length);
  });
});

describe("bad flags: one line naming the flag, exit code 2", () => {
  it.each([
    ["consensus-node.ts", ["--id", "n9"], /^consensus-node: --id n9 is not one of --cluster \(n1, n2, n3, n4, n5\)/],
    [
      "consensus-node.ts",
      ["--id", "n1", "--cluster", "n.1=tcp://127.0.0.1:1"],
      /^consensus-node: --cluster: "n.1=tcp:\/\/127.0.0.1:1" is not id=endpoint/,
    ],
    ["consensus-node.ts", ["--id", "n1", "--heartbeat", "400"], /^consensus-node: --heartbeat must be at most half of --election-min/],
    ["consensus-node.ts", [], /^consensus-node: Missing required argument: id/],
    ["client-proposer.ts", ["--nodes", "notanendpoint"], /^client-proposer: --nodes: "notanendpoint" is not a ZeroMQ endpoint/],
  ])("%s %j", async (cmd, args, line) => {
    const p = procs.start({ labDir, cmd: `cmd/${cmd}`, name: cmd, args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatch(line);
  });
});
