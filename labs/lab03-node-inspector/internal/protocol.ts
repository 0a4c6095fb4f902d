/**
 * Lab 03 wire protocol: read-only queries over REQ-REP.
 *
 * One request, one reply, each a single MessagePack frame. (REQ adds an empty delimiter frame in
 * front and REP strips it, so a ROUTER-based peer sees [identity, "", body].)
 *   request  {v: 1, id, cmd, args?}
 *   reply    {v: 1, id, ok: true, result} | {v: 1, id, ok: false, error: {code, message}}
 * The reply echoes the request's id. The client draws a new id for every attempt and accepts only
 * a reply carrying it, so an answer to an abandoned attempt can never pass for a later one.
 */
import { pack, unpack } from "msgpackr";

export const PROTOCOL_VERSION = 1;
export const COMMANDS = ["ps", "mem", "cpu", "load", "uptime", "disk", "info"] as const;
export type Command = (typeof COMMANDS)[number];
/** Request ids are short strings: the client's random prefix and a counter ("4f1c9a02-17"). */
export const MAX_ID_LENGTH = 64;
export const MAX_REQUEST_BYTES = 4096;

export const ERROR_CODES = ["bad-request", "unknown-command", "bad-args", "internal"] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface Request {
  v: number;
  id: string;
  cmd: string;
  args?: Record<string, unknown>;
}

export interface ErrorInfo {
  code: ErrorCode;
  message: string;
}

export type Reply =
  | { v: number; id: string | null; ok: true; result: unknown }
  | { v: number; id: string | null; ok: false; error: ErrorInfo };

export function isCommand(value: unknown): value is Command {
  return typeof value === "string" && (COMMANDS as readonly string[]).includes(value);
}

export function encodeRequest(request: Request): Buffer {
  return pack(request);
}

export function encodeReply(reply: Reply): Buffer {
  return pack(reply);
}

export function okReply(id: string, result: unknown): Reply {
  return { v: PROTOCOL_VERSION, id, ok: true, result };
}

/** id is null when the request was too broken to carry one. */
export function errorReply(id: string | null, code: ErrorCode, message: string): Reply {
  return { v: PROTOCOL_VERSION, id, ok: false, error: { code, message } };
}

export type DecodedRequest = { ok: true; request: Request } | { ok: false; id: string | null; code: ErrorCode; reason: string };

function tryUnpack(frame: Buffer): { value: unknown } | undefined {
  try {
    return { value: unpack(frame) };
  } catch {
    return undefined;
  }
}

/** A MessagePack map decodes to a plain object; msgpackr's other objects (0xc1 decodes to a C1Type) are not maps. */
const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && [Object.prototype, null].includes(Object.getPrototypeOf(v));
const isId = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_ID_LENGTH;

/** The agent's view of a request: anything off becomes an error code and reason, never an exception. */
export function decodeRequest(frames: readonly Buffer[]): DecodedRequest {
  if (frames.length !== 1) return { ok: false, id: null, code: "bad-request", reason: `expected 1 frame, got ${frames.length}` };
  const frame = frames[0] as Buffer;
  if (frame.length > MAX_REQUEST_BYTES)
    return { ok: false, id: null, code: "bad-request", reason: `request over ${MAX_REQUEST_BYTES} bytes` };
  const unpacked = tryUnpack(frame);
  if (!unpacked) return { ok: false, id: null, code: "bad-request", reason: "body is not MessagePack" };
  const body = unpacked.value;
  if (!isMap(body)) return { ok: false, id: null, code: "bad-request", reason: "body is not a map" };
  const id = isId(body.id) ? body.id : null;
  if (!id) return { ok: false, id: null, code: "bad-request", reason: "missing id" };
  if (body.v !== PROTOCOL_VERSION) return { ok: false, id, code: "bad-request", reason: `unsupported version ${String(body.v)}` };
  if (typeof body.cmd !== "string") return { ok: false, id, code: "bad-request", reason: "missing cmd" };
  if (body.args !== undefined && !isMap(body.args)) return { ok: false, id, code: "bad-request", reason: "args is not a map" };
  return { ok: true, request: { v: PROTOCOL_VERSION, id, cmd: body.cmd, ...(body.args ? { args: body.args } : {}) } };
}

export type DecodedReply = { ok: true; reply: Reply } | { ok: false; reason: string };

/** The client's view of a reply. */
export function decodeReply(frames: readonly Buffer[]): DecodedReply {
  if (frames.length !== 1) return { ok: false, reason: `expected 1 frame, got ${frames.length}` };
  const unpacked = tryUnpack(frames[0] as Buffer);
  if (!unpacked) return { ok: false, reason: "body is not MessagePack" };
  const body = unpacked.value;
  if (!isMap(body)) return { ok: false, reason: "body is not a map" };
  if (body.v !== PROTOCOL_VERSION) return { ok: false, reason: `unsupported version ${String(body.v)}` };
  if (body.id !== null && !isId(body.id)) return { ok: false, reason: "bad id" };
  if (body.ok === true) return { ok: true, reply: { v: PROTOCOL_VERSION, id: body.id, ok: true, result: body.result } };
  const error = body.error;
  if (body.ok === false && isMap(error) && typeof error.code === "string" && typeof error.message === "string") {
    return {
      ok: true,
      reply: { v: PROTOCOL_VERSION, id: body.id, ok: false, error: { code: error.code as ErrorCode, message: error.message } },
    };
  }
  return { ok: false, reason: "reply is neither ok nor a well-formed error" };
}
