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
 *
 * One decoder per socket, each returning a tagged union its loop switches on: fromWorker (the
 * queue's back end), fromDevice (the queue's front end), fromQueue (a worker's DEALER) and
 * fromReceiver (a device's REQ). The queue never opens a body: it routes it. Bodies are decoded
 * by the worker and the device only, through the kit's codec (a Python peer's uint64 numbers
 * arrive as numbers; anything past 2**53 is refused, never a BigInt).
 */
import { type Checked, decodeMap, encode, isInt, isNumber, isText, ok, refuse } from "@zlabs/kit";

export const PPP_READY = 0x01;
export const PPP_HEARTBEAT = 0x02;
export const READY = Buffer.from([PPP_READY]);
export const HEARTBEAT = Buffer.from([PPP_HEARTBEAT]);
export const EMPTY = Buffer.alloc(0);
export const PROTOCOL_VERSION = 1;

/** The Guide's Paranoid Pirate figures, the same at both ends: a heartbeat a second, three missed and the peer is dead. */
export const HEARTBEAT_INTERVAL_MS = 1000;
export const HEARTBEAT_LIVENESS = 3;

/**
 * The largest message any lab08 socket takes from a peer. A reading or an ack is about 100 bytes;
 * 64 KiB leaves room for any sensible extra field while a peer cannot make a socket allocate more.
 * libzmq drops the connection of a peer that sends more.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** A device id (also a folder of the store) and a worker id. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** A sensor's or unit's name, and a worker's name in an ack, in characters. */
export const MAX_LABEL_CHARS = 64;
/** A routing identity is 1 to 255 bytes (libzmq). */
const MAX_IDENTITY_BYTES = 255;
/** The latest time a Date can hold, in ms since the epoch: a takenAt beyond it is nonsense. */
const MAX_TIME_MS = 8.64e15;

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

const isIdentity = (frame: Buffer | undefined): frame is Buffer =>
  frame !== undefined && frame.length > 0 && frame.length <= MAX_IDENTITY_BYTES;
const isCommand = (frame: Buffer | undefined, byte: number): boolean => frame?.length === 1 && frame[0] === byte;
const show = (frame: Buffer | undefined): string => `0x${(frame ?? EMPTY).subarray(0, 8).toString("hex")}`;

/** What the queue's back-end ROUTER takes from a worker: [worker identity, ...the worker's frames]. */
export type FromWorker =
  | { kind: "ready"; worker: Buffer }
  | { kind: "heartbeat"; worker: Buffer }
  | { kind: "reply"; worker: Buffer; client: Buffer; body: Buffer }
  | { kind: "invalid"; worker: Buffer | undefined; reason: string };

export function fromWorker(frames: readonly Buffer[]): FromWorker {
  const [worker, first, empty, body] = frames;
  if (!isIdentity(worker)) return { kind: "invalid", worker, reason: "no worker identity" };
  if (frames.length === 2) {
    if (isCommand(first, PPP_READY)) return { kind: "ready", worker };
    if (isCommand(first, PPP_HEARTBEAT)) return { kind: "heartbeat", worker };
    return { kind: "invalid", worker, reason: `unknown one-frame command ${show(first)}` };
  }
  if (frames.length === 4 && isIdentity(first) && empty?.length === 0 && body?.length)
    return { kind: "reply", worker, client: first, body };
  return { kind: "invalid", worker, reason: `neither a command nor a reply in an envelope (${frames.length - 1} frames)` };
}

/** What the queue's front-end ROUTER takes from a device: one body in a REQ envelope. */
export type FromDevice = { kind: "request"; client: Buffer; body: Buffer } | { kind: "invalid"; reason: string };

export function fromDevice(frames: readonly Buffer[]): FromDevice {
  const [client, empty, body] = frames;
  if (frames.length !== 3 || !isIdentity(client) || empty?.length !== 0 || !body?.length)
    return { kind: "invalid", reason: `not one request in a REQ envelope (${frames.length} frames)` };
  return { kind: "request", client, body };
}

/** What a worker's DEALER takes from its queue. A request whose reading is malformed is told apart: it still needs an answer. */
export type FromQueue =
  | { kind: "heartbeat" }
  | { kind: "request"; client: Buffer; reading: Reading }
  | { kind: "bad-request"; client: Buffer; reason: string }
  | { kind: "invalid"; reason: string };

export function fromQueue(frames: readonly Buffer[]): FromQueue {
  const [first, empty, body] = frames;
  if (frames.length === 1)
    return isCommand(first, PPP_HEARTBEAT)
      ? { kind: "heartbeat" }
      : { kind: "invalid", reason: `unknown one-frame command ${show(first)}` };
  if (frames.length !== 3 || !isIdentity(first) || empty?.length !== 0)
    return { kind: "invalid", reason: `neither a heartbeat nor a request in an envelope (${frames.length} frames)` };
  const reading = decodeReading(body);
  return reading.ok
    ? { kind: "request", client: first, reading: reading.value }
    : { kind: "bad-request", client: first, reason: reading.reason };
}

/** What a device's REQ takes from a receiver: the ack of the reading it sent, or something to drop. */
export type FromReceiver = { kind: "ack"; ack: Ack } | { kind: "invalid"; reason: string };

export function fromReceiver(frames: readonly Buffer[], sent: Reading): FromReceiver {
  if (frames.length !== 1) return { kind: "invalid", reason: `an ack is one frame (got ${frames.length})` };
  const ack = decodeAck(frames[0]);
  if (!ack.ok) return { kind: "invalid", reason: ack.reason };
  if (ack.value.device !== sent.device || ack.value.seq !== sent.seq) return { kind: "invalid", reason: "ack for another reading" };
  return { kind: "ack", ack: ack.value };
}

export function encodeReading(r: Reading): Buffer {
  return encode(r);
}

/**
 * A reading as the worker (and the device's outbox) checks it. Only the known fields are kept: a
 * peer's extra fields are neither stored nor logged.
 */
export function decodeReading(frame: Buffer | undefined): Checked<Reading> {
  const decoded = decodeMap(frame, "reading");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (r.v !== PROTOCOL_VERSION) return refuse(`unsupported version ${typeof r.v === "number" ? r.v : typeof r.v}`);
  if (typeof r.device !== "string" || !NAME_PATTERN.test(r.device)) return refuse("bad device");
  if (!isInt(r.seq, 1)) return refuse("bad seq");
  if (!isNumber(r.takenAt, 0, MAX_TIME_MS)) return refuse("bad takenAt");
  if (!isNumber(r.value)) return refuse("bad value");
  if (!isText(r.sensor, MAX_LABEL_CHARS, 1) || !isText(r.unit, MAX_LABEL_CHARS)) return refuse("bad sensor or unit");
  return ok({ v: PROTOCOL_VERSION, device: r.device, seq: r.seq, takenAt: r.takenAt, sensor: r.sensor, value: r.value, unit: r.unit });
}

export function encodeAck(a: Ack): Buffer {
  return encode(a);
}

export function decodeAck(frame: Buffer | undefined): Checked<Ack> {
  const decoded = decodeMap(frame, "ack");
  if (!decoded.ok) return decoded;
  const a = decoded.value;
  if (a.v !== PROTOCOL_VERSION || typeof a.device !== "string" || !isInt(a.seq, 1)) return refuse("bad ack");
  if (a.status !== "stored" && a.status !== "duplicate") return refuse("bad status");
  if (!isText(a.worker, MAX_LABEL_CHARS)) return refuse("bad worker");
  return ok({ v: PROTOCOL_VERSION, device: a.device, seq: a.seq, status: a.status, worker: a.worker });
}
