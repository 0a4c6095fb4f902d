/**
 * Lab 18 wire protocol: one camera frame is one three-part message on a PUB socket.
 *
 *   frame 0  topic    "video.<camera>."                        what SUB sockets subscribe to
 *   frame 1  header   MessagePack map {v, camera, seq, ts, width, height, format, stride, sum}
 *   frame 2  payload  the NV12 picture: Y plane (stride x height) then the interleaved UV plane
 *                     (stride x height/2): exactly stride * height * 3 / 2 bytes
 *
 * The header is decoded only through the kit's codec, and every field that becomes a size or an
 * index is bounded here: an engine never allocates, indexes or loops on a peer's number unchecked.
 */
import { type Checked, decodeMap, encode, isInt, isNumber, isText, ok, refuse } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;
export const TOPIC_PREFIX = "video.";
/** The only pixel format on the wire: 4:2:0, 12 bits a pixel (the format of camera encoders' input). */
export const FORMAT_NV12 = "nv12";
/** 4K UHD. */
export const WIDTH_4K = 3840;
export const HEIGHT_4K = 2160;
/** Rows are padded to a multiple of this at most (an encoder's alignment): stride < width + ROW_ALIGN. */
export const ROW_ALIGN = 64;
/** The largest frame: 4K NV12, 12,441,600 bytes (3840 is a multiple of ROW_ALIGN: no padding). */
export const MAX_FRAME_BYTES = nv12Bytes(WIDTH_4K, HEIGHT_4K);
/**
 * maxMessageSize of the subscribers (libzmq checks it per frame): just above a 4K frame. A frame
 * between MAX_FRAME_BYTES and this is refused by the decoder (a counted drop); a larger one makes
 * libzmq drop the publisher's connection before it is ever buffered whole.
 */
export const SUB_MAX_MESSAGE_BYTES = MAX_FRAME_BYTES + 4096;
/** A header is ~100 bytes; anything longer is not one. */
export const MAX_HEADER_BYTES = 512;
export const MAX_CAMERA_CHARS = 64;
/** The smallest picture (NV12 needs even sizes). */
export const MIN_SIDE = 2;
/** Capture times before 2020 or after 2100 are not a clock's. */
const MIN_TS = Date.UTC(2020, 0, 1);
const MAX_TS = Date.UTC(2100, 0, 1);
const CAMERA = /^[A-Za-z0-9_-]+$/;

export function nv12Bytes(stride: number, height: number): number {
  return (stride * height * 3) / 2;
}

export function topicOf(camera: string): Buffer {
  return Buffer.from(`${TOPIC_PREFIX}${camera}.`);
}

export function isCameraName(name: unknown): name is string {
  return isText(name, MAX_CAMERA_CHARS, 1) && CAMERA.test(name);
}

export interface FrameHeader {
  camera: string;
  /** Counts frames from 0 at the camera's start: a gap is frames lost. */
  seq: number;
  /** Capture time, ms since the epoch (Date.now() at the camera). */
  ts: number;
  width: number;
  height: number;
  format: typeof FORMAT_NV12;
  /** Bytes a row, >= width. */
  stride: number;
  /** Checksum of the payload (frameChecksum), or -1 when the camera does not compute one. */
  sum: number;
}

export function encodeHeader(h: FrameHeader): Buffer {
  return encode({ v: PROTOCOL_VERSION, ...h });
}

/** What a subscriber's SUB socket takes from a camera. */
export type FromCamera = { kind: "frame"; header: FrameHeader; payload: Buffer } | { kind: "invalid"; reason: string };

export function fromCamera(frames: readonly Buffer[]): FromCamera {
  if (frames.length !== 3) return { kind: "invalid", reason: `not topic, header, payload (${frames.length} frames)` };
  const [topic, head, payload] = frames as [Buffer, Buffer, Buffer];
  if (head.length > MAX_HEADER_BYTES) return { kind: "invalid", reason: `header over ${MAX_HEADER_BYTES} bytes` };
  const header = decodeHeader(head);
  if (!header.ok) return { kind: "invalid", reason: header.reason };
  const h = header.value;
  if (!topic.equals(topicOf(h.camera))) return { kind: "invalid", reason: "topic is not the header's camera" };
  const expected = nv12Bytes(h.stride, h.height);
  if (payload.length !== expected)
    return { kind: "invalid", reason: `payload of ${payload.length} bytes, not stride*height*3/2 = ${expected}` };
  return { kind: "frame", header: h, payload };
}

export function decodeHeader(frame: Buffer): Checked<FrameHeader> {
  const decoded = decodeMap(frame, "header");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse(`unsupported version ${String(r.v)}`);
  if (!isCameraName(r.camera)) return refuse("bad camera name");
  if (!isInt(r.seq)) return refuse("bad seq");
  if (!isNumber(r.ts, MIN_TS, MAX_TS)) return refuse("bad capture time");
  if (r.format !== FORMAT_NV12) return refuse("unknown format");
  if (!isInt(r.width, MIN_SIDE, WIDTH_4K) || !isInt(r.height, MIN_SIDE, HEIGHT_4K) || r.width % 2 || r.height % 2)
    return refuse("bad width or height (even, up to 3840x2160)");
  if (!isInt(r.stride, r.width, r.width + ROW_ALIGN - 1)) return refuse("bad stride");
  if (!isInt(r.sum, -1, 0xffffffff)) return refuse("bad checksum");
  const { camera, seq, ts, width, height, stride, sum } = r as unknown as FrameHeader;
  return ok({ camera, seq, ts, width, height, format: FORMAT_NV12, stride, sum });
}

/**
 * A 32-bit checksum of every byte: a multiply-xor over little-endian 32-bit words, then the tail.
 * Any rewrite of a frame (the moving scene changes every frame) changes it.
 */
export function frameChecksum(data: Buffer): number {
  let h = 0x811c9dc5 | 0;
  const words = data.length >>> 2;
  if (data.byteOffset % 4 === 0) {
    const w = new Uint32Array(data.buffer, data.byteOffset, words);
    for (let i = 0; i < words; i++) h = Math.imul(h ^ (w[i] as number), 0x01000193);
  } else for (let i = 0; i < words; i++) h = Math.imul(h ^ data.readUInt32LE(i * 4), 0x01000193);
  for (let i = words * 4; i < data.length; i++) h = Math.imul(h ^ (data[i] as number), 0x01000193);
  return h >>> 0;
}
