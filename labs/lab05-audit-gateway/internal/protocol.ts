/**
 * Lab 05 wire protocol: asynchronous request-reply through a ROUTER-DEALER gateway.
 *
 * client DEALER → gateway ROUTER     [corr, "AUDIT", record]           (the ROUTER prepends the client's identity)
 * gateway ROUTER → client DEALER     [corr, "ACK" | "BUSY" | "ERROR", body]
 * gateway DEALER → archivist DEALER  [client identity, corr, "AUDIT", record]
 * archivist DEALER → gateway DEALER  [client identity, corr, "ACK" | "ERROR", body]
 *
 * corr is the client's correlation id for one attempt (1-64 bytes, opaque to everyone else): replies
 * come back in any order and are matched by it. record and body are MessagePack maps.
 */
import { pack, unpack } from "msgpackr";

export const PROTOCOL_VERSION = 1;
export const MAX_CORR_BYTES = 64;
export const MAX_RECORD_BYTES = 64 * 1024;
/** Record ids name files in the archive: plain file-name characters only. */
export const RECORD_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export interface AuditRecord {
  v: number;
  /** Unique per record, the same on every retry: the archive stores a record id once. */
  id: string;
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
  return pack(r);
}

export function encodeBody(body: AckBody | BusyBody | ErrorBody): Buffer {
  return pack(body);
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

export function decodeRecord(frame: Buffer): Checked<AuditRecord> {
  if (frame.length > MAX_RECORD_BYTES) return { ok: false, reason: `record over ${MAX_RECORD_BYTES} bytes` };
  let r: unknown;
  try {
    r = unpack(frame);
  } catch {
    return { ok: false, reason: "record is not MessagePack" };
  }
  if (!isMap(r)) return { ok: false, reason: "record is not a map" };
  if (r.v !== PROTOCOL_VERSION) return { ok: false, reason: `unsupported version ${String(r.v)}` };
  if (typeof r.id !== "string" || !RECORD_ID.test(r.id)) return { ok: false, reason: "bad record id" };
  for (const key of ["actor", "action", "target"] as const)
    if (typeof r[key] !== "string" || r[key] === "") return { ok: false, reason: `missing ${key}` };
  if (typeof r.at !== "number") return { ok: false, reason: "missing at" };
  if (r.details !== undefined && !isMap(r.details)) return { ok: false, reason: "details is not a map" };
  return { ok: true, value: r as unknown as AuditRecord };
}

/** A client's request as the gateway's ROUTER sees it: [identity, corr, "AUDIT", record]. */
export function checkRequest(frames: readonly Buffer[]): Checked<{ client: Buffer; corr: Buffer; record: Buffer; recordId: string }> {
  if (frames.length !== 4) return { ok: false, reason: `expected 4 frames, got ${frames.length}` };
  const [client, corr, kind, record] = frames as [Buffer, Buffer, Buffer, Buffer];
  if (corr.length === 0 || corr.length > MAX_CORR_BYTES) return { ok: false, reason: "bad correlation id" };
  if (kind.toString() !== "AUDIT") return { ok: false, reason: `unknown request ${JSON.stringify(kind.subarray(0, 16).toString())}` };
  const decoded = decodeRecord(record);
  if (!decoded.ok) return decoded;
  return { ok: true, value: { client, corr, record, recordId: decoded.value.id } };
}

export function decodeBody(frame: Buffer): Record<string, unknown> | undefined {
  try {
    const body = unpack(frame);
    return isMap(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

export function isStatus(value: string): value is Status {
  return value === "ACK" || value === "BUSY" || value === "ERROR";
}
