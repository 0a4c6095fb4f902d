import {
  bindAll,
  bytesForLog,
  type Logger,
  type LoopStats,
  peerLimits,
  type Receiver,
  receiveLoop,
  runLoops,
  SendQueue,
  type View,
  Wakeup,
} from "@zlabs/kit";
import { Router } from "zeromq";
import { EMPTY, type FromDevice, type FromWorker, fromDevice, fromWorker, HEARTBEAT, MAX_MESSAGE_BYTES } from "./protocol.ts";
import { receiverView, VIEW_MS, type WorkerRow } from "./view.ts";

export interface ReceiverConfig {
  /** ROUTER for devices. */
  front: string;
  /** ROUTER for workers. */
  back: string;
  heartbeatMs: number;
  liveness: number;
}

/** A worker in the idle line: its routing identity, and when its silence makes it dead. */
interface IdleWorker {
  identity: Buffer;
  expiresAt: number;
}

/** What the view shows of a worker (not the queue's logic: that is the idle line alone). */
interface WorkerSeen {
  name: string;
  state: WorkerRow["state"];
  since: number;
  heardAt: number;
  readings: number;
}

/** A worker the queue has lost stays in the view this long, then is forgotten. */
const FORGET_AFTER_MS = 30_000;
/** The view tracks at most this many workers (a peer inventing identities cannot grow it). */
const MAX_SEEN = 256;

/**
 * The central receiver: a Paranoid Pirate queue (the Guide's ppqueue). Workers announce themselves
 * with READY and wait in least-recently-used order with an expiry; a device's request goes to the
 * worker idle longest. The queue reads from devices only while a worker is idle, so a backlog waits
 * in ZeroMQ's queues (and on the devices) instead of in this process. Idle workers get a heartbeat
 * every interval; one silent for liveness intervals is purged and never handed a request.
 *
 * A worker is busy from the moment it gets a request until its reply (or any message) comes back:
 * as in ppqueue, any message from a worker puts it back at the end of the idle line, which is right
 * because our worker (like ppworker) does not heartbeat while it works, and answers every request,
 * even one it cannot parse.
 */
export class CentralReceiver {
  private readonly front = new Router({ linger: 0, ...peerLimits(MAX_MESSAGE_BYTES) });
  // mandatory, send timeout 0: a request for a worker whose connection has gone fails at once
  // (and goes to the next worker) instead of vanishing in libzmq.
  private readonly back = new Router({ linger: 0, mandatory: true, sendTimeout: 0, ...peerLimits(MAX_MESSAGE_BYTES) });
  private readonly toWorkers = new SendQueue(this.back);
  private readonly toDevices = new SendQueue(this.front);
  /**
   * The LRU line of idle workers. A Map keeps insertion order, so its first entry is the worker
   * idle longest; a worker heard from again is deleted and set, to the back of the line.
   */
  private readonly idle = new Map<string, IdleWorker>();
  /** Woken whenever a worker joins the line: the front end may be read, a request dispatched. */
  private readonly workerIdle = new Wakeup();
  readonly endpoints = { front: "", back: "" };
  /** Messages dropped as malformed. */
  dropped = 0;
  requests = 0;
  replies = 0;
  /** Every worker heard from lately, for the view. */
  private readonly seen = new Map<string, WorkerSeen>();
  readonly loops: Record<"front" | "back", LoopStats> = { front: { received: 0, failed: 0 }, back: { received: 0, failed: 0 } };

  constructor(
    private readonly config: ReceiverConfig,
    private readonly log: Logger,
    private readonly options: { now?: () => number; publish?: (view: View) => void } = {},
  ) {}

  private now(): number {
    return this.options.now?.() ?? performance.now();
  }

  async bind(): Promise<void> {
    Object.assign(this.endpoints, await bindAll(this.log, { front: [this.front, this.config.front], back: [this.back, this.config.back] }));
  }

