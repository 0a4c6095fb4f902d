/**
 * A ZAP handler (RFC 27/ZAP, the ZeroMQ Authentication Protocol) in the process's own ZeroMQ
 * context. libzmq asks it, at every handshake on a socket that has a ZAP domain (and on every
 * CURVE or PLAIN socket), whether the peer may connect: the handler is a ROUTER bound at
 * `inproc://zeromq.zap.01`, and libzmq's sessions are its clients.
 *
 * Request, as the ROUTER receives it (every frame raw bytes, no MessagePack):
 *
 *     [routing id] [""] ["1.0"] [request id] [domain] [address] [identity] [mechanism] [credentials...]
 *
 * mechanism is "NULL" (no credentials), "PLAIN" (username, password) or "CURVE" (the client's
 * long-term public key: 32 raw bytes, not Z85). identity is the server socket's own routing id
 * option (usually empty: it does not name the client). The reply:
 *
 *     [routing id] [""] ["1.0"] [request id] [status code] [status text] [user id] [metadata]
 *
 * status "200" (OK), "300" (temporary failure: libzmq drops the client silently and it retries),
 * "400" (authentication failure: the client gets ERROR and does not reconnect) or "500" (internal
 * error: same as 400 for the client). user id is empty unless 200. metadata is ZMTP properties:
 * per property a 1-byte name length, the name, a 4-byte big-endian value length, the value.
 * libzmq checks every frame of the reply (exactly 7 after the envelope, version "1.0", the
 * request id byte for byte, a 3-byte status among the four): anything else fails the handshake.
 *
 * The RFC: "The handler SHALL start before any server starts" and there is one per context.
 * `ZapHandler.start()` resolves once it is bound; the server refuses to bind before that.
 */
import { type Logger, type LoopStats, receiveLoop, runLoops } from "@zlabs/kit";
import { type Context, Router } from "zeromq";

export const ZAP_ENDPOINT = "inproc://zeromq.zap.01";
export const ZAP_VERSION = "1.0";
export const ZAP_MECHANISMS = ["NULL", "PLAIN", "CURVE"] as const;
export type ZapMechanism = (typeof ZAP_MECHANISMS)[number];
export type ZapStatus = 200 | 300 | 400 | 500;
/** A CURVE credential: the client's long-term public key, raw. */
export const CURVE_KEY_BYTES = 32;
/** Bounds on what a request may hold (libzmq sends far less): frames, and bytes per text frame. */
const MAX_REQUEST_FRAMES = 12;
const MAX_TEXT_BYTES = 255;
/** A ZAP request is small; anything bigger on the inproc socket is not one. */
export const MAX_ZAP_MESSAGE_BYTES = 64 * 1024;

export interface ZapRequest {
  routingId: Buffer;
  requestId: Buffer;
  domain: string;
  /** The peer's IP address as text ("127.0.0.1"). */
  address: string;
  identity: Buffer;
  mechanism: ZapMechanism;
  credentials: Buffer[];
}

export type FromZapClient =
  | { kind: "request"; request: ZapRequest }
  /** Malformed past the envelope: answered 500, so the session is not left waiting. */
  | { kind: "malformed"; routingId: Buffer; requestId: Buffer; reason: string }
  /** Not even an envelope with a request id: nobody to answer, dropped. */
  | { kind: "invalid"; reason: string };

const text = (frame: Buffer | undefined): string | undefined =>
  frame !== undefined && frame.length <= MAX_TEXT_BYTES ? frame.toString("latin1") : undefined;

/** The one decoder of the handler's ROUTER. */
export function fromZapClient(frames: readonly Buffer[]): FromZapClient {
  const [routingId, empty, version, requestId] = frames;
  if (routingId === undefined || routingId.length === 0 || empty?.length !== 0 || version === undefined || requestId === undefined)
    return { kind: "invalid", reason: `not a request in a ROUTER envelope (${frames.length} frames)` };
  if (requestId.length > MAX_TEXT_BYTES) return { kind: "invalid", reason: "request id over 255 bytes" };
  const malformed = (reason: string): FromZapClient => ({ kind: "malformed", routingId, requestId, reason });
  if (!version.equals(Buffer.from(ZAP_VERSION))) return malformed(`version is not "${ZAP_VERSION}"`);
  if (frames.length < 8) return malformed(`${frames.length - 2} frames after the envelope; a request has at least 6`);
  if (frames.length > MAX_REQUEST_FRAMES) return malformed(`${frames.length} frames: too many`);
  const [domain, address, identity, mechanismFrame] = [text(frames[4]), text(frames[5]), frames[6] as Buffer, text(frames[7])];
  if (domain === undefined || address === undefined || identity.length > MAX_TEXT_BYTES) return malformed("a frame over 255 bytes");
  const mechanism = ZAP_MECHANISMS.find((m) => m === mechanismFrame);
  if (!mechanism) return malformed(`unknown mechanism ${JSON.stringify(mechanismFrame ?? "")}`);
  const credentials = frames.slice(8);
  const expected = { NULL: 0, PLAIN: 2, CURVE: 1 }[mechanism];
  if (credentials.length !== expected) return malformed(`${mechanism} carries ${expected} credential frames, got ${credentials.length}`);
  if (mechanism === "CURVE" && credentials[0]?.length !== CURVE_KEY_BYTES) return malformed("a CURVE key is 32 bytes");
  return { kind: "request", request: { routingId, requestId, domain, address, identity, mechanism, credentials } };
}

