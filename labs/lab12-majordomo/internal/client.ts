import { type Logger, peerLimits } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { MdpAborted, MdpServiceError, MdpTimeout } from "./errors.ts";
import { clientReplyOf, clientRequest, isServiceName, MAX_BODY_FRAMES } from "./mdp.ts";

export { MdpAborted, MdpServiceError, MdpTimeout } from "./errors.ts";

export interface MdpClientOptions {
  /** The broker's endpoint (one ROUTER serves clients and workers). */
  broker: string;
  /** How long one attempt waits for the reply, ms. */
  timeoutMs: number;
  /** Attempts per request (1: no retry). */
  retries: number;
  /** The largest reply frame taken (libzmq drops the connection on more); the kit's 1 MiB by default. */
  maxMessageBytes?: number;
}

/** What a client counts, for its live view and the tests. */
export interface ClientStats {
  requests: number;
  replies: number;
  /** Attempts after a timeout, each on a fresh socket. */
  retries: number;
  /** Requests that failed with MdpTimeout. */
  timeouts: number;
  /** Broker error replies (MdpServiceError). */
  errors: number;
  /** Replies dropped: malformed, or for another service. */
  dropped: number;
}

const newStats = (): ClientStats => ({ requests: 0, replies: 0, retries: 0, timeouts: 0, errors: 0, dropped: 0 });

/**
 * The synchronous Majordomo client (the Guide's mdcliapi, with the Lazy Pirate rules): one request
 * at a time (calls made meanwhile wait their turn), each attempt waits `timeoutMs` for the reply;
 * after a timeout the socket is closed and a fresh one sends the request again (a reply to the old
 * socket can never be mistaken for the new one's), and after `retries` attempts the request fails
 * with MdpTimeout. A reply must carry "MDPC01" and the service asked for; anything else is
 * dropped and counted. The broker's error reply (mmi.error) fails the request with MdpServiceError.
 *
 * A DEALER rather than a REQ, so a reply that is not ours can be dropped without breaking the
 * socket's state machine; it sends the empty frame 0 itself, as RFC 7 asks of a DEALER client.
 */
export class MdpClient {
  private socket: Dealer | undefined;
  private turn: Promise<unknown> = Promise.resolve();
  private closed = false;
  readonly stats: ClientStats = newStats();

  constructor(
    private readonly options: MdpClientOptions,
    private readonly log: Logger,
  ) {}

  /** Sends `body` to `service` and resolves with the reply body. */
  request(service: string, body: Buffer[], signal?: AbortSignal): Promise<Buffer[]> {
    const run = this.turn.then(() => this.attempts(service, body, signal));
    this.turn = run.catch(() => {});
    return run;
  }

  close(): void {
    this.closed = true;
    this.dropSocket();
  }

  private open(): Dealer {
    const socket = new Dealer({
      linger: 0,
      sendTimeout: this.options.timeoutMs,
      ...peerLimits(this.options.maxMessageBytes),
    });
    socket.connect(this.options.broker);
    return socket;
  }

  private dropSocket(): void {
    if (this.socket && !this.socket.closed) this.socket.close();
    this.socket = undefined;
  }

  private async attempts(service: string, body: Buffer[], signal?: AbortSignal): Promise<Buffer[]> {
    if (!isServiceName(service)) throw new TypeError(`not a service name: ${JSON.stringify(service)}`);
    if (body.length === 0 || body.length > MAX_BODY_FRAMES) throw new RangeError(`a request body has 1 to ${MAX_BODY_FRAMES} frames`);
    this.stats.requests += 1;
    const { retries, timeoutMs } = this.options;
    const onAbort = () => this.dropSocket();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (let attempt = 1; attempt <= retries; attempt++) {
        if (this.closed || signal?.aborted) throw new MdpAborted(service);
        if (attempt > 1) this.stats.retries += 1;
        const reply = await this.attempt(service, body, signal);
        if (reply) {
          this.stats.replies += 1;
          return reply;
        }
        // Lazy Pirate: the socket may hold a late reply or a broken connection; start afresh.
        this.dropSocket();
        if (this.closed || signal?.aborted) throw new MdpAborted(service);
        if (attempt < retries) this.log.warn({ service, attempt, retries, timeoutMs }, "no reply in time; sending again on a new socket");
      }
      this.stats.timeouts += 1;
      throw new MdpTimeout(service, retries, timeoutMs);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** One attempt: the reply body, or undefined after `timeoutMs` without a valid reply. */
  private async attempt(service: string, body: Buffer[], signal?: AbortSignal): Promise<Buffer[] | undefined> {
    this.socket ??= this.open();
    const socket = this.socket;
    const deadline = performance.now() + this.options.timeoutMs;
    try {
      await socket.send(clientRequest(service, body));
      for (;;) {
        const remaining = Math.ceil(deadline - performance.now());
        if (remaining <= 0) return undefined;
        socket.receiveTimeout = remaining;
        const reply = clientReplyOf(await socket.receive());
        if (reply.kind === "invalid" || reply.service !== service) {
          this.stats.dropped += 1;
          this.log.warn({ service, reason: reply.kind === "invalid" ? reply.reason : `reply for "${reply.service}"` }, "bad reply dropped");
          continue;
        }
        if (reply.kind === "error") {
          this.stats.errors += 1;
          throw new MdpServiceError(service, reply.code, reply.reason);
        }
        return reply.body;
      }
    } catch (err) {
      if (err instanceof MdpServiceError) throw err;
      if (socket.closed || signal?.aborted || this.closed) return undefined;
      if ((err as { code?: string }).code === "EAGAIN") return undefined;
      throw err;
    }
  }
}
