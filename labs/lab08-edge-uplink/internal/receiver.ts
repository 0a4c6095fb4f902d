import { IdleQueue, type Logger, runLoops, SendQueue } from "@zlabs/kit";
import { Router } from "zeromq";
import { HEARTBEAT, isEnvelope, workerCommand } from "./protocol.ts";

/** The Guide's Paranoid Pirate figures: a heartbeat a second, three missed and a peer is dead. */
export const HEARTBEAT_INTERVAL_MS = 1000;
export const HEARTBEAT_LIVENESS = 3;

export interface ReceiverConfig {
  /** ROUTER for devices. */
  front: string;
  /** ROUTER for workers. */
  back: string;
  heartbeatMs: number;
  liveness: number;
}

interface IdleWorker {
  identity: Buffer;
  expiresAt: number;
}

/**
 * The central receiver: a Paranoid Pirate queue. Workers announce themselves with READY and are
 * kept in least-recently-used order with an expiry; a device's request goes to the worker idle
 * longest. The queue reads from devices only while a worker is idle, so a backlog waits in
 * ZeroMQ's queues (and on the devices) instead of in this process. Idle workers get a heartbeat
 * every interval; one silent for liveness intervals is purged and never handed a request.
 *
 * A worker is busy from the moment it gets a request until its reply (or any message) comes
 * back: like the Guide's ppqueue, any message from a worker puts it back at the end of the idle
 * list, which is right because our worker does not heartbeat while it is busy.
 */
export class CentralReceiver {
  private readonly front = new Router({ linger: 0 });
  private readonly back = new Router({ linger: 0 });
  private readonly toWorkers = new SendQueue(this.back);
  private readonly toDevices = new SendQueue(this.front);
  private readonly idle = new IdleQueue<IdleWorker>();
  readonly endpoints = { front: "", back: "" };
  dropped = 0;

  constructor(
    private readonly config: ReceiverConfig,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async bind(): Promise<void> {
    await this.front.bind(this.config.front);
    await this.back.bind(this.config.back);
    this.endpoints.front = this.front.lastEndpoint ?? this.config.front;
    this.endpoints.back = this.back.lastEndpoint ?? this.config.back;
    this.log.info(this.endpoints, "listening");
  }

  get idleWorkers(): string[] {
    return this.idle.keys();
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.front) await this.bind();
    await runLoops(
      signal,
      {
        sockets: [this.front, this.back],
        every: [{ ms: this.config.heartbeatMs, run: () => this.heartbeat() }],
        onAbort: () => this.idle.wake(),
      },
      () => this.workerLoop(signal),
      () => this.deviceLoop(signal),
    );
  }

  private async workerLoop(signal: AbortSignal): Promise<void> {
    try {
      for await (const [identity, ...rest] of this.back) {
        if (!identity || rest.length === 0) continue;
        if (rest.length === 1) this.onCommand(identity, rest[0] as Buffer);
        else if (isEnvelope(rest)) {
          this.markIdle(identity);
          await this.toDevices.send(rest);
        } else this.drop({ worker: identity.toString("hex"), frames: rest.length }, "malformed message from a worker dropped");
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  private onCommand(identity: Buffer, frame: Buffer): void {
    const cmd = workerCommand(frame);
    const worker = identity.toString("hex");
    if (cmd.kind === "invalid") {
      this.drop({ worker, reason: cmd.reason }, "invalid message from a worker dropped");
      return;
    }
    if (cmd.kind === "ready") {
      // A READY from a worker we list: it restarted under the same identity. Listed once.
      this.log.info({ worker, idle: this.idle.size + (this.idle.has(worker) ? 0 : 1) }, "worker ready");
    }
    this.markIdle(identity);
  }

  private markIdle(identity: Buffer): void {
    const key = identity.toString("hex");
    this.idle.push(key, { identity, expiresAt: this.now() + this.config.heartbeatMs * this.config.liveness });
  }

  /** Devices are read only while a worker is idle: the queue never buffers requests itself. */
  private async deviceLoop(signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted) {
        await this.available(signal);
        if (signal.aborted) return;
        const frames = await this.front.receive();
        if (!isEnvelope(frames)) {
          this.drop({ frames: frames.length }, "malformed request from a device dropped");
          continue;
        }
        // The worker seen a moment ago may have expired meanwhile: wait for another, never drop.
        let worker = this.takeIdle();
        while (!worker && !signal.aborted) {
          await this.available(signal);
          worker = this.takeIdle();
        }
        if (worker) await this.toWorkers.send([worker.identity, ...frames]);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  /** Expired workers leave the line first, so a request never goes to one. */
  private available(signal: AbortSignal): Promise<void> {
    this.purge();
    return this.idle.available(signal);
  }

  private takeIdle(): IdleWorker | undefined {
    this.purge();
    return this.idle.shift();
  }

  private purge(): void {
    const now = this.now();
    for (const [key, w] of this.idle.entries()) {
      if (w.expiresAt > now) continue;
      this.idle.delete(key);
      this.log.warn({ worker: key, idle: this.idle.size }, "worker expired");
    }
  }

  private heartbeat(): void {
    this.purge();
    for (const [, w] of this.idle.entries()) void this.toWorkers.send([w.identity, HEARTBEAT]).catch(() => {});
  }

  private drop(fields: Record<string, unknown>, msg: string): void {
    this.dropped += 1;
    this.log.warn({ ...fields, total: this.dropped }, msg);
  }
}