  /** The idle workers' identities, longest idle first. */
  get idleWorkers(): string[] {
    return [...this.idle.values()].map((w) => w.identity.toString());
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.front) await this.bind();
    const log = this.log;
    await runLoops(
      signal,
      {
        sockets: [this.front, this.back],
        every: [
          { ms: this.config.heartbeatMs, run: () => this.heartbeat() },
          { ms: VIEW_MS, run: () => this.options.publish?.(this.view()) },
        ],
        log,
      },
      () => receiveLoop(this.back, signal, (frames) => this.onWorker(fromWorker(frames)), { log, name: "back", stats: this.loops.back }),
      () =>
        receiveLoop(this.devicesWhileWorkerIdle(signal), signal, (frames) => this.onDevice(fromDevice(frames), signal), {
          log,
          name: "front",
          stats: this.loops.front,
        }),
    );
  }

  private onWorker(msg: FromWorker): Promise<void> | undefined {
    switch (msg.kind) {
      case "ready":
        this.markIdle(msg.worker);
        this.log.info({ worker: msg.worker, idle: this.idle.size }, "worker ready");
        return;
      case "heartbeat":
        this.markIdle(msg.worker);
        return;
      case "reply":
        this.replies += 1;
        this.track(msg.worker, "idle").readings += 1;
        this.markIdle(msg.worker);
        // ROUTER without mandatory: a reply for a device that has gone is dropped by libzmq.
        return this.toDevices.send([msg.client, EMPTY, msg.body]);
      case "invalid":
        this.drop({ worker: msg.worker, reason: msg.reason }, "invalid message from a worker dropped");
        return;
    }
  }

  private async onDevice(msg: FromDevice, signal: AbortSignal): Promise<void> {
    switch (msg.kind) {
      case "request":
        return this.dispatch([msg.client, EMPTY, msg.body], signal);
      case "invalid":
        this.drop({ reason: msg.reason }, "malformed request from a device dropped");
        return;
    }
  }

  /** The front end as the receive loop sees it: read only once a worker is idle. */
  private devicesWhileWorkerIdle(signal: AbortSignal): Receiver {
    const front = this.front;
    return {
      receive: async () => {
        await this.workerIdle.until(() => this.liveIdleCount() > 0, signal);
        return front.receive();
      },
      get closed() {
        return front.closed;
      },
    };
  }

  /** To the worker idle longest; if it has gone meanwhile, to the next, waiting for one if need be. Never dropped. */
  private async dispatch(envelope: Buffer[], signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const worker = this.takeIdle();
      if (!worker) {
        await this.workerIdle.wait(signal);
        continue;
      }
      try {
        await this.toWorkers.send([worker.identity, ...envelope]);
        this.requests += 1;
        this.track(worker.identity, "busy");
        return;
      } catch (err) {
        if (!this.unreachable(err)) throw err;
        this.track(worker.identity, "gone");
        this.log.warn({ worker: worker.identity }, "worker gone; request goes to the next");
      }
    }
  }

  private markIdle(identity: Buffer): void {
    const key = identity.toString("latin1");
    this.idle.delete(key);
    this.idle.set(key, { identity, expiresAt: this.now() + this.config.heartbeatMs * this.config.liveness });
    this.track(identity, "idle").heardAt = this.now();
    this.workerIdle.wake();
  }

  private takeIdle(): IdleWorker | undefined {
    this.purge();
    for (const [key, worker] of this.idle) {
      this.idle.delete(key);
      return worker;
    }
    return undefined;
  }

  private liveIdleCount(): number {
    this.purge();
    return this.idle.size;
  }

  /** Expired workers leave the line before anyone looks at it, so a request never goes to one. */
  private purge(): void {
    const now = this.now();
    for (const [key, w] of this.idle) {
      if (w.expiresAt > now) continue;
      this.idle.delete(key);
      this.track(w.identity, "expired");
      this.log.warn({ worker: w.identity, idle: this.idle.size }, "worker expired");
    }
  }

  private heartbeat(): void {
    this.purge();
    this.forget();
    for (const [key, w] of this.idle) {
      this.toWorkers.send([w.identity, HEARTBEAT]).catch((err: unknown) => {
        if (!this.unreachable(err) || this.idle.get(key) !== w) return;
        this.idle.delete(key);
        this.track(w.identity, "gone");
        this.log.warn({ worker: w.identity, idle: this.idle.size }, "worker gone");
      });
    }
  }

  /** Notes a worker's state for the view. */
  private track(identity: Buffer, state: WorkerSeen["state"]): WorkerSeen {
    const key = identity.toString("latin1");
    const now = this.now();
    let w = this.seen.get(key);
    if (!w) {
      w = { name: bytesForLog(identity), state, since: now, heardAt: now, readings: 0 };
      this.seen.set(key, w);
      if (this.seen.size > MAX_SEEN) this.forget(true);
    } else if (w.state !== state) {
      w.state = state;
      w.since = now;
    }
    return w;
  }

  /** Lost workers leave the view after a while; with too many tracked, the longest silent go first. */
  private forget(crowded = false): void {
    const now = this.now();
    for (const [key, w] of this.seen) if (w.state !== "idle" && now - w.heardAt > FORGET_AFTER_MS) this.seen.delete(key);
    if (!crowded) return;
    const silent = [...this.seen].filter(([key]) => !this.idle.has(key)).sort(([, a], [, b]) => a.heardAt - b.heardAt);
    for (const [key] of silent.slice(0, this.seen.size - MAX_SEEN)) this.seen.delete(key);
  }

  /** The live view: the LRU line of idle workers, the busy ones, the ones just lost. */
  view(): View {
    const now = this.now();
    const line = [...this.idle.keys()];
    const workers = [...this.seen].map(([key, w]): WorkerRow => {
      const place = line.indexOf(key) + 1;
      // Taken from the line, its request on the way: busy already.
      const state = w.state === "idle" && place === 0 ? "busy" : w.state;
      return {
        name: w.name,
        state,
        place: state === "idle" ? place : undefined,
        forMs: now - w.since,
        readings: w.readings,
        heardMs: now - w.heardAt,
      };
    });
    return receiverView({
      front: this.endpoints.front,
      back: this.endpoints.back,
      expiryMs: this.config.heartbeatMs * this.config.liveness,
      workers,
      requests: this.requests,
      replies: this.replies,
      dropped: this.dropped,
    });
  }

  /** A send to a worker whose connection has gone (EHOSTUNREACH) or is full (EAGAIN). */
  private unreachable(err: unknown): boolean {
    const code = (err as { code?: string }).code;
    return code === "EHOSTUNREACH" || code === "EAGAIN";
  }

  private drop(fields: Record<string, unknown>, msg: string): void {
    this.dropped += 1;
    this.log.warn({ ...fields, dropped: this.dropped }, msg);
  }
}
