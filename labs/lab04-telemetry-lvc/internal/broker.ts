import { type Logger, runLoops, SendQueue } from "@zlabs/kit";
import { XPublisher, XSubscriber } from "zeromq";
import { LastValueCache } from "./cache.ts";
import { checkSample, subscriptionEvent } from "./protocol.ts";

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
 * - subscription events from subscribers (XPUB) are forwarded upstream (XSUB), and a new
 *   subscription is answered at once with every cached sample under its prefix.
 * Upstream the proxy also holds a subscription to everything of its own, so publishers send every
 * topic: a cache cannot hold the last value of a topic it never receives.
 * The XPUB reports every subscribe and unsubscribe (verbosity allSubsUnsubs): a second subscriber
 * to a topic must get the replay too, and publishers count subscriptions per prefix, so every
 * subscribe forwarded upstream needs its unsubscribe.
 */
export class LvcBroker {
  private readonly front = new XSubscriber({ linger: 0 });
  private readonly back = new XPublisher({ linger: 0, verbosity: "allSubsUnsubs" });
  private readonly downstream = new SendQueue(this.back);
  private readonly upstream = new SendQueue(this.front);
  readonly cache: LastValueCache;
  readonly endpoints = { front: "", back: "" };
  forwarded = 0;
  replayed = 0;
  malformed = 0;

  constructor(
    private readonly config: BrokerConfig,
    private readonly log: Logger,
  ) {
    this.cache = new LastValueCache(config.maxTopics, config.maxAgeMs);
  }

  async bind(): Promise<void> {
    await this.front.bind(this.config.front);
    await this.back.bind(this.config.back);
    this.endpoints.front = this.front.lastEndpoint ?? this.config.front;
    this.endpoints.back = this.back.lastEndpoint ?? this.config.back;
    // The cache must see every topic, subscribed or not, so the proxy subscribes to everything
    // upstream. XSUB keeps that subscription and sends it to every publisher that connects.
    await this.upstream.send(SUBSCRIBE_ALL);
    for (const endpoint of this.config.publishers ?? []) this.connectPublisher(endpoint);
    this.log.info({ ...this.endpoints, maxTopics: this.config.maxTopics, maxAgeMs: this.config.maxAgeMs }, "listening");
  }

  /** Connects the front to a publisher that binds its PUB (an XSUB may bind, connect, or both). */
  connectPublisher(endpoint: string): void {
    this.front.connect(endpoint);
    this.log.info({ endpoint }, "connected to a publisher");
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.front) await this.bind();
    try {
      await runLoops(
        signal,
        { sockets: [this.front, this.back] },
        () => this.samples(signal),
        () => this.subscriptions(signal),
      );
    } finally {
      const { forwarded, replayed, malformed } = this;
      this.log.info({ forwarded, replayed, malformed, cached: this.cache.size, evicted: this.cache.evicted }, "broker stopped");
    }
  }

  private async samples(signal: AbortSignal): Promise<void> {
    try {
      for await (const frames of this.front) {
        const checked = checkSample(frames);
        if (!checked.ok) {
          this.malformed += 1;
          this.log.warn({ reason: checked.reason, total: this.malformed }, "malformed sample dropped");
          continue;
        }
        this.cache.put(checked.topic, frames[1] as Buffer, frames[2] as Buffer);
        await this.downstream.send(frames);
        this.forwarded += 1;
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  private async subscriptions(signal: AbortSignal): Promise<void> {
    try {
      for await (const [frame] of this.back) {
        const event = frame ? subscriptionEvent(frame) : undefined;
        if (!event) continue;
        await this.upstream.send(frame as Buffer);
        if (!event.subscribe) {
          this.log.debug({ prefix: event.prefix }, "unsubscribed");
          continue;
        }
        const replay = this.cache.matching(event.prefix);
        for (const s of replay) await this.downstream.send([Buffer.from(s.topic), s.header, s.payload]);
        this.replayed += replay.length;
        this.log.info({ prefix: event.prefix, replayed: replay.length }, "subscribed; cache replayed");
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }
}
