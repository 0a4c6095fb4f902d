/**
 * Lab 11 wire protocol.
 *
 * State link (Binary Star, as the Guide's bstar.c sends it): each server's PUB sends its own state
 * every heartbeat as ONE frame holding the state's decimal number in ASCII: "1" primary, "2" backup,
 * "3" active, "4" passive, and once more at once whenever a subscription arrives (our PUB is an
 * XPUB, so it sees the peer's SUB (re)connect). The peer's SUB subscribes to everything and reads the number as an event
 * (PEER_PRIMARY = 1 ... PEER_PASSIVE = 4). Anything else (more frames, other bytes) is dropped and
 * counted, and does not count as having heard the peer.
 *
 * Ticket service (ours; REQ client -> ROUTER front end, which sees [identity, "", body]):
 *   request  one frame, MessagePack map { v: 1, seq: 1..2^53-1, client: text 1..64 }
 *   reply    one frame, MessagePack map { v: 1, seq, ticket: 1..2^53-1, server: "primary" | "backup" }
 * The client sends the same request (same seq) again after a fail-over and checks the reply's seq.
 *
 * One decoder per socket returning a tagged union: fromPeer (the state SUB), fromSubscriber (the
 * state XPUB), fromClient (the front end ROUTER), fromServer (the client's REQ).
 */
import { type Checked, decodeMap, encode, isInt, isText, ok, refuse } from "@zlabs/kit";
import { type BStarState, STATE_NUMBER, STATES } from "./fsm.ts";

export const PROTOCOL_VERSION = 1;
/** The largest message the state SUB takes: a state is one byte; a little room, then libzmq drops the peer. */
export const MAX_STATE_BYTES = 64;
/** The largest request frame the front end takes. */
export const MAX_REQUEST_BYTES = 1024;
/** The largest reply frame a client takes. */
export const MAX_REPLY_BYTES = 1024;
export const MAX_CLIENT_CHARS = 64;
const MAX_IDENTITY_BYTES = 255;

export const EMPTY = Buffer.alloc(0);

/** The state frame a server publishes: its number in ASCII. */
export function stateFrame(state: BStarState): Buffer {
  return Buffer.from(String(STATE_NUMBER[state]));
}

export type FromPeer = { kind: "state"; state: BStarState } | { kind: "invalid"; reason: string };

/** What the state SUB takes from the peer's PUB. */
export function fromPeer(frames: Buffer[]): FromPeer {
  if (frames.length !== 1) return { kind: "invalid", reason: `${frames.length} frames, a state is one` };
  const frame = frames[0] as Buffer;
  if (frame.length !== 1) return { kind: "invalid", reason: `a state is one ASCII digit, got ${frame.length} bytes` };
  const n = frame[0] as number;
  const state = STATES.find((s) => STATE_NUMBER[s] + 0x30 === n);
  return state ? { kind: "state", state } : { kind: "invalid", reason: `unknown state byte 0x${n.toString(16).padStart(2, "0")}` };
}

export type FromSubscriber = { kind: "subscribe" | "unsubscribe"; topic: Buffer } | { kind: "invalid"; reason: string };

/** What the state XPUB takes from a subscriber: one frame, 0x01 (subscribe) or 0x00 (unsubscribe) and a topic. */
export function fromSubscriber(frames: Buffer[]): FromSubscriber {
  if (frames.length !== 1) return { kind: "invalid", reason: `${frames.length} frames, a subscription is one` };
  const frame = frames[0] as Buffer;
  const flag = frame[0];
  if (flag !== 0 && flag !== 1) return { kind: "invalid", reason: "not a subscription (first byte neither 0x00 nor 0x01)" };
  return { kind: flag === 1 ? "subscribe" : "unsubscribe", topic: frame.subarray(1) };
}

export interface TicketRequest {
  v: number;
  seq: number;
  client: string;
}

export interface TicketReply {
  v: number;
  seq: number;
  ticket: number;
  server: "primary" | "backup";
}

export function encodeRequest(r: TicketRequest): Buffer {
  return encode(r);
}

export function encodeReply(r: TicketReply): Buffer {
  return encode(r);
}

export function decodeRequest(frame: Buffer | undefined): Checked<TicketRequest> {
  const m = decodeMap(frame, "request");
  if (!m.ok) return m;
  const { v, seq, client } = m.value;
  if (v !== PROTOCOL_VERSION) return refuse(`unsupported version ${String(v)}`);
  if (!isInt(seq, 1)) return refuse("seq must be a whole number >= 1");
  if (!isText(client, MAX_CLIENT_CHARS, 1)) return refuse(`client must be text of 1 to ${MAX_CLIENT_CHARS} characters`);
  return ok({ v, seq, client });
}

export function decodeReply(frame: Buffer | undefined): Checked<TicketReply> {
  const m = decodeMap(frame, "reply");
  if (!m.ok) return m;
  const { v, seq, ticket, server } = m.value;
  if (v !== PROTOCOL_VERSION) return refuse(`unsupported version ${String(v)}`);
  if (!isInt(seq, 1)) return refuse("seq must be a whole number >= 1");
  if (!isInt(ticket, 1)) return refuse("ticket must be a whole number >= 1");
  if (server !== "primary" && server !== "backup") return refuse("server must be primary or backup");
  return ok({ v, seq, ticket, server });
}

export type FromClient =
  | { kind: "request"; identity: Buffer; request: TicketRequest }
  | { kind: "invalid"; identity: Buffer | undefined; reason: string };

/** What the front end ROUTER takes from a REQ client: [identity, "", request]. */
export function fromClient(frames: Buffer[]): FromClient {
  const [identity, delimiter, body] = frames;
  if (!identity || identity.length === 0 || identity.length > MAX_IDENTITY_BYTES)
    return { kind: "invalid", identity: undefined, reason: "no routing identity" };
  if (frames.length !== 3 || delimiter?.length !== 0)
    return { kind: "invalid", identity, reason: `expected ["", request] after the identity, got ${frames.length - 1} frames` };
  const request = decodeRequest(body);
  return request.ok ? { kind: "request", identity, request: request.value } : { kind: "invalid", identity, reason: request.reason };
}

export type FromServer = { kind: "reply"; reply: TicketReply } | { kind: "invalid"; reason: string };

/** What the client's REQ takes from a server (REQ strips the delimiter). */
export function fromServer(frames: Buffer[]): FromServer {
  if (frames.length !== 1) return { kind: "invalid", reason: `${frames.length} frames, a reply is one` };
  const reply = decodeReply(frames[0]);
  return reply.ok ? { kind: "reply", reply: reply.value } : { kind: "invalid", reason: reply.reason };
}
