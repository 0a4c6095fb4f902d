import { type ConfigOf, endpointOption, intOption, numberOption } from "@zlabs/kit";
import { MAX_SAMPLE_STEP, SAMPLE_STEP } from "./analysis.ts";
import { ENGINE_RCVHWM, type EngineConfig, MAX_LAG_MS } from "./analytics-engine.ts";
import { CAMERA_FPS, CAMERA_SNDHWM, type CameraConfig, STATS_MS } from "./camera-feed.ts";
import { HEIGHT_4K, isCameraName, MIN_SIDE, ROW_ALIGN, WIDTH_4K } from "./protocol.ts";

export const LAB = "lab18";
export const CAMERA_ENDPOINT = "tcp://127.0.0.1:5180";

export const cameraOptions = {
  endpoint: endpointOption(CAMERA_ENDPOINT, "PUB endpoint the camera binds"),
  camera: { type: "string", default: "cam-1", describe: "camera name (letters, digits, - and _): the topic is video.<camera>." },
  width: intOption(WIDTH_4K, "frame width, pixels (even)", { min: MIN_SIDE, max: WIDTH_4K }),
  height: intOption(HEIGHT_4K, "frame height, pixels (even)", { min: MIN_SIDE, max: HEIGHT_4K }),
  stride: intOption(0, `bytes a row (width .. width+${ROW_ALIGN - 1}; 0: the width)`, { min: 0 }),
  fps: numberOption(CAMERA_FPS, "frames a second (0: as fast as it can draw)", { min: 0, max: 1000 }),
  frames: intOption(0, "stop after this many frames (0: run until stopped)", { min: 0 }),
  hwm: intOption(CAMERA_SNDHWM, "send high-water mark, in frames per subscriber", { min: 1, max: 1000 }),
  checksum: { type: "boolean", default: true, describe: "put a checksum of the payload in every header (--no-checksum: none)" },
  loop: intOption(0, "0: draw every frame; N: draw N frames at the start and copy each into a fresh Buffer in turn (benchmarks)", {
    min: 0,
    max: 64,
  }),
  statsMs: intOption(STATS_MS, "ms between stats log lines", { min: 10 }),
} as const;

export function checkCamera(a: { camera: string; width: number; height: number; stride: number }): string | undefined {
  if (!isCameraName(a.camera)) return `--camera "${a.camera}" may hold only letters, digits, - and _ (1 to 64)`;
  if (a.width % 2 || a.height % 2) return `--width and --height must be even for NV12 (${a.width}x${a.height})`;
  if (a.stride !== 0 && (a.stride < a.width || a.stride >= a.width + ROW_ALIGN))
    return `--stride ${a.stride} must be from the width ${a.width} to ${a.width + ROW_ALIGN - 1}`;
  return undefined;
}

export function cameraConfig(a: ConfigOf<typeof cameraOptions>): CameraConfig {
  return {
    endpoint: a.endpoint,
    camera: a.camera,
    width: a.width,
    height: a.height,
    stride: a.stride || a.width,
    fps: a.fps,
    frames: a.frames,
    sndHwm: a.hwm,
    checksum: a.checksum,
    loop: a.loop,
    statsMs: a.statsMs,
  };
}

export const engineOptions = {
  id: { type: "string", default: `engine-${process.pid}`, describe: "engine name, in logs and the view" },
  cameras: {
    type: "string",
    array: true,
    default: [CAMERA_ENDPOINT] as string[],
    describe: "camera PUB endpoints to connect to (repeat)",
  },
  camera: { type: "string", default: "", describe: "follow only this camera (default: every camera)" },
  hwm: intOption(ENGINE_RCVHWM, "receive high-water mark, in frames", { min: 1, max: 1000 }),
  maxLag: intOption(MAX_LAG_MS, "Suicidal Snail limit: ms from capture after which a frame is stale", { min: 1 }),
  onLag: {
    type: "string",
    choices: ["resync", "exit"],
    default: "resync",
    describe: "past the lag limit: drop the queue and go on from the newest frame, or exit loudly (code 3)",
  },
  latest: { type: "boolean", default: false, describe: "analyse only the newest frame queued (skip older ones)" },
  verify: { type: "boolean", default: true, describe: "check every frame's checksum (--no-verify: skip)" },
  sampleStep: intOption(SAMPLE_STEP, "analyse every Nth pixel of every Nth row of the Y plane (8: 4x the samples)", {
    min: 1,
    max: MAX_SAMPLE_STEP,
  }),
  costMs: numberOption(0, "extra ms per frame: a slow engine", { min: 0, max: 60_000 }),
  statsMs: intOption(STATS_MS, "ms between stats log lines", { min: 10 }),
} as const;

export function checkEngine(a: { id: string; camera: string; cameras: readonly string[] }): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(a.id)) return `--id "${a.id}" may hold only letters, digits, - and _`;
  if (a.camera !== "" && !isCameraName(a.camera)) return `--camera "${a.camera}" may hold only letters, digits, - and _`;
  if (a.cameras.length === 0) return "which camera? give --cameras tcp://host:port";
  return undefined;
}

export function engineConfig(a: ConfigOf<typeof engineOptions>): EngineConfig {
  return {
    id: a.id,
    cameras: [...a.cameras],
    camera: a.camera,
    rcvHwm: a.hwm,
    maxLagMs: a.maxLag,
    onLag: a.onLag === "exit" ? "exit" : "resync",
    latest: a.latest,
    verify: a.verify,
    sampleStep: a.sampleStep,
    costMs: a.costMs,
    statsMs: a.statsMs,
  };
}
