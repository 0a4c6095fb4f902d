// Units: the wire protocol (every bound of the decoder), the checksum, the scene, the analysis.
import { encode } from "@zlabs/kit";
import { describe, expect, it } from "vitest";
import {
  analyse,
  gapBetween,
  HISTOGRAM_BINS,
  MOTION_THRESHOLD,
  percentile,
  RateMeter,
  SAMPLE_STEP,
  sampleCount,
  snail,
  Window,
} from "../internal/analysis.ts";
import { cameraConfig, checkCamera, checkEngine } from "../internal/config.ts";
import {
  decodeHeader,
  encodeHeader,
  type FrameHeader,
  frameChecksum,
  fromCamera,
  MAX_FRAME_BYTES,
  nv12Bytes,
  SUB_MAX_MESSAGE_BYTES,
  topicOf,
} from "../internal/protocol.ts";
import { drawFrame, layout } from "../internal/scene.ts";

const header = (over: Partial<FrameHeader> = {}): FrameHeader => ({
  camera: "cam-1",
  seq: 7,
  ts: Date.now(),
  width: 64,
  height: 32,
  format: "nv12",
  stride: 64,
  sum: -1,
  ...over,
});

const frame = (h: FrameHeader) => Buffer.alloc(nv12Bytes(h.stride, h.height));

describe("protocol", () => {
  it("the limits: a 4K NV12 frame is the largest, the subscribers' limit just above it", () => {
    expect(MAX_FRAME_BYTES).toBe(12_441_600);
    expect(SUB_MAX_MESSAGE_BYTES - MAX_FRAME_BYTES).toBe(4096);
  });

  it("a frame round-trips: topic, header, payload", () => {
    const h = header({ stride: 70 });
    const msg = fromCamera([topicOf("cam-1"), encodeHeader(h), frame(h)]);
    expect(msg).toEqual({ kind: "frame", header: h, payload: frame(h) });
  });

  const raw = (over: Record<string, unknown>) => encode({ v: 1, ...header(), ...over });
  it.each([
    ["version", { v: 2 }, "unsupported version"],
    ["camera with a slash", { camera: "a/b" }, "bad camera"],
    ["camera too long", { camera: "x".repeat(65) }, "bad camera"],
    ["negative seq", { seq: -1 }, "bad seq"],
    ["fractional seq", { seq: 1.5 }, "bad seq"],
    ["seq over 2^53", { seq: 2 ** 53 + 2 }, "bad seq"],
    ["ts not a number", { ts: "now" }, "bad capture time"],
    ["ts far future", { ts: Date.UTC(2200, 0, 1) }, "bad capture time"],
    ["format", { format: "rgba" }, "unknown format"],
    ["width 0", { width: 0 }, "bad width"],
    ["width over 4K", { width: 3842, stride: 3842 }, "bad width"],
    ["height over 4K", { height: 2162 }, "bad width"],
    ["odd width", { width: 63 }, "bad width"],
    ["stride below width", { stride: 63 }, "bad stride"],
    ["stride too padded", { stride: 64 + 64 }, "bad stride"],
    ["sum negative", { sum: -2 }, "bad checksum"],
    ["sum over 32 bits", { sum: 2 ** 32 }, "bad checksum"],
  ])("the decoder refuses %s", (_what, over, reason) => {
    const decoded = decodeHeader(raw(over));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toContain(reason);
  });

  it.each([
    ["two frames", () => [topicOf("cam-1"), encodeHeader(header())], "not topic, header, payload"],
    ["four frames", () => [topicOf("cam-1"), encodeHeader(header()), frame(header()), Buffer.alloc(1)], "not topic, header, payload"],
    ["header not msgpack", () => [topicOf("cam-1"), Buffer.from([0xc1]), frame(header())], "header"],
    ["a huge header", () => [topicOf("cam-1"), Buffer.alloc(4096), frame(header())], "header over"],
    ["topic of another camera", () => [topicOf("cam-2"), encodeHeader(header()), frame(header())], "topic"],
    ["payload one byte short", () => [topicOf("cam-1"), encodeHeader(header()), Buffer.alloc(nv12Bytes(64, 32) - 1)], "payload of"],
    [
      "payload for a 4K header",
      () => [topicOf("cam-1"), encodeHeader(header({ width: 3840, height: 2160, stride: 3840 })), Buffer.alloc(10)],
      "payload of",
    ],
  ])("fromCamera refuses %s", (_what, frames, reason) => {
    const msg = fromCamera(frames());
    expect(msg.kind).toBe("invalid");
    if (msg.kind === "invalid") expect(msg.reason).toContain(reason);
  });

  it("the checksum sees one byte changed, at any offset, aligned or not", () => {
    const data = Buffer.alloc(1031);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const sum = frameChecksum(data);
    const unaligned = Buffer.alloc(data.length + 1).subarray(1);
    data.copy(unaligned);
    expect(frameChecksum(unaligned)).toBe(sum);
    for (const at of [0, 3, 512, 1030]) {
      const copy = Buffer.from(data);
      copy[at] = (copy[at] as number) ^ 1;
      expect(frameChecksum(copy)).not.toBe(sum);
    }
  });
});

