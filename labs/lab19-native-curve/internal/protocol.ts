/**
 * Lab 19 wire protocol: a threat-intel hash lookup, carried over CURVE (RFC 26/CurveZMQ as libzmq
 * implements it; libzmq does the handshake and the encryption, this file only defines the
 * frames inside). The frames are raw bytes in a REQ envelope, so a pyzmq REQ socket is a client.
 *
 * Client (DEALER, or any REQ) -> server (ROUTER sees [routing id, ...]):
 *   CHECK    ["", "CHECK", request id (1-16 bytes, opaque), SHA-256 digest (exactly 32 bytes)]
 * Server -> client:
 *   VERDICT  ["", "VERDICT", request id (echoed), "clean" | "malicious", label (UTF-8, 0-64 bytes)]
 *   ERROR    ["", "ERROR", request id (echoed), reason (UTF-8, at most 120 bytes)]
 *            for a request in an envelope with a usable request id but a bad command or digest;
 *            anything else is dropped and counted, with no answer.
 *
 * Every frame is at most MAX_MESSAGE_BYTES: the server's ROUTER and the client's DEALER set
 * maxMessageSize to that plus CURVE's 33 bytes (below), so libzmq drops a peer that sends more
 * before any of it reaches our code.
 */
import { type Checked, ok, refuse } from "@zlabs/kit";

export const CHECK = "CHECK";
export const VERDICT = "VERDICT";
export const ERROR = "ERROR";
export const DIGEST_BYTES = 32;
export const MAX_REQUEST_ID_BYTES = 16;
export const MAX_LABEL_BYTES = 64;
export const MAX_REASON_BYTES = 120;
/** The largest frame either side accepts: a CHECK is about 60 bytes; 4 KiB leaves room and no more. */
export const MAX_MESSAGE_BYTES = 4096;
/**
 * With CURVE, libzmq applies ZMQ_MAXMSGSIZE to the encrypted MESSAGE command as it arrives, not
 * to the frame we get after decryption: the command adds 33 bytes (flags 1, "\x07MESSAGE" 8,
 * nonce 8, Poly1305 tag 16). Measured: with maxMessageSize 1000, 967 bytes pass and 968 drop
 * the connection. The handshake's commands count too (HELLO is 200 bytes, INITIATE about 250 and
 * more with metadata), so a limit under a few hundred bytes stops every CURVE handshake.
 */
export const CURVE_MESSAGE_OVERHEAD = 33;
/** The maxMessageSize of our CURVE sockets: frames up to MAX_MESSAGE_BYTES once decrypted. */
export const CURVE_MAX_MESSAGE_SIZE = MAX_MESSAGE_BYTES + CURVE_MESSAGE_OVERHEAD;

export const EMPTY = Buffer.alloc(0);
const CHECK_FRAME = Buffer.from(CHECK);
const VERDICT_FRAME = Buffer.from(VERDICT);
const ERROR_FRAME = Buffer.from(ERROR);

export type Verdict = "clean" | "malicious";
const VERDICTS: readonly Verdict[] = ["clean", "malicious"];

/** A routing id as libzmq gives it: 1 to 255 bytes. */
const isRoutingId = (frame: Buffer | undefined): frame is Buffer => frame !== undefined && frame.length > 0 && frame.length <= 255;
const isRequestId = (frame: Buffer | undefined): frame is Buffer =>
  frame !== undefined && frame.length > 0 && frame.length <= MAX_REQUEST_ID_BYTES;

/** What the server's ROUTER takes from a client. */
export type FromClient =
  | { kind: "check"; client: Buffer; requestId: Buffer; digest: Buffer }
  /** `requestId` is set when the request can still be answered with an ERROR. */
  | { kind: "invalid"; client: Buffer | undefined; requestId?: Buffer; reason: string };

export function fromClient(frames: readonly Buffer[]): FromClient {
  const client = frames[0];
  if (!isRoutingId(client)) return { kind: "invalid", client: undefined, reason: "no routing id" };
  if (frames.length < 2 || frames[1]?.length !== 0)
    return { kind: "invalid", client, reason: "not in a REQ envelope (no empty delimiter)" };
  const requestId = frames[3];
  if (!isRequestId(requestId)) return { kind: "invalid", client, reason: `request id must be 1-${MAX_REQUEST_ID_BYTES} bytes` };
  const command = frames[2] as Buffer;
  if (!command.equals(CHECK_FRAME)) return { kind: "invalid", client, requestId, reason: "unknown command (expected CHECK)" };
  if (frames.length !== 5)
    return { kind: "invalid", client, requestId, reason: `CHECK has 4 frames after the routing id, got ${frames.length - 1}` };
  const digest = frames[4] as Buffer;
  if (digest.length !== DIGEST_BYTES)
    return { kind: "invalid", client, requestId, reason: `digest must be ${DIGEST_BYTES} bytes, got ${digest.length}` };
  return { kind: "check", client, requestId, digest };
}

export function checkFrames(requestId: Buffer, digest: Buffer): Buffer[] {
  return [EMPTY, CHECK_FRAME, requestId, digest];
}

/** UTF-8 cut to at most `max` bytes without splitting a character. */
export function utf8Within(text: string, max: number): Buffer {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

export function verdictFrames(client: Buffer, requestId: Buffer, verdict: Verdict, label: string): Buffer[] {
  return [client, EMPTY, VERDICT_FRAME, requestId, Buffer.from(verdict), utf8Within(label, MAX_LABEL_BYTES)];
}

export function errorFrames(client: Buffer, requestId: Buffer, reason: string): Buffer[] {
  return [client, EMPTY, ERROR_FRAME, requestId, utf8Within(reason, MAX_REASON_BYTES)];
}

/** What the client's DEALER takes from the server. */
export type FromServer =
  | { kind: "verdict"; requestId: Buffer; verdict: Verdict; label: string }
  | { kind: "error"; requestId: Buffer; reason: string }
  | { kind: "invalid"; reason: string };

function text(frame: Buffer, max: number, what: string): Checked<string> {
  if (frame.length > max) return refuse(`${what} longer than ${max} bytes`);
  const value = frame.toString("utf8");
  if (!Buffer.from(value, "utf8").equals(frame)) return refuse(`${what} is not UTF-8`);
  return ok(value);
}

export function fromServer(frames: readonly Buffer[]): FromServer {
  if (frames[0]?.length !== 0) return { kind: "invalid", reason: "no empty delimiter" };
  const command = frames[1];
  const requestId = frames[2];
  if (!isRequestId(requestId)) return { kind: "invalid", reason: "bad request id" };
  if (command?.equals(VERDICT_FRAME)) {
    if (frames.length !== 5) return { kind: "invalid", reason: `VERDICT has 5 frames, got ${frames.length}` };
    const verdict = (frames[3] as Buffer).toString("latin1") as Verdict;
    if (!VERDICTS.includes(verdict)) return { kind: "invalid", reason: "unknown verdict" };
    const label = text(frames[4] as Buffer, MAX_LABEL_BYTES, "label");
    if (!label.ok) return { kind: "invalid", reason: label.reason };
    return { kind: "verdict", requestId, verdict, label: label.value };
  }
  if (command?.equals(ERROR_FRAME)) {
    if (frames.length !== 4) return { kind: "invalid", reason: `ERROR has 4 frames, got ${frames.length}` };
    const reason = text(frames[3] as Buffer, MAX_REASON_BYTES, "reason");
    if (!reason.ok) return { kind: "invalid", reason: reason.reason };
    return { kind: "error", requestId, reason: reason.value };
  }
  return { kind: "invalid", reason: "unknown command" };
}
