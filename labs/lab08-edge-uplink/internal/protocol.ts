/**
 * Lab 08 wire protocol.
 *
 * Between the receiver (queue) and its workers: 6/PPP, the Paranoid Pirate Protocol, exactly.
 *   READY      worker → queue   one frame, the byte 0x01
 *   HEARTBEAT  both ways        one frame, the byte 0x02 (queue → worker: [workerId, 0x02] at its ROUTER)
 *   REQUEST    queue → worker   [clientId, "", body]  (at the queue's ROUTER: [workerId, clientId, "", body])
 *   REPLY      worker → queue   [clientId, "", body]  (the envelope echoed whole)
 * Between a device (REQ) and a receiver (ROUTER): the device's REQ adds the empty delimiter, so the
 * receiver sees [clientId, "", body]. Bodies are one MessagePack frame: a Reading, then an Ack.
 */
import { pack, unpack } from "msgpackr";

export const PPP_READY = 0x01;
export const PPP_HEARTBEAT = 0x02;
export const READY = Buffer.from([PPP_READY]);
export const HEARTBEAT = Buffer.from([PPP_HEARTBEAT]);
export const PROTOCOL_VERSION = 1;
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface Reading {
  v: number;
  device: string;
  /** 1, 2, 3... per device, kept across restarts: (device, seq) is the reading's identity. */
  seq: number;
  takenAt: number;
  sensor: string;
  value: number;
  unit: string;
}

export interface Ack {
  v: number;
  device: string;
  seq: number;
  /** duplicate: the store had it already (a retry); the device treats both as delivered. */
  status: "stored" | "duplicate";
  worker: string;
}

export type WorkerCommand = { kind: "ready" } | { kind: "heartbeat" } | { kind: "invalid"; reason: string };

/** A one-frame message on the worker link: READY, HEARTBEAT, or something to log and drop. */
export function workerCommand(frame: Buffer): WorkerCommand {
  if (frame.length === 1 && frame[0] === PPP_READY) return { kind: "ready" };
  if (frame.length === 1 && frame[0] === PPP_HEARTBEAT) return { kind: "heartbeat" };
  return { kind: "invalid", reason: `unknown one-frame command 0x${frame.subarray(0, 8).toString("hex")}` };
}

/** [clientId, "", body]: the envelope a request or reply travels in. */
export function isEnvelope(frames: readonly Buffer[]): frames is [Buffer, Buffer, Buffer] {
  return frames.length === 3 && (frames[0] as Buffer).length > 0 && (frames[1] as Buffer).length === 0;
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;

function tryUnpack(frame: Buffer): unknown {
  try {
    return unpack(frame);
  } catch {
    return undefined;
  }
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

export function encodeReading(r: Reading): Buffer {
  return pack(r);
}

export function decodeReading(frame: Buffer): Decoded<Reading> {
  const r = tryUnpack(frame);
  if (!isMap(r)) return { ok: false, reason: "reading is not a MessagePack map" };
  if (r.v !== PROTOCOL_VERSION) return { ok: false, reason: `unsupported version ${String(r.v)}` };
  if (typeof r.device !== "string" || !NAME_PATTERN.test(r.device)) return { ok: false, reason: "bad device" };
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return { ok: false, reason: "bad seq" };
  if (typeof r.takenAt !== "number" || typeof r.value !== "number" || !Number.isFinite(r.value))
    return { ok: false, reason: "bad takenAt or value" };
  if (typeof r.sensor !== "string" || typeof r.unit !== "string") return { ok: false, reason: "bad sensor or unit" };
  return { ok: true, value: r as unknown as Reading };
}

export function encodeAck(a: Ack): Buffer {
  return pack(a);
}

export function decodeAck(frame: Buffer): Decoded<Ack> {
  const a = tryUnpack(frame);
  if (!isMap(a)) return { ok: false, reason: "ack is not a MessagePack map" };
  if (a.v !== PROTOCOL_VERSION || typeof a.device !== "string" || !Number.isSafeInteger(a.seq)) return { ok: false, reason: "bad ack" };
  if (a.status !== "stored" && a.status !== "duplicate") return { ok: false, reason: "bad status" };
  return { ok: true, value: a as unknown as Ack };
}
