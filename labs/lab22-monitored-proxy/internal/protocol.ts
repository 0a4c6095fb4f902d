/**
 * Lab 22 wire protocol: an audited ROUTER-DEALER proxy in front of an internal records service.
 *
 * The proxy itself never opens a request or a reply: it forwards every frame as it came
 * (transparent, envelopes byte-identical). What it does define:
 *
 * Control (REP, zmq_proxy_steerable's commands, libzmq src/proxy.cpp):
 *   request  ["PAUSE"] | ["RESUME"] | ["TERMINATE"] | ["STATISTICS"]     one frame, ASCII, exact bytes
 *   reply    [""] for PAUSE, RESUME, TERMINATE and for anything else (REP duty: always a reply)
 *            8 frames for STATISTICS, each a u64 little-endian (libzmq memcpy's it on x86-64/arm64):
 *            front msgs in, front bytes in, front msgs out, front bytes out, then the same for the back.
 *            libzmq 4.3 releases count a multipart message once (bytes: all its frames); libzmq's
 *            master branch counts every frame. The proxy does the first, or the second with --count-frames.
 * Capture tap (XPUB, our own; libzmq's capture has no direction):
 *   [direction "fe>be" | "be>fe", seq (u64 big-endian, per direction, from 1), ...the message's frames]
 * Capture file: one JSON line per message (see captureLine).
 *
 * Clients (REQ) and the records service (REP) speak MessagePack through it:
 *   lookup  {v: 1, customer: "C-00042"}
 *   record  {v: 1, customer, name, tier, by}   or   {v: 1, error: "..."}
 */
import { type Checked, decodeMap, encode, isInt, isText, ok, refuse } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;
export const EMPTY = Buffer.alloc(0);

// ---- Control --------------------------------------------------------------------------------

export const COMMANDS = ["PAUSE", "RESUME", "TERMINATE", "STATISTICS"] as const;
export type Command = (typeof COMMANDS)[number];
const COMMAND_FRAMES = new Map<string, Command>(COMMANDS.map((c) => [c, c]));
/** The longest command, in bytes: anything longer is not one (and is not logged whole). */
const MAX_COMMAND_BYTES = 10;

export type FromControl = { kind: "command"; command: Command } | { kind: "invalid"; reason: string };

/** What the control REP takes: one frame holding exactly a command's bytes (libzmq compares size and bytes). */
export function fromControl(frames: readonly Buffer[]): FromControl {
  if (frames.length !== 1) return { kind: "invalid", reason: `${frames.length} frames, not one` };
  const frame = frames[0] as Buffer;
  if (frame.length > MAX_COMMAND_BYTES) return { kind: "invalid", reason: `${frame.length} bytes, no command is that long` };
  const command = COMMAND_FRAMES.get(frame.toString("latin1"));
  return command ? { kind: "command", command } : { kind: "invalid", reason: "not PAUSE, RESUME, TERMINATE or STATISTICS" };
}

/** libzmq's stats_proxy, in the order STATISTICS sends it. */
export interface ProxyStatistics {
  frontMsgsIn: number;
  frontBytesIn: number;
  frontMsgsOut: number;
  frontBytesOut: number;
  backMsgsIn: number;
  backBytesIn: number;
  backMsgsOut: number;
  backBytesOut: number;
}

export const STATISTICS_FIELDS = [
  "frontMsgsIn",
  "frontBytesIn",
  "frontMsgsOut",
  "frontBytesOut",
  "backMsgsIn",
  "backBytesIn",
  "backMsgsOut",
  "backBytesOut",
] as const satisfies readonly (keyof ProxyStatistics)[];

/** The 8 frames of a STATISTICS reply: u64 little-endian each, as libzmq memcpy's a uint64_t on x86-64. */
export function encodeStatistics(s: ProxyStatistics): Buffer[] {
  return STATISTICS_FIELDS.map((field) => {
    const frame = Buffer.alloc(8);
    frame.writeBigUInt64LE(BigInt(s[field]));
    return frame;
  });
}

