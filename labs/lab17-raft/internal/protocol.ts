/**
 * Lab 17 wire protocol.
 *
 * The bus (each node's PUB, every other node's SUB): [topic, from, type, body]
 *   topic  "<node id>." (one node) or "all." (every node); the "." delimiter makes "n1." never a
 *          prefix of "n10.".
 *   from   the sender's node id; type "vote" | "voteResp" | "append" | "appendResp";
 *   body   MessagePack map (RaftMessage without its type).
 * Raft's replies go back on the bus, addressed to the asker's topic: PUB drops, so every RPC is
 * idempotent and sent again (the leader every heartbeat, a candidate at its next election).
 *
 * Clients (DEALER, or REQ) → a node's ROUTER: [identity, ("",) request]; the reply comes on the same
 * envelope. One decoder per socket: fromBus (the SUB), fromClient (the ROUTER); replies the client
 * decodes with decodeReply.
 */
import { type Checked, decodeMap, encode, isInt, isMap, isText, ok, refuse } from "@zlabs/kit";
import type { Command } from "./kv.ts";
import type { Entry, NodeId, RaftMessage } from "./raft.ts";

export const PROTOCOL_VERSION = 1;
export const ALL_TOPIC = "all.";
export const MESSAGE_TYPES = ["vote", "voteResp", "append", "appendResp"] as const;
/** Entries one AppendEntries may carry (the leader's --max-batch is at most this). */
export const MAX_ENTRIES_PER_APPEND = 512;
export const MAX_KEY_CHARS = 256;
export const MAX_VALUE_CHARS = 4096;
export const MAX_CLIENT_CHARS = 64;
/** A node id: letters, digits, "_" and "-", never ".", so that "<id>." is an exact topic. */
export const NODE_ID = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_IDENTITY_BYTES = 255;
/** Terms, indices and sequence numbers from a peer: far beyond any real one, and +1 stays exact. */
const MAX_INT = 2 ** 48;

export const topicFor = (id: NodeId) => `${id}.`;

export function encodeBus(to: NodeId | "all", from: NodeId, msg: RaftMessage): Buffer[] {
  const { type, ...body } = msg;
  return [Buffer.from(to === "all" ? ALL_TOPIC : topicFor(to)), Buffer.from(from), Buffer.from(type), encode(body)];
}

export type FromBus = { kind: "raft"; from: NodeId; msg: RaftMessage } | { kind: "invalid"; reason: string };

function decodeCommand(v: unknown): Checked<Command> {
  if (!isMap(v)) return refuse("a command is not a map");
  const { op, key, value, expect, client, seq } = v;
  if (!isText(key, MAX_KEY_CHARS, 1) || !isText(client, MAX_CLIENT_CHARS, 1) || !isInt(seq, 1, MAX_INT))
    return refuse("a command's key, client or seq is bad");
  if (op === "delete") return ok({ op, key, client, seq });
  if (!isText(value, MAX_VALUE_CHARS)) return refuse("a command's value is bad");
  if (op === "put") return ok({ op, key, value, client, seq });
  if (op === "cas" && (expect === null || isText(expect, MAX_VALUE_CHARS))) return ok({ op, key, value, expect, client, seq });
  return refuse(`a command's op is bad (${String(op).slice(0, 16)})`);
}

function decodeEntries(v: unknown, max = MAX_ENTRIES_PER_APPEND): Checked<Entry[]> {
  if (!Array.isArray(v) || v.length > max) return refuse(`entries is not a list of at most ${max}`);
  const entries: Entry[] = [];
  for (const e of v) {
    if (!isMap(e) || !isInt(e.term, 1, MAX_INT)) return refuse("an entry without a term");
    if (e.cmd === undefined || e.cmd === null) entries.push({ term: e.term });
    else {
      const cmd = decodeCommand(e.cmd);
      if (!cmd.ok) return cmd;
      entries.push({ term: e.term, cmd: cmd.value });
    }
  }
  return ok(entries);
}