describe("the scene", () => {
  const g = { width: 160, height: 90, stride: 192 - 64 + 40 };
  it("writes every byte (padding zeroed) and moves from frame to frame", () => {
    const a = Buffer.alloc(nv12Bytes(g.stride, g.height), 0xee);
    const b = Buffer.alloc(nv12Bytes(g.stride, g.height), 0x11);
    drawFrame(a, g, 5);
    drawFrame(b, g, 5);
    expect(a.equals(b)).toBe(true);
    drawFrame(b, g, 6);
    expect(a.equals(b)).toBe(false);
    expect(a[g.width]).toBe(0);
    expect(layout(g, 6).boxX).not.toBe(layout(g, 5).boxX);
  });
});

describe("the analysis", () => {
  const g = { width: 320, height: 180, stride: 320 };
  const h = header({ ...g });
  it("a histogram of every sample, and motion only where the scene moved", () => {
    const a = Buffer.alloc(nv12Bytes(g.stride, g.height));
    const b = Buffer.alloc(nv12Bytes(g.stride, g.height));
    drawFrame(a, g, 0);
    drawFrame(b, g, 10);
    const n = sampleCount(g.width, g.height);
    const first = analyse(h, a, new Uint8Array(n), undefined);
    expect(first.samples).toBe(n);
    expect(first.histogram).toHaveLength(HISTOGRAM_BINS);
    expect(first.histogram.reduce((x, y) => x + y, 0)).toBe(n);
    expect(first.motion).toBeUndefined();
    const prev = new Uint8Array(n);
    analyse(h, a, prev, undefined);
    expect(analyse(h, a, new Uint8Array(n), prev).motion).toBe(0);
    const moved = analyse(h, b, new Uint8Array(n), prev).motion as number;
    expect(moved).toBeGreaterThan(0.01);
    expect(moved).toBeLessThan(0.6);
  });

  /** The analysis written plainly, one sample at a time: what the unrolled one must equal. */
  function plainAnalysis(g: { width: number; height: number; stride: number }, frame: Buffer, previous: Uint8Array, step: number) {
    const histogram = new Array<number>(HISTOGRAM_BINS).fill(0);
    let n = 0;
    let sum = 0;
    let moved = 0;
    for (let y = 0; y < g.height; y += step)
      for (let x = 0; x < g.width; x += step) {
        const l = frame[y * g.stride + x] as number;
        const bin = Math.floor((l * HISTOGRAM_BINS) / 256);
        histogram[bin] = (histogram[bin] as number) + 1;
        sum += l;
        if (Math.abs(l - (previous[n] as number)) > MOTION_THRESHOLD) moved += 1;
        n += 1;
      }
    return { histogram, meanLuma: sum / n, motion: moved / n, samples: n };
  }

  it("equals the plain one-sample-at-a-time analysis, whatever the width, stride and step", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed >>> 23;
    };
    for (const g of [
      { width: 320, height: 180, stride: 320 },
      { width: 322, height: 178, stride: 352 },
      { width: 96, height: 64, stride: 100 },
    ])
      for (const step of [1, 3, 8, SAMPLE_STEP, 17]) {
        const frame = Buffer.alloc(nv12Bytes(g.stride, g.height));
        for (let i = 0; i < frame.length; i++) frame[i] = random() & 255;
        const n = sampleCount(g.width, g.height, step);
        const previous = new Uint8Array(n);
        for (let i = 0; i < n; i++) previous[i] = random() & 255;
        const into = new Uint8Array(n);
        const stats = analyse(header({ ...g }), frame, into, previous, step);
        expect(stats, `${g.width}x${g.height}/${g.stride} step ${step}`).toEqual(plainAnalysis(g, frame, previous, step));
        expect(into.length).toBe(stats.samples);
      }
  });

  it("the default step's histogram and motion are within one percentage point of the whole frame's", () => {
    const g = { width: 3840, height: 2160, stride: 3840 };
    const h4k = header({ ...g });
    const a = Buffer.alloc(nv12Bytes(g.stride, g.height));
    const b = Buffer.alloc(nv12Bytes(g.stride, g.height));
    for (const seq of [0, 7, 23]) {
      drawFrame(a, g, seq);
      drawFrame(b, g, seq + 1);
      const shares = (step: number) => {
        const n = sampleCount(g.width, g.height, step);
        const before = new Uint8Array(n);
        analyse(h4k, a, before, undefined, step);
        const s = analyse(h4k, b, new Uint8Array(n), before, step);
        return { bins: s.histogram.map((c) => c / s.samples), motion: s.motion as number };
      };
      const whole = shares(1);
      const sampled = shares(SAMPLE_STEP);
      expect(whole.motion).toBeGreaterThan(0.01);
      expect(Math.abs(sampled.motion - whole.motion), `motion, frame ${seq}`).toBeLessThan(0.01);
      for (const [i, share] of sampled.bins.entries())
        expect(Math.abs(share - (whole.bins[i] as number)), `bin ${i}, frame ${seq}`).toBeLessThan(0.01);
    }
  });

  it("percentiles, gaps, the Suicidal Snail rule, the latency window", () => {
    expect(percentile([], 50)).toBeUndefined();
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(gapBetween(undefined, 5)).toBe(0);
    expect(gapBetween(5, 6)).toBe(0);
    expect(gapBetween(5, 9)).toBe(3);
    expect(gapBetween(9, 0)).toBe(0);
    expect(snail(999, 1000, "exit")).toBe("ok");
    expect(snail(1001, 1000, "exit")).toBe("exit");
    expect(snail(1001, 1000, "resync")).toBe("resync");
    const w = new Window(3);
    for (const v of [1, 2, 3, 4]) w.push(v);
    expect([...w.all].sort()).toEqual([2, 3, 4]);
  });

  it("the rate meter: events a second over its window, in fixed buckets whatever the rate", () => {
    const m = new RateMeter(5000, 0);
    expect(m.perSecond(0)).toBe(0);
    for (let t = 0; t < 1000; t += 10) m.mark(t); // 100 in the first second
    expect(m.perSecond(1000)).toBeCloseTo(100, 5);
    for (let t = 1000; t < 5000; t += 1) m.mark(t); // then 1000 a second for 4 s
    // The window is the last 50 buckets of 100 ms: exact to a bucket.
    const near = (x: number, expected: number) => expect(Math.abs(x - expected)).toBeLessThanOrEqual(1000 / 5 / 10);
    near(m.perSecond(4999), (100 + 4000) / 5);
    // 3 s later the first 3 s have left the window: 2 s of 1000 a second remain.
    near(m.perSecond(8000), 2000 / 5);
    expect(m.perSecond(20_000)).toBe(0);
  });
});

