/**
 * Lab 23 wire protocol: a decentralised mesh of gossip nodes. Every node binds a PUB (the bus) and
 * a ROUTER (its mailbox); it connects one SUB to every live member's PUB and one DEALER to every
 * live member's mailbox (the Harmony pattern), and finds members by UDP beacon or a seed list.
 *
 * Bus (PUB -> SUB), two frames [topic, body]:
 *   "update."  {v, from, entry}                 a write made by `from` (entry.origin === from)
 *   "servers." {v, from, coordinator, rank, inc} the coordinator, announced by itself when it changes
 * Mailbox (DEALER -> ROUTER; the ROUTER sees [identity, command, body]), all one-way:
 *   "PING" / "ACK" / "PING-REQ" / "JOIN"        SWIM membership, with membership updates piggybacked
 *   "DIGEST" / "DELTA"                          anti-entropy (push-pull)
 *   "TIME?" / "TIME" / "ADJUST"                 Berkeley clock synchronisation
 *   "ADMIN" -> ["ADMIN-REPLY", body]            gossip-admin's requests, answered to its identity
 * Beacon (UDP, raw bytes): "ZL23" 0x01 inc:u32 mailboxPort:u16 pubPort:u16 rank:u16 idLen:u8 id.
 *
 * One decoder per socket, each returning a tagged union: fromBus (SUB), fromMailbox (ROUTER),
 * decodeBeacon (UDP), fromNode (the admin's DEALER). Bodies are MessagePack maps, decoded only
 * through the kit's codec, every field bounded.
 */
import { type Checked, decodeMap, encode, isInt, isMap, isNumber, isText, ok, refuse } from "@zlabs/kit";

export const PROTOCOL_VERSION = 1;
export const TOPIC_UPDATE = "update.";
export const TOPIC_SERVERS = "servers.";
export const BEACON_MAGIC = "ZL23";
export const BEACON_VERSION = 1;

/** Limits on what a peer may send: each is checked before anything is stored. */
export const MAX_ID_CHARS = 64;
export const MAX_KEY_CHARS = 128;
export const MAX_VALUE_CHARS = 1024;
/** Keys a node holds at most (tombstones included): a write or an update past it is refused. */
export const MAX_KEYS = 4096;
/** Members a node tracks at most. */
export const MAX_MEMBERS = 64;
/** Membership updates piggybacked on one message at most. */
export const MAX_UPDATES = 16;
/** Entries in one DELTA (a bigger repair goes as several): 256 × ~1.2 KB stays far under 1 MiB. */
export const MAX_DELTA_ENTRIES = 256;
export const MAX_ENDPOINT_CHARS = 256;
export const MAX_RANK = 65535;
export const MAX_CLOCK = Number.MAX_SAFE_INTEGER;
/** A Berkeley adjustment or clock reading past a day is nonsense, refused. */
export const MAX_ADJUST_MS = 24 * 3600 * 1000;

const ID = /^[A-Za-z0-9_.-]{1,64}$/;
export const isNodeId = (v: unknown): v is string => typeof v === "string" && ID.test(v);
const ENDPOINT = /^tcp:\/\/[A-Za-z0-9.:[\]-]+:\d{1,5}$/;
export const isEndpoint = (v: unknown): v is string => isText(v, MAX_ENDPOINT_CHARS, 1) && ENDPOINT.test(v);

// ---------------------------------------------------------------------------------------------
// The replicated map's entries.

/** One key's state: its value (or a tombstone) and its version (Lamport clock, writer's id). */
export interface Entry {
  key: string;
  /** Absent on a tombstone. */
  value?: string;
  /** The Lamport clock of the write. */
  clock: number;
  /** The node that made the write: the version's tie-breaker, and the only node that publishes it. */
  origin: string;
  deleted: boolean;
}