/** Entries as this node wrote them to its own disk (checked all the same: a disk can be corrupted). */
export function decodeEntriesFromDisk(v: unknown): Entry[] | undefined {
  const entries = decodeEntries(v, Number.MAX_SAFE_INTEGER);
  return entries.ok ? entries.value : undefined;
}

/** What a node's SUB takes from the bus. */
export function fromBus(frames: readonly Buffer[], self: NodeId, members: ReadonlySet<NodeId>): FromBus {
  if (frames.length !== 4) return { kind: "invalid", reason: `${frames.length} frames, not 4` };
  const [topic, fromFrame, typeFrame, body] = frames as [Buffer, Buffer, Buffer, Buffer];
  const t = topic.toString("latin1");
  if (t !== ALL_TOPIC && t !== topicFor(self)) return { kind: "invalid", reason: "not addressed to this node" };
  const from = fromFrame.toString("latin1");
  if (!members.has(from) || from === self) return { kind: "invalid", reason: "from a node that is not a member" };
  const type = typeFrame.toString("latin1");
  const decoded = decodeMap(body, type);
  if (!decoded.ok) return { kind: "invalid", reason: decoded.reason };
  const b = decoded.value;
  if (!isInt(b.term, 0, MAX_INT)) return { kind: "invalid", reason: "no term" };
  const term = b.term;
  switch (type) {
    case "vote":
      if (isInt(b.lastLogIndex, 0, MAX_INT) && isInt(b.lastLogTerm, 0, MAX_INT))
        return { kind: "raft", from, msg: { type, term, lastLogIndex: b.lastLogIndex, lastLogTerm: b.lastLogTerm } };
      break;
    case "voteResp":
      if (typeof b.granted === "boolean") return { kind: "raft", from, msg: { type, term, granted: b.granted } };
      break;
    case "append": {
      if (!isInt(b.prevIndex, 0, MAX_INT) || !isInt(b.prevTerm, 0, MAX_INT) || !isInt(b.commit, 0, MAX_INT) || !isInt(b.round, 0, MAX_INT))
        break;
      const entries = decodeEntries(b.entries);
      if (!entries.ok) return { kind: "invalid", reason: entries.reason };
      if (entries.value.some((e) => e.term > term)) return { kind: "invalid", reason: "an entry of a later term than the message" };
      return {
        kind: "raft",
        from,
        msg: { type, term, prevIndex: b.prevIndex, prevTerm: b.prevTerm, entries: entries.value, commit: b.commit, round: b.round },
      };
    }
    case "appendResp": {
      const { success, match, conflictTerm, conflictIndex, round } = b;
      if (
        typeof success === "boolean" &&
        isInt(match, 0, MAX_INT) &&
        isInt(conflictTerm, 0, MAX_INT) &&
        isInt(conflictIndex, 0, MAX_INT) &&
        isInt(round, 0, MAX_INT)
      )
        return { kind: "raft", from, msg: { type, term, success, match, conflictTerm, conflictIndex, round } };
      break;
    }
    default:
      return { kind: "invalid", reason: `unknown type ${type.slice(0, 16)}` };
  }
  return { kind: "invalid", reason: `a ${type} with bad fields` };
}

// ---- clients ---------------------------------------------------------------------------------

export type ClientOp = "put" | "get" | "delete" | "cas" | "status";

export type ClientRequest =
  | { op: "put" | "delete" | "cas"; id: number; cmd: Command }
  | { op: "get"; id: number; key: string }
  | { op: "status"; id: number };

export interface Envelope {
  identity: Buffer;
  /** A REQ client's empty delimiter, returned on the reply. */
  delimited: boolean;
}

export type FromClient =
  | { kind: "request"; envelope: Envelope; request: ClientRequest }
  | { kind: "invalid"; envelope?: Envelope; id?: number; reason: string };