/** A STATISTICS reply as proxy-ctl (or a test) reads it, from us or from libzmq. */
export function decodeStatistics(frames: readonly Buffer[]): Checked<ProxyStatistics> {
  if (frames.length !== 8 || frames.some((f) => f.length !== 8)) return refuse(`not 8 frames of 8 bytes (${frames.length} frames)`);
  const s = {} as ProxyStatistics;
  STATISTICS_FIELDS.forEach((field, i) => {
    const value = (frames[i] as Buffer).readBigUInt64LE();
    // Beyond 2^53 a JavaScript number is no longer exact: years of traffic; said rather than rounded.
    s[field] = value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(value);
  });
  if (STATISTICS_FIELDS.some((f) => Number.isNaN(s[f]))) return refuse("a counter over 2^53");
  return ok(s);
}

// ---- Capture --------------------------------------------------------------------------------

export type Direction = "fe>be" | "be>fe";
export const FE_TO_BE: Direction = "fe>be";
export const BE_TO_FE: Direction = "be>fe";
export const DIRECTION_FRAMES: Record<Direction, Buffer> = { "fe>be": Buffer.from(FE_TO_BE), "be>fe": Buffer.from(BE_TO_FE) };

export function seqFrame(seq: number): Buffer {
  const frame = Buffer.alloc(8);
  frame.writeBigUInt64BE(BigInt(seq));
  return frame;
}

/** One message on the tap: its direction, its number in that direction, its frames as forwarded. */
export function captureMessage(direction: Direction, seq: number, frames: readonly Buffer[]): Buffer[] {
  return [DIRECTION_FRAMES[direction], seqFrame(seq), ...frames];
}

export type FromTap = { kind: "captured"; direction: Direction; seq: number; frames: Buffer[] } | { kind: "invalid"; reason: string };

/** What an auditor's SUB takes from the tap. */
export function fromTap(frames: readonly Buffer[]): FromTap {
  const [tag, seq, ...message] = frames;
  const direction = tag?.toString("latin1");
  if (direction !== FE_TO_BE && direction !== BE_TO_FE) return { kind: "invalid", reason: "no direction tag" };
  if (seq?.length !== 8) return { kind: "invalid", reason: "no 8-byte sequence number" };
  const n = seq.readBigUInt64BE();
  if (n < 1n || n > BigInt(Number.MAX_SAFE_INTEGER)) return { kind: "invalid", reason: "sequence number out of range" };
  if (message.length === 0) return { kind: "invalid", reason: "no message frames" };
  return { kind: "captured", direction, seq: Number(n), frames: message };
}

/** One line of the capture file: readable with jq, every frame kept exactly (base64). */
export interface CaptureRecord {
  /** Wall-clock time the proxy read the message, ISO 8601. */
  at: string;
  dir: Direction;
  seq: number;
  frames: string[];
}

export function captureLine(direction: Direction, seq: number, frames: readonly Buffer[], at: Date): string {
  // Written by hand (base64 and the ISO time need no escaping): the same JSON as JSON.stringify, faster.
  let line = `{"at":"${at.toISOString()}","dir":"${direction}","seq":${seq},"frames":[`;
  for (let i = 0; i < frames.length; i++) line += `${i > 0 ? "," : ""}"${(frames[i] as Buffer).toString("base64")}"`;
  return `${line}]}\n`;
}

/** A capture-file line read back (by a test, or by a person's script): the frames as Buffers. */
export function parseCaptureLine(line: string): Checked<{ dir: Direction; seq: number; frames: Buffer[]; at: string }> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return refuse("not JSON");
  }
  const r = value as Partial<CaptureRecord> | null;
  if (!r || (r.dir !== FE_TO_BE && r.dir !== BE_TO_FE) || !isInt(r.seq, 1) || typeof r.at !== "string" || !Array.isArray(r.frames))
    return refuse("not a capture record");
  if (!r.frames.every((f) => typeof f === "string")) return refuse("frames are not base64 text");
  return ok({ dir: r.dir, seq: r.seq, at: r.at, frames: r.frames.map((f) => Buffer.from(f, "base64")) });
}

