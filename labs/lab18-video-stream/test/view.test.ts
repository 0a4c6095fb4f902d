import { describe, expect, it } from "vitest";
import { cameraView, type EngineSnapshot, engineView, sparkline } from "../internal/view.ts";

describe("views", () => {
  it("the camera: size, rate, MB/s, buffers a frame", () => {
    const snapshot = {
      camera: "cam-1",
      width: 3840,
      height: 2160,
      frameBytes: 12_441_600,
      targetFps: 4,
      sent: 120,
      fps: 4,
      drawMs: 12.34,
      sendMs: 0.2,
      allocationsPerFrame: 2,
      ring: 0,
      rssMiB: 300,
      externalMiB: 60,
      checksum: true,
    };
    const v = cameraView(snapshot);
    expect(v.title).toBe("camera cam-1: 3840x2160 NV12, 12.4 MB a frame, 4.0 fps (target 4)");
    expect(v.rows).toEqual([["120", "4.0", "49.8", "12.3", "0.20", "2", "300", "60"]]);
    expect(v.summary).toContain("a fresh Buffer per frame");
    const ring = cameraView({ ...snapshot, ring: 8, allocationsPerFrame: 1, checksum: false });
    expect(ring.summary).toMatch(/^a ring of 8 pre-rendered frames, never written after drawing; PUB drops/);
    expect(ring.rows?.[0]?.[5]).toBe("1");
  });

  const engine: EngineSnapshot = {
    id: "engine-1",
    fps: 3.96,
    p50: 40.2,
    p99: 120.7,
    frames: 100,
    gaps: 3,
    refused: 1,
    badChecksums: 0,
    checked: 100,
    resyncs: 2,
    skipped: 5,
    lagMs: 1500,
    maxLagMs: 1000,
    onLag: "resync",
    latest: true,
    rcvHwm: 2,
    cameras: [{ name: "cam-1", width: 3840, height: 2160, frames: 100, gaps: 3, histogram: [0, 4, 8], meanLuma: 99.6, motion: 0.0512 }],
  };

  it("an engine: rate and latency in the title, a row per camera, lag in tone, modes below", () => {
    const v = engineView(engine);
    expect(v.title).toBe("4.0 fps, latency p50 40 ms p99 121 ms");
    expect(v.rows).toEqual([["cam-1", "100", { text: "3", tone: "warn" }, " ▄█", 100, "5.1 %", { text: "1500", tone: "bad" }]]);
    expect(v.summary).toEqual([
      "lag limit 1000 ms (then resync); HWM 2 frames; latest frame only",
      "resyncs 2, frames skipped 5, refused 1, checksums 100 checked / 0 bad",
    ]);
  });

  it("before any frame: dashes, no rows", () => {
    const v = engineView({ ...engine, p50: undefined, p99: undefined, cameras: [] });
    expect(v.title).toBe("4.0 fps, latency p50 - ms p99 - ms");
    expect(v.rows).toEqual([]);
    expect(sparkline([])).toBe("");
  });
});
