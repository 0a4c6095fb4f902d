/**
 * Lab 03 wire protocol: read-only queries over REQ-REP.
 *
 * One request, one reply, each a single MessagePack frame. (REQ adds an empty delimiter frame in
 * front and REP strips it, so a ROUTER-based peer sees [identity, "", body].)
 *   request  {v: 1, id, cmd, args?}
 *   reply    {v: 1, id, ok: true, result} | {v: 1, id, ok: false, error: {code, message}}
 * The reply echoes the request's id. The client draws a new id for every attempt and accepts only
 * a reply carrying it, so an answer to an abandoned attempt can never pass for a later one.
 * Both ends decode with the kit's codec: a number a Python peer sends as uint64 is a number here.
 */
import { decodeMap, encode, isMap, isText, MAX_MESSAGE_BYTES } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;
export const COMMANDS = ["ps", "mem", "cpu", "load", "uptime", "disk", "info"] as const;
export type Command = (typeof COMMANDS)[number];
/** Request ids are short strings: the client's random prefix and a counter ("4f1c9a02-17"). */
export const MAX_ID_LENGTH = 64;
/** A request is a few dozen bytes; one over this is answered bad-request without being decoded. */
export const MAX_REQUEST_BYTES = 4096;
/**
 * The agent's REP socket takes messages up to this size; libzmq drops the connection of a peer
 * that sends a larger one (ZMQ_MAXMSGSIZE), so the agent never even holds it. Between
 * MAX_REQUEST_BYTES and this, a request is answered bad-request, which a REQ client can act on.
 */
export const AGENT_MAX_MESSAGE_BYTES = 128 * 1024;
/**
 * The client's REQ socket takes replies up to the kit's default (1 MiB): the largest reply, `ps`
 * with 1000 processes, is about 100 KiB.
 */
export const CLIENT_MAX_MESSAGE_BYTES = MAX_MESSAGE_BYTES;

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
  return encode(request);
}

export function encodeReply(reply: Reply): Buffer {
  return encode(reply);
}

export function okReply(id: string, result: unknown): Reply {
  return { v: PROTOCOL_VERSION, id, ok: true, result };
}

/** id is null when the request was too broken to carry one. */
export function errorReply(id: string | null, code: ErrorCode, message: string): Reply {
  return { v: PROTOCOL_VERSION, id, ok: false, error: { code, message } };
}

const isId = (v: unknown): v is string => isText(v, MAX_ID_LENGTH, 1);

/** What the agent's REP socket receives: a query to answer, or why not (always answered too). */
export type AgentMessage = { kind: "query"; request: Request } | { kind: "invalid"; id: string | null; code: ErrorCode; reason: string };

function invalid(reason: string, id: string | null = null): AgentMessage {
  return { kind: "invalid", id, code: "bad-request", reason };
}

/** The agent's view of a request: anything off becomes an error code and reason, never an exception. */
export function decodeRequest(frames: readonly Buffer[]): AgentMessage {
  if (frames.length !== 1) return invalid(`expected 1 frame, got ${frames.length}`);
  const frame = frames[0] as Buffer;
  if (frame.length > MAX_REQUEST_BYTES) return invalid(`request over ${MAX_REQUEST_BYTES} bytes`);
  const body = decodeMap(frame, "request");
  if (!body.ok) return invalid(body.reason);
  const { v, id, cmd, args } = body.value;
  if (!isId(id)) return invalid("missing id");
  if (v !== PROTOCOL_VERSION) return invalid(`unsupported version ${String(v)}`, id);
  if (typeof cmd !== "string") return invalid("missing cmd", id);
  if (args !== undefined && !isMap(args)) return invalid("args is not a map", id);
  return { kind: "query", request: { v: PROTOCOL_VERSION, id, cmd, ...(args ? { args } : {}) } };
}

/** What the client's REQ socket receives: a reply (ok or error), or why it is unusable. */
export type ClientMessage = { kind: "reply"; reply: Reply } | { kind: "invalid"; reason: string };

/** The client's view of a reply. */
export function decodeReply(frames: readonly Buffer[]): ClientMessage {
  if (frames.length !== 1) return { kind: "invalid", reason: `expected 1 frame, got ${frames.length}` };
  const body = decodeMap(frames[0], "reply");
  if (!body.ok) return { kind: "invalid", reason: body.reason };
  const { v, id, ok, result, error } = body.value;
  if (v !== PROTOCOL_VERSION) return { kind: "invalid", reason: `unsupported version ${String(v)}` };
  if (id !== null && !isId(id)) return { kind: "invalid", reason: "bad id" };
  if (ok === true) return { kind: "reply", reply: { v: PROTOCOL_VERSION, id, ok: true, result } };
  if (ok === false && isMap(error) && isErrorCode(error.code) && typeof error.message === "string") {
    return { kind: "reply", reply: { v: PROTOCOL_VERSION, id, ok: false, error: { code: error.code, message: error.message } } };
  }
  return { kind: "invalid", reason: "reply is neither ok nor a well-formed error" };
}

function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === "string" && (ERROR_CODES as readonly string[]).includes(v);
}
