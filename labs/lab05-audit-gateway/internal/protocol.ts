/**
 * Lab 05 wire protocol: asynchronous request-reply through a ROUTER-DEALER gateway.
 *
 * client DEALER → gateway ROUTER     [corr, "AUDIT", record]           (the ROUTER prepends the client's identity)
 * gateway ROUTER → client DEALER     [corr, "ACK" | "BUSY" | "ERROR", body]
 * gateway DEALER → archivist DEALER  [client identity, corr, "AUDIT", record]
 * archivist DEALER → gateway DEALER  [client identity, corr, "ACK" | "ERROR", body]
 *
 * corr is the client's correlation id for one attempt (1-64 bytes, opaque to everyone else): replies
 * come back in any order and are matched by it. record and body are MessagePack maps, decoded only
 * through the kit's codec (a uint64 that fits a double is a number; a larger one is refused).
 *
 * One decoder per socket, each returning a tagged union the socket's loop switches on:
 *   decodeRequest  gateway ROUTER (from clients)
 *   decodeResult   gateway DEALER (from archivists)
 *   decodeWork     archivist DEALER (from the gateway)
 *   decodeReply    client DEALER (from the gateway)
 */
import { type Checked, decodeMap, encode, isInt, isMap, isNumber, isSafeName, isText, ok, refuse } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;
export const AUDIT = "AUDIT";
export const MAX_CORR_BYTES = 64;
/** A routing identity is 1-255 bytes (libzmq). */
export const MAX_IDENTITY_BYTES = 255;
export const MAX_RECORD_BYTES = 64 * 1024;
/** actor, action, target: non-empty text of at most this many characters. */
export const MAX_FIELD_CHARS = 256;
/** A BUSY's retryAfterMs is obeyed up to this; more from a peer is taken as this. */
export const MAX_RETRY_AFTER_MS = 10_000;
const AUDIT_FRAME = Buffer.from(AUDIT);

export interface AuditRecord {
  v: number;
  /** Unique per record, the same on every retry: the archive stores a record id once (it names a file). */
  id: string;
  /** ms since the epoch: an int (uint64 from Python is fine) or a float. */
  at: number;
  actor: string;
  action: string;
  target: string;
  details?: Record<string, unknown>;
}

export type Status = "ACK" | "BUSY" | "ERROR";

export interface AckBody {
  recordId: string;
  result: "stored" | "duplicate";
  archivist: string;
}
export interface BusyBody {
  inflight: number;
  retryAfterMs: number;
}
export interface ErrorBody {
  reason: string;
}

export function encodeRecord(r: AuditRecord): Buffer {
  return encode(r);
}

export function encodeBody(body: AckBody | BusyBody | ErrorBody): Buffer {
  return encode(body);
}

export function decodeRecord(frame: Buffer): Checked<AuditRecord> {
  if (frame.length > MAX_RECORD_BYTES) return refuse(`record over ${MAX_RECORD_BYTES} bytes`);
  const decoded = decodeMap(frame, "record");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (r.v !== PROTOCOL_VERSION) return refuse(`unsupported version ${String(r.v)}`);
  if (!isSafeName(r.id)) return refuse("bad record id");
  for (const key of ["actor", "action", "target"] as const)
    if (!isText(r[key], MAX_FIELD_CHARS, 1)) return refuse(`missing ${key} (text of 1 to ${MAX_FIELD_CHARS} characters)`);
  if (!isNumber(r.at, 0)) return refuse("missing at (ms since the epoch)");
  if (r.details !== undefined && !isMap(r.details)) return refuse("details is not a map");
  const { v, id, at, actor, action, target, details } = r as unknown as AuditRecord;
  return ok({ v, id, at, actor, action, target, ...(details ? { details } : {}) });
}

const goodCorr = (corr: Buffer) => corr.length >= 1 && corr.length <= MAX_CORR_BYTES;
const goodIdentity = (id: Buffer | undefined): id is Buffer => id !== undefined && id.length >= 1 && id.length <= MAX_IDENTITY_BYTES;

/** What the gateway's ROUTER takes from a client: [identity, corr, "AUDIT", record]. */
export type Request =
  | { kind: "audit"; client: Buffer; corr: Buffer; record: Buffer; recordId: string }
  /** Answered with one ERROR addressed to `corr`, the first frame the client sent (whatever it is). */
  | { kind: "invalid"; client: Buffer; corr: Buffer; reason: string };

