import { randomBytes } from "node:crypto";
import { closeSockets, type Logger, pause, SendQueue } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { decodeReading, encodeAck, HEARTBEAT, isEnvelope, READY, workerCommand } from "./protocol.ts";
import type { ReadingStore } from "./store.ts";

/** Reconnect back-off after losing the queue: 1 s, doubling up to 32 s, reset by any traffic. */
export const INTERVAL_INIT_MS = 1000;
export const INTERVAL_MAX_MS = 32_000;

export interface WorkerConfig {
  id: string;
  queue: string;
  heartbeatMs: number;
  liveness: number;
  backoffInitMs: number;
  backoffMaxMs: number;
  /** Extra time per reading, ms: a slow worker for experiments and fault tests. */
  delayMs: number;
}

/**
 * A Paranoid Pirate worker: a DEALER that says READY, heartbeats while idle, and stores readings.
 * If the queue stays silent for liveness intervals it is presumed dead: the worker closes its
 * socket (linger 0, so heartbeats queued for the dead queue are thrown away, not delivered in a
 * burst later), waits, and reconnects on a fresh socket with a new READY. The wait doubles each
 * time and is reset by any message from the queue.
 */
export class IngestWorker {
  private socket: Dealer | undefined;
  private out: SendQueue | undefined;
  private lastHeard = 0;
  private busy = false;
  /** Whether the queue has said anything on the current socket. */
  private answered = false;
  private backoffMs: number;
  stored = 0;
  duplicates = 0;
  reconnects = 0;

  constructor(
    private readonly config: WorkerConfig,
    private readonly store: ReadingStore,
    private readonly log: Logger,
  ) {
    this.backoffMs = config.backoffInitMs;
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => closeSockets(this.socket);
    signal.addEventListener("abort", onAbort, { once: true });
    const tick = setInterval(() => this.tick(), this.config.heartbeatMs);
    try {
      while (!signal.aborted) {
        await this.connect();
        await this.serve(signal);
        if (signal.aborted) break;
        // serve() returns when tick() closed the socket: the queue is presumed dead.
        this.log.warn({ delayMs: this.backoffMs, attempt: this.reconnects + 1 }, "queue silent; reconnecting after a pause");
        if (!(await pause(this.backoffMs, signal))) break;
        this.backoffMs = Math.min(this.backoffMs * 2, this.config.backoffMaxMs);
        this.reconnects += 1;
      }
    } finally {
      clearInterval(tick);
      signal.removeEventListener("abort", onAbort);
      closeSockets(this.socket);
    }
  }

  private async connect(): Promise<void> {
    // A fresh identity per socket: the queue must never mistake a new connection for the old one.
    this.socket = new Dealer({ linger: 0, routingId: `${this.config.id}-${randomBytes(3).toString("hex")}` });
    this.out = new SendQueue(this.socket);
    this.answered = false;
    this.socket.connect(this.config.queue);
    this.lastHeard = performance.now();
    await this.out.send(READY);
    this.log.info({ queue: this.config.queue, identity: this.socket.routingId }, "ready sent");
  }

  private async serve(signal: AbortSignal): Promise<void> {
    const socket = this.socket as Dealer;
    try {
      for await (const frames of socket) {
        this.heard();
        if (frames.length === 1) {
          const cmd = workerCommand(frames[0] as Buffer);
          if (cmd.kind === "invalid") this.log.warn({ reason: cmd.reason }, "invalid message from the queue dropped");
          continue;
        }
        if (!isEnvelope(frames)) {
          this.log.warn({ frames: frames.length }, "malformed request dropped");
          continue;
        }
        await this.handle(frames, signal);
      }
    } catch (err) {
      if (!signal.aborted && !socket.closed) throw err;
    }
  }

  private async handle([client, empty, body]: [Buffer, Buffer, Buffer], signal: AbortSignal): Promise<void> {
    const reading = decodeReading(body);
    if (!reading.ok) {
      // No reply: the device's retry is the remedy, and garbage earns no acknowledgement.
      this.log.warn({ reason: reading.reason }, "malformed reading dropped");
      return;
    }
    this.busy = true;
    try {
      const r = reading.value;
      this.log.debug({ device: r.device, seq: r.seq }, "reading received");
      if (this.config.delayMs > 0 && !(await pause(this.config.delayMs, signal))) return;
      const status = this.store.put(r, this.config.id);
      if (status === "stored") this.stored += 1;
      else this.duplicates += 1;
      this.log.info({ device: r.device, seq: r.seq, status }, "reading stored");
      await this.out?.send([client, empty, encodeAck({ v: 1, device: r.device, seq: r.seq, status, worker: this.config.id })]);
    } finally {
      this.busy = false;
    }
  }

  private heard(): void {
    this.lastHeard = performance.now();
    if (!this.answered) this.log.info({ backoffMs: this.config.backoffInitMs }, "queue answered; back-off reset");
    this.answered = true;
    this.backoffMs = this.config.backoffInitMs;
  }

  /** Every interval: heartbeat if idle; declare the queue dead after liveness silent intervals. */
  private tick(): void {
    if (!this.socket || this.socket.closed) return;
    // The queue heartbeats idle workers only, so silence while we work says nothing about it.
    if (this.busy) this.lastHeard = performance.now();
    if (performance.now() - this.lastHeard > this.config.heartbeatMs * this.config.liveness) {
      this.socket.close();
      return;
    }
    if (!this.busy) void this.out?.send(HEARTBEAT).catch(() => {});
  }
}
