import {
  bindAll,
  type Logger,
  type LoopStats,
  peerLimits,
  publishView,
  receiveLoop,
  runLoops,
  SendQueue,
  UsageError,
  type View,
} from "@zlabs/kit";
import { XPublisher, XSubscriber } from "zeromq";
import { LastValueCache } from "./cache.ts";
import { decodeSample, decodeSubscription, MAX_SAMPLE_FRAME_BYTES, MAX_SUBSCRIPTION_BYTES } from "./protocol.ts";
import { brokerView, type Subscription } from "./view.ts";

export const MAX_TOPICS = 10_000;
/** How often the live view is published (the ages in it move on). */
export const VIEW_MS = 500;
/**
 * Subscription prefixes counted for the view at most: each distinct prefix a peer sends costs an
 * entry, so a peer inventing prefixes could otherwise grow the count without end. Past it,
 * subscriptions still work (libzmq keeps them); the view counts them as untracked.
 */
export const MAX_TRACKED_PREFIXES = 1000;
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
  /** Subscribers per prefix now, as the XPUB reports them (a subscriber that goes away is unsubscribed by libzmq). */
  readonly subscriptions = new Map<string, Subscription>();
  /** Subscriptions to prefixes past MAX_TRACKED_PREFIXES. */
  untracked = 0;

  constructor(
    private readonly config: BrokerConfig,
    private readonly log: Logger,
    /** Where the live view goes: the kit's publishView by default. */
    private readonly publish: (view: View) => void = publishView,
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
    this.publishView();
    try {
      await runLoops(
        signal,
        { sockets: [this.front, this.back], log, every: [{ ms: VIEW_MS, run: () => this.publishView() }] },
        () => receiveLoop(this.front, signal, (frames) => this.onSample(frames), { log, name: "front", stats: this.stats.front }),
        () => receiveLoop(this.back, signal, (frames) => this.onSubscription(frames), { log, name: "back", stats: this.stats.back }),
      );
    } finally {
      const { forwarded, replayed, malformed, badSubscriptions } = this;
      const cached = this.cache.size;
      log.info({ forwarded, replayed, malformed, badSubscriptions, cached, evicted: this.cache.evicted }, "broker stopped");
    }
  }

  /** The live view: the cache per site, the subscribers and what was replayed to them. */
  view(): View {
    const subscriptions = [...this.subscriptions.values()].sort((a, b) => a.prefix.localeCompare(b.prefix));
    if (this.untracked > 0) subscriptions.push({ prefix: "(untracked)", subscribers: this.untracked, replayed: 0 });
    const { forwarded, replayed, malformed, badSubscriptions } = this;
    return brokerView(this.cache.all(), subscriptions, this.cache.now(), {
      forwarded,
      replayed,
      malformed,
      badSubscriptions,
      evicted: this.cache.evicted,
      maxTopics: this.config.maxTopics,
    });
  }

  private publishView(): void {
    this.publish(this.view());
  }

  private async onSample(frames: Buffer[]): Promise<void> {
    const message = decodeSample(frames);
    switch (message.kind) {
      case "sample":
        this.cache.put(message.topic, frames[1] as Buffer, message.payload, message.header.source);
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
        const subscribers = this.countSubscription(message.prefix, +1, replay.length);
        this.log.info({ prefix: message.prefix, replayed: replay.length, subscribers }, "subscribed; cache replayed");
        this.publishView();
        break;
      }
      case "unsubscribe": {
        await this.upstream.send(frames[0] as Buffer);
        const subscribers = this.countSubscription(message.prefix, -1, 0);
        this.log.info({ prefix: message.prefix, subscribers }, "unsubscribed");
        this.publishView();
        break;
      }
      case "invalid":
        this.badSubscriptions += 1;
        this.log.warn({ reason: message.reason, total: this.badSubscriptions }, "bad subscription dropped");
        break;
    }
  }

  /** Counts a subscribe (+1) or unsubscribe (-1) of a prefix; returns its subscribers now. */
  private countSubscription(prefix: string, delta: 1 | -1, replayed: number): number {
    const known = this.subscriptions.get(prefix);
    if (!known) {
      if (delta < 0) {
        this.untracked = Math.max(0, this.untracked - 1);
        return 0;
      }
      if (this.subscriptions.size >= MAX_TRACKED_PREFIXES) {
        this.untracked += 1;
        return 1;
      }
      this.subscriptions.set(prefix, { prefix, subscribers: 1, replayed });
      return 1;
    }
    known.subscribers += delta;
    known.replayed += replayed;
    if (known.subscribers <= 0) this.subscriptions.delete(prefix);
    return Math.max(0, known.subscribers);
  }
}
