/**
 * Why a client watches its socket's handshake events: libzmq retries a CURVE handshake that fails
 * for ever. A wrong server key looks, from the client, like a server that hangs up after HELLO
 * (handshake:error:other EPIPE, then connect:retry), every 100-200 ms, with no end and no error
 * returned to the application; a send() just queues. So the client turns the monitor events into
 * this small state machine and gives up with a clear reason:
 *
 * - at once on a failure libzmq will not retry either: a mechanism mismatch (we speak CURVE and
 *   the server NULL, or the other way) or an authentication refusal from the server's ZAP handler
 *   (status 400 or 500);
 * - when TCP connects but no handshake has succeeded for `deadlineMs` since the first such connect
 *   (the wrong-key loop, or a server that never finishes a handshake).
 *
 * A server that is simply down (no TCP connect at all) is not a reason to give up: the client
 * waits for it, as ZeroMQ clients do, and its view says so.
 */
export type WatchState = "connecting" | "handshaking" | "secure";

export type WatchEvent =
  | { type: "connect" }
  | { type: "handshake" }
  | { type: "handshake-failed"; code: string; fatal: boolean }
  | { type: "disconnect" };

export type WatchVerdict = { kind: "waiting" } | { kind: "secure" } | { kind: "give-up"; reason: string };

/** Monitor event names (zeromq.js socket.events) and errors to a WatchEvent, or undefined for the others. */
export function watchEventOf(event: {
  type: string;
  error?: { code?: string; status?: number; message?: string };
}): WatchEvent | undefined {
  switch (event.type) {
    case "connect":
      return { type: "connect" };
    case "handshake":
      return { type: "handshake" };
    case "disconnect":
      return { type: "disconnect" };
    case "handshake:error:protocol": {
      const code = event.error?.code ?? "protocol error";
      return { type: "handshake-failed", code, fatal: code === "ERR_ZMTP_MECHANISM_MISMATCH" };
    }
    case "handshake:error:auth": {
      const status = event.error?.status ?? 0;
      return { type: "handshake-failed", code: `ZAP ${status}`, fatal: status === 400 || status === 500 };
    }
    case "handshake:error:other":
      return { type: "handshake-failed", code: event.error?.code ?? "handshake error", fatal: false };
    default:
      return undefined;
  }
}

/** The client's own mechanism: NULL is the plaintext experiment. */
export type ClientMechanism = "CURVE" | "NULL";

function explain(code: string, mechanism: ClientMechanism): string {
  if (code === "ERR_ZMTP_MECHANISM_MISMATCH") {
    return "the server and this client use different security mechanisms (one CURVE, the other NULL/plaintext); libzmq does not retry";
  }
  if (code.startsWith("ZAP ")) return `the server's authentication handler refused this client's key (${code}); libzmq does not retry`;
  // A CURVE server reads a NULL greeting and closes; when it closes before this side has read its
  // greeting, libzmq reports only EPIPE here and retries.
  if (mechanism === "NULL")
    return "the server hangs up after our greeting, which is what a CURVE server does to a plaintext client (libzmq retries that for ever)";
  return "the server hangs up after our HELLO, which is what a wrong --server-key looks like (libzmq retries that for ever)";
}

export class HandshakeWatch {
  state: WatchState = "connecting";
  /** Handshakes that succeeded, and that failed, since the start. */
  succeeded = 0;
  failed = 0;
  /** Failures since the last success. */
  streak = 0;
  lastError: string | undefined;
  private pendingSince: number | undefined;
  private fatal: string | undefined;

  constructor(
    readonly deadlineMs: number,
    readonly mechanism: ClientMechanism = "CURVE",
  ) {}

  on(event: WatchEvent, now: number): void {
    switch (event.type) {
      case "connect":
        this.state = "handshaking";
        this.pendingSince ??= now;
        break;
      case "handshake":
        this.state = "secure";
        this.succeeded += 1;
        this.streak = 0;
        this.pendingSince = undefined;
        break;
      case "handshake-failed":
        this.failed += 1;
        this.streak += 1;
        this.lastError = event.code;
        if (event.fatal) this.fatal ??= `handshake failed with ${event.code}: ${explain(event.code, this.mechanism)}`;
        break;
      case "disconnect":
        this.state = "connecting";
        break;
    }
  }

  /** How long a handshake has been pending, in ms (0 when none is). */
  pendingMs(now: number): number {
    return this.pendingSince === undefined ? 0 : now - this.pendingSince;
  }

  check(now: number): WatchVerdict {
    if (this.fatal) return { kind: "give-up", reason: this.fatal };
    if (this.state === "secure") return { kind: "secure" };
    if (this.pendingSince !== undefined && now - this.pendingSince >= this.deadlineMs) {
      const why =
        this.streak === 0
          ? "TCP connected but no handshake finished (is the peer a ZeroMQ CURVE server?)"
          : `${this.streak} handshakes failed (last: ${this.lastError}); ${explain(this.lastError ?? "", this.mechanism)}`;
      return { kind: "give-up", reason: `no ${this.mechanism} handshake within ${this.deadlineMs} ms: ${why}` };
    }
    return { kind: "waiting" };
  }
}