/** What the tap's XPUB takes from a subscriber: [0x01 topic] subscribe, [0x00 topic] unsubscribe. */
export type FromSubscriber = { kind: "subscribe" | "unsubscribe"; topic: Buffer } | { kind: "invalid"; reason: string };

export function fromSubscriber(frames: readonly Buffer[]): FromSubscriber {
  const frame = frames[0];
  if (frames.length !== 1 || !frame || frame.length === 0) return { kind: "invalid", reason: "not one subscription frame" };
  if (frame[0] === 1) return { kind: "subscribe", topic: frame.subarray(1) };
  if (frame[0] === 0) return { kind: "unsubscribe", topic: frame.subarray(1) };
  return { kind: "invalid", reason: `first byte ${frame[0]} is neither 1 (subscribe) nor 0 (unsubscribe)` };
}

// ---- Peers ----------------------------------------------------------------------------------

/** A routing id as a person reads it: printable ASCII as text, anything else (libzmq's 5-byte ids) as hex. */
export function peerName(id: Buffer): string {
  let printable = id.length > 0;
  for (const byte of id) if (byte < 0x20 || byte > 0x7e) printable = false;
  return printable ? id.toString("latin1") : `0x${id.toString("hex")}`;
}

// ---- The records service's messages -------------------------------------------------------------

/** Customer ids: "C-" and 5 digits. */
const CUSTOMER = /^C-\d{5}$/;
export const MAX_TEXT = 200;

export interface Lookup {
  v: number;
  customer: string;
}

export type CustomerRecord = { v: number; customer: string; name: string; tier: string; by: string } | { v: number; error: string };

export const encodeLookup = (l: Lookup): Buffer => encode(l);
export const encodeRecord = (r: CustomerRecord): Buffer => encode(r);

/** What the records service's REP takes: one lookup. */
export type FromClient = { kind: "lookup"; lookup: Lookup } | { kind: "invalid"; reason: string };

export function fromClient(frames: readonly Buffer[]): FromClient {
  if (frames.length !== 1) return { kind: "invalid", reason: `${frames.length} frames, not one lookup` };
  const decoded = decodeLookup(frames[0]);
  return decoded.ok ? { kind: "lookup", lookup: decoded.value } : { kind: "invalid", reason: decoded.reason };
}

export function decodeLookup(frame: Buffer | undefined): Checked<Lookup> {
  const decoded = decodeMap(frame, "lookup");
  if (!decoded.ok) return decoded;
  const { v, customer } = decoded.value;
  if (!isInt(v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse(`unsupported version ${String(v)}`);
  if (typeof customer !== "string" || !CUSTOMER.test(customer)) return refuse("customer is not C-nnnnn");
  return ok({ v: PROTOCOL_VERSION, customer });
}

/** What a client's REQ takes back from the service: one record or an error. */
export type FromService = { kind: "record"; record: CustomerRecord } | { kind: "invalid"; reason: string };

export function fromService(frames: readonly Buffer[]): FromService {
  if (frames.length !== 1) return { kind: "invalid", reason: `${frames.length} frames, not one record` };
  const decoded = decodeMap(frames[0], "record");
  if (!decoded.ok) return { kind: "invalid", reason: decoded.reason };
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return { kind: "invalid", reason: "bad version" };
  if (isText(r.error, MAX_TEXT, 1)) return { kind: "record", record: { v: PROTOCOL_VERSION, error: r.error } };
  if (
    typeof r.customer !== "string" ||
    !CUSTOMER.test(r.customer) ||
    !isText(r.name, MAX_TEXT, 1) ||
    !isText(r.tier, MAX_TEXT, 1) ||
    !isText(r.by, MAX_TEXT, 1)
  )
    return { kind: "invalid", reason: "not a record" };
  return { kind: "record", record: { v: PROTOCOL_VERSION, customer: r.customer, name: r.name, tier: r.tier, by: r.by } };
}
