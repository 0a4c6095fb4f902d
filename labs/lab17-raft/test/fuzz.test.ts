// Every socket of a node that takes messages from a peer, fuzzed with the kit's helper against the
// real process: its client ROUTER and its bus PUB (both bound), and its bus SUB (which connects: the
// fuzzer binds a member's bus endpoint and publishes there). After each, the cluster still commits
// a write through the fuzzed node.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { freeTcpEndpoints, fuzzRole, ProcessPool, type RoleProcess, testLogger, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { RaftClient } from "../internal/client.ts";
import { labDir, nodeArgs, TestCluster } from "./cluster.ts";

const WAIT_MS = 30_000;
const MAX_RSS_MIB = 300;
const procs = new ProcessPool();
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await procs.stopAll();
  for (const c of cleanups.splice(0)) c();
});

let seq = 0;
/** A write committed through the cluster, then the node's status: it still serves. */
async function probe(client: RaftClient): Promise<void> {
  seq += 1;
  const outcome = await withDeadline(
    client.call({ op: "put", key: "probe", value: `v${seq}` }, { client: "fuzz-probe", seq }),
    WAIT_MS,
    "the probe's write",
  );
  if (!outcome?.ok) throw new Error(`the probe's write got ${JSON.stringify(outcome)}`);
  if (!(await client.status(0))) throw new Error("no status from the fuzzed node");
}

describe("fuzzing a consensus node", () => {
  it("its client ROUTER takes 1,000 malformed requests, and a single-node cluster still commits", async () => {
    const c = new TestCluster(procs, 1);
    cleanups.push(() => c.close());
    await c.start();
    await c.leader();
    await probe(c.client);
    const node = c.nodes[0] as RoleProcess;
    const report = await fuzzRole(node, {
      endpoint: c.clients[0] as string,
      peer: "dealer",
      envelope: true,
      words: ["put", "get", "delete", "cas", "status"],
      fields: ["v", "id", "op", "key", "value", "expect", "client", "seq"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(c.client),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(node.find("invalid client request dropped").length).toBeGreaterThan(100);
    expect(node.find("message dropped: its handling failed")).toEqual([]);
  });

  it("its bus PUB takes 1,000 malformed subscriptions and messages, and still commits", async () => {
    const c = new TestCluster(procs, 1);
    cleanups.push(() => c.close());
    await c.start();
    await c.leader();
    const node = c.nodes[0] as RoleProcess;
    const report = await fuzzRole(node, {
      endpoint: c.bus[0] as string,
      peer: "xsub",
      words: ["\u0001n1.", "\u0001all.", "\u0000all.", "\u0001"],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(c.client),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
  });

  it("its bus SUB takes 1,000 malformed messages published as member n3, and n1 with n2 still commit", async () => {
    const [bus1, bus2, fuzzBus, client1, client2] = await freeTcpEndpoints(5);
    const cluster = `n1=${bus1},n2=${bus2},n3=${fuzzBus}`;
    const dir = mkdtempSync(join(tmpdir(), "lab17-fuzz-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const start = (id: string, client: string) =>
      procs.start({
        labDir,
        cmd: "cmd/consensus-node.ts",
        name: id,
        args: nodeArgs(id, cluster, client, dir),
      });
    const n1 = start("n1", client1 as string);
    start("n2", client2 as string);
    const stop = new AbortController();
    const client = new RaftClient([client1 as string, client2 as string], testLogger("lab17"), 1000, 60);
    void client.run(stop.signal);
    cleanups.push(() => {
      stop.abort();
      client.close();
    });
    await n1.waitForLog("listening", WAIT_MS);
    await probe(client);
    const report = await fuzzRole(n1, {
      endpoint: fuzzBus as string,
      peer: "pub",
      bind: true,
      words: ["n1.", "all.", "n1.", "all.", "n3", "vote", "voteResp", "append", "appendResp"],
      fields: [
        "term",
        "lastLogIndex",
        "lastLogTerm",
        "granted",
        "prevIndex",
        "prevTerm",
        "entries",
        "commit",
        "round",
        "success",
        "match",
        "conflictTerm",
        "conflictIndex",
      ],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(client),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(n1.find("invalid bus message dropped").length).toBeGreaterThan(100);
    expect(n1.find("message dropped: its handling failed")).toEqual([]);
  });
});