/** ZMTP metadata (the same format as READY's properties): name length (1 byte), name, value length (4 bytes BE), value. */
export function encodeMetadata(properties: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(properties)) {
    const n = Buffer.from(name, "latin1");
    if (n.length === 0 || n.length > 255) throw new RangeError(`metadata name ${JSON.stringify(name)}: 1 to 255 bytes`);
    const v = Buffer.from(value, "utf8");
    const head = Buffer.alloc(5);
    head.writeUInt32BE(v.length, 1);
    parts.push(Buffer.from([n.length]), n, head.subarray(1), v);
  }
  return Buffer.concat(parts);
}

/** The inverse, for tests and for a reader of the wire; undefined when the bytes are not properties. */
export function decodeMetadata(bytes: Buffer): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < bytes.length) {
    const nameLength = bytes[at] as number;
    if (nameLength === 0 || at + 1 + nameLength + 4 > bytes.length) return undefined;
    const name = bytes.subarray(at + 1, at + 1 + nameLength).toString("latin1");
    const valueLength = bytes.readUInt32BE(at + 1 + nameLength);
    const start = at + 5 + nameLength;
    if (start + valueLength > bytes.length) return undefined;
    out[name] = bytes.subarray(start, start + valueLength).toString("utf8");
    at = start + valueLength;
  }
  return out;
}

export interface ZapDecision {
  status: ZapStatus;
  /** Status text: "OK", or why the client was refused (the client never sees it; our logs do). */
  text: string;
  /** Sent only with 200 (libzmq exposes it as the messages' "User-Id" property). */
  userId?: string;
  metadata?: Record<string, string>;
}

/** The 7 frames after the envelope, exactly as libzmq requires them. */
export function zapReply(routingId: Buffer, requestId: Buffer, decision: ZapDecision): Buffer[] {
  const ok = decision.status === 200;
  return [
    routingId,
    Buffer.alloc(0),
    Buffer.from(ZAP_VERSION),
    requestId,
    Buffer.from(String(decision.status)),
    Buffer.from(decision.text),
    Buffer.from(ok ? (decision.userId ?? "") : ""),
    ok && decision.metadata ? encodeMetadata(decision.metadata) : Buffer.alloc(0),
  ];
}

/** Who decides: the lab's policy (certificate store and address lists), or a test's. */
export type ZapPolicy = (request: ZapRequest) => ZapDecision | Promise<ZapDecision>;

export interface ZapStats {
  requests: number;
  allowed: number;
  denied: number;
  /** Malformed requests answered 500, and frames that were not a request at all (dropped). */
  malformed: number;
  dropped: number;
}

export interface ZapHandlerOptions {
  /** The context of the server sockets it serves: the default context unless given. */
  context?: Context;
  /** Called after each decision, for a view or a log of refusals. */
  onDecision?: (request: ZapRequest, decision: ZapDecision) => void;
}

/**
 * The handler: bind with `start()` (before any server socket), then `run(signal)` answers every
 * request with the policy's decision. A policy that throws is answered 500 (internal error), so a
 * session never waits for an answer that will not come (libzmq would stall it for the handshake
 * interval). Only one can be bound in a context: a second `start()` fails with EADDRINUSE.
 */
export class ZapHandler {
  private readonly socket: Router;
  private bound = false;
  readonly stats: ZapStats = { requests: 0, allowed: 0, denied: 0, malformed: 0, dropped: 0 };
  readonly loop: LoopStats = { received: 0, failed: 0 };

  constructor(
    private readonly policy: ZapPolicy,
    private readonly log: Logger,
    private readonly options: ZapHandlerOptions = {},
  ) {
    this.socket = new Router({
      linger: 0,
      maxMessageSize: MAX_ZAP_MESSAGE_BYTES,
      ...(options.context ? { context: options.context } : {}),
    });
  }

  /** True once bound and until closed: a server may bind its sockets only then. */
  get ready(): boolean {
    return this.bound && !this.socket.closed;
  }

  async start(): Promise<void> {
    try {
      await this.socket.bind(ZAP_ENDPOINT);
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new Error(
        code === "EADDRINUSE"
          ? `another ZAP handler is bound at ${ZAP_ENDPOINT} in this context (one per context)`
          : `cannot bind the ZAP handler: ${(err as Error).message}`,
      );
    }
    this.bound = true;
    this.log.info({ endpoint: ZAP_ENDPOINT }, "ZAP handler up");
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.bound) await this.start();
    const log = this.log;
    await runLoops(signal, { sockets: [this.socket], log }, () =>
      receiveLoop(this.socket, signal, (frames) => this.handle(fromZapClient(frames)), { log, name: "zap", stats: this.loop }),
    );
  }

  close(): void {
    this.socket.close();
  }

  private async handle(msg: FromZapClient): Promise<void> {
    switch (msg.kind) {
      case "invalid":
        this.stats.dropped += 1;
        this.log.warn({ reason: msg.reason, dropped: this.stats.dropped }, "not a ZAP request; dropped");
        return;
      case "malformed":
        this.stats.malformed += 1;
        this.log.warn({ reason: msg.reason, malformed: this.stats.malformed }, "malformed ZAP request; answered 500");
        await this.socket.send(zapReply(msg.routingId, msg.requestId, { status: 500, text: "Malformed request" }));
        return;
      case "request": {
        this.stats.requests += 1;
        let decision: ZapDecision;
        try {
          decision = await this.policy(msg.request);
        } catch (err) {
          this.log.error({ err }, "the ZAP policy failed; answering 500");
          decision = { status: 500, text: "Internal error" };
        }
        if (decision.status === 200) this.stats.allowed += 1;
        else this.stats.denied += 1;
        this.options.onDecision?.(msg.request, decision);
        await this.socket.send(zapReply(msg.request.routingId, msg.request.requestId, decision));
      }
    }
  }
}
