// End to end: the real cmd/ processes, killed with SIGKILL where the pattern is about surviving it.
import { fileURLToPath } from "node:url";
import type { View } from "@zlabs/kit";
import { freeTcpEndpoints, type LogEntry, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";

const labDir = fileURLToPath(new URL("..", import.meta.url));
// One beat a second, as the demo: "dead within liveness x interval + one interval" then leaves the
// dashboard's tick (100 ms) and 900 ms for a loaded machine's scheduling, not 200.
const INTERVAL_MS = 1000;
const LIVENESS = 3;
const WAIT_MS = 20_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

function agent(id: string, rack: string, endpoint: string, extra: string[] = []): RoleProcess {
  return procs.start({
    labDir,
    cmd: "cmd/monitor-agent.ts",
    name: id,
    args: ["--id", id, "--rack", rack, "--bind", endpoint, "--interval", String(INTERVAL_MS), ...extra],
  });
}

function dashboard(endpoints: string[], extra: string[] = [], env: Record<string, string> = {}): RoleProcess {
  return procs.start({
    labDir,
    cmd: "cmd/dashboard.ts",
    name: "dashboard",
    args: ["--connect", endpoints.join(","), "--liveness", String(LIVENESS), ...extra],
    env,
  });
}

/** The agent names in a view line (ZLABS_VIEW=json prints each view as {"view": {...}}). */
function viewAgents(entry: LogEntry): string[] | undefined {
  const view = entry.view as View | undefined;
  return view?.rows?.map((row) => String(row[0]));
}

describe("the real processes", () => {
  it("a dashboard sees every agent, with racks and alert levels, and everything stops cleanly on SIGTERM", async () => {
    const endpoints = await freeTcpEndpoints(3);
    const [e1, e2, e3] = endpoints as [string, string, string];
    const agents = [agent("a1", "rack1", e1), agent("a2", "rack1", e2), agent("b1", "rack2", e3, ["--simulate", "critical"])];
    const dash = dashboard(endpoints);
    for (const id of ["a1", "a2", "b1"]) await dash.waitForLog({ msg: "agent joined", agent: id }, WAIT_MS);
    const critical = await dash.waitForLog((e) => e.msg === "agent joined" && e.agent === "b1", WAIT_MS);
    expect(critical.alert).toBe("crit");
    expect(dash.find("malformed message dropped")).toEqual([]);

    const exits = await Promise.all([dash, ...agents].map((p) => p.stop(5000)));
    expect(exits).toEqual(Array(4).fill({ code: 0, signal: null }));
  });

  it("an agent killed with SIGKILL is dead within liveness x interval + one interval; restarted, it is a restart and alive again", async () => {
    const [e1, e2] = (await freeTcpEndpoints(2)) as [string, string];
    const victim = agent("victim", "rack1", e1);
    agent("bystander", "rack1", e2);
    const dash = dashboard([e1, e2]);
    await dash.waitForLog({ msg: "agent joined", agent: "victim" }, WAIT_MS);
    await dash.waitForLog({ msg: "agent joined", agent: "bystander" }, WAIT_MS);
    const firstIncarnation = (await victim.waitForLog("listening", WAIT_MS)).incarnation;

    const killedAt = Date.now();
    await victim.kill();
    const dead = await dash.waitForLog({ msg: "agent dead", agent: "victim" }, WAIT_MS);
    // Measured on the dashboard's own clock line: from the kill to the verdict.
    const detectionMs = Date.parse(String(dead.time)) - killedAt;
    expect(detectionMs).toBeLessThanOrEqual((LIVENESS + 1) * INTERVAL_MS);
    expect(dash.find({ msg: "agent dead", agent: "bystander" })).toEqual([]);

    const reborn = agent("victim", "rack1", e1);
    const restarted = await dash.waitForLog({ msg: "agent restarted", agent: "victim" }, WAIT_MS);
    expect(restarted.previous).toBe(firstIncarnation);
    expect(restarted.incarnation).toBe((await reborn.waitForLog("listening", WAIT_MS)).incarnation);
    await dash.waitForLog({ msg: "agent alive again", agent: "victim" }, WAIT_MS);
  });

  it("a rack filter on the command line keeps other racks out", async () => {
    const [e1, e2] = (await freeTcpEndpoints(2)) as [string, string];
    agent("in1", "rack1", e1);
    agent("out10", "rack10", e2);
    const filtered = dashboard([e1, e2], ["--rack", "rack1"], { ZLABS_VIEW: "json" });
    const all = dashboard([e1, e2]);
    await all.waitForLog({ msg: "agent joined", agent: "out10" }, WAIT_MS);
    await filtered.waitForLog({ msg: "agent joined", agent: "in1" }, WAIT_MS);
    // Once rack10 is known to be publishing, two more views of the filtered dashboard (its live
    // table, published twice a second) still list only rack1's agent.
    const from = filtered.logs.length;
    await filtered.waitForLog((e) => viewAgents(e) !== undefined, WAIT_MS, from);
    const view = await filtered.waitForLog((e) => viewAgents(e) !== undefined, WAIT_MS, filtered.logs.length);
    expect(viewAgents(view)).toEqual(["in1"]);
    const [row] = (view.view as View).rows ?? [];
    // The alert level follows the host's real load (a busy test machine may be at warn).
    expect(row?.slice(1, 3)).toEqual(["rack1", { text: "alive", tone: "good" }]);
    expect((view.view as View).title).toMatch(
      /^1 agents: 1 alive, 0 suspect, 0 dead · subscribed to hb.ok.rack1. hb.warn.rack1. hb.crit.rack1.$/,
    );
    expect(filtered.find({ msg: "agent joined", agent: "out10" })).toEqual([]);
  });

  it.each([
    [["--interval", "soon"], /--interval \(or LAB01_INTERVAL\) must be a number/],
    [["--id", "has.dot"], /--id "has.dot" may hold only/],
    [["--simulate", "meltdown"], /Invalid values/],
    [["--bogus"], /Unknown argument/],
    [["--interval", "5"], /^monitor-agent: --interval \(or LAB01_INTERVAL\) must be at least 10/],
    [["--interval", "99.5"], /^monitor-agent: --interval \(or LAB01_INTERVAL\) must be a whole number/],
    [["--bind", "5011"], /^monitor-agent: --bind \(or LAB01_BIND\) must be a ZeroMQ endpoint/],
  ])("a bad flag %j exits 2 with a one-line reason", async (args, reason) => {
    const p = procs.start({ labDir, cmd: "cmd/monitor-agent.ts", args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    // yargs words a bad choice on two lines; everything else is one.
    expect(p.lines.length).toBeLessThanOrEqual(args[0] === "--simulate" ? 2 : 1);
    expect(p.lines.join("\n")).toMatch(reason);
  });

  it("an agent whose port is taken says so in one line and exits 2", async () => {
    const [endpoint] = (await freeTcpEndpoints(1)) as [string];
    const first = agent("first", "rack1", endpoint);
    await first.waitForLog("listening", WAIT_MS);
    const second = agent("second", "rack1", endpoint);
    expect(await second.exited).toEqual({ code: 2, signal: null });
    expect(second.lines).toEqual([
      `monitor-agent: cannot bind endpoint to ${endpoint}: the address is in use (is another instance running?)`,
    ]);
  });

  it.each([
    [["--liveness", "0"], /^dashboard: --liveness \(or LAB01_LIVENESS\) must be at least 1/],
    [["--connect", "tcp://127.0.0.1:5011,nowhere"], /^dashboard: cannot connect to nowhere: /],
  ])("the dashboard with %j exits 2 with a one-line reason", async (args, reason) => {
    const p = procs.start({ labDir, cmd: "cmd/dashboard.ts", args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatch(reason);
  });

  it("the dashboard rejects an unknown alert level", async () => {
    const p = procs.start({ labDir, cmd: "cmd/dashboard.ts", args: ["--level", "panic"] });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines.join("\n")).toMatch(/--level "panic" is not one of ok, warn, crit/);
  });
});
