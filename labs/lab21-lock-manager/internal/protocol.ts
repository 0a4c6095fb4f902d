/**
 * Lab 21 wire protocol: leases over ROUTER-DEALER, and a ledger guarded by fencing tokens.
 *
 * Client (DEALER) → lock server (ROUTER sees [routing id, request]): one MessagePack map
 *   { v: 1, op: "ACQUIRE" | "RENEW" | "RELEASE" | "HEARTBEAT" | "CHECK", req, client, lock?, ttl?, token? }
 * Lock server → client: one MessagePack map, a reply to a request or an asynchronous notification
 *   { v: 1, req, status, lock?, token?, ttl?, reason?, async? }
 *   status: GRANTED | QUEUED | DENIED | RELEASED | EXPIRED | NOT_OWNER | ALIVE | VALID | STALE
 *   An asynchronous GRANTED (async: true) carries the `req` of the ACQUIRE it answers.
 * Writer (DEALER) → ledger (ROUTER sees [routing id, write]): { v: 1, req, client, lock, token, text }
 * Ledger → writer: { v: 1, req, status: ACCEPTED | REFUSED, reason?, token?, seq? }
 *
 * `client` is the application's id (not the ROUTER routing id): a lease is bound to it, so it survives a
 * reconnect under a new routing id. `req` is the client's request id: a retried request with the same id
 * gets the same answer and never a second grant. Every value from a peer is checked here, through the
 * kit's codec; one decoder per socket returns a tagged union that its loop switches on.
 */
import { type Checked, decodeMap, encode, isInt, isText, ok, refuse } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;
/** Request ids are whole numbers below 2^53 (MessagePack int, uint64 included). */
export const MAX_REQ_ID = Number.MAX_SAFE_INTEGER;
/** Tokens likewise: a u64 on the wire, below 2^53 in practice (one per grant). */
export const MAX_TOKEN = Number.MAX_SAFE_INTEGER;
/** A client id: letters, digits, ".", "_", "-", 1 to 64 characters. */
export const MAX_CLIENT_CHARS = 64;
/** A lock name: the same characters, 1 to 128. */
export const MAX_LOCK_CHARS = 128;
/** A ledger entry's text, in characters. */
export const MAX_TEXT_CHARS = 1024;
const NAME = /^[A-Za-z0-9_.-]+$/;

export const OPS = ["ACQUIRE", "RENEW", "RELEASE", "HEARTBEAT", "CHECK"] as const;
export type Op = (typeof OPS)[number];

export const STATUSES = ["GRANTED", "QUEUED", "DENIED", "RELEASED", "EXPIRED", "NOT_OWNER", "ALIVE", "VALID", "STALE"] as const;
export type Status = (typeof STATUSES)[number];

export interface LockRequest {
  op: Op;
  req: number;
  client: string;
  /** Every op but HEARTBEAT. */
  lock: string;
  /** ACQUIRE: the lease asked for, ms. */
  ttl: number;
  /** RENEW, CHECK: the token of the lease meant; RELEASE: optional. 0 when absent. */
  token: number;
}

export interface LockReply {
  req: number;
  status: Status;
  lock?: string;
  token?: number;
  /** GRANTED: ms the lease has left as the server sends it; QUEUED: the place in line (1 first). */
  ttl?: number;
  place?: number;
  reason?: string;
  /** A notification, not the answer to a request just sent. */
  async?: boolean;
}

export interface WriteRequest {
  req: number;
  client: string;
  lock: string;
  token: number;
  text: string;
}

export interface WriteReply {
  req: number;
  status: "ACCEPTED" | "REFUSED";
  reason?: string;
  /** The ledger's sequence number of the entry (ACCEPTED). */
  seq?: number;
}

export const isName = (v: unknown, max: number): v is string => isText(v, max, 1) && NAME.test(v);

/** A request's body as the lock server checks it; limits on ttl come from the server's config. */
export function decodeRequest(frame: Buffer | undefined): Checked<LockRequest> {
  const decoded = decodeMap(frame, "request");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse(`unsupported version ${String(r.v)}`);
  if (!OPS.includes(r.op as Op)) return refuse("unknown op");
  const op = r.op as Op;
  if (!isInt(r.req, 0, MAX_REQ_ID)) return refuse("req must be a whole number below 2^53");
  if (!isName(r.client, MAX_CLIENT_CHARS)) return refuse("bad client id");
  if (op !== "HEARTBEAT" && !isName(r.lock, MAX_LOCK_CHARS)) return refuse("bad lock name");
  if (op === "ACQUIRE" && !isInt(r.ttl, 1, 2 ** 31)) return refuse("ttl must be a whole number of ms");
  if ((op === "RENEW" || op === "CHECK") && !isInt(r.token, 1, MAX_TOKEN)) return refuse("token must be a whole number >= 1");
  if (r.token !== undefined && !isInt(r.token, 0, MAX_TOKEN)) return refuse("bad token");
  return ok({
    op,
    req: r.req,
    client: r.client,
    lock: op === "HEARTBEAT" ? "" : (r.lock as string),
    ttl: op === "ACQUIRE" ? (r.ttl as number) : 0,
    token: (r.token as number | undefined) ?? 0,
  });
}

