// What an analytics engine computes per frame, as pure functions: a luminance histogram and a
// motion score on a subsample of the Y plane, latency percentiles, the Suicidal Snail decision.
import type { FrameHeader } from "./protocol.ts";

/** Every SAMPLE_STEP-th pixel of every SAMPLE_STEP-th row: 129,600 samples of a 4K frame (1/64). */
export const SAMPLE_STEP = 8;
export const HISTOGRAM_BINS = 16;
/** A sample whose luma changed by more than this since the previous frame counts as moving. */
export const MOTION_THRESHOLD = 24;

export interface FrameStats {
  /** Samples per luma bin (256 / HISTOGRAM_BINS levels each). */
  histogram: number[];
  meanLuma: number;
  /** Fraction of samples that moved since the previous frame of the same size; undefined for the first. */
  motion: number | undefined;
  samples: number;
}

/**
 * Reads the Y plane's subsample into `into` (reused between frames: no per-frame allocation),
 * computing the histogram, and compares it with `previous` (the last frame's subsample).
 */
export function analyse(h: FrameHeader, payload: Buffer, into: Uint8Array, previous: Uint8Array | undefined): FrameStats {
  const histogram = new Array<number>(HISTOGRAM_BINS).fill(0);
  const shift = Math.log2(256 / HISTOGRAM_BINS);
  let n = 0;
  let sum = 0;
  let moved = 0;
  for (let y = 0; y < h.height; y += SAMPLE_STEP) {
    const row = y * h.stride;
    for (let x = 0; x < h.width; x += SAMPLE_STEP) {
      const l = payload[row + x] as number;
      histogram[l >> shift] = (histogram[l >> shift] as number) + 1;
      sum += l;
      if (previous && Math.abs(l - (previous[n] as number)) > MOTION_THRESHOLD) moved += 1;
      into[n++] = l;
    }
  }
  return { histogram, meanLuma: n ? sum / n : 0, motion: previous ? (n ? moved / n : 0) : undefined, samples: n };
}

export function sampleCount(width: number, height: number): number {
  return Math.ceil(width / SAMPLE_STEP) * Math.ceil(height / SAMPLE_STEP);
}

/** The p-th percentile (0..100) of values, nearest rank; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Frames lost between the last seq seen and this one (a camera restart, seq going back, counts none). */
export function gapBetween(last: number | undefined, seq: number): number {
  return last === undefined || seq <= last ? 0 : seq - last - 1;
}

export type LagPolicy = "resync" | "exit";

/** The Suicidal Snail rule: a frame older than the limit means this engine is too slow. */
export function snail(lagMs: number, maxLagMs: number, policy: LagPolicy): "ok" | LagPolicy {
  return lagMs > maxLagMs ? policy : "ok";
}

/** A fixed window of the last values (latencies), for percentiles. */
export class Window {
  private readonly values: number[] = [];
  private next = 0;
  constructor(private readonly size: number) {}
  push(v: number): void {
    if (this.values.length < this.size) this.values.push(v);
    else this.values[this.next] = v;
    this.next = (this.next + 1) % this.size;
  }
  get all(): readonly number[] {
    return this.values;
  }
}
