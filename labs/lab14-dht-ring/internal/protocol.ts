/**
 * Lab 14 wire protocol: a DHT ring over the Harmony pattern (zguide ch8) with ring beacons.
 *
 * UDP beacon (one datagram, 22 octets, the ZRE layout with the ring's own header so a zyre node on
 * the same port never mistakes it for a ZRE beacon; the sender's address comes from recvfrom):
 *   'D' 'H' 'T' 0x01 | node uuid (16 octets) | mailbox port (u16, network order); port 0 = "I am leaving".
 *
 * Every node binds one ROUTER, its mailbox, and opens one DEALER per peer, whose routing id is 0x01
 * followed by the node's 16-octet uuid (the ZRE rule); the first message on every such connection
 * is HELLO. Every message is two frames, a command (ASCII) and a MessagePack map; an answer comes
 * back on the connection the request came in on, as REPLY with the request's rid.
 *
 *   HELLO   peer -> mailbox   {v, id, endpoint, name}
 *   GET     any  -> mailbox   {rid, key, hops}                       client or forwarding node
 *   PUT     any  -> mailbox   {rid, key, value, hops}
 *   DEL     any  -> mailbox   {rid, key, hops}
 *   OWNERS  any  -> mailbox   {rid, key}                             the owners in this node's view
 *   REPL    peer -> mailbox   {rid, key, value?, version, writer, deleted}   a replica's copy
 *   FETCH   peer -> mailbox   {rid, key}                             this node's own copy, never forwarded
 *   XFER    peer -> mailbox   {rid, items: [{key, value?, version, writer, deleted}]}   hand-off
 *   REPLY   mailbox -> asker  {rid, status, node, value?, version?, owners?, replicas?, taken?, reason?}
 *
 * One decoder per socket: decodeBeacon (the UDP socket), fromMailbox (the ROUTER), fromMailboxReply
 * (a peer DEALER, and a client's DEALER).
 */
import { asBuffer, type Checked, decodeMap, encode, isInt, isText, ok, refuse } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;
export const BEACON_HEADER = Buffer.from("DHT");
export const BEACON_VERSION = 0x01;
export const UUID_BYTES = 16;
export const BEACON_BYTES = 22;
export const LEAVING_PORT = 0;
/** A peer DEALER's routing id: 0x01 and the node's uuid (ZRE). */
export const PEER_ID_PREFIX = 0x01;
export const PEER_IDENTITY_BYTES = 1 + UUID_BYTES;

/** A key, in characters. */
export const MAX_KEY_CHARS = 256;
/** A value, in bytes: a hand-off batch of XFER_BATCH of them stays well under the mailbox's 1 MiB. */
export const MAX_VALUE_BYTES = 16 * 1024;
/** Items in one XFER. */
export const XFER_BATCH = 32;
/** The most hops a request may be forwarded: loops stop there while views disagree. */
export const HOP_LIMIT = 4;
/** A node name (for logs and views), in characters. */
export const MAX_NAME_CHARS = 64;
const MAX_ENDPOINT_CHARS = 256;
const MAX_REASON_CHARS = 256;
/** Owners in a reply: R is at most this. */
export const MAX_REPLICATION = 7;

export const REQUEST_COMMANDS = ["GET", "PUT", "DEL", "OWNERS"] as const;
export const PEER_COMMANDS = ["HELLO", "REPL", "FETCH", "XFER"] as const;
export type RequestOp = (typeof REQUEST_COMMANDS)[number];

/** A key's stored copy; a delete is kept as a tombstone so a hand-off never brings the value back. */
export interface Entry {
  value: Buffer | undefined;
  /** Milliseconds of the writer's clock (at least one more than the version it replaced). */
  version: number;
  /** The uuid (hex) of the node that wrote it: breaks version ties. */
  writer: string;
  deleted: boolean;
}

export interface Item extends Entry {
  key: string;
}