export function decodeRequest(frames: readonly Buffer[]): Request {
  const [client = Buffer.alloc(0), ...sent] = frames;
  const corr = sent[0] ?? Buffer.alloc(0);
  const invalid = (reason: string): Request => ({ kind: "invalid", client, corr, reason });
  // Frames as the client sent them: the identity is the ROUTER's, not the client's.
  if (sent.length !== 3) return invalid(`expected 3 frames (corr, "AUDIT", record), got ${sent.length}`);
  const [, kind, record] = sent as [Buffer, Buffer, Buffer];
  if (!goodCorr(corr)) return invalid(`bad correlation id (1 to ${MAX_CORR_BYTES} bytes)`);
  if (!kind.equals(AUDIT_FRAME)) return invalid(`unknown request ${JSON.stringify(kind.subarray(0, 16).toString())}`);
  const decoded = decodeRecord(record);
  if (!decoded.ok) return invalid(decoded.reason);
  return { kind: "audit", client, corr, record, recordId: decoded.value.id };
}

/** What the gateway's DEALER takes from an archivist: [client identity, corr, "ACK" | "ERROR", body]. */
export type Result =
  | { kind: "result"; client: Buffer; corr: Buffer; status: "ACK" | "ERROR"; body: Buffer }
  | { kind: "invalid"; reason: string };

export function decodeResult(frames: readonly Buffer[]): Result {
  if (frames.length !== 4) return { kind: "invalid", reason: `expected 4 frames, got ${frames.length}` };
  const [client, corr, statusFrame, body] = frames as [Buffer, Buffer, Buffer, Buffer];
  if (!goodIdentity(client) || !goodCorr(corr)) return { kind: "invalid", reason: "bad client identity or correlation id" };
  const status = statusFrame.toString();
  if (status !== "ACK" && status !== "ERROR") return { kind: "invalid", reason: "status is neither ACK nor ERROR" };
  const checked = status === "ACK" ? checkAck(body) : checkError(body);
  if (!checked.ok) return { kind: "invalid", reason: checked.reason };
  return { kind: "result", client, corr, status, body };
}

function checkAck(frame: Buffer): Checked<AckBody> {
  const decoded = decodeMap(frame, "ACK body");
  if (!decoded.ok) return decoded;
  const { recordId, result, archivist } = decoded.value;
  if (!isSafeName(recordId) || (result !== "stored" && result !== "duplicate") || !isText(archivist, MAX_FIELD_CHARS))
    return refuse("ACK body needs recordId, result (stored | duplicate) and archivist");
  return ok({ recordId, result, archivist });
}

function checkError(frame: Buffer): Checked<ErrorBody> {
  const decoded = decodeMap(frame, "ERROR body");
  if (!decoded.ok) return decoded;
  const { reason } = decoded.value;
  return typeof reason === "string" ? ok({ reason: reason.slice(0, 1024) }) : refuse("ERROR body needs a reason");
}

/** What an archivist takes from the gateway: [client identity, corr, "AUDIT", record]. */
export type Work =
  | { kind: "audit"; client: Buffer; corr: Buffer; record: AuditRecord }
  /** Addressed, but the record is bad: answered with ERROR. */
  | { kind: "refused"; client: Buffer; corr: Buffer; reason: string }
  | { kind: "invalid"; reason: string };

export function decodeWork(frames: readonly Buffer[]): Work {
  if (frames.length !== 4) return { kind: "invalid", reason: `expected 4 frames, got ${frames.length}` };
  const [client, corr, kind, body] = frames as [Buffer, Buffer, Buffer, Buffer];
  if (!goodIdentity(client) || !goodCorr(corr) || !kind.equals(AUDIT_FRAME)) return { kind: "invalid", reason: "not an AUDIT job" };
  const record = decodeRecord(body);
  return record.ok ? { kind: "audit", client, corr, record: record.value } : { kind: "refused", client, corr, reason: record.reason };
}

/** What a client takes from the gateway: [corr, "ACK" | "BUSY" | "ERROR", body]. */
export type Reply =
  | { kind: "ack"; corr: string; body: AckBody }
  | { kind: "busy"; corr: string; retryAfterMs: number }
  | { kind: "error"; corr: string; reason: string }
  | { kind: "invalid"; reason: string };

export function decodeReply(frames: readonly Buffer[]): Reply {
  if (frames.length !== 3) return { kind: "invalid", reason: `expected 3 frames, got ${frames.length}` };
  const [corrFrame, statusFrame, body] = frames as [Buffer, Buffer, Buffer];
  const corr = corrFrame.toString();
  switch (statusFrame.toString()) {
    case "ACK": {
      const ack = checkAck(body);
      return ack.ok ? { kind: "ack", corr, body: ack.value } : { kind: "invalid", reason: ack.reason };
    }
    case "BUSY": {
      const busy = decodeMap(body, "BUSY body");
      const wait = busy.ok ? busy.value.retryAfterMs : undefined;
      return { kind: "busy", corr, retryAfterMs: isInt(wait, 0) ? Math.min(wait, MAX_RETRY_AFTER_MS) : MAX_RETRY_AFTER_MS };
    }
    case "ERROR": {
      const error = checkError(body);
      return { kind: "error", corr, reason: error.ok ? error.value.reason : error.reason };
    }
    default:
      return { kind: "invalid", reason: "unknown status" };
  }
}
