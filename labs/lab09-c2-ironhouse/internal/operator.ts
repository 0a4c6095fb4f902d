/**
 * Authorisation per command: what ZAP cannot give a ROUTER. ZAP decides who may connect; it does
 * not say which connection sent a message (zeromq.js exposes no per-message User-Id), and it says
 * nothing about who may ask an agent to do what. So each command is signed by an operator's
 * Ed25519 key (tweetnacl `sign`), names the agent it is for, and carries a nonce and an expiry.
 * An agent runs a command only when:
 *
 *   1. the signature verifies under one of the operator keys it trusts (checked on the raw bytes,
 *      before anything in them is decoded: unauthenticated bytes are never parsed);
 *   2. it names this agent's own CURVE public key (a command signed for another agent is refused);
 *   3. it has not expired, and its expiry is at most MAX_COMMAND_TTL_MS ahead (so the replay
 *      cache only has to remember nonces for that long);
 *   4. its nonce has never been seen (the replay cache, bounded: when full, commands are refused
 *      rather than a nonce forgotten early).
 *
 * Operator keys live in files shaped like zcert certificates (ZPL), with an `ed25519` section
 * in place of `curve`: `<name>` holds the public key, `<name>_secret` (mode 0600) the secret seed.
 */
import { open, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { asBuffer, type Checked, decodeMap, encode, isInt, isMap, isText, ok, refuse } from "@zlabs/kit";
import { parseZpl, SECRET_SUFFIX } from "lab19/certificates";
import { isZ85Key } from "lab19/keys";
import { z85Decode, z85Encode } from "lab19/z85";
import nacl from "tweetnacl";
import { COMMAND_NAMES, type CommandName, checkArgs } from "./commands.ts";

export const SIGNATURE_BYTES = 64;
export const COMMAND_NONCE_BYTES = 16;
/** A command may be valid for at most this long: the replay cache's horizon. */
export const MAX_COMMAND_TTL_MS = 60_000;
/** How far ahead of the agent's clock a command's issue time may be (clocks differ a little). */
export const MAX_CLOCK_SKEW_MS = 5_000;
/** The most nonces remembered at once; past it, new commands are refused until old ones expire. */
export const MAX_REPLAY_ENTRIES = 10_000;
/** The most operator keys an agent trusts (each verification tries them in turn). */
export const MAX_OPERATORS = 16;

export interface OperatorKeyPair {
  name: string;
  /** Ed25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** tweetnacl's 64-byte secret (seed + public key). Never logged. */
  secretKey: Uint8Array;
}

export interface SignedCommand {
  /** The signed bytes (a MessagePack map), and the detached signature over them. */
  body: Buffer;
  signature: Buffer;
}

export interface Command {
  v: number;
  /** Ed25519 public key of the operator who signed it. */
  operator: Buffer;
  /** The CURVE public key (Z85) of the one agent that may run it. */
  agent: string;
  nonce: Buffer;
  /** Wall-clock ms (agents and operators are on different hosts: a monotonic clock does not cross). */
  issued: number;
  expires: number;
  command: CommandName;
  args: Record<string, string>;
}

export function generateOperator(name: string): OperatorKeyPair {
  const pair = nacl.sign.keyPair();
  return { name, publicKey: pair.publicKey, secretKey: pair.secretKey };
}

export function signCommand(operator: OperatorKeyPair, fields: Omit<Command, "v" | "operator">): SignedCommand {
  const body = encode({ v: 1, operator: Buffer.from(operator.publicKey), ...fields });
  return { body, signature: Buffer.from(nacl.sign.detached(body, operator.secretKey)) };
}

/** The operator whose key verifies the signature, or undefined (forged, altered, or an operator not trusted). */
export function verifySignature(signed: SignedCommand, trusted: readonly Uint8Array[]): Uint8Array | undefined {
  if (signed.signature.length !== SIGNATURE_BYTES) return undefined;
  return trusted.find((key) => nacl.sign.detached.verify(signed.body, signed.signature, key));
}

/** The command inside a verified body; its fields are still checked (the operator may have a bug). */
export function decodeCommand(body: Buffer): Checked<Command> {
  const decoded = decodeMap(body, "command");
  if (!decoded.ok) return decoded;
  const c = decoded.value;
  const operator = asBuffer(c.operator);
  const nonce = asBuffer(c.nonce);
  if (!isInt(c.v, 1, 1)) return refuse(`unsupported version ${String(c.v)}`);
  if (operator?.length !== 32 || nonce?.length !== COMMAND_NONCE_BYTES) return refuse("bad operator or nonce");
  if (!isZ85Key(c.agent)) return refuse("agent is not a Z85 key");
  if (!isInt(c.issued) || !isInt(c.expires)) return refuse("bad issued or expires");
  const command = COMMAND_NAMES.find((n) => n === c.command);
  if (!command) return refuse(`unknown command ${JSON.stringify(isText(c.command, 64) ? c.command : typeof c.command)}`);
  if (!isMap(c.args)) return refuse("args is not a map");
  const args = checkArgs(command, c.args);
  if (!args.ok) return args;
  return ok({ v: 1, operator, agent: c.agent, nonce, issued: c.issued, expires: c.expires, command, args: args.value });
}

/**
 * Nonces seen, each kept until its command's expiry (after which the expiry check refuses the
 * command anyway). Bounded: when full of live nonces, `admit` refuses instead of forgetting one.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly max = MAX_REPLAY_ENTRIES) {}

  get size(): number {
    return this.seen.size;
  }

  /** "fresh" (now remembered), "replayed", or "full". */
  admit(nonce: Buffer, expires: number, now: number): "fresh" | "replayed" | "full" {
    const key = nonce.toString("hex");
    const known = this.seen.get(key);
    if (known !== undefined && known >= now) return "replayed";
    if (this.seen.size >= this.max) this.purge(now);
    if (this.seen.size >= this.max) return "full";
    this.seen.set(key, expires);
    return "fresh";
  }

  purge(now: number): void {
    for (const [key, expires] of this.seen) if (expires < now) this.seen.delete(key);
  }
}