/** Whether `a` supersedes `b`: a higher version, or the same one written by a higher node id. */
export function newer(a: Entry, b: Entry | undefined): boolean {
  return b === undefined || a.version > b.version || (a.version === b.version && a.writer > b.writer);
}

export interface Hello {
  id: string;
  endpoint: string;
  name: string;
}

export type Request =
  | { op: "GET" | "DEL"; rid: number; key: string; hops: number }
  | { op: "PUT"; rid: number; key: string; value: Buffer; hops: number }
  | { op: "OWNERS"; rid: number; key: string };

/** A GET, PUT or DEL: the requests a node routes (serves or forwards). */
export type Routed = Exclude<Request, { op: "OWNERS" }>;
/** A request as a client builds it, before it gets its rid. */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, "rid"> : never) : never;

export type PeerRequest =
  | Request
  | ({ op: "REPL"; rid: number } & Item)
  | { op: "FETCH"; rid: number; key: string }
  | { op: "XFER"; rid: number; items: Item[] };

export type Status = "ok" | "not-found" | "error";

export interface Reply {
  rid: number;
  status: Status;
  /** The uuid (hex) of the node that answered. */
  node: string;
  value?: Buffer;
  version?: number;
  writer?: string;
  deleted?: boolean;
  owners?: string[];
  /** Copies written for a PUT or DEL, this node's included. */
  replicas?: number;
  /** Items of an XFER that were newer than the copy held. */
  taken?: number;
  reason?: string;
}

// ---- beacons -------------------------------------------------------------------------------

export function encodeBeacon(uuid: Buffer, port: number): Buffer {
  const out = Buffer.alloc(BEACON_BYTES);
  BEACON_HEADER.copy(out, 0);
  out[3] = BEACON_VERSION;
  uuid.copy(out, 4, 0, UUID_BYTES);
  out.writeUInt16BE(port, 4 + UUID_BYTES);
  return out;
}

export type BeaconFrame = { kind: "beacon"; id: string; port: number } | { kind: "invalid"; reason: string };

/** A datagram heard on the beacon port. Anything but 22 octets with the ring's header and version is invalid. */
export function decodeBeacon(datagram: Buffer): BeaconFrame {
  if (datagram.length !== BEACON_BYTES) return { kind: "invalid", reason: `${datagram.length} octets, not ${BEACON_BYTES}` };
  if (!datagram.subarray(0, 3).equals(BEACON_HEADER)) return { kind: "invalid", reason: "not a ring beacon header" };
  if (datagram[3] !== BEACON_VERSION) return { kind: "invalid", reason: `beacon version ${datagram[3]}` };
  return { kind: "beacon", id: datagram.subarray(4, 4 + UUID_BYTES).toString("hex"), port: datagram.readUInt16BE(4 + UUID_BYTES) };
}

// ---- identities ----------------------------------------------------------------------------

export const UUID_HEX = /^[0-9a-f]{32}$/;

export function peerIdentity(id: string): Buffer {
  return Buffer.concat([Buffer.from([PEER_ID_PREFIX]), Buffer.from(id, "hex")]);
}

/** The node uuid behind a peer DEALER's routing id, or undefined for a client. */
export function peerOf(identity: Buffer): string | undefined {
  return identity.length === PEER_IDENTITY_BYTES && identity[0] === PEER_ID_PREFIX ? identity.subarray(1).toString("hex") : undefined;
}

// ---- frames --------------------------------------------------------------------------------

const frame = (command: string, body: Record<string, unknown>): Buffer[] => [Buffer.from(command), encode(body)];

export function encodeHello(h: Hello): Buffer[] {
  return frame("HELLO", { v: PROTOCOL_VERSION, ...h });
}

const itemBody = (i: Item) => ({
  key: i.key,
  ...(i.value !== undefined ? { value: i.value } : {}),
  version: i.version,
  writer: i.writer,
  deleted: i.deleted,
});