/** What a node's ROUTER takes from a client: [identity, request] or [identity, "", request]. */
export function fromClient(frames: readonly Buffer[]): FromClient {
  const identity = frames[0];
  if (!identity || identity.length === 0 || identity.length > MAX_IDENTITY_BYTES) return { kind: "invalid", reason: "no identity" };
  const delimited = frames.length === 3 && frames[1]?.length === 0;
  if (frames.length !== 2 && !delimited) return { kind: "invalid", reason: `${frames.length - 1} frames after the identity` };
  const envelope: Envelope = { identity, delimited };
  const decoded = decodeMap(frames[frames.length - 1], "request");
  if (!decoded.ok) return { kind: "invalid", envelope, reason: decoded.reason };
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION))
    return { kind: "invalid", envelope, reason: `unsupported version ${String(r.v).slice(0, 16)}` };
  if (!isInt(r.id, 0, MAX_INT)) return { kind: "invalid", envelope, reason: "no request id" };
  const id = r.id;
  switch (r.op) {
    case "status":
      return { kind: "request", envelope, request: { op: "status", id } };
    case "get":
      if (isText(r.key, MAX_KEY_CHARS, 1)) return { kind: "request", envelope, request: { op: "get", id, key: r.key } };
      break;
    case "put":
    case "delete":
    case "cas": {
      const cmd = decodeCommand(r);
      if (cmd.ok) return { kind: "request", envelope, request: { op: r.op, id, cmd: cmd.value } };
      return { kind: "invalid", envelope, id, reason: cmd.reason };
    }
  }
  return { kind: "invalid", envelope, id, reason: `bad op or key (${String(r.op).slice(0, 16)})` };
}

/** A node's answer to a client. */
export type Reply =
  | { v: 1; id: number; node: NodeId; status: "ok"; ok: boolean; value?: string | null; index: number }
  | { v: 1; id: number; node: NodeId; status: "notLeader"; leader: NodeId | null }
  | { v: 1; id: number; node: NodeId; status: "error"; reason: string }
  | ({ v: 1; id: number; node: NodeId; status: "status" } & NodeStatus);

export interface NodeStatus {
  term: number;
  role: string;
  leader: NodeId | null;
  commit: number;
  lastIndex: number;
  lastTerm: number;
  /** SHA-256 (hex, first 16 digits) of the committed log's entries: equal on nodes whose committed logs are. */
  digest: string;
}

export function encodeReply(envelope: Envelope, reply: Reply): Buffer[] {
  return envelope.delimited ? [envelope.identity, Buffer.alloc(0), encode(reply)] : [envelope.identity, encode(reply)];
}

export function encodeRequest(request: Record<string, unknown>): Buffer {
  return encode({ v: PROTOCOL_VERSION, ...request });
}

/** A reply, as the client checks it. */
export function decodeReply(frame: Buffer | undefined): Checked<Reply> {
  const decoded = decodeMap(frame, "reply");
  if (!decoded.ok) return decoded;
  const r = decoded.value;
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION) || !isInt(r.id, 0, MAX_INT) || !isText(r.node, 32, 1))
    return refuse("bad reply header");
  switch (r.status) {
    case "ok":
      if (
        typeof r.ok === "boolean" &&
        isInt(r.index, 0, MAX_INT) &&
        (r.value === undefined || r.value === null || isText(r.value, MAX_VALUE_CHARS))
      )
        return ok(r as unknown as Reply);
      break;
    case "notLeader":
      if (r.leader === null || r.leader === undefined || isText(r.leader, 32, 1))
        return ok({ ...(r as unknown as Reply), leader: (r.leader as string | undefined) ?? null } as Reply);
      break;
    case "error":
      if (isText(r.reason, 1024)) return ok(r as unknown as Reply);
      break;
    case "status":
      if (isInt(r.term, 0, MAX_INT) && isInt(r.commit, 0, MAX_INT) && isInt(r.lastIndex, 0, MAX_INT) && isText(r.digest, 64))
        return ok(r as unknown as Reply);
      break;
  }
  return refuse(`bad ${String(r.status).slice(0, 16)} reply`);
}
