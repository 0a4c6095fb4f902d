// Issue 10, found case 4: one huge subscription message must not make an agent allocate without
// bound. The real agent process; the subscriptions come from a hand-written SUB peer.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, ProcessPool, quiescent, type RawSubscriber, rawSubscriber, rssMiB, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { receivesHeartbeat } from "./fixtures.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const BIG = 10 * 1000 * 1000;
/** What the agent may grow by while it refuses the big subscriptions (V8 and libzmq noise). */
const RSS_SLACK_MIB = 40;

const procs = new ProcessPool();
const peers: RawSubscriber[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await procs.stopAll();
});

describe("a subscriber's message size", () => {
  it("three 10 MB subscriptions leave the agent's memory where it was: it drops that peer and keeps serving", async () => {
    const [endpoint] = (await freeTcpEndpoints(1)) as [string];
    const agent = procs.start({ labDir, cmd: "cmd/monitor-agent.ts", args: ["--bind", endpoint, "--interval", "100"] });
    await agent.waitForLog("listening", WAIT_MS);
    await receivesHeartbeat(endpoint);
    const pid = agent.pid as number;
    const before = rssMiB(pid);

    const peer = rawSubscriber(
      endpoint,
      [0x61, 0x62, 0x63].map((c) => Buffer.alloc(BIG, c)),
    );
    peers.push(peer);
    await quiescent(pid);
    const after = rssMiB(pid);
    expect(after, `RSS ${before} -> ${after} MiB`).toBeLessThanOrEqual(before + RSS_SLACK_MIB);
    await withDeadline(peer.closedByPeer, WAIT_MS, "the agent dropping the connection of the oversized subscriber");
    expect(agent.running).toBe(true);
    await receivesHeartbeat(endpoint);
  });
});
