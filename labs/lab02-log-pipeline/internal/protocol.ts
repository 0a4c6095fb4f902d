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
 *
 * Each socket has one decoder returning a tagged union; every number from a peer is bounded here,
 * because each becomes an allocation (expected), a loop (count), a set's size (worker) or a path
 * (batch). Headers go through the kit's codec, so a Python peer's uint64 numbers are numbers.
 */
import { decodeMap, encode, isInt, isNumber, isSafeName, isText, MAX_MESSAGE_BYTES } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;

/**
 * Lines in one batch, at most. The writer keeps a byte per line to know which are stored, so this
 * bounds what one START can make it allocate (100 MB); it is 14 GiB of typical log lines.
 */
export const MAX_BATCH_LINES = 100_000_000;
/** Lines in one chunk, at most (--chunk-lines): bounds the work and the output of one message. */
export const MAX_CHUNK_LINES = 10_000;
/** Bytes of lines in one chunk, at most: the collector cuts a chunk here even before MAX_CHUNK_LINES. */
export const MAX_CHUNK_BYTES = 1024 * 1024;
/** One line, at most: a longer one is not a log line, and the collector refuses an input holding one. */
export const MAX_LINE_BYTES = MAX_CHUNK_BYTES;
/**
 * The parser's PULL takes a LINES message up to this size (one chunk and its header): libzmq drops
 * the connection of a peer that sends more.
 */
export const LINES_MAX_MESSAGE_BYTES = MAX_CHUNK_BYTES + 64 * 1024;
/**
 * The writer's PULL takes an EVENTS message up to this size. A chunk's events are larger than its
 * lines: JSON escapes a control byte as six ("\u0001"), and each event adds its field names (under
 * 250 bytes); 6 x 1 MiB + 10,000 x 250 bytes stays under it.
 */
export const EVENTS_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** The collector's and the parsers' SUB take the bus's small messages: the kit's default. */
export const BUS_MAX_MESSAGE_BYTES = MAX_MESSAGE_BYTES;
/**
 * The writer's PUB takes subscriptions from its SUB peers (a topic of a few letters): libzmq keeps
 * each one, so a peer's subscriptions are kept small.
 */
export const BUS_SUBSCRIPTION_MAX_BYTES = 1024;
/** Parsers the writer counts, at most: a peer inventing worker names cannot grow its sets without end. */
export const MAX_WORKERS = 1000;
/** Runs asked for in one MISSING, at most: the message stays small. */
export const MAX_MISSING_RANGES = 256;
/** Output file names listed in one DONE, at most. */
export const MAX_DONE_FILES = 1000;
/** A batch name becomes part of a file name: one safe path segment, at most this long. */
export const MAX_BATCH_NAME = 64;
const MAX_NAME = 128;
const MAX_SOURCE = 256;
const MAX_PATH = 4096;

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

export function encodeMessage<C extends Command>(cmd: C, header: Messages[C], payload?: Buffer): Buffer[] {
  const frames = [Buffer.from(cmd), encode({ v: PROTOCOL_VERSION, ...header })];
  if (payload) frames.push(payload);
  return frames;
}

type Invalid = { kind: "invalid"; reason: string };
const invalid = (reason: string): Invalid => ({ kind: "invalid", reason });

/** What the writer's PULL receives: a parser's HELLO and EVENTS, and the collector's START. */
export type WriterMessage =
  | { kind: "hello"; header: HelloHeader }
  | { kind: "start"; header: StartHeader }
  | { kind: "events"; header: EventsHeader; payload: Buffer }
  | Invalid;

/** What a parser's PULL receives from the collector. */
export type ParserWork = { kind: "lines"; header: ChunkHeader; payload: Buffer } | Invalid;

/** What a parser's SUB receives from the writer. */
export type ParserBus = { kind: "kill" } | Invalid;

/** What the collector's SUB receives from the writer. */
export type CollectorBus =
  | { kind: "ready"; header: ReadyHeader }
  | { kind: "ack"; header: AckHeader }
  | { kind: "missing"; header: MissingHeader }
  | { kind: "done"; header: DoneHeader }
  | Invalid;

type Header = Record<string, unknown>;

/** The command, the header map (version checked) and the payload, or why the frames are not that. */
function frame(frames: readonly Buffer[], accept: readonly Command[]): { cmd: Command; h: Header; payload: Buffer | undefined } | Invalid {
  if (frames.length < 2 || frames.length > 3) return invalid(`expected 2 or 3 frames, got ${frames.length}`);
  const cmd = (frames[0] as Buffer).toString("latin1", 0, 16) as Command;
  if (!accept.includes(cmd) || (frames[0] as Buffer).length !== cmd.length) return invalid(`unexpected command ${JSON.stringify(cmd)}`);
  const wantFrames = cmd === "LINES" || cmd === "EVENTS" ? 3 : 2;
  if (frames.length !== wantFrames) return invalid(`${cmd} needs ${wantFrames} frames, got ${frames.length}`);
  const header = decodeMap(frames[1], `${cmd} header`);
  if (!header.ok) return invalid(header.reason);
  if (header.value.v !== PROTOCOL_VERSION) return invalid(`${cmd}: unsupported version ${String(header.value.v)}`);
  return { cmd, h: header.value, payload: frames[2] };
}

const isBatch = (v: unknown): v is string => isSafeName(v) && v.length <= MAX_BATCH_NAME;
const isName = (v: unknown): v is string => isText(v, MAX_NAME, 1);
const isSeq = (v: unknown): v is number => isInt(v, 0, MAX_BATCH_LINES);

