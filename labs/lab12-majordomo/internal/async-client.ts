import { type Logger, peerLimits, SendQueue } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { MdpAborted, MdpServiceError, MdpTimeout } from "./errors.ts";
import { clientReplyOf, clientRequest, isServiceName, MAX_BODY_FRAMES } from "./mdp.ts";

export { MdpAborted, MdpServiceError, MdpTimeout } from "./errors.ts";

export interface MdpAsyncClientOptions {
  broker: string;
  /** How long each request waits for its reply, ms (no retry: see the class comment). */
  timeoutMs: number;
  maxMessageBytes?: number;
}

export interface AsyncClientStats {
  requests: number;
  replies: number;
  timeouts: number;
  errors: number;
  /** Replies dropped: malformed, or with a tag no request waits for (a late reply after its timeout). */
  dropped: number;
}

interface Pending {
  service: string;
  resolve: (body: Buffer[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** The tag frame: 4 bytes, big-endian, never empty (an empty frame would be the delimiter). */
const TAG_BYTES = 4;

/**
 * The asynchronous Majordomo client (the Guide's mdcliapi2, plus matching): one DEALER, any
 * number of requests in flight. Each request is sent as [tag, "", "MDPC01", service, body...]: the
 * tag is a routing frame in front of the RFC's empty frame 0, like the envelope a proxy adds, and
 * our broker hands the reply back behind the same envelope, so the reply
 * [tag, "", "MDPC01", service, body...] is matched to its request by the tag (and checked against
 * its service). A reply whose tag waits no more (it timed out) is dropped and counted.
 *
 * No retries: a request that gets no reply in `timeoutMs` fails with MdpTimeout, and the caller
 * decides. (The Guide's point: an async client cannot survive a broker crash without numbering
 * and resending its requests; ours numbers them, and leaves the resending to the caller, who
 * knows whether the service is idempotent.) A broker written from the RFC alone (the Guide's
 * mdbroker) expects the empty frame first and cannot serve this client; use MdpClient with it.
 */
export class MdpAsyncClient {
  private readonly socket: Dealer;
  private readonly sends: SendQueue;
  private readonly pending = new Map<number, Pending>();
  private nextTag = 1;
  private loop: Promise<void> | undefined;
  readonly stats: AsyncClientStats = { requests: 0, replies: 0, timeouts: 0, errors: 0, dropped: 0 };

  constructor(
    private readonly options: MdpAsyncClientOptions,
    private readonly log: Logger,
  ) {
    this.socket = new Dealer({ linger: 0, ...peerLimits(options.maxMessageBytes) });
    this.socket.connect(options.broker);
    this.sends = new SendQueue(this.socket);
  }

  /** Requests sent and not yet answered, timed out or cancelled. */
  get inFlight(): number {
    return this.pending.size;
  }

  request(service: string, body: Buffer[], signal?: AbortSignal): Promise<Buffer[]> {
    if (!isServiceName(service)) return Promise.reject(new TypeError(`not a service name: ${JSON.stringify(service)}`));
    if (body.length === 0 || body.length > MAX_BODY_FRAMES)
      return Promise.reject(new RangeError(`a request body has 1 to ${MAX_BODY_FRAMES} frames`));
    if (this.socket.closed || signal?.aborted) return Promise.reject(new MdpAborted(service));
    const tag = this.takeTag();
    this.stats.requests += 1;
    this.loop ??= this.receive();
    const tagFrame = Buffer.alloc(TAG_BYTES);
    tagFrame.writeUInt32BE(tag);
    return new Promise<Buffer[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stats.timeouts += 1;
        this.settle(tag)?.reject(new MdpTimeout(service, 1, this.options.timeoutMs));
      }, this.options.timeoutMs);
      const entry: Pending = { service, resolve, reject, timer };
      if (signal) {
        entry.signal = signal;
        entry.onAbort = () => this.settle(tag)?.reject(new MdpAborted(service));
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      this.pending.set(tag, entry);
      this.sends.send(clientRequest(service, body, [tagFrame])).catch((err: unknown) => {
        this.settle(tag)?.reject(this.socket.closed ? new MdpAborted(service) : (err as Error));
      });
    });
  }

  /** Closes the socket; every request in flight fails with MdpAborted. */
  close(): void {
    if (!this.socket.closed) this.socket.close();
    for (const tag of [...this.pending.keys()]) {
      const p = this.settle(tag);
      p?.reject(new MdpAborted(p.service));
    }
  }

  private takeTag(): number {
    // 2^32 tags before one comes round again; skip any still in flight.
    do this.nextTag = this.nextTag >= 0xffffffff ? 1 : this.nextTag + 1;
    while (this.pending.has(this.nextTag));
    return this.nextTag;
  }

  private settle(tag: number): Pending | undefined {
    const p = this.pending.get(tag);
    if (!p) return undefined;
    this.pending.delete(tag);
    clearTimeout(p.timer);
    if (p.onAbort) p.signal?.removeEventListener("abort", p.onAbort);
    return p;
  }

  private async receive(): Promise<void> {
    while (!this.socket.closed) {
      let frames: Buffer[];
      try {
        frames = await this.socket.receive();
      } catch (err) {
        if (this.socket.closed) return;
        if ((err as { code?: string }).code === "EAGAIN") continue;
        this.log.error({ err }, "async client: receive failed");
        return;
      }
      this.onReply(frames);
    }
  }

  private onReply(frames: Buffer[]): void {
    const reply = clientReplyOf(frames, 1);
    const tagFrame = reply.kind === "invalid" ? undefined : reply.envelope[0];
    const tag = tagFrame?.length === TAG_BYTES ? tagFrame.readUInt32BE(0) : undefined;
    const waiting = tag === undefined ? undefined : this.pending.get(tag);
    if (reply.kind === "invalid" || tag === undefined || !waiting || waiting.service !== reply.service) {
      this.stats.dropped += 1;
      const reason =
        reply.kind === "invalid" ? reply.reason : !waiting ? "no request waits for its tag (late?)" : "reply for another service";
      this.log.debug({ reason, dropped: this.stats.dropped }, "reply dropped");
      return;
    }
    this.settle(tag);
    if (reply.kind === "error") {
      this.stats.errors += 1;
      waiting.reject(new MdpServiceError(reply.service, reply.code, reply.reason));
    } else {
      this.stats.replies += 1;
      waiting.resolve(reply.body);
    }
  }
}
