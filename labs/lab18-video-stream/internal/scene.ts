// The camera's synthetic scene: a vertical gradient, bars sliding right and a box bouncing, drawn
// row by row with Buffer.fill (memset speed), so a 4K frame costs a few ms and motion is real.
import { nv12Bytes } from "./protocol.ts";

export const BAR_COUNT = 4;
const BAR_LUMA = 235;
const BOX_LUMA = 81;
/** The box's colour in the UV plane (Cb, Cr: a red). */
const BOX_U = 90;
const BOX_V = 240;
const NEUTRAL_UV = 128;

export interface Geometry {
  width: number;
  height: number;
  stride: number;
}

/** Where the moving things are in frame `seq`: a pure function, so tests can predict motion. */
export function layout(g: Geometry, seq: number) {
  const barWidth = Math.max(2, Math.floor(g.width / 32));
  const pitch = Math.floor(g.width / BAR_COUNT);
  const shift = (seq * Math.max(1, Math.floor(g.width / 40))) % g.width;
  const bars = Array.from({ length: BAR_COUNT }, (_, i) => (i * pitch + shift) % g.width);
  const box = Math.max(2, Math.floor(Math.min(g.width, g.height) / 6)) & ~1;
  const span = (n: number) => Math.max(1, n - box);
  const bounce = (t: number, n: number) => {
    const p = t % (2 * span(n));
    return (p < span(n) ? p : 2 * span(n) - p) & ~1;
  };
  const step = Math.max(2, Math.floor(g.width / 60));
  return { barWidth, bars, box, boxX: bounce(seq * step, g.width), boxY: bounce(seq * step, g.height) };
}

/** Draws frame `seq` into `out` (stride x height x 3/2 bytes, every byte written, padding zeroed). */
export function drawFrame(out: Buffer, g: Geometry, seq: number): void {
  const { width, height, stride } = g;
  if (out.length !== nv12Bytes(stride, height)) throw new Error(`frame buffer of ${out.length} bytes for ${width}x${height}/${stride}`);
  const { barWidth, bars, box, boxX, boxY } = layout(g, seq);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    out.fill(16 + Math.floor((y * 180) / height), row, row + width);
    if (stride > width) out.fill(0, row + width, row + stride);
    for (const x of bars) out.fill(BAR_LUMA, row + x, row + Math.min(width, x + barWidth));
    if (y >= boxY && y < boxY + box) out.fill(BOX_LUMA, row + boxX, row + Math.min(width, boxX + box));
  }
  const uv = stride * height;
  for (let y = 0; y < height / 2; y++) {
    const row = uv + y * stride;
    out.fill(NEUTRAL_UV, row, row + width);
    if (stride > width) out.fill(0, row + width, row + stride);
    if (y >= boxY / 2 && y < (boxY + box) / 2)
      for (let x = boxX; x < Math.min(width, boxX + box); x += 2) {
        out[row + x] = BOX_U;
        out[row + x + 1] = BOX_V;
      }
  }
}