export type Verdict = { ok: true; command: Command; operator: Uint8Array } | { ok: false; reason: string; nonce?: Buffer };

/** Steps 1 to 4 of the header comment, in order. `now` is the agent's wall clock. */
export function authorise(
  signed: SignedCommand,
  self: { agentKey: string; trusted: readonly Uint8Array[]; replay: ReplayCache },
  now: number,
): Verdict {
  const operator = verifySignature(signed, self.trusted);
  if (!operator) return { ok: false, reason: "bad signature: forged, altered, or not from a trusted operator" };
  const decoded = decodeCommand(signed.body);
  if (!decoded.ok) return { ok: false, reason: decoded.reason };
  const command = decoded.value;
  const nonce = command.nonce;
  if (!Buffer.from(operator).equals(command.operator)) return { ok: false, reason: "signed by another operator than it names", nonce };
  if (command.agent !== self.agentKey) return { ok: false, reason: "signed for another agent", nonce };
  if (command.expires < now) return { ok: false, reason: "expired", nonce };
  if (command.expires - now > MAX_COMMAND_TTL_MS || command.issued > now + MAX_CLOCK_SKEW_MS)
    return { ok: false, reason: "valid too far ahead (clock or TTL)", nonce };
  switch (self.replay.admit(nonce, command.expires, now)) {
    case "replayed":
      return { ok: false, reason: "replayed nonce", nonce };
    case "full":
      return { ok: false, reason: "replay cache full", nonce };
    case "fresh":
      return { ok: true, command, operator };
  }
}

// ---------------------------------------------------------------------------------------------
// Key files

export class KeyFileError extends Error {
  override name = "KeyFileError";
}

function formatOperator(pair: OperatorKeyPair, secret: boolean): string {
  const lines = [
    `#   ZeroMQ lab09 operator signing key (Ed25519)${secret ? ": SECRET" : ""}`,
    secret
      ? "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions."
      : "#   Agents that trust this operator hold this file.",
    "",
    "metadata",
    `    name = "${pair.name}"`,
    "ed25519",
    `    public-key = "${z85Encode(pair.publicKey)}"`,
  ];
  // The secret file holds the 32-byte seed; the 64-byte tweetnacl secret is derived from it again.
  if (secret) lines.push(`    secret-key = "${z85Encode(pair.secretKey.subarray(0, 32))}"`);
  return `${lines.join("\n")}\n`;
}

