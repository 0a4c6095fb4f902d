// The real processes end to end, without a browser: the feeds' wire formats through the bridge, and
// a publisher SIGKILLed and restarted, invisible to a browser apart from a gap.
import { decodeMap } from "@zlabs/kit";
import { ProcessPool } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { isData, startAgent, startBridge, startTelemetry, WsClient } from "./fixtures.ts";

const procs = new ProcessPool();
const open: WsClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await procs.stopAll();
});

describe("the real processes", () => {
  it("a feed SIGKILLed and restarted: the browser stays connected and sees the samples again after a gap", async () => {
    const r = await startBridge(procs);
    startAgent(procs, r.upstream, "a1", 200);
    let feed = startTelemetry(procs, r.upstream, 50);
    const c = new WsClient(r.url, r.origin);
    open.push(c);
    await c.open();
    c.subscribe("plant3.boiler.");
    c.subscribe("hb.");
    const first = await c.waitFor("a sample", isData("plant3.boiler.temp"), 20_000);
    await c.waitFor("a heartbeat", isData("hb.ok.rack1.a1."), 20_000);
    if (first.kind !== "live" && first.kind !== "cached") throw new Error("not data");
    expect(first.frames.length).toBe(3);
    const header = decodeMap(first.frames[1]);
    expect(header.ok && header.value.schema).toBe("f64le");

    await feed.kill("SIGKILL");
    const before = c.messages.length;
    feed = startTelemetry(procs, r.upstream, 50);
    await feed.waitForLog("telemetry feed started", 20_000);
    await c.waitFor("a sample from the new feed", isData("plant3.boiler.temp"), 20_000, before);
    expect(c.closed).toBeUndefined();
    expect(r.bridge.find("browser connected").length).toBe(1);
  });
});
