import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, SendQueue, UsageError } from "@zlabs/kit";
import { XPublisher, XSubscriber } from "zeromq";
import { LastValueCache } from "./cache.ts";
import { decodeSample, decodeSubscription, MAX_SAMPLE_FRAME_BYTES, MAX_SUBSCRIPTION_BYTES } from "./protocol.ts";

export const MAX_TOPICS = 10_000;
const SUBSCRIBE_ALL = Buffer.from([1]);

export interface BrokerConfig {
  /** XSUB, bound: publishers connect here. */
  front: string;
  /** XPUB, bound: subscribers connect here. */
  back: string;
  maxTopics: number;
  /** 0: cached values never expire. */
  maxAgeMs: number;
  /** Publishers that bind, which the front connects to (besides those connecting to it). */
  publishers?: string[];
}

/**
 * The proxy with a Last Value Cache. Two loops over two sockets, as the Guide's lvcache:
 * - samples from publishers (XSUB) are validated, cached by topic and forwarded (XPUB);
 * - subscription events from subscribers (XPUB) are validated and forwarded upstream (XSUB), and
 *   a new subscription is answered at once with every cached sample under its prefix.
 * Upstream the proxy also holds a subscription to everything of its own, so publishers send every
 * topic: a cache cannot hold the last value of a topic it never receives.
 * The XPUB reports every subscribe and unsubscribe (verbosity allSubsUnsubs): a second subscriber
 * to a topic must get the replay too, and publishers count subscriptions per prefix, so every
 * subscribe forwarded upstream needs its unsubscribe.
 * Both sockets receive from peers, so both take no message over its limit: a sample's largest
 * frame on the front, a subscription's on the back (libzmq disconnects a peer that sends more).
 */
export class LvcBroker {
  private readonly front = new XSubscriber({ linger: 0, ...peerLimits(MAX_SAMPLE_FRAME_BYTES) });
  private readonly back = new XPublisher({ linger: 0, verbosity: "allSubsUnsubs", ...peerLimits(MAX_SUBSCRIPTION_BYTES) });
  private readonly downstream = new SendQueue(this.back);
  private readonly upstream = new SendQueue(this.front);
  readonly cache: LastValueCache;
  readonly endpoints = { front: "", back: "" };
  readonly stats = { front: { received: 0, failed: 0 } as LoopStats, back: { received: 0, failed: 0 } as LoopStats };
  forwarded = 0;
  replayed = 0;
  /** Samples dropped as malformed. */
  malformed = 0;
  /** Messages on the XPUB that were not a valid subscription: dropped, not forwarded upstream. */
  badSubscriptions = 0;

  constructor(
    private readonly config: BrokerConfig,
    private readonly log: Logger,
  ) {
    this.cache = new LastValueCache(config.maxTopics, config.maxAgeMs);
  }

  async bind(): Promise<void> {
    for (const endpoint of this.config.publishers ?? []) this.connectPublisher(endpoint);
    const log = this.log.child({ maxTopics: this.config.maxTopics, maxAgeMs: this.config.maxAgeMs });
    const bound = await bindAll(log, { front: [this.front, this.config.front], back: [this.back, this.config.back] });
    Object.assign(this.endpoints, bound);
    // The cache must see every topic, subscribed or not, so the proxy subscribes to everything
    // upstream. XSUB keeps that subscription and sends it to every publisher, whenever it connects.
    await this.upstream.send(SUBSCRIBE_ALL);
  }

  /** Connects the front to a publisher that binds its PUB (an XSUB may bind, connect, or both). */
  connectPublisher(endpoint: string): void {
    try {
      this.front.connect(endpoint);
    } catch (err) {
      throw new UsageError(`cannot connect to publisher ${endpoint}: ${(err as Error).message}`);
    }
    this.log.info({ endpoint }, "connected to a publisher");
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.front) await this.bind();
    const log = this.log;
    try {
      await runLoops(
        signal,
        { sockets: [this.front, this.back], log },
        () => receiveLoop(this.front, signal, (frames) => this.onSample(frames), { log, name: "front", stats: this.stats.front }),
        () => receiveLoop(this.back, signal, (frames) => this.onSubscription(frames), { log, name: "back", stats: this.stats.back }),
      );
    } finally {
      const { forwarded, replayed, malformed, badSubscriptions } = this;
      const cached = this.cache.size;
      log.info({ forwarded, replayed, malformed, badSubscriptions, cached, evicted: this.cache.evicted }, "broker stopped");
    }
  }

  private async onSample(frames: Buffer[]): Promise<void> {
    const message = decodeSample(frames);
    switch (message.kind) {
      case "sample":
        this.cache.put(message.topic, frames[1] as Buffer, message.payload);
        await this.downstream.send(frames);
        this.forwarded += 1;
        break;
      case "invalid":
        this.malformed += 1;
        this.log.warn({ reason: message.reason, total: this.malformed }, "malformed sample dropped");
        break;
    }
  }

  private async onSubscription(frames: Buffer[]): Promise<void> {
    const message = decodeSubscription(frames);
    switch (message.kind) {
      case "subscribe": {
        await this.upstream.send(frames[0] as Buffer);
        const replay = this.cache.matching(message.prefix);
        for (const s of replay) await this.downstream.send([Buffer.from(s.topic), s.header, s.payload]);
        this.replayed += replay.length;
        this.log.info({ prefix: message.prefix, replayed: replay.length }, "subscribed; cache replayed");
        break;
      }
      case "unsubscribe":
        await this.upstream.send(frames[0] as Buffer);
        this.log.debug({ prefix: message.prefix }, "unsubscribed");
        break;
      case "invalid":
        this.badSubscriptions += 1;
        this.log.warn({ reason: message.reason, total: this.badSubscriptions }, "bad subscription dropped");
        break;
    }
  }
}
