// End to end: the real broker, sources and terminals; a source killed with SIGKILL.
import { fileURLToPath } from "node:url";
import type { View } from "@zlabs/kit";
import { freeTcpEndpoints, ProcessPool, waitForCount } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

describe("the real processes", () => {
  it("a terminal started after the only source died still gets every current value, from the cache", async () => {
    const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
    // ZLABS_VIEW=json: each live view is a {"view": {...}} line on stdout.
    const broker = procs.start({
      labDir,
      cmd: "cmd/lvc-broker.ts",
      name: "broker",
      args: ["--front", front, "--back", back],
      env: { ZLABS_VIEW: "json" },
    });
    await broker.waitForLog("listening", WAIT_MS);
    const source = procs.start({
      labDir,
      cmd: "cmd/telemetry-source.ts",
      name: "source",
      args: ["--site", "plant7", "--devices", "2", "--broker", front, "--interval", "100"],
    });
    const early = procs.start({
      labDir,
      cmd: "cmd/analyst-terminal.ts",
      name: "early",
      args: ["--broker", back, "--topic", "plant7."],
    });
    await waitForCount(early, "first value", 6, WAIT_MS);
    expect(await procs.crash(source)).toEqual({ code: null, signal: "SIGKILL" });
    const late = procs.start({
      labDir,
      cmd: "cmd/analyst-terminal.ts",
      name: "late",
      args: ["--broker", back, "--topic", "plant7.pump2."],
      env: { ZLABS_VIEW: "json" },
    });
    const values = await waitForCount(late, "first value", 3, WAIT_MS);
    expect(values.map((v) => v.topic).sort()).toEqual(["plant7.pump2.flow", "plant7.pump2.pressure", "plant7.pump2.temperature"]);
    // The broker logs after it has sent the replay: the terminal may have it first.
    const replay = await broker.waitForLog((e) => e.msg === "subscribed; cache replayed" && e.prefix === "plant7.pump2.", WAIT_MS);
    expect(replay.replayed).toBe(3);

    // The live views: the late terminal's table has the three values, each received once (the
    // replay); the broker's names the subscription and what it replayed.
    const table = (await late.waitForLog((e) => (e.view as View | undefined)?.rows?.length === 3, WAIT_MS)).view as View;
    expect(table.title).toBe("watching plant7.pump2. · 3 topics");
    expect(table.rows?.map((r) => [r[0], r[4], r[6]])).toEqual([
      ["plant7.pump2.flow", "plant7-source", 1],
      ["plant7.pump2.pressure", "plant7-source", 1],
      ["plant7.pump2.temperature", "plant7-source", 1],
    ]);
    const cache = await broker.waitForLog(
      (e) => JSON.stringify((e.view as View | undefined)?.summary ?? "").includes("plant7.pump2. ×1 (3 replayed)"),
      WAIT_MS,
    );
    expect((cache.view as View).rows).toEqual([["plant7", 6, "plant7-source", expect.anything(), expect.anything()]]);
  });

  it.each([
    ["cmd/lvc-broker.ts", ["--max-topics", "0"], "lvc-broker: --max-topics (or LAB04_MAX_TOPICS) must be at least 1 (see --help)"],
    ["cmd/lvc-broker.ts", ["--front", "notanendpoint"], /^lvc-broker: --front \(or LAB04_FRONT\) must be a ZeroMQ endpoint/],
    ["cmd/lvc-broker.ts", ["--publisher", "tcp://127.0.0.1:5999,nowhere"], /^lvc-broker: cannot connect to publisher nowhere: /],
    ["cmd/telemetry-source.ts", ["--site", "a.b"], 'telemetry-source: --site "a.b" may hold only letters, digits, - and _ (see --help)'],
    ["cmd/telemetry-source.ts", ["--devices", "2.5"], "telemetry-source: --devices (or LAB04_DEVICES) must be a whole number (see --help)"],
    ["cmd/analyst-terminal.ts", ["--broker", "5041"], /^analyst-terminal: --broker \(or LAB04_BROKER\) must be a ZeroMQ endpoint/],
  ])("%s %j exits 2 with one line", async (cmd, args, line) => {
    const p = procs.start({ labDir, cmd, name: cmd, args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    // One line of text (log records of what went well before it aside), no stack trace.
    const text = p.lines.filter((l) => !l.startsWith("{"));
    expect(text).toHaveLength(1);
    expect(text[0]).toMatch(line);
  });

  it("a broker whose port is taken says so in one line and exits 2", async () => {
    const [front, back] = (await freeTcpEndpoints(2)) as [string, string];
    const first = procs.start({ labDir, cmd: "cmd/lvc-broker.ts", name: "first", args: ["--front", front, "--back", back] });
    await first.waitForLog("listening", WAIT_MS);
    const second = procs.start({ labDir, cmd: "cmd/lvc-broker.ts", name: "second", args: ["--front", front, "--back", back] });
    expect(await second.exited).toEqual({ code: 2, signal: null });
    expect(second.lines).toEqual([`lvc-broker: cannot bind front to ${front}: the address is in use (is another instance running?)`]);
  });
});
