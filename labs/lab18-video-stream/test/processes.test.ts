// End to end: the real camera and engines as processes; 4K frames checked; an engine stalled
// with SIGSTOP and one killed with SIGKILL while the camera and the other engines go on.
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, type LogEntry, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());

const camera = (endpoint: string, args: string[]) =>
  procs.start({ labDir, cmd: "cmd/camera-feed.ts", name: "camera", args: ["--endpoint", endpoint, "--stats-ms", "200", ...args] });
const engine = (id: string, endpoint: string, args: string[] = []) =>
  procs.start({
    labDir,
    cmd: "cmd/analytics-engine.ts",
    name: id,
    args: ["--id", id, "--cameras", endpoint, "--stats-ms", "200", ...args],
  });

/** The first stats line (from index `from`) whose count has reached `n`. */
const reached = (p: RoleProcess, msg: string, field: string, n: number, from = 0): Promise<LogEntry> =>
  p.waitForLog((e) => e.msg === msg && (e[field] as number) >= n, WAIT_MS, from);
const last = (p: RoleProcess, msg: string): LogEntry => p.find(msg).at(-1) ?? {};

describe("the real processes", () => {
  it.each([
    ["drawn live into a fresh Buffer each", []],
    ["a ring of 3 pre-rendered immutable frames, each queued again and again", ["--loop", "3"]],
  ])("4K frames flat out, %s: every frame at both engines has its checksum right", async (_, args) => {
    const [endpoint] = (await freeTcpEndpoints(1)) as [string];
    const engines = [engine("e1", endpoint), engine("e2", endpoint)];
    for (const e of engines) await e.waitForLog("subscribed", WAIT_MS);
    const cam = camera(endpoint, ["--fps", "0", ...args]);
    await cam.waitForLog("camera on", WAIT_MS);
    const done = await Promise.all(engines.map((e) => reached(e, "engine stats", "frames", 12)));
    for (const stats of done) {
      expect(stats.badChecksums).toBe(0);
      expect(stats.checked).toBe(stats.frames);
      expect(stats.refused).toBe(0);
    }
    expect(engines.flatMap((e) => e.find("frame corrupted: checksum mismatch"))).toEqual([]);
  });

  it("an engine stalled (SIGSTOP) slows neither the camera nor the others; resumed, it resyncs; one SIGKILLed changes nothing", async () => {
    const [endpoint] = (await freeTcpEndpoints(1)) as [string];
    // Queues of 20 frames (345 KB each) at the healthy engines and at the camera: a scheduling
    // hiccup of this loaded machine costs no frame, so any gap would be the stalled engine's doing.
    const cam = camera(endpoint, ["--width", "640", "--height", "360", "--fps", "40", "--hwm", "20"]);
    await cam.waitForLog("camera on", WAIT_MS);
    const [e1, e2, e3] = [
      engine("e1", endpoint, ["--hwm", "20"]),
      engine("e2", endpoint, ["--hwm", "20"]),
      engine("e3", endpoint, ["--max-lag", "500"]),
    ] as [RoleProcess, RoleProcess, RoleProcess];
    for (const e of [e1, e2, e3]) await reached(e, "engine stats", "frames", 10);
    const pid = e3.pid as number;
    process.kill(pid, "SIGSTOP");
    try {
      const sent = last(cam, "camera stats").sent as number;
      const from = [e1, e2].map((e) => e.logs.length);
      const base = [e1, e2].map((e) => last(e, "engine stats").frames as number);
      // 80 frames at 40 fps: e3 has been stopped for 2 s, four times its lag limit.
      await reached(cam, "camera stats", "sent", sent + 80);
      await Promise.all([e1, e2].map((e, i) => reached(e, "engine stats", "frames", (base[i] as number) + 60, from[i])));
      for (const e of [e1, e2]) {
        const stats = last(e, "engine stats");
        expect(stats.gaps).toBe(0);
        expect(stats.resyncs).toBe(0);
      }
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const resync = await e3.waitForLog("lagging past the limit: dropped the queue, resyncing to the newest frame", WAIT_MS);
    expect(resync.lagMs as number).toBeGreaterThan(500);
    const after = last(e3, "engine stats").frames as number;
    await reached(e3, "engine stats", "frames", after + 20, e3.logs.length);

    await procs.crash(e2);
    const sent = last(cam, "camera stats").sent as number;
    const f1 = last(e1, "engine stats").frames as number;
    await reached(cam, "camera stats", "sent", sent + 40, cam.logs.length);
    await reached(e1, "engine stats", "frames", f1 + 30, e1.logs.length);
    expect(last(e1, "engine stats").gaps).toBe(0);
    expect(cam.running && e1.running && e3.running).toBe(true);
  });

  it("--on-lag exit: a too-slow engine exits loudly with code 3 (the Suicidal Snail)", async () => {
    const [endpoint] = (await freeTcpEndpoints(1)) as [string];
    camera(endpoint, ["--width", "320", "--height", "180", "--fps", "50"]);
    const snail = engine("snail", endpoint, ["--on-lag", "exit", "--max-lag", "200", "--cost-ms", "300", "--hwm", "4"]);
    expect(await snail.exited).toEqual({ code: 3, signal: null });
    expect(snail.find("Suicidal Snail: this engine is too slow for the camera; exiting")).toHaveLength(1);
  });

  it.each([
    ["cmd/camera-feed.ts", ["--width", "641"], "camera-feed: --width and --height must be even for NV12 (641x2160) (see --help)"],
    ["cmd/analytics-engine.ts", ["--id", "a b"], 'analytics-engine: --id "a b" may hold only letters, digits, - and _ (see --help)'],
    [
      "cmd/analytics-engine.ts",
      ["--sample-step", "0"],
      "analytics-engine: --sample-step (or LAB18_SAMPLE_STEP) must be at least 1 (see --help)",
    ],
  ])("%s %j exits 2 with one line", async (cmd, args, line) => {
    const p = procs.start({ labDir, cmd, name: cmd, args });
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.lines).toEqual([line]);
  });
});
