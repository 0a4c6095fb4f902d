/**
 * Lab 09 wire protocol: the C2 channel, inside CURVE (the server's ROUTER, the agents' DEALERs).
 * CURVE encrypts every frame and ZAP admits only known keys; on top of that, what ZAP cannot do:
 *
 * Agent → server (the ROUTER sees [routing id, ...]):
 *   HELLO    ["HELLO", agent key, box nonce, box]   every hello interval: "I am this key" (and alive)
 *   REPLY    ["REPLY", agent key, box nonce, box]   the answer to one command
 * Server → agent:
 *   COMMAND  ["COMMAND", body, signature]           body: the operator's signed command (operator.ts)
 *
 * agent key: the agent's CURVE public key, 32 raw bytes. box: nacl.box (Curve25519 + XSalsa20 +
 * Poly1305) of a MessagePack map, from the agent's CURVE secret key to the server's CURVE public
 * key. Only the holder of that agent secret can make a box the server opens with that agent key,
 * so a HELLO ties the ROUTER's routing id to a key, and a REPLY is bound to the agent's CURVE key
 * (and to the command's nonce): an agent cannot answer in another's name, although all of them
 * share one ROUTER and libzmq does not tell which connection a message came from.
 *
 * box nonce: 24 bytes, "lab09c2-" then 16 random bytes. The 8-byte prefix keeps these nonces apart
 * from CurveZMQ's own boxes made with the same long-term keys (their nonces start "VOUCH---").
 */
import { randomBytes } from "node:crypto";
import { asBuffer, type Checked, decodeMap, encode, isInt, isMap, isNumber, isText, ok, refuse } from "@zlabs/kit";
import nacl from "tweetnacl";
import { COMMAND_NAMES, type CommandName, type Output } from "./commands.ts";
import { COMMAND_NONCE_BYTES, SIGNATURE_BYTES, type SignedCommand } from "./operator.ts";

export const PROTOCOL_VERSION = 1;
export const HELLO = "HELLO";
export const REPLY = "REPLY";
export const COMMAND = "COMMAND";
export const KEY_BYTES = 32;
export const BOX_NONCE_BYTES = 24;
export const BOX_NONCE_PREFIX = Buffer.from("lab09c2-");
/** The largest message on the C2 sockets (a reply lists at most 50 names). */
export const MAX_C2_BYTES = 64 * 1024;
const MAX_TEXT = 256;
const MAX_LIST = 50;

const HELLO_FRAME = Buffer.from(HELLO);
const REPLY_FRAME = Buffer.from(REPLY);
const COMMAND_FRAME = Buffer.from(COMMAND);

export interface Sealed {
  agentKey: Buffer;
  nonce: Buffer;
  box: Buffer;
}

/** What the server's ROUTER takes from an agent. */
export type FromAgent =
  | ({ kind: "hello"; routingId: Buffer } & Sealed)
  | ({ kind: "reply"; routingId: Buffer } & Sealed)
  | { kind: "invalid"; routingId: Buffer | undefined; reason: string };

export function fromAgent(frames: readonly Buffer[]): FromAgent {
  const [routingId, word, agentKey, nonce, box] = frames;
  const invalid = (reason: string): FromAgent => ({ kind: "invalid", routingId, reason });
  if (!routingId?.length || !word) return invalid("no routing id or command");
  const kind = word.equals(HELLO_FRAME) ? "hello" : word.equals(REPLY_FRAME) ? "reply" : undefined;
  if (!kind) return invalid("neither HELLO nor REPLY");
  if (frames.length !== 5) return invalid(`${kind.toUpperCase()} has 4 frames, got ${frames.length - 1}`);
  if (agentKey?.length !== KEY_BYTES) return invalid("agent key is not 32 bytes");
  if (nonce?.length !== BOX_NONCE_BYTES || !nonce.subarray(0, 8).equals(BOX_NONCE_PREFIX)) return invalid("bad box nonce");
  if (!box || box.length < nacl.box.overheadLength) return invalid("box too short");
  return { kind, routingId, agentKey, nonce, box };
}

/** What an agent's DEALER takes from the server. */
export type FromServer = { kind: "command"; signed: SignedCommand } | { kind: "invalid"; reason: string };

export function fromServer(frames: readonly Buffer[]): FromServer {
  const [word, body, signature] = frames;
  if (frames.length !== 3 || !word?.equals(COMMAND_FRAME)) return { kind: "invalid", reason: `not a COMMAND (${frames.length} frames)` };
  if (!body?.length || signature?.length !== SIGNATURE_BYTES) return { kind: "invalid", reason: "empty body or a signature not 64 bytes" };
  return { kind: "command", signed: { body, signature } };
}

export function commandFrames(routingId: Buffer, signed: SignedCommand): Buffer[] {
  return [routingId, COMMAND_FRAME, signed.body, signed.signature];
}

