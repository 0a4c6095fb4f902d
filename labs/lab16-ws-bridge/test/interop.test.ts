// The real lab01 agent and lab04 broker and source (their own cmd files, run as they are), bridged
// with --connect: their messages reach a browser unchanged and decode as their READMEs say.
import { fileURLToPath } from "node:url";
import { decodeMap } from "@zlabs/kit";
import { freeTcpEndpoints, ProcessPool } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { isData, startBridge, WAIT_MS, WsClient } from "./fixtures.ts";

const lab01 = fileURLToPath(new URL("../../lab01-heartbeat/", import.meta.url));
const lab04 = fileURLToPath(new URL("../../lab04-telemetry-lvc/", import.meta.url));
const procs = new ProcessPool();
const open: WsClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await procs.stopAll();
});

describe("bridging the real lab01 and lab04", () => {
  it("a lab01 monitor-agent's heartbeats and lab04 samples through its LVC broker reach a browser", async () => {
    const [agentEp, front, back] = (await freeTcpEndpoints(3)) as [string, string, string];
    const agent = procs.start({
      labDir: lab01,
      cmd: "cmd/monitor-agent.ts",
      name: "lab01-agent",
      args: ["--id", "real-1", "--bind", agentEp, "--interval", "200"],
    });
    const broker = procs.start({ labDir: lab04, cmd: "cmd/lvc-broker.ts", name: "lab04-broker", args: ["--front", front, "--back", back] });
    await Promise.all([agent.waitForLog("listening", WAIT_MS), broker.waitForLog("listening", WAIT_MS)]);
    procs.start({
      labDir: lab04,
      cmd: "cmd/telemetry-source.ts",
      name: "lab04-source",
      args: ["--site", "plant1", "--broker", front, "--interval", "100"],
    });
    const r = await startBridge(procs, ["--connect", agentEp, "--connect", back]);
    const c = new WsClient(r.url, r.origin);
    open.push(c);
    await c.open();
    c.subscribe("hb.");
    c.subscribe("plant1.");
    const hb = await c.waitFor("a lab01 heartbeat", isData("hb."), 20_000);
    const sample = await c.waitFor("a lab04 sample", isData("plant1."), 20_000);
    if ((hb.kind !== "live" && hb.kind !== "cached") || (sample.kind !== "live" && sample.kind !== "cached")) throw new Error("not data");
    expect(hb.frames[0]?.toString()).toMatch(/^hb\.(ok|warn|crit)\.rack1\.real-1\.$/);
    const body = decodeMap(hb.frames[1]);
    expect(body.ok && [body.value.v, body.value.agent, body.value.intervalMs]).toEqual([1, "real-1", 200]);
    expect(sample.frames.length).toBe(3);
    const header = decodeMap(sample.frames[1]);
    expect(header.ok && header.value.schema).toBe("f64le");
    expect(header.ok && (sample.frames[2] as Buffer).length).toBe(header.ok ? Number(header.value.count) * 8 : -1);
  });
});