describe("flags", () => {
  it.each([
    [{ camera: "a b", width: 64, height: 32, stride: 0 }, "--camera"],
    [{ camera: "c", width: 63, height: 32, stride: 0 }, "even"],
    [{ camera: "c", width: 64, height: 32, stride: 200 }, "--stride"],
    [{ camera: "c", width: 64, height: 32, stride: 0 }, undefined],
  ])("camera %o -> %s", (a, error) => {
    const message = checkCamera(a);
    if (error) expect(message).toContain(error);
    else expect(message).toBeUndefined();
  });
  it("engine ids and camera names are checked; stride 0 is the width", () => {
    expect(checkEngine({ id: "a b", camera: "", cameras: ["tcp://x:1"] })).toContain("--id");
    expect(checkEngine({ id: "e", camera: "x/y", cameras: ["tcp://x:1"] })).toContain("--camera");
    expect(checkEngine({ id: "e", camera: "", cameras: [] })).toContain("which camera");
    const c = cameraConfig({
      endpoint: "e",
      camera: "c",
      width: 64,
      height: 32,
      stride: 0,
      fps: 1,
      frames: 0,
      hwm: 2,
      checksum: true,
      loop: 0,
      statsMs: 10,
      _: [],
    } as never);
    expect(c.stride).toBe(64);
  });
});
