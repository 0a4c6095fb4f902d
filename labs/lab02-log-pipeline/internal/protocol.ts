/**
 * Lab 02 wire protocol: a PUSH-PULL pipeline (ventilator → workers → sink) with a PUB control bus.
 *
 *   collector PUSH ──LINES──► parser PULL        parser PUSH ──EVENTS/HELLO──► writer PULL
 *   collector PUSH ──START──► writer PULL        writer PUB  ──READY/ACK/MISSING/DONE/KILL──► SUB
 *
 * Every message is [command, header, payload?]: frame 0 an ASCII command (on the PUB bus it is
 * also the topic), frame 1 a MessagePack map, frame 2 (LINES and EVENTS only) raw bytes.
 * Lines travel in chunks: a chunk holds `count` lines with sequence numbers first..first+count-1,
 * each line ending in "\n". The sequence numbers are what the writer's loss accounting counts.
 */
import { pack, unpack } from "msgpackr";

export const PROTOCOL_VERSION = 1;

export interface ChunkHeader {
  batch: string;
  /** Sequence number of the chunk's first line; lines are numbered from 0 within a batch. */
  first: number;
  count: number;
}

export interface EventsHeader extends ChunkHeader {
  worker: string;
  /** Lines kept as `unparsed` events. */
  unparsed: number;
  /** true: the payload is the raw lines (parsing switched off), not NDJSON events. */
  raw: boolean;
}

export interface StartHeader {
  batch: string;
  /** Lines in the batch: the writer knows the count before any work flows. */
  expected: number;
  source: string;
  /** Parsers the collector waits for: work flows once the writer has heard from this many. */
  parsers: number;
}

export interface ReadyHeader {
  batch: string;
  /** Parsers the writer has heard from (HELLO): the collector waits for enough of them. */
  workers: number;
}

export interface AckHeader {
  batch: string;
  /** Every line below this sequence number is stored. */
  watermark: number;
  stored: number;
}

export interface MissingHeader {
  batch: string;
  /** [first, count] runs of lines not stored when progress stalled. */
  ranges: [number, number][];
}

export interface DoneHeader {
  batch: string;
  stored: number;
  duplicates: number;
  unparsed: number;
  resends: number;
  seconds: number;
  files: string[];
}

export interface HelloHeader {
  worker: string;
}

/** Commands and the header each carries; the parts with a payload frame are LINES and EVENTS. */
export interface Messages {
  LINES: ChunkHeader;
  EVENTS: EventsHeader;
  HELLO: HelloHeader;
  START: StartHeader;
  READY: ReadyHeader;
  ACK: AckHeader;
  MISSING: MissingHeader;
  DONE: DoneHeader;
  KILL: Record<string, never>;
}
export type Command = keyof Messages;
const WITH_PAYLOAD: readonly Command[] = ["LINES", "EVENTS"];

export type Message = { [C in Command]: { cmd: C; header: Messages[C]; payload?: Buffer } }[Command];

export function encode<C extends Command>(cmd: C, header: Messages[C], payload?: Buffer): Buffer[] {
  const frames = [Buffer.from(cmd), pack({ v: PROTOCOL_VERSION, ...header })];
  if (payload) frames.push(payload);
  return frames;
}

const isInt = (v: unknown, min = 0) => Number.isSafeInteger(v) && (v as number) >= min;
const isStr = (v: unknown) => typeof v === "string" && v.length > 0 && v.length <= 128;

/** Field checks per command: a reason when the header is wrong. */
const CHECKS: { [C in Command]: (h: Record<string, unknown>) => string | undefined } = {
  LINES: (h) => checkChunk(h),
  EVENTS: (h) =>
    checkChunk(h) ??
    (!isStr(h.worker)
      ? "missing worker"
      : !isInt(h.unparsed)
        ? "missing unparsed"
        : typeof h.raw !== "boolean"
          ? "missing raw"
          : undefined),
  HELLO: (h) => (isStr(h.worker) ? undefined : "missing worker"),
  START: (h) =>
    !isStr(h.batch)
      ? "missing batch"
      : !isInt(h.expected)
        ? "missing expected"
        : typeof h.source !== "string"
          ? "missing source"
          : undefined,
  READY: (h) => (!isStr(h.batch) ? "missing batch" : !isInt(h.workers) ? "missing workers" : undefined),
  ACK: (h) => (!isStr(h.batch) ? "missing batch" : !isInt(h.watermark) || !isInt(h.stored) ? "missing watermark" : undefined),
  MISSING: (h) =>
    !isStr(h.batch)
      ? "missing batch"
      : !Array.isArray(h.ranges) || !h.ranges.every((r) => Array.isArray(r) && r.length === 2 && isInt(r[0]) && isInt(r[1], 1))
        ? "bad ranges"
        : undefined,
  DONE: (h) => (!isStr(h.batch) ? "missing batch" : !isInt(h.stored) ? "missing stored" : undefined),
  KILL: () => undefined,
};

function checkChunk(h: Record<string, unknown>): string | undefined {
  if (!isStr(h.batch)) return "missing batch";
  if (!isInt(h.first) || !isInt(h.count, 1)) return "bad first or count";
  return undefined;
}

export type Decoded = { ok: true; message: Message } | { ok: false; reason: string };

/** Validates a received message; `accept` lists the commands this socket may carry. */
export function decode(frames: readonly Buffer[], accept: readonly Command[]): Decoded {
  if (frames.length < 2) return { ok: false, reason: `expected 2 or 3 frames, got ${frames.length}` };
  const cmd = (frames[0] as Buffer).toString("latin1") as Command;
  if (!accept.includes(cmd)) return { ok: false, reason: `unexpected command ${JSON.stringify(cmd.slice(0, 16))}` };
  const wantFrames = WITH_PAYLOAD.includes(cmd) ? 3 : 2;
  if (frames.length !== wantFrames) return { ok: false, reason: `${cmd} needs ${wantFrames} frames, got ${frames.length}` };
  let header: unknown;
  try {
    header = unpack(frames[1] as Buffer);
  } catch {
    return { ok: false, reason: "header is not MessagePack" };
  }
  if (typeof header !== "object" || header === null || Object.getPrototypeOf(header) !== Object.prototype)
    return { ok: false, reason: "header is not a map" };
  const h = header as Record<string, unknown>;
  if (h.v !== PROTOCOL_VERSION) return { ok: false, reason: `unsupported version ${String(h.v)}` };
  const problem = CHECKS[cmd](h) ?? (wantFrames === 3 ? checkPayload(frames[2] as Buffer, h.count as number) : undefined);
  if (problem) return { ok: false, reason: `${cmd}: ${problem}` };
  return { ok: true, message: { cmd, header: h, ...(wantFrames === 3 ? { payload: frames[2] } : {}) } as Message };
}

const NEWLINE = 0x0a;

/** A payload holds exactly `count` lines, the last one ended too: the writer's accounting depends on it. */
function checkPayload(payload: Buffer, count: number): string | undefined {
  let lines = 0;
  for (let i = payload.indexOf(NEWLINE); i !== -1; i = payload.indexOf(NEWLINE, i + 1)) lines += 1;
  if (lines !== count || payload[payload.length - 1] !== NEWLINE) return `payload holds ${lines} lines, header says ${count}`;
  return undefined;
}

/** Splits a chunk payload into its lines (each ended by "\n"; a "\r" before it is dropped). */
export function linesOf(payload: Buffer): string[] {
  const text = payload.toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}