export function encodeRequest(r: PeerRequest): Buffer[] {
  switch (r.op) {
    case "REPL":
      return frame("REPL", { rid: r.rid, ...itemBody(r) });
    case "XFER":
      return frame("XFER", { rid: r.rid, items: r.items.map(itemBody) });
    case "FETCH":
    case "OWNERS":
      return frame(r.op, { rid: r.rid, key: r.key });
    case "PUT":
      return frame("PUT", { rid: r.rid, key: r.key, value: r.value, hops: r.hops });
    default:
      return frame(r.op, { rid: r.rid, key: r.key, hops: r.hops });
  }
}

export function encodeReply(r: Reply): Buffer[] {
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined) body[k] = v;
  return frame("REPLY", body);
}

/** What the mailbox ROUTER takes: [identity, command, body]. */
export type FromMailbox =
  | { kind: "hello"; identity: Buffer; peer: string; hello: Hello }
  | { kind: "request"; identity: Buffer; peer: string | undefined; request: PeerRequest }
  | { kind: "invalid"; identity: Buffer | undefined; reason: string };

const isRid = (v: unknown): v is number => isInt(v, 0);
const isKey = (v: unknown): v is string => isText(v, MAX_KEY_CHARS, 1);

function checkValue(v: unknown): Checked<Buffer> {
  const b = typeof v === "string" ? Buffer.from(v) : asBuffer(v);
  if (!b) return refuse("value is not bin or str");
  return b.length > MAX_VALUE_BYTES ? refuse(`value over ${MAX_VALUE_BYTES} bytes`) : ok(b);
}

function decodeItem(m: unknown): Checked<Item> {
  if (typeof m !== "object" || m === null || Array.isArray(m)) return refuse("item is not a map");
  const r = m as Record<string, unknown>;
  if (!isKey(r.key)) return refuse("bad key");
  if (!isInt(r.version, 0) || !isText(r.writer, 32, 32) || !UUID_HEX.test(r.writer) || typeof r.deleted !== "boolean")
    return refuse("bad version, writer or deleted");
  if (r.deleted)
    return r.value === undefined
      ? ok({ key: r.key, value: undefined, version: r.version, writer: r.writer, deleted: true })
      : refuse("a tombstone with a value");
  const value = checkValue(r.value);
  return value.ok ? ok({ key: r.key, value: value.value, version: r.version, writer: r.writer, deleted: false }) : value;
}