export function encodeRequest(r: Partial<LockRequest> & { op: Op; req: number; client: string }): Buffer {
  return encode({ v: PROTOCOL_VERSION, ...r });
}

export function encodeReply(r: LockReply): Buffer {
  return encode({ v: PROTOCOL_VERSION, ...r });
}

/** A reply or notification as a client (or the ledger) checks it. */
export function decodeReply(frame: Buffer | undefined): Checked<LockReply> {
  const decoded = decodeMap(frame, "reply");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse("unsupported version");
  if (!isInt(r.req, 0, MAX_REQ_ID) || !STATUSES.includes(r.status as Status)) return refuse("bad req or status");
  if (r.lock !== undefined && !isName(r.lock, MAX_LOCK_CHARS)) return refuse("bad lock");
  if (r.token !== undefined && !isInt(r.token, 0, MAX_TOKEN)) return refuse("bad token");
  if (r.ttl !== undefined && !isInt(r.ttl, 0, 2 ** 31)) return refuse("bad ttl");
  if (r.place !== undefined && !isInt(r.place, 0, 2 ** 31)) return refuse("bad place");
  if (r.reason !== undefined && !isText(r.reason, 256)) return refuse("bad reason");
  const reply: LockReply = { req: r.req, status: r.status as Status };
  if (r.lock !== undefined) reply.lock = r.lock as string;
  if (r.token !== undefined) reply.token = r.token;
  if (r.ttl !== undefined) reply.ttl = r.ttl;
  if (r.place !== undefined) reply.place = r.place;
  if (r.reason !== undefined) reply.reason = r.reason as string;
  if (r.async === true) reply.async = true;
  return ok(reply);
}

export function encodeWrite(w: WriteRequest): Buffer {
  return encode({ v: PROTOCOL_VERSION, ...w });
}

export function decodeWrite(frame: Buffer | undefined): Checked<WriteRequest> {
  const decoded = decodeMap(frame, "write");
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  if (!isInt(w.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse("unsupported version");
  if (!isInt(w.req, 0, MAX_REQ_ID)) return refuse("bad req");
  if (!isName(w.client, MAX_CLIENT_CHARS) || !isName(w.lock, MAX_LOCK_CHARS)) return refuse("bad client or lock");
  if (!isInt(w.token, 1, MAX_TOKEN)) return refuse("token must be a whole number >= 1");
  if (!isText(w.text, MAX_TEXT_CHARS)) return refuse(`text must be a string of at most ${MAX_TEXT_CHARS} characters`);
  return ok({ req: w.req, client: w.client, lock: w.lock, token: w.token, text: w.text });
}

export function encodeWriteReply(r: WriteReply): Buffer {
  return encode({ v: PROTOCOL_VERSION, ...r });
}

export function decodeWriteReply(frame: Buffer | undefined): Checked<WriteReply> {
  const decoded = decodeMap(frame, "write reply");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION) || !isInt(r.req, 0, MAX_REQ_ID)) return refuse("bad version or req");
  if (r.status !== "ACCEPTED" && r.status !== "REFUSED") return refuse("bad status");
  if (r.reason !== undefined && !isText(r.reason, 256)) return refuse("bad reason");
  if (r.seq !== undefined && !isInt(r.seq, 0)) return refuse("bad seq");
  const reply: WriteReply = { req: r.req, status: r.status };
  if (r.reason !== undefined) reply.reason = r.reason as string;
  if (r.seq !== undefined) reply.seq = r.seq;
  return ok(reply);
}

/** What a ROUTER (the lock server's, the ledger's) takes from a DEALER peer: [routing id, body]. */
export type FromPeer = { kind: "message"; peer: Buffer; body: Buffer } | { kind: "invalid"; peer: Buffer | undefined; reason: string };

export function fromPeer(frames: readonly Buffer[]): FromPeer {
  const [peer, body] = frames;
  if (frames.length !== 2 || !peer?.length || !body?.length)
    return { kind: "invalid", peer, reason: `not one body frame from a DEALER (${frames.length - 1} frames)` };
  return { kind: "message", peer, body };
}

/** What a DEALER (a client's, the ledger's) takes from the server it connected: one body frame. */
export function oneFrame(frames: readonly Buffer[]): Buffer | undefined {
  return frames.length === 1 ? frames[0] : undefined;
}
