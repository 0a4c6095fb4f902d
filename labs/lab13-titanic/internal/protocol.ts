import { randomBytes } from "node:crypto";

/**
 * RFC 9/TSP, the Titanic Service Protocol: three MDP services and their frames. Everything here
 * travels as MDP bodies through the broker; TSP adds no framing of its own.
 */
export const TITANIC_REQUEST = "titanic.request";
export const TITANIC_REPLY = "titanic.reply";
export const TITANIC_CLOSE = "titanic.close";
export const TITANIC_SERVICES = [TITANIC_REQUEST, TITANIC_REPLY, TITANIC_CLOSE] as const;

/** The only status codes TSP allows. */
export const OK = "200";
export const PENDING = "300";
export const UNKNOWN = "400";
export const ERROR = "500";
export type Status = typeof OK | typeof PENDING | typeof UNKNOWN | typeof ERROR;

/** The longest target service name Titanic stores (MDP service names are short printable strings). */
export const MAX_SERVICE_BYTES = 255;
/** The most body frames and bytes one stored request may have. */
export const MAX_BODY_FRAMES = 64;
export const MAX_BODY_BYTES = 1024 * 1024;

const HEX32 = /^[0-9A-Fa-f]{32}$/;
const PRINTABLE = /^[\x21-\x7e]+$/;

/** A fresh uuid as TSP writes it (and the Guide's libuuid does): 32 upper-case hex characters. */
export function newUuid(): string {
  return randomBytes(16).toString("hex").toUpperCase();
}

/**
 * A uuid frame from a peer: 32 hex characters, or undefined. The returned form is upper case, and it
 * only ever keys an in-memory index or becomes 16 raw bytes in the journal: never a file name.
 */
export function parseUuid(frame: Buffer | undefined): string | undefined {
  if (frame?.length !== 32) return undefined;
  const text = frame.toString("latin1");
  return HEX32.test(text) ? text.toUpperCase() : undefined;
}

export function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid, "hex");
}

export function uuidFromBytes(key: Buffer): string {
  return key.toString("hex").toUpperCase();
}

/** A status frame: three digits, optionally a space and text the client must ignore. */
export function parseStatus(frame: Buffer | undefined): Status | undefined {
  if (!frame || frame.length < 3) return undefined;
  const text = frame.toString("latin1");
  if (text.length > 3 && text[3] !== " ") return undefined;
  const code = text.slice(0, 3);
  return code === OK || code === PENDING || code === UNKNOWN || code === ERROR ? code : undefined;
}

export function statusFrame(code: Status): Buffer {
  return Buffer.from(code, "latin1");
}

/** A target service name: printable ASCII, no spaces, bounded; and never one of Titanic's own. */
export function isTargetService(name: string): boolean {
  return (
    name.length > 0 && name.length <= MAX_SERVICE_BYTES && PRINTABLE.test(name) && !name.startsWith("titanic.") && !name.startsWith("mmi.")
  );
}

/** What titanic.request received, as one tagged union: the handler is a switch on `kind`. */
export type TitanicRequest = { kind: "request"; service: string; body: Buffer[] } | { kind: "invalid"; reason: string };

export function decodeTitanicRequest(frames: Buffer[]): TitanicRequest {
  if (frames.length < 2) return { kind: "invalid", reason: `titanic.request needs a service and a body (${frames.length} frames)` };
  if (frames.length - 1 > MAX_BODY_FRAMES)
    return { kind: "invalid", reason: `body of ${frames.length - 1} frames, over ${MAX_BODY_FRAMES}` };
  const [serviceFrame, ...body] = frames as [Buffer, ...Buffer[]];
  if (serviceFrame.length > MAX_SERVICE_BYTES) return { kind: "invalid", reason: `service name of ${serviceFrame.length} bytes` };
  const service = serviceFrame.toString("latin1");
  if (!isTargetService(service)) return { kind: "invalid", reason: "service name not printable, or titanic.* / mmi.*" };
  const bytes = body.reduce((n, f) => n + f.length, 0);
  if (bytes > MAX_BODY_BYTES) return { kind: "invalid", reason: `body of ${bytes} bytes, over ${MAX_BODY_BYTES}` };
  return { kind: "request", service, body };
}

/** titanic.reply and titanic.close both take exactly one frame, the uuid. */
export type UuidRequest = { kind: "uuid"; uuid: string } | { kind: "invalid"; reason: string };

export function decodeUuidRequest(frames: Buffer[]): UuidRequest {
  if (frames.length !== 1) return { kind: "invalid", reason: `expected 1 frame (the uuid), got ${frames.length}` };
  const uuid = parseUuid(frames[0]);
  return uuid ? { kind: "uuid", uuid } : { kind: "invalid", reason: "uuid is not 32 hexadecimal characters" };
}

/** A reply from a Titanic service, as a TSP client sees it. */
export type TspReply =
  | { kind: "ok"; frames: Buffer[] }
  | { kind: "pending" }
  | { kind: "unknown" }
  | { kind: "error" }
  | { kind: "invalid"; reason: string };

export function decodeTspReply(frames: Buffer[]): TspReply {
  const status = parseStatus(frames[0]);
  switch (status) {
    case OK:
      return { kind: "ok", frames: frames.slice(1) };
    case PENDING:
      return { kind: "pending" };
    case UNKNOWN:
      return { kind: "unknown" };
    case ERROR:
      return { kind: "error" };
    default:
      return { kind: "invalid", reason: "no TSP status frame" };
  }
}
