// Real sockets in one process: camera and engines over TCP on loopback, small frames.
import { Tasks, testLogger, waitUntil } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Publisher } from "zeromq";
import { AnalyticsEngine, type EngineConfig, EXIT_SNAIL } from "../internal/analytics-engine.ts";
import { ALLOCATIONS_LIVE, ALLOCATIONS_RING, type CameraConfig, CameraFeed } from "../internal/camera-feed.ts";
import { encodeHeader, frameChecksum, MAX_FRAME_BYTES, nv12Bytes, SUB_MAX_MESSAGE_BYTES, topicOf } from "../internal/protocol.ts";
import { drawFrame } from "../internal/scene.ts";

const log = testLogger("lab18");
const tasks = new Tasks();
afterEach(() => tasks.stopAll());
const WAIT = { timeoutMs: 20_000 };
const SMALL_FRAME_STEP = 8;

const cameraConfig = (over: Partial<CameraConfig> = {}): CameraConfig => ({
  endpoint: "tcp://127.0.0.1:*",
  camera: "cam-t",
  width: 320,
  height: 180,
  stride: 320,
  fps: 0,
  frames: 0,
  sndHwm: 4,
  checksum: true,
  loop: 0,
  statsMs: 60_000,
  ...over,
});

const engineConfig = (cameras: string[], over: Partial<EngineConfig> = {}): EngineConfig => ({
  id: "e",
  cameras,
  camera: "",
  rcvHwm: 2,
  maxLagMs: 60_000,
  onLag: "resync",
  latest: false,
  verify: true,
  // These frames are 320x180, the scene's bars 10 pixels wide: at the default step (16) a bar can
  // fall between two sample columns in consecutive frames, and a frame show no motion.
  sampleStep: SMALL_FRAME_STEP,
  costMs: 0,
  statsMs: 60_000,
  ...over,
});

async function startCamera(over: Partial<CameraConfig> = {}) {
  const camera = new CameraFeed(cameraConfig(over), log);
  const endpoint = await camera.bind();
  tasks.run((signal) => camera.run(signal));
  return { camera, endpoint };
}

function startEngine(cameras: string[], over: Partial<EngineConfig> = {}) {
  const engine = new AnalyticsEngine(engineConfig(cameras, over), log);
  const done = tasks.run((signal) => engine.run(signal));
  return { engine, done };
}

/**
 * A wait condition: every engine has 300 frames and showed motion on some frame. Not on the last one:
 * an engine that skips frames can get two equal frames in a row (the same slot of a 5-frame ring, or
 * the live scene where its bars repeat every 10 frames and its box bounces back to where it was), and
 * such a frame rightly shows no motion.
 */
function motionAndFrames(engines: AnalyticsEngine[]) {
  const moved = engines.map(() => false);
  return () => {
    engines.forEach((e, i) => {
      if ((e.snapshot().cameras[0]?.motion ?? 0) > 0) moved[i] = true;
    });
    return engines.every((e) => e.frames >= 300) && moved.every(Boolean);
  };
}

describe("camera and engines in one process", () => {
  it("every frame two engines receive at full speed has its checksum right; seq gaps are counted", async () => {
    const { camera, endpoint } = await startCamera();
    const engines = [startEngine([endpoint]).engine, startEngine([endpoint]).engine];
    await waitUntil(motionAndFrames(engines), { ...WAIT, what: "300 frames at each engine, motion seen at each" });
    for (const e of engines) {
      expect(e.badChecksums).toBe(0);
      expect(e.checked).toBe(e.frames);
      expect(e.refused).toBe(0);
    }
    expect(camera.allocations).toBe(camera.sent * ALLOCATIONS_LIVE);
  });

  it("a ring of pre-rendered frames sent flat out: every frame right at three engines, motion real, no payload allocated", async () => {
    // The ring's frames are queued many times over at once (SNDHWM 4 per engine, TCP buffers,
    // each sent again every 5 frames) and never written: every copy must arrive intact.
    const { camera, endpoint } = await startCamera({ loop: 5 });
    const engines = [0, 1, 2].map(() => startEngine([endpoint]).engine);
    await waitUntil(motionAndFrames(engines), { ...WAIT, what: "300 frames at each engine, motion seen at each" });
    for (const e of engines) {
      expect(e.badChecksums).toBe(0);
      expect(e.checked).toBe(e.frames);
      expect(e.refused).toBe(0);
    }
    expect(camera.allocations).toBe(camera.sent * ALLOCATIONS_RING);
  });

  it("a frame just over a 4K frame is refused and counted; one over the socket limit drops the connection, which comes back", async () => {
    const pub = new Publisher({ linger: 0 });
    try {
      await pub.bind("tcp://127.0.0.1:*");
      const endpoint = pub.lastEndpoint as string;
      const { engine } = startEngine([endpoint]);
      const g = { width: 64, height: 32, stride: 64 };
      let seq = 0;
      const valid = () => {
        const payload = Buffer.alloc(nv12Bytes(64, 32));
        drawFrame(payload, g, seq);
        const header = encodeHeader({ camera: "cam-x", seq: seq++, ts: Date.now(), ...g, format: "nv12", sum: frameChecksum(payload) });
        return pub.send([topicOf("cam-x"), header, payload]);
      };
      const big = encodeHeader({
        camera: "cam-x",
        seq: 0,
        ts: Date.now(),
        width: 3840,
        height: 2160,
        stride: 3840,
        format: "nv12",
        sum: -1,
      });
      await waitUntil(async () => (await valid()) === undefined && engine.frames > 0, { ...WAIT, what: "the first frame", everyMs: 50 });
      await pub.send([topicOf("cam-x"), big, Buffer.alloc(MAX_FRAME_BYTES + 1)]);
      await waitUntil(() => engine.refused === 1, { ...WAIT, what: "the frame over 4K refused" });
      await pub.send([topicOf("cam-x"), big, Buffer.alloc(SUB_MAX_MESSAGE_BYTES + 1)]);
      const before = engine.frames;
      // libzmq drops the connection at the oversized frame; the engine connects again (after 1 s).
      await waitUntil(async () => (await valid()) === undefined && engine.frames > before + 3, {
        ...WAIT,
        what: "frames after the reconnection",
        everyMs: 100,
      });
      expect(engine.refused).toBe(1);
      expect(engine.badChecksums).toBe(0);
    } finally {
      pub.close();
    }
  });

  it("latest-frame-only: a slow engine skips to the newest queued frame", async () => {
    const { endpoint } = await startCamera({ fps: 200 });
    const { engine } = startEngine([endpoint], { latest: true, costMs: 40 });
    await waitUntil(() => engine.frames >= 10 && engine.skipped > 0, { ...WAIT, what: "frames analysed and frames skipped" });
    expect(engine.badChecksums).toBe(0);
  });

  it("the Suicidal Snail: past the lag limit an engine resyncs, or exits with code 3", async () => {
    const { endpoint } = await startCamera({ fps: 100 });
    const { engine } = startEngine([endpoint], { costMs: 150, maxLagMs: 100, rcvHwm: 4 });
    await waitUntil(() => engine.resyncs >= 2, { ...WAIT, what: "two resyncs" });
    expect(engine.frames).toBeGreaterThan(0);
    const snail = startEngine([endpoint], { costMs: 150, maxLagMs: 100, rcvHwm: 4, onLag: "exit" });
    expect(await snail.done).toBe(EXIT_SNAIL);
  });
});
