/**
 * A CHP client's updates: KVSET on a publisher connected to EVERY server's collector (model 6: the
 * passive server holds them on its pending list), and the acknowledgement: the same uuid coming back
 * in a KVPUB from a server's publisher.
 *
 * "Acknowledged" in this lab: a server published the update (with its sequence number) and the
 * sender saw that KVPUB. The active server publishes only after applying it; the passive server has
 * it from the client directly (held) or from the active's publisher (applied), so it survives the
 * active server's death.
 *
 * The publisher is an XPUB: it sees each collector's subscription arrive, so the first KVSET is not
 * sent before the servers listen (a PUB drops what it sends before a subscription reaches it).
 */
import { type Logger, peerLimits, receiveLoop, runLoops, SendQueue, Wakeup } from "@zlabs/kit";
import { Subscriber, XPublisher } from "zeromq";
import type { Server } from "./clone-client.ts";
import { encodeKvMsg, type KvMsg, newUuid, uuidText } from "./kvmsg.ts";
import { fromPublisher } from "./protocol.ts";

export interface Ack {
  seq: bigint;
  /** The server's publisher that sent it. */
  server: string;
}

export class Updater {
  // What an XPUB receives are the collectors' subscriptions: one byte and a topic, small.
  private readonly pub = new XPublisher({ linger: 1000, sendHighWaterMark: 100_000, ...peerLimits(1024) });
  private readonly subs: Subscriber[];
  private readonly queue = new SendQueue(this.pub);
  private readonly waiting = new Map<string, (ack: Ack) => void>();
  private readonly subscribed = new Wakeup();
  /** Subscriptions heard from collectors (one per server connection). */
  collectors = 0;
  /** Updates published by a server that nobody here waits for any more (acked by the other server first). */
  lateAcks = 0;

  constructor(
    private readonly servers: Server[],
    private readonly log: Logger,
  ) {
    this.pub.verbosity = "allSubs";
    this.subs = servers.map(() => new Subscriber({ linger: 0, receiveHighWaterMark: 100_000, ...peerLimits(4096) }));
  }

  /** Runs the subscription and acknowledgement loops until the signal aborts. */
  async run(signal: AbortSignal, keyPrefix = ""): Promise<void> {
    for (const s of this.servers) this.pub.connect(s.collector);
    this.subs.forEach((sub, i) => {
      sub.subscribe(keyPrefix);
      sub.connect((this.servers[i] as Server).publisher);
    });
    await runLoops(
      signal,
      { sockets: [this.pub, ...this.subs], onAbort: () => this.subscribed.wake(), log: this.log },
      () =>
        receiveLoop(
          this.pub,
          signal,
          (frames) => {
            if (frames[0]?.[0] === 1) {
              this.collectors += 1;
              this.subscribed.wake();
            }
          },
          { log: this.log, name: "collectors" },
        ),
      ...this.subs.map(
        (sub, i) => () => receiveLoop(sub, signal, (frames) => this.onPublished(frames, i), { log: this.log, name: "acks" }),
      ),
    );
  }

  /** Until `n` collectors have subscribed (or timeoutMs): the servers that are up now hear what follows. */
  async untilListening(n: number, timeoutMs: number, signal: AbortSignal): Promise<number> {
    const timer = setTimeout(() => this.subscribed.wake(), timeoutMs);
    const deadline = performance.now() + timeoutMs;
    try {
      while (this.collectors < n && !signal.aborted && performance.now() < deadline) await this.subscribed.wait(signal);
    } finally {
      clearTimeout(timer);
    }
    return this.collectors;
  }

  /** Sends a KVSET (a fresh uuid unless it has one) and resolves with its acknowledgement, or undefined after timeoutMs. */
  async set(msg: KvMsg, timeoutMs: number): Promise<Ack | undefined> {
    if (msg.uuid.length === 0) msg.uuid = newUuid();
    const id = uuidText(msg.uuid);
    const acked = new Promise<Ack | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(id, (ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
    });
    await this.queue.send(encodeKvMsg(msg));
    return acked;
  }

  /** Sends without waiting for the acknowledgement (the bench). */
  send(msg: KvMsg): Promise<void> {
    return this.queue.send(encodeKvMsg(msg));
  }

  private onPublished(frames: Buffer[], i: number): void {
    const msg = fromPublisher(frames);
    if (msg.kind !== "kvpub" || msg.msg.uuid.length === 0) return;
    const id = uuidText(msg.msg.uuid);
    const resolve = this.waiting.get(id);
    if (!resolve) {
      this.lateAcks += 1;
      return;
    }
    this.waiting.delete(id);
    resolve({ seq: msg.msg.seq, server: (this.servers[i] as Server).publisher });
  }
}