/** A reason when a chunk's header or payload is off: bounded numbers, exactly `count` lines. */
function checkChunk(h: Header, payload: Buffer | undefined): string | undefined {
  if (!isBatch(h.batch)) return "bad batch";
  if (!isSeq(h.first) || !isInt(h.count, 1, MAX_CHUNK_LINES) || h.first + h.count > MAX_BATCH_LINES) return "bad first or count";
  return payload ? checkPayload(payload, h.count) : "no payload";
}

const NEWLINE = 0x0a;

/** A payload holds exactly `count` lines, the last one ended too: the writer's accounting depends on it. */
function checkPayload(payload: Buffer, count: number): string | undefined {
  let lines = 0;
  for (let i = payload.indexOf(NEWLINE); i !== -1 && lines <= count; i = payload.indexOf(NEWLINE, i + 1)) lines += 1;
  if (lines !== count || payload[payload.length - 1] !== NEWLINE)
    return `payload holds ${lines > count ? "more" : lines} lines, header says ${count}`;
  return undefined;
}

function refused(cmd: Command, reason: string): Invalid {
  return invalid(`${cmd}: ${reason}`);
}

export function decodeWriterMessage(frames: readonly Buffer[]): WriterMessage {
  const f = frame(frames, ["HELLO", "START", "EVENTS"]);
  if ("kind" in f) return f;
  const { cmd, h, payload } = f;
  switch (cmd) {
    case "HELLO":
      return isName(h.worker) ? { kind: "hello", header: { worker: h.worker } } : refused(cmd, "bad worker");
    case "START": {
      if (!isBatch(h.batch)) return refused(cmd, `bad batch (a name of 1 to ${MAX_BATCH_NAME} letters, digits, "-", "_" or ".")`);
      if (!isInt(h.expected, 1, MAX_BATCH_LINES)) return refused(cmd, `bad expected (a whole number from 1 to ${MAX_BATCH_LINES})`);
      if (!isText(h.source, MAX_SOURCE)) return refused(cmd, "bad source");
      if (!isInt(h.parsers, 0, MAX_WORKERS)) return refused(cmd, "bad parsers");
      return { kind: "start", header: { batch: h.batch, expected: h.expected, source: h.source, parsers: h.parsers } };
    }
    default: {
      const problem =
        checkChunk(h, payload) ??
        (!isName(h.worker)
          ? "bad worker"
          : !isInt(h.unparsed, 0, h.count as number)
            ? "bad unparsed"
            : typeof h.raw !== "boolean"
              ? "bad raw"
              : undefined);
      if (problem) return refused(cmd, problem);
      const header = { batch: h.batch, first: h.first, count: h.count, worker: h.worker, unparsed: h.unparsed, raw: h.raw } as EventsHeader;
      return { kind: "events", header, payload: payload as Buffer };
    }
  }
}

export function decodeParserWork(frames: readonly Buffer[]): ParserWork {
  const f = frame(frames, ["LINES"]);
  if ("kind" in f) return f;
  const problem = checkChunk(f.h, f.payload);
  if (problem) return refused("LINES", problem);
  const { batch, first, count } = f.h as unknown as ChunkHeader;
  return { kind: "lines", header: { batch, first, count }, payload: f.payload as Buffer };
}

export function decodeParserBus(frames: readonly Buffer[]): ParserBus {
  const f = frame(frames, ["KILL"]);
  return "kind" in f ? f : { kind: "kill" };
}

const isRange = (r: unknown): r is [number, number] => Array.isArray(r) && r.length === 2 && isSeq(r[0]) && isInt(r[1], 1, MAX_BATCH_LINES);

export function decodeCollectorBus(frames: readonly Buffer[]): CollectorBus {
  const f = frame(frames, ["READY", "ACK", "MISSING", "DONE"]);
  if ("kind" in f) return f;
  const { cmd, h } = f;
  if (!isBatch(h.batch)) return refused(cmd, "bad batch");
  const batch = h.batch;
  switch (cmd) {
    case "READY":
      return isInt(h.workers, 0, MAX_WORKERS) ? { kind: "ready", header: { batch, workers: h.workers } } : refused(cmd, "bad workers");
    case "ACK":
      return isSeq(h.watermark) && isSeq(h.stored)
        ? { kind: "ack", header: { batch, watermark: h.watermark, stored: h.stored } }
        : refused(cmd, "bad watermark or stored");
    case "MISSING":
      return Array.isArray(h.ranges) && h.ranges.length <= MAX_MISSING_RANGES && h.ranges.every(isRange)
        ? { kind: "missing", header: { batch, ranges: h.ranges } }
        : refused(cmd, "bad ranges");
    default: {
      const counts = [h.stored, h.duplicates, h.unparsed, h.resends];
      if (!counts.every((n) => isInt(n, 0, Number.MAX_SAFE_INTEGER)) || !isNumber(h.seconds, 0)) return refused(cmd, "bad counts");
      const files = h.files;
      if (!Array.isArray(files) || files.length > MAX_DONE_FILES || !files.every((p) => isText(p, MAX_PATH, 1)))
        return refused(cmd, "bad files");
      const [stored, duplicates, unparsed, resends] = counts as number[];
      return {
        kind: "done",
        header: { batch, stored, duplicates, unparsed, resends, seconds: h.seconds, files } as DoneHeader,
      };
    }
  }
}

/** Splits a chunk payload into its lines (each ended by "\n"; a "\r" before it is dropped). */
export function linesOf(payload: Buffer): string[] {
  const text = payload.toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}