/** A box from the agent's secret to the server's public key (both CURVE keys, raw). */
export function seal(
  kind: "hello" | "reply",
  inner: object,
  agent: { publicKey: Uint8Array; secretKey: Uint8Array },
  server: Uint8Array,
): Buffer[] {
  return new Sealer(agent, server).seal(kind, inner);
}

/** The plaintext of a sealed message, or undefined when it was not made by that agent key's holder. */
export function unseal(sealed: Sealed, serverSecret: Uint8Array): Buffer | undefined {
  return new Opener(serverSecret).open(sealed);
}

/**
 * The agent's side: the X25519 shared key with the server is computed once (nacl.box.before), not
 * per message; each box is then only XSalsa20-Poly1305.
 */
export class Sealer {
  private readonly shared: Uint8Array;
  private readonly agentKey: Buffer;

  constructor(agent: { publicKey: Uint8Array; secretKey: Uint8Array }, server: Uint8Array) {
    this.shared = nacl.box.before(server, agent.secretKey);
    this.agentKey = Buffer.from(agent.publicKey);
  }

  seal(kind: "hello" | "reply", inner: object): Buffer[] {
    const nonce = Buffer.concat([BOX_NONCE_PREFIX, randomBytes(BOX_NONCE_BYTES - BOX_NONCE_PREFIX.length)]);
    const box = nacl.box.after(encode(inner), nonce, this.shared);
    return [kind === "hello" ? HELLO_FRAME : REPLY_FRAME, this.agentKey, nonce, Buffer.from(box)];
  }
}

/** The most shared keys the server keeps (one per agent key it has opened a box from). */
const MAX_SHARED_KEYS = 10_000;

/** The server's side: a shared key per agent key, computed at its first box and kept (bounded). */
export class Opener {
  private readonly shared = new Map<string, Uint8Array>();

  constructor(private readonly serverSecret: Uint8Array) {}

  open(sealed: Sealed): Buffer | undefined {
    const id = sealed.agentKey.toString("latin1");
    let shared = this.shared.get(id);
    if (!shared) {
      if (this.shared.size >= MAX_SHARED_KEYS) this.shared.clear();
      shared = nacl.box.before(sealed.agentKey, this.serverSecret);
      this.shared.set(id, shared);
    }
    const opened = nacl.box.open.after(sealed.box, sealed.nonce, shared);
    return opened ? Buffer.from(opened) : undefined;
  }

  /** A revoked key's shared key goes. */
  forget(agentKey: Buffer): void {
    this.shared.delete(agentKey.toString("latin1"));
  }
}

export interface Hello {
  v: number;
  name: string;
  /** The agent's wall clock, ms. */
  sent: number;
}

export function decodeHello(plain: Buffer): Checked<Hello> {
  const d = decodeMap(plain, "hello");
  if (!d.ok) return d;
  const h = d.value;
  if (!isInt(h.v, PROTOCOL_VERSION, PROTOCOL_VERSION) || !isText(h.name, 64) || !isInt(h.sent)) return refuse("bad hello");
  return ok({ v: PROTOCOL_VERSION, name: h.name, sent: h.sent });
}

export type ReplyStatus = "done" | "refused" | "failed";

export interface Reply {
  v: number;
  /** The command's nonce: which command this answers. */
  nonce: Buffer;
  /** The command's name ("?" when the agent could not read it: refused before decoding). */
  command: CommandName | "?";
  status: ReplyStatus;
  /** The command's output when done, {reason} when refused or failed. */
  output: Output;
}

function isOutput(v: unknown): v is Output {
  if (!isMap(v)) return false;
  const entries = Object.entries(v);
  if (entries.length > 16) return false;
  return entries.every(
    ([, x]) => isText(x, MAX_TEXT) || isNumber(x, 0) || (Array.isArray(x) && x.length <= MAX_LIST && x.every((s) => isText(s, MAX_TEXT))),
  );
}

export function decodeReply(plain: Buffer): Checked<Reply> {
  const d = decodeMap(plain, "reply");
  if (!d.ok) return d;
  const r = d.value;
  const nonce = asBuffer(r.nonce);
  if (!isInt(r.v, PROTOCOL_VERSION, PROTOCOL_VERSION)) return refuse("bad version");
  if (nonce !== undefined && nonce.length !== COMMAND_NONCE_BYTES && nonce.length !== 0) return refuse("bad nonce");
  const command = r.command === "?" ? "?" : COMMAND_NAMES.find((n) => n === r.command);
  if (!command) return refuse("bad command");
  if (r.status !== "done" && r.status !== "refused" && r.status !== "failed") return refuse("bad status");
  if (!isOutput(r.output)) return refuse("bad output");
  return ok({ v: PROTOCOL_VERSION, nonce: nonce ?? Buffer.alloc(0), command, status: r.status, output: r.output });
}