export function fromMailbox(frames: readonly Buffer[]): FromMailbox {
  const [identity, command, body] = frames;
  if (!identity || identity.length === 0) return { kind: "invalid", identity: undefined, reason: "no identity" };
  if (frames.length !== 3 || !command || !body) return { kind: "invalid", identity, reason: `${frames.length - 1} frames, not 2` };
  const name = command.toString("latin1");
  const decoded = decodeMap(body, name.slice(0, 16));
  if (!decoded.ok) return { kind: "invalid", identity, reason: decoded.reason };
  const m = decoded.value;
  const bad = (reason: string): FromMailbox => ({ kind: "invalid", identity, reason: `${name}: ${reason}` });
  const peer = peerOf(identity);
  const isPeerCommand = (PEER_COMMANDS as readonly string[]).includes(name);
  if (isPeerCommand && !peer) return bad("a peer's command from an identity that is not 0x01 + uuid");
  if (name === "HELLO") {
    if (!isInt(m.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return bad(`version ${String(m.v)}`);
    if (!isText(m.id, 32, 32) || m.id !== peer) return bad("id is not the uuid of the routing id");
    if (!isText(m.endpoint, MAX_ENDPOINT_CHARS) || !/^tcp:\/\/[^\s/]+:\d{1,5}$/.test(m.endpoint)) return bad("bad endpoint");
    if (!isText(m.name, MAX_NAME_CHARS)) return bad("bad name");
    return { kind: "hello", identity, peer: peer as string, hello: { id: m.id, endpoint: m.endpoint, name: m.name } };
  }
  if (!isRid(m.rid)) return bad("bad rid");
  const request = (r: PeerRequest): FromMailbox => ({ kind: "request", identity, peer, request: r });
  switch (name) {
    case "GET":
    case "DEL":
    case "PUT": {
      if (!isKey(m.key)) return bad("bad key");
      if (!isInt(m.hops, 0, HOP_LIMIT)) return bad(`hops not in 0..${HOP_LIMIT}`);
      if (name !== "PUT") return request({ op: name, rid: m.rid, key: m.key, hops: m.hops });
      const value = checkValue(m.value);
      return value.ok ? request({ op: "PUT", rid: m.rid, key: m.key, value: value.value, hops: m.hops }) : bad(value.reason);
    }
    case "OWNERS":
    case "FETCH":
      return isKey(m.key) ? request({ op: name, rid: m.rid, key: m.key }) : bad("bad key");
    case "REPL": {
      const item = decodeItem(m);
      return item.ok ? request({ op: "REPL", rid: m.rid, ...item.value }) : bad(item.reason);
    }
    case "XFER": {
      if (!Array.isArray(m.items) || m.items.length === 0 || m.items.length > XFER_BATCH)
        return bad(`items not a list of 1..${XFER_BATCH}`);
      const items: Item[] = [];
      for (const raw of m.items) {
        const item = decodeItem(raw);
        if (!item.ok) return bad(item.reason);
        items.push(item.value);
      }
      return request({ op: "XFER", rid: m.rid, items });
    }
    default:
      return { kind: "invalid", identity, reason: "unknown command" };
  }
}

/** What a DEALER (a node's to a peer, or a client's) takes from a mailbox: [REPLY, body]. */
export type FromMailboxReply = { kind: "reply"; reply: Reply } | { kind: "invalid"; reason: string };

export function fromMailboxReply(frames: readonly Buffer[]): FromMailboxReply {
  const [command, body] = frames;
  if (frames.length !== 2 || !command?.equals(REPLY_FRAME))
    return { kind: "invalid", reason: `not [REPLY, body] (${frames.length} frames)` };
  const decoded = decodeMap(body, "REPLY");
  if (!decoded.ok) return { kind: "invalid", reason: decoded.reason };
  const m = decoded.value;
  if (!isRid(m.rid) || (m.status !== "ok" && m.status !== "not-found" && m.status !== "error"))
    return { kind: "invalid", reason: "bad rid or status" };
  if (!isText(m.node, 32, 32)) return { kind: "invalid", reason: "bad node" };
  const reply: Reply = { rid: m.rid, status: m.status, node: m.node };
  if (m.value !== undefined) {
    const value = checkValue(m.value);
    if (!value.ok) return { kind: "invalid", reason: value.reason };
    reply.value = value.value;
  }
  if (m.version !== undefined) {
    if (!isInt(m.version, 0)) return { kind: "invalid", reason: "bad version" };
    reply.version = m.version;
  }
  if (m.writer !== undefined) {
    if (!isText(m.writer, 32, 32)) return { kind: "invalid", reason: "bad writer" };
    reply.writer = m.writer;
  }
  if (m.deleted !== undefined) {
    if (typeof m.deleted !== "boolean") return { kind: "invalid", reason: "bad deleted" };
    reply.deleted = m.deleted;
  }
  if (m.owners !== undefined) {
    if (!Array.isArray(m.owners) || m.owners.length > MAX_REPLICATION || !m.owners.every((o) => isText(o, 32, 32)))
      return { kind: "invalid", reason: "bad owners" };
    reply.owners = m.owners as string[];
  }
  for (const field of ["replicas", "taken"] as const) {
    const v = m[field];
    if (v === undefined) continue;
    if (!isInt(v, 0, 1_000_000)) return { kind: "invalid", reason: `bad ${field}` };
    reply[field] = v;
  }
  if (m.reason !== undefined) {
    if (!isText(m.reason, MAX_REASON_CHARS)) return { kind: "invalid", reason: "bad reason" };
    reply.reason = m.reason;
  }
  return { kind: "reply", reply };
}

export const REPLY_FRAME = Buffer.from("REPLY");
