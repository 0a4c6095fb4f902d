// The built-in registry's wire: a DEALER client and the registry's ROUTER, one MessagePack map per
// message (the kit's codec). Requests carry a correlation id the reply repeats.
import { type Checked, decodeMap, encode, isInt, isSafeName, ok, refuse } from "@zlabs/kit";
import { decodeServiceRecord, type ServiceRecord } from "./registry.ts";

/** Largest request or reply (a list of every record fits easily). */
export const MAX_REGISTRY_MESSAGE_BYTES = 256 * 1024;
export const MIN_TTL_MS = 100;
export const MAX_TTL_MS = 3_600_000;

export type RegistryRequest =
  | { kind: "register"; id: number; record: ServiceRecord; ttlMs: number }
  | { kind: "renew"; id: number; lease: number }
  | { kind: "put"; id: number; lease: number; record: ServiceRecord }
  | { kind: "revoke"; id: number; lease: number }
  | { kind: "list"; id: number; type: string | undefined }
  | { kind: "invalid"; reason: string };

export type RegistryReply = { id: number; ok: true; lease?: number; records?: ServiceRecord[] } | { id: number; ok: false; error: string };

/** One request, from the frames after the ROUTER's identity frame. */
export function decodeRegistryRequest(frames: Buffer[]): RegistryRequest {
  if (frames.length !== 1) return { kind: "invalid", reason: `${frames.length} frames (1 expected)` };
  const m = decodeMap(frames[0], "request");
  if (!m.ok) return { kind: "invalid", reason: m.reason };
  const r = m.value;
  if (!isInt(r.id, 0, 0xffffffff)) return { kind: "invalid", reason: "id: a whole number expected" };
  const id = r.id;
  switch (r.op) {
    case "register": {
      const rec = decodeServiceRecord(r.record);
      if (!rec.ok) return { kind: "invalid", reason: rec.reason };
      if (!isInt(r.ttlMs, MIN_TTL_MS, MAX_TTL_MS)) return { kind: "invalid", reason: `ttlMs: ${MIN_TTL_MS}-${MAX_TTL_MS} expected` };
      return { kind: "register", id, record: rec.value, ttlMs: r.ttlMs };
    }
    case "renew":
    case "revoke":
      if (!isInt(r.lease, 1, 0xffffffff)) return { kind: "invalid", reason: "lease: a whole number expected" };
      return { kind: r.op, id, lease: r.lease };
    case "put": {
      if (!isInt(r.lease, 1, 0xffffffff)) return { kind: "invalid", reason: "lease: a whole number expected" };
      const rec = decodeServiceRecord(r.record);
      if (!rec.ok) return { kind: "invalid", reason: rec.reason };
      return { kind: "put", id, lease: r.lease, record: rec.value };
    }
    case "list":
      if (r.type !== undefined && r.type !== null && !isSafeName(r.type)) return { kind: "invalid", reason: "type: a safe name expected" };
      return { kind: "list", id, type: (r.type as string | undefined | null) ?? undefined };
    default:
      return { kind: "invalid", reason: "op: register|renew|put|revoke|list expected" };
  }
}

export function encodeRegistryRequest(req: Exclude<RegistryRequest, { kind: "invalid" }>): Buffer {
  const { kind, ...rest } = req;
  return encode({ op: kind, ...rest });
}

export function encodeRegistryReply(reply: RegistryReply): Buffer {
  return encode(reply);
}

export function decodeRegistryReply(frames: Buffer[]): Checked<RegistryReply> {
  if (frames.length !== 1) return refuse(`${frames.length} frames (1 expected)`);
  const m = decodeMap(frames[0], "reply");
  if (!m.ok) return m;
  const r = m.value;
  if (!isInt(r.id, 0, 0xffffffff)) return refuse("id: a whole number expected");
  if (r.ok !== true) return ok({ id: r.id, ok: false, error: typeof r.error === "string" ? r.error.slice(0, 200) : "error" });
  const reply: RegistryReply = { id: r.id, ok: true };
  if (r.lease !== undefined) {
    if (!isInt(r.lease, 1, 0xffffffff)) return refuse("lease: a whole number expected");
    reply.lease = r.lease;
  }
  if (r.records !== undefined) {
    if (!Array.isArray(r.records) || r.records.length > 10_000) return refuse("records: a list expected");
    const records: ServiceRecord[] = [];
    for (const x of r.records) {
      const rec = decodeServiceRecord(x);
      if (rec.ok) records.push(rec.value);
    }
    reply.records = records;
  }
  return ok(reply);
}
