// What the camera and the engines show on the demo screen: pure functions of a snapshot.
import { formatCount, type View, type ViewCell } from "@zlabs/kit";

export const VIEW_MS = 500;
const BLOCKS = " ▁▂▃▄▅▆▇█";

export interface CameraSnapshot {
  camera: string;
  width: number;
  height: number;
  frameBytes: number;
  targetFps: number;
  sent: number;
  fps: number;
  drawMs: number;
  sendMs: number;
  allocationsPerFrame: number;
  /** Frames in the ring of pre-rendered immutable frames; 0: each frame drawn live into a fresh Buffer. */
  ring: number;
  rssMiB: number;
  externalMiB: number;
  checksum: boolean;
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

export function cameraView(s: CameraSnapshot): View {
  return {
    title: `camera ${s.camera}: ${s.width}x${s.height} NV12, ${mb(s.frameBytes)} MB a frame, ${s.fps.toFixed(1)} fps (target ${s.targetFps || "max"})`,
    columns: ["frames sent", "fps", "MB/s", "draw ms", "send ms", "buffers/frame", "RSS MiB", "Buffers MiB"],
    rows: [
      [
        formatCount(s.sent),
        s.fps.toFixed(1),
        mb(s.fps * s.frameBytes),
        s.drawMs.toFixed(1),
        s.sendMs.toFixed(2),
        s.allocationsPerFrame.toFixed(0),
        s.rssMiB.toFixed(0),
        s.externalMiB.toFixed(0),
      ],
    ],
    summary: `${
      s.ring ? `a ring of ${s.ring} pre-rendered frames, never written after drawing` : "a fresh Buffer per frame (never reused after send)"
    }${s.checksum ? ", checksum in every header" : ""}; PUB drops for a subscriber whose queue is full`,
  };
}

export interface EngineCameraRow {
  name: string;
  width: number;
  height: number;
  frames: number;
  gaps: number;
  histogram: number[];
  meanLuma: number;
  motion: number | undefined;
}

export interface EngineSnapshot {
  id: string;
  fps: number;
  p50: number | undefined;
  p99: number | undefined;
  frames: number;
  gaps: number;
  refused: number;
  badChecksums: number;
  checked: number;
  resyncs: number;
  skipped: number;
  lagMs: number;
  maxLagMs: number;
  onLag: "resync" | "exit";
  latest: boolean;
  rcvHwm: number;
  cameras: EngineCameraRow[];
}

/** A histogram as one line of block characters, scaled to its largest bin. */
export function sparkline(bins: readonly number[]): string {
  const max = Math.max(0, ...bins);
  if (max === 0) return "";
  return bins.map((b) => BLOCKS[Math.round((b / max) * (BLOCKS.length - 1))]).join("");
}

const ms = (x: number | undefined) => (x === undefined ? "-" : `${Math.round(x)}`);

export function engineView(s: EngineSnapshot): View {
  const lagTone = s.lagMs > s.maxLagMs ? "bad" : s.lagMs > s.maxLagMs / 2 ? "warn" : "good";
  const rows = s.cameras.map((c): ViewCell[] => [
    c.name,
    formatCount(c.frames),
    c.gaps ? { text: formatCount(c.gaps), tone: "warn" } : "0",
    sparkline(c.histogram),
    Math.round(c.meanLuma),
    c.motion === undefined ? "-" : `${(c.motion * 100).toFixed(1)} %`,
    { text: ms(s.lagMs), tone: lagTone },
  ]);
  return {
    title: `${s.fps.toFixed(1)} fps, latency p50 ${ms(s.p50)} ms p99 ${ms(s.p99)} ms`,
    columns: ["camera", "frames", "lost (seq gaps)", "luma histogram", "mean luma", "motion", "lag ms"],
    rows,
    summary: [
      `lag limit ${s.maxLagMs} ms (then ${s.onLag}); HWM ${s.rcvHwm} frames${s.latest ? "; latest frame only" : ""}`,
      `resyncs ${s.resyncs}, frames skipped ${formatCount(s.skipped)}, refused ${s.refused}, checksums ${formatCount(s.checked)} checked / ${s.badChecksums} bad`,
    ],
  };
}