async function writeNew(path: string, text: string, mode: number, force: boolean): Promise<void> {
  const handle = await open(path, force ? "w" : "wx", mode).catch((err: NodeJS.ErrnoException) => {
    throw new KeyFileError(err.code === "EEXIST" ? `${path} exists: not overwriting it without --force` : `${path}: ${err.code}`);
  });
  try {
    await handle.chmod(mode);
    await handle.writeFile(text, "utf8");
  } finally {
    await handle.close();
  }
}

/** `<base>` (public, 0644) and `<base>_secret` (0600). */
export async function writeOperator(base: string, pair: OperatorKeyPair, force = false): Promise<void> {
  await writeNew(base + SECRET_SUFFIX, formatOperator(pair, true), 0o600, force);
  await writeNew(base, formatOperator(pair, false), 0o644, force);
}

async function readKeyFile(path: string): Promise<{ name: string; publicKey: Uint8Array; seed?: Uint8Array }> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new KeyFileError(`${path}: ${err.code === "ENOENT" ? "no such file" : err.code}`);
  });
  if (!info.isFile() || info.size > 64 * 1024) throw new KeyFileError(`${path}: not a key file`);
  const text = await readFile(path, "utf8");
  if ((path.endsWith(SECRET_SUFFIX) || /^\s*secret-key\s*=/m.test(text)) && (info.mode & 0o077) !== 0)
    throw new KeyFileError(
      `${path}: secret key file with mode 0${(info.mode & 0o777).toString(8)}: group or others may read it; chmod 600 ${path}`,
    );
  const parsed = parseZpl(text);
  if (!parsed.ok) throw new KeyFileError(`${path}: ${parsed.reason}`);
  let section = "";
  const values: Record<string, string> = {};
  for (const e of parsed.value) {
    if (e.depth === 0) section = e.name;
    else if (e.depth === 1) values[`${section}/${e.name}`] = e.value;
  }
  const pub = z85Decode(values["ed25519/public-key"] ?? "");
  if (!pub.ok || pub.value.length !== 32) throw new KeyFileError(`${path}: no ed25519/public-key of 32 bytes (is it an operator key?)`);
  const name = values["metadata/name"] ?? path;
  const secret = values["ed25519/secret-key"];
  if (secret === undefined) return { name, publicKey: new Uint8Array(pub.value) };
  const seed = z85Decode(secret);
  if (!seed.ok || seed.value.length !== 32) throw new KeyFileError(`${path}: ed25519/secret-key is not a 32-byte Z85 seed`);
  return { name, publicKey: new Uint8Array(pub.value), seed: new Uint8Array(seed.value) };
}

/** The operator's pair from `<base>_secret`, refused when its mode is loose or the seed does not give its public key. */
export async function readOperator(base: string): Promise<OperatorKeyPair> {
  const path = base.endsWith(SECRET_SUFFIX) ? base : base + SECRET_SUFFIX;
  const file = await readKeyFile(path);
  if (!file.seed) throw new KeyFileError(`${path}: no ed25519/secret-key`);
  const pair = nacl.sign.keyPair.fromSeed(file.seed);
  if (!Buffer.from(pair.publicKey).equals(file.publicKey)) throw new KeyFileError(`${path}: the secret key does not give the public key`);
  return { name: file.name, publicKey: pair.publicKey, secretKey: pair.secretKey };
}

/** The operators an agent trusts: every public operator file in a folder (secret files skipped). */
export async function readTrustedOperators(dir: string): Promise<{ name: string; publicKey: Uint8Array }[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new KeyFileError(`${dir}: ${err.code === "ENOENT" ? "no such folder" : err.code}`);
  });
  const out: { name: string; publicKey: Uint8Array }[] = [];
  for (const name of names.sort()) {
    if (name.startsWith(".") || name.endsWith(SECRET_SUFFIX)) continue;
    const file = await readKeyFile(join(dir, name));
    out.push({ name: file.name, publicKey: file.publicKey });
  }
  if (out.length === 0) throw new KeyFileError(`${dir}: no operator key: the agent would refuse every command`);
  if (out.length > MAX_OPERATORS) throw new KeyFileError(`${dir}: more than ${MAX_OPERATORS} operator keys`);
  return out;
}