export function checkEntry(v: unknown): Checked<Entry> {
  if (!isMap(v)) return refuse("entry is not a map");
  if (!isText(v.key, MAX_KEY_CHARS, 1)) return refuse(`entry key not text of 1-${MAX_KEY_CHARS} characters`);
  if (!isInt(v.clock, 1, MAX_CLOCK)) return refuse("entry clock not a whole number >= 1");
  if (!isNodeId(v.origin)) return refuse("entry origin not a node id");
  if (typeof v.deleted !== "boolean") return refuse("entry deleted not a boolean");
  if (v.deleted) {
    if (v.value !== undefined && v.value !== null) return refuse("a tombstone with a value");
    return ok({ key: v.key, clock: v.clock, origin: v.origin, deleted: true });
  }
  if (!isText(v.value, MAX_VALUE_CHARS)) return refuse(`entry value not text of at most ${MAX_VALUE_CHARS} characters`);
  return ok({ key: v.key, value: v.value, clock: v.clock, origin: v.origin, deleted: false });
}

/** An entry as it goes on the wire (no undefined fields: msgpack would write them as nil). */
export function wireEntry(e: Entry): Record<string, unknown> {
  return e.deleted
    ? { key: e.key, clock: e.clock, origin: e.origin, deleted: true }
    : { key: e.key, value: e.value, clock: e.clock, origin: e.origin, deleted: false };
}

// ---------------------------------------------------------------------------------------------
// Members.

export type MemberState = "alive" | "suspect" | "dead";

/** What a node says about a member: SWIM's (id, incarnation, state), and where to reach it. */
export interface MemberRecord {
  id: string;
  inc: number;
  state: MemberState;
  rank: number;
  pub: string;
  mailbox: string;
}

export function checkMember(v: unknown): Checked<MemberRecord> {
  if (!isMap(v)) return refuse("member is not a map");
  if (!isNodeId(v.id)) return refuse("member id not a node id");
  if (!isInt(v.inc, 0, 0xffffffff)) return refuse("member inc not a u32");
  if (v.state !== "alive" && v.state !== "suspect" && v.state !== "dead") return refuse("member state not alive, suspect or dead");
  if (!isInt(v.rank, 0, MAX_RANK)) return refuse(`member rank not in 0-${MAX_RANK}`);
  if (!isEndpoint(v.pub) || !isEndpoint(v.mailbox)) return refuse("member pub or mailbox not a tcp endpoint");
  return ok({ id: v.id, inc: v.inc, state: v.state, rank: v.rank, pub: v.pub, mailbox: v.mailbox });
}

function checkMembers(v: unknown, max: number): Checked<MemberRecord[]> {
  if (!Array.isArray(v) || v.length > max) return refuse(`updates not a list of at most ${max}`);
  const out: MemberRecord[] = [];
  for (const item of v) {
    const m = checkMember(item);
    if (!m.ok) return m;
    out.push(m.value);
  }
  return ok(out);
}

// ---------------------------------------------------------------------------------------------
// The bus.

export type BusMessage =
  | { kind: "update"; from: string; entry: Entry }
  | { kind: "servers"; from: string; coordinator: string; rank: number; inc: number };

export type FromBus = BusMessage | { kind: "invalid"; reason: string };

export function encodeBus(m: BusMessage): [string, Buffer] {
  if (m.kind === "update") return [TOPIC_UPDATE, encode({ v: PROTOCOL_VERSION, from: m.from, entry: wireEntry(m.entry) })];
  return [TOPIC_SERVERS, encode({ v: PROTOCOL_VERSION, from: m.from, coordinator: m.coordinator, rank: m.rank, inc: m.inc })];
}

