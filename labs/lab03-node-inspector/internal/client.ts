import { randomBytes } from "node:crypto";
import { type Logger, peerLimits } from "@zlabs/kit";
import { Request as RequestSocket } from "zeromq";
import { CLIENT_MAX_MESSAGE_BYTES, decodeReply, encodeRequest, PROTOCOL_VERSION, type Reply } from "./protocol.ts";

/** The Guide's Lazy Pirate figures: wait 2.5 s for a reply (keep it above 1 s), try 3 times. */
export const REQUEST_TIMEOUT_MS = 2500;
export const REQUEST_RETRIES = 3;

export interface ClientConfig {
  endpoint: string;
  timeoutMs: number;
  retries: number;
}

export class NoReplyError extends Error {
  override name = "NoReplyError";
}

export interface AttemptFailure {
  attempt: number;
  id: string;
  reason: "timeout" | "malformed reply" | "reply to another request";
}

/**
 * A Lazy Pirate client: REQ with a receive timeout, and on a timeout the socket is closed
 * (linger 0, so the unanswered request is discarded) and a fresh one takes its place. A REQ
 * socket that timed out can never send again (it still waits for its reply), so reopening is
 * the only way on. Every attempt carries a new id, and only a reply with that id is accepted.
 */
export class LazyPirateClient {
  private readonly prefix = randomBytes(4).toString("hex");
  private counter = 0;

  constructor(
    readonly config: ClientConfig,
    private readonly log: Logger,
    /** Called after each attempt that got no acceptable reply. */
    public onFailure: (failure: AttemptFailure) => void = () => {},
  ) {}

  /** Called as each attempt goes out (a live view follows the attempts with it). */
  onAttempt: (attempt: { attempt: number; retries: number; id: string }) => void = () => {};

  async request(cmd: string, args?: Record<string, unknown>, signal?: AbortSignal): Promise<Reply> {
    const { endpoint, timeoutMs, retries } = this.config;
    for (let attempt = 1; attempt <= retries; attempt++) {
      signal?.throwIfAborted();
      const id = `${this.prefix}-${++this.counter}`;
      this.onAttempt({ attempt, retries, id });
      const failure = await this.attempt(id, cmd, args, signal);
      if (typeof failure !== "string") return failure;
      this.onFailure({ attempt, id, reason: failure });
      const last = attempt === retries;
      this.log.warn(
        { endpoint, cmd, id, attempt, retries, timeoutMs, reason: failure },
        last ? "no reply; giving up" : "no reply; retrying",
      );
    }
    throw new NoReplyError(`no reply from ${endpoint} to "${cmd}" after ${retries} attempts of ${timeoutMs} ms`);
  }

  /** One attempt on its own socket: the reply, or why there was none. */
  private async attempt(
    id: string,
    cmd: string,
    args: Record<string, unknown> | undefined,
    signal?: AbortSignal,
  ): Promise<Reply | AttemptFailure["reason"]> {
    const socket = new RequestSocket({
      linger: 0,
      receiveTimeout: this.config.timeoutMs,
      sendTimeout: this.config.timeoutMs,
      ...peerLimits(CLIENT_MAX_MESSAGE_BYTES),
    });
    const onAbort = () => socket.close();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      socket.connect(this.config.endpoint);
      await socket.send(encodeRequest({ v: PROTOCOL_VERSION, id, cmd, ...(args ? { args } : {}) }));
      const message = decodeReply(await socket.receive());
      if (message.kind === "invalid") {
        this.log.warn({ id, reason: message.reason }, "malformed reply dropped");
        return "malformed reply";
      }
      if (message.reply.id !== id) {
        this.log.warn({ expected: id, got: message.reply.id }, "reply to another request dropped");
        return "reply to another request";
      }
      return message.reply;
    } catch (err) {
      signal?.throwIfAborted();
      if ((err as { code?: string }).code === "EAGAIN") return "timeout";
      throw err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (!socket.closed) socket.close();
    }
  }
}
