// In-process tests over real TCP sockets on loopback: the agents and dashboards are the lab's own classes.
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { ANY_LOOPBACK_TCP, SocketJar } from "@zlabs/kit/testing";
import { pack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { Publisher } from "zeromq";
import type { DashboardConfig } from "../internal/dashboard.ts";
import { HostSampler } from "../internal/metrics.ts";
import { MonitorAgent } from "../internal/monitor-agent.ts";
import { encodeHeartbeat } from "../internal/protocol.ts";
import { DashboardUnderTest, heartbeat, testLog as log } from "./fixtures.ts";

const jar = new SocketJar();
const dashboards: DashboardUnderTest[] = [];
const agents: MonitorAgent[] = [];

async function startAgent(id: string, rack: string, intervalMs = 1000): Promise<MonitorAgent> {
  const agent = new MonitorAgent({ id, rack, bind: ANY_LOOPBACK_TCP, intervalMs, simulate: "none" }, new HostSampler(), log);
  agents.push(agent);
  await agent.bind();
  return agent;
}

function startDashboard(config: Partial<DashboardConfig> & { connect: string[] }): DashboardUnderTest {
  const d = new DashboardUnderTest(config);
  dashboards.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(dashboards.splice(0).map((d) => d.stop()));
  for (const a of agents.splice(0)) a.close();
  jar.closeAll();
});

describe("topic filtering over real sockets", () => {
  it("a rack1 dashboard never hears rack10, while an unfiltered one does", async () => {
    const rack1 = await startAgent("n1", "rack1");
    const rack10 = await startAgent("n10", "rack10");
    const endpoints = [rack1.endpoint, rack10.endpoint];
    const filtered = startDashboard({ connect: endpoints, racks: ["rack1"] });
    const everything = startDashboard({ connect: endpoints });
    const beatBoth = () => Promise.all([rack1.beat(), rack10.beat()]);

    await everything.until(
      () => everything.has("joined", "n1") && everything.has("joined", "n10"),
      "both agents at the unfiltered dashboard",
      beatBoth,
    );
    await filtered.until(() => filtered.has("joined", "n1"), "n1 at the rack1 dashboard", beatBoth);
    // rack10 keeps beating; the last rack1 beat arrives after these were published.
    for (let i = 0; i < 20; i++) await rack10.beat();
    const last = await rack1.beat();
    await filtered.until(() => filtered.dashboard.tracker.agents().some((a) => a.lastSeq >= last.seq), "the last rack1 beat");

    expect(filtered.dashboard.tracker.agents().map((a) => a.agent)).toEqual(["n1"]);
    expect(filtered.dashboard.subscriptions).toEqual(["hb.ok.rack1.", "hb.warn.rack1.", "hb.crit.rack1."]);
    expect(filtered.malformed).toEqual([]);
  });

  it("an agent that stops beating is suspect, then dead, judged by its own interval", async () => {
    // Beats every 250 ms: suspect from 375 ms of silence, dead from 750 ms; a window of 375 ms for the
    // dashboard's ticks to see "suspect" in, which a stall of this process does not jump over.
    const agent = await startAgent("short", "rack1", 250);
    const d = startDashboard({ connect: [agent.endpoint] });
    const stopAgent = new AbortController();
    const run = agent.run(stopAgent.signal);
    await d.until(() => d.has("joined", "short"), "the agent joining");
    stopAgent.abort();
    await run;
    await d.until(() => d.events.some((e) => e.kind === "state" && e.to === "dead"), "the agent declared dead");
    const states = d.events.filter((e) => e.kind === "state").map((e) => (e.kind === "state" ? e.to : ""));
    expect(states).toEqual(["suspect", "dead"]);
  });
});

describe("malformed messages", () => {
  it("are counted by reason and dropped, and the dashboard keeps serving", async () => {
    const pub = jar.add(new Publisher());
    await pub.bind(ANY_LOOPBACK_TCP);
    const d = startDashboard({ connect: [pub.lastEndpoint as string] });
    let seq = 0;
    const valid = () => pub.send(encodeHeartbeat(heartbeat({ agent: "node-a", seq: ++seq, intervalMs: 60_000 })));
    await d.until(() => d.has("joined", "node-a"), "the valid agent joining", valid);

    await pub.send(["hb.ok.rack1.node-a."]);
    await pub.send(["hb.ok.rack1.node-a.", Buffer.from([0xc1, 0xc1, 0xc1])]);
    await pub.send(["hb.ok.rack1.node-a.", pack({ v: 1, agent: "node-a", rack: "rack1" })]);
    await pub.send(["hb.ok.rack1.node-a.", pack(heartbeat()), "extra"]);
    const after = seq + 1;
    await valid();
    await d.until(() => (d.dashboard.tracker.agents()[0]?.lastSeq ?? 0) >= after, "a valid beat after the garbage");

    expect(d.malformed).toEqual([
      "expected 2 frames, got 1",
      expect.stringMatching(/^body: not MessagePack/),
      "missing incarnation",
      "expected 2 frames, got 3",
    ]);
    expect(d.dashboard.malformedTotal).toBe(4);
    expect(d.dashboard.tracker.agents()[0]?.state).toBe("alive");
  });
});

describe("a message over the dashboard's limit", () => {
  it("drops that agent's connection for a moment only: the dashboard connects again and hears it", async () => {
    const pub = jar.add(new Publisher());
    await pub.bind(ANY_LOOPBACK_TCP);
    const d = startDashboard({ connect: [pub.lastEndpoint as string], reconnectMs: 100 });
    let seq = 0;
    const valid = () => pub.send(encodeHeartbeat(heartbeat({ agent: "node-a", seq: ++seq, intervalMs: 60_000 })));
    await d.until(() => d.has("joined", "node-a"), "the agent joining", valid);

    // libzmq drops the connection of a peer whose message is over the limit, and on its own never
    // connects to that endpoint again.
    await pub.send(["hb.ok.rack1.node-a.", Buffer.alloc(MAX_MESSAGE_BYTES + 1)]);
    const after = seq + 1;
    await d.until(() => (d.dashboard.tracker.agents()[0]?.lastSeq ?? 0) > after, "a beat after the oversized message", valid);
    expect(d.malformed).toEqual([]);
  });
});