/** What a node's SUB takes from a member's PUB. */
export function fromBus(frames: readonly Buffer[]): FromBus {
  if (frames.length !== 2) return { kind: "invalid", reason: `${frames.length} frames, not [topic, body]` };
  const topic = (frames[0] as Buffer).toString("latin1");
  if (topic !== TOPIC_UPDATE && topic !== TOPIC_SERVERS) return { kind: "invalid", reason: "unknown topic" };
  const body = decodeMap(frames[1], topic);
  if (!body.ok) return { kind: "invalid", reason: body.reason };
  const b = body.value;
  if (!isInt(b.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return { kind: "invalid", reason: `unsupported version ${String(b.v)}` };
  if (!isNodeId(b.from)) return { kind: "invalid", reason: "from not a node id" };
  if (topic === TOPIC_UPDATE) {
    const entry = checkEntry(b.entry);
    if (!entry.ok) return { kind: "invalid", reason: entry.reason };
    // Only a write's origin publishes it on the bus: anything else would be a loop.
    if (entry.value.origin !== b.from) return { kind: "invalid", reason: "an update published by a node other than its origin" };
    return { kind: "update", from: b.from, entry: entry.value };
  }
  if (!isNodeId(b.coordinator) || !isInt(b.rank, 0, MAX_RANK) || !isInt(b.inc, 0, 0xffffffff))
    return { kind: "invalid", reason: "bad coordinator, rank or inc" };
  return { kind: "servers", from: b.from, coordinator: b.coordinator, rank: b.rank, inc: b.inc };
}

// ---------------------------------------------------------------------------------------------
// The mailbox.

/** A version as a digest lists it: [key, clock, origin]. */
export type Version = [key: string, clock: number, origin: string];

export type MailMessage =
  | { kind: "ping"; from: MemberRecord; seq: number; target: string; updates: MemberRecord[] }
  | { kind: "ack"; from: MemberRecord; seq: number; target: string; updates: MemberRecord[] }
  | { kind: "ping-req"; from: MemberRecord; seq: number; target: string; updates: MemberRecord[] }
  | { kind: "join"; from: MemberRecord; updates: MemberRecord[] }
  | { kind: "digest"; from: string; versions: Version[]; reply: boolean }
  | { kind: "delta"; from: string; entries: Entry[] }
  | { kind: "time-request"; from: string; round: number }
  | { kind: "time"; from: string; round: number; clock: number }
  | { kind: "adjust"; from: string; round: number; adjustMs: number };

export type AdminRequest =
  | { op: "set"; key: string; value: string }
  | { op: "del"; key: string }
  | { op: "get"; key: string }
  | { op: "status" };

export type FromMailbox =
  | { kind: "peer"; message: MailMessage }
  | { kind: "admin"; identity: Buffer; request: AdminRequest }
  | { kind: "invalid"; reason: string };

const COMMANDS = {
  ping: "PING",
  ack: "ACK",
  "ping-req": "PING-REQ",
  join: "JOIN",
  digest: "DIGEST",
  delta: "DELTA",
  "time-request": "TIME?",
  time: "TIME",
  adjust: "ADJUST",
} as const satisfies Record<MailMessage["kind"], string>;
export const ADMIN = "ADMIN";
export const ADMIN_REPLY = "ADMIN-REPLY";
const KIND_OF = new Map<string, MailMessage["kind"]>(Object.entries(COMMANDS).map(([k, c]) => [c, k as MailMessage["kind"]]));

export function encodeMail(m: MailMessage): [string, Buffer] {
  const { kind, ...body } = m;
  const wire: Record<string, unknown> = { v: PROTOCOL_VERSION, ...body };
  if (m.kind === "delta") wire.entries = m.entries.map(wireEntry);
  return [COMMANDS[kind], encode(wire)];
}

/** The body of one mailbox command, checked. */
export function decodeMail(command: string, frame: Buffer | undefined): Checked<MailMessage> {
  const kind = KIND_OF.get(command);
  if (!kind) return refuse("unknown command");
  const body = decodeMap(frame, command);
  if (!body.ok) return body;
  const b = body.value;
  if (!isInt(b.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse(`unsupported version ${String(b.v)}`);
  switch (kind) {
    case "ping":
    case "ack":
    case "ping-req":
    case "join": {
      const from = checkMember(b.from);
      if (!from.ok) return refuse(`from: ${from.reason}`);
      const updates = checkMembers(b.updates, MAX_UPDATES);
      if (!updates.ok) return updates;
      if (kind === "join") return ok({ kind, from: from.value, updates: updates.value });
      if (!isInt(b.seq, 0, 0xffffffff) || !isNodeId(b.target)) return refuse("bad seq or target");
      return ok({ kind, from: from.value, seq: b.seq, target: b.target, updates: updates.value });
    }
    case "digest": {
      if (!isNodeId(b.from) || typeof b.reply !== "boolean") return refuse("bad from or reply");
      if (!Array.isArray(b.versions) || b.versions.length > MAX_KEYS) return refuse(`versions not a list of at most ${MAX_KEYS}`);
      const versions: Version[] = [];
      for (const v of b.versions) {
        if (!Array.isArray(v) || v.length !== 3) return refuse("a version is not [key, clock, origin]");
        const [key, clock, origin] = v as unknown[];
        if (!isText(key, MAX_KEY_CHARS, 1) || !isInt(clock, 1, MAX_CLOCK) || !isNodeId(origin)) return refuse("bad version");
        versions.push([key, clock, origin]);
      }
      return ok({ kind, from: b.from, versions, reply: b.reply });
    }
    case "delta": {
      if (!isNodeId(b.from)) return refuse("bad from");
      if (!Array.isArray(b.entries) || b.entries.length > MAX_DELTA_ENTRIES)
        return refuse(`entries not a list of at most ${MAX_DELTA_ENTRIES}`);
      const entries: Entry[] = [];
      for (const e of b.entries) {
        const entry = checkEntry(e);
        if (!entry.ok) return entry;
        entries.push(entry.value);
      }
      return ok({ kind, from: b.from, entries });
    }
    case "time-request":
      if (!isNodeId(b.from) || !isInt(b.round, 0, 0xffffffff)) return refuse("bad from or round");
      return ok({ kind, from: b.from, round: b.round });
    case "time":
      if (!isNodeId(b.from) || !isInt(b.round, 0, 0xffffffff) || !isNumber(b.clock, 0, 2 ** 52)) return refuse("bad from, round or clock");
      return ok({ kind, from: b.from, round: b.round, clock: b.clock });
    case "adjust":
      if (!isNodeId(b.from) || !isInt(b.round, 0, 0xffffffff) || !isNumber(b.adjustMs, -MAX_ADJUST_MS, MAX_ADJUST_MS))
        return refuse("bad from, round or adjustMs");
      return ok({ kind, from: b.from, round: b.round, adjustMs: b.adjustMs });
  }
}

function checkAdmin(frame: Buffer | undefined): Checked<AdminRequest> {
  const body = decodeMap(frame, ADMIN);
  if (!body.ok) return body;
  const b = body.value;
  if (!isInt(b.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse(`unsupported version ${String(b.v)}`);
  if (b.op === "status") return ok({ op: "status" });
  if (!isText(b.key, MAX_KEY_CHARS, 1)) return refuse(`key not text of 1-${MAX_KEY_CHARS} characters`);
  if (b.op === "get" || b.op === "del") return ok({ op: b.op, key: b.key });
  if (b.op === "set") {
    if (!isText(b.value, MAX_VALUE_CHARS)) return refuse(`value not text of at most ${MAX_VALUE_CHARS} characters`);
    return ok({ op: "set", key: b.key, value: b.value });
  }
  return refuse("op not set, del, get or status");
}

/** What a node's ROUTER (mailbox) takes: [identity, command, body]. */
export function fromMailbox(frames: readonly Buffer[]): FromMailbox {
  if (frames.length !== 3) return { kind: "invalid", reason: `${frames.length - 1} frames, not [command, body]` };
  const [identity, commandFrame, body] = frames as [Buffer, Buffer, Buffer];
  if (commandFrame.length > 16) return { kind: "invalid", reason: "unknown command" };
  const command = commandFrame.toString("latin1");
  if (command === ADMIN) {
    const request = checkAdmin(body);
    return request.ok ? { kind: "admin", identity, request: request.value } : { kind: "invalid", reason: request.reason };
  }
  const message = decodeMail(command, body);
  return message.ok ? { kind: "peer", message: message.value } : { kind: "invalid", reason: `${command}: ${message.reason}` };
}

export function encodeAdmin(r: AdminRequest): [string, Buffer] {
  return [ADMIN, encode({ v: PROTOCOL_VERSION, ...r })];
}

/** A node's answer to the admin: the key's entry, or the node's status; `error` when refused. */
export interface AdminReply {
  ok: boolean;
  error?: string;
  entry?: Entry;
  status?: NodeStatus;
}

export interface NodeStatus {
  id: string;
  coordinator: string;
  digest: string;
  keys: number;
  members: { id: string; state: MemberState; inc: number }[];
  clockOffsetMs: number;
}

export function encodeAdminReply(r: AdminReply): [string, Buffer] {
  return [ADMIN_REPLY, encode({ v: PROTOCOL_VERSION, ...r, ...(r.entry ? { entry: wireEntry(r.entry) } : {}) })];
}

/** What the admin's DEALER takes from a node. */
export function fromNode(frames: readonly Buffer[]): Checked<AdminReply> {
  if (frames.length !== 2 || frames[0]?.toString("latin1") !== ADMIN_REPLY) return refuse("not [ADMIN-REPLY, body]");
  const body = decodeMap(frames[1], ADMIN_REPLY);
  if (!body.ok) return body;
  const b = body.value;
  if (typeof b.ok !== "boolean") return refuse("ok not a boolean");
  const reply: AdminReply = { ok: b.ok };
  if (b.error !== undefined) {
    if (!isText(b.error, 1024)) return refuse("bad error");
    reply.error = b.error;
  }
  if (b.entry !== undefined) {
    const e = checkEntry(b.entry);
    if (!e.ok) return e;
    reply.entry = e.value;
  }
  if (b.status !== undefined) {
    const s = b.status;
    if (!isMap(s) || !isNodeId(s.id) || !isText(s.coordinator, MAX_ID_CHARS) || !isText(s.digest, 64) || !isInt(s.keys, 0, MAX_KEYS))
      return refuse("bad status");
    if (!isNumber(s.clockOffsetMs) || !Array.isArray(s.members) || s.members.length > MAX_MEMBERS) return refuse("bad status");
    const members: NodeStatus["members"] = [];
    for (const m of s.members) {
      if (!isMap(m) || !isNodeId(m.id) || !isInt(m.inc, 0, 0xffffffff)) return refuse("bad status member");
      if (m.state !== "alive" && m.state !== "suspect" && m.state !== "dead") return refuse("bad status member");
      members.push({ id: m.id, state: m.state, inc: m.inc });
    }
    reply.status = { id: s.id, coordinator: s.coordinator, digest: s.digest, keys: s.keys, members, clockOffsetMs: s.clockOffsetMs };
  }
  return ok(reply);
}

// ---------------------------------------------------------------------------------------------
// The beacon.

export interface Beacon {
  id: string;
  inc: number;
  mailboxPort: number;
  pubPort: number;
  rank: number;
}

const BEACON_HEADER = 4 + 1 + 4 + 2 + 2 + 2 + 1;
export const MAX_BEACON_BYTES = BEACON_HEADER + MAX_ID_CHARS;

export function encodeBeacon(b: Beacon): Buffer {
  const id = Buffer.from(b.id, "latin1");
  const out = Buffer.alloc(BEACON_HEADER + id.length);
  out.write(BEACON_MAGIC, 0, "latin1");
  out[4] = BEACON_VERSION;
  out.writeUInt32BE(b.inc, 5);
  out.writeUInt16BE(b.mailboxPort, 9);
  out.writeUInt16BE(b.pubPort, 11);
  out.writeUInt16BE(b.rank, 13);
  out[15] = id.length;
  id.copy(out, BEACON_HEADER);
  return out;
}

export function decodeBeacon(d: Buffer): Checked<Beacon> {
  if (d.length < BEACON_HEADER + 1 || d.length > MAX_BEACON_BYTES) return refuse(`${d.length} bytes`);
  if (d.toString("latin1", 0, 4) !== BEACON_MAGIC) return refuse("wrong magic");
  if (d[4] !== BEACON_VERSION) return refuse(`version ${d[4]}`);
  const idLength = d[15] as number;
  if (d.length !== BEACON_HEADER + idLength) return refuse("id length does not match the datagram");
  const id = d.toString("latin1", BEACON_HEADER);
  if (!isNodeId(id)) return refuse("id not a node id");
  const mailboxPort = d.readUInt16BE(9);
  const pubPort = d.readUInt16BE(11);
  if (mailboxPort === 0 || pubPort === 0) return refuse("port 0");
  return ok({ id, inc: d.readUInt32BE(5), mailboxPort, pubPort, rank: d.readUInt16BE(13) });
}
