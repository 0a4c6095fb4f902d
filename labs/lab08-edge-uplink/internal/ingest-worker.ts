import { randomBytes } from "node:crypto";
import { closeSockets, type Logger, pause, peerLimits, type View } from "@zlabs/kit";
import { Dealer } from "zeromq";
import {
  EMPTY,
  encodeAck,
  type FromQueue,
  fromQueue,
  HEARTBEAT,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  READY,
  type Reading,
} from "./protocol.ts";
import type { ReadingStore } from "./store.ts";
import { VIEW_MS, type WorkerSnapshot, workerView } from "./view.ts";

/** Reconnect back-off after losing the queue: 1 s, doubling up to 32 s, reset by any message from it. */
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

const code = (err: unknown) => (err as { code?: string }).code;

/**
 * A Paranoid Pirate worker, in the shape of the Guide's ppworker: one loop that receives with a
 * timeout of one heartbeat interval. Any message from the queue restores its liveness and resets
 * the back-off; an interval with nothing counts liveness down, and at zero the queue is presumed
 * dead: the worker closes its socket (linger 0, so heartbeats queued for the dead queue are thrown
 * away, not delivered in a burst later), waits 1 s, 2 s, 4 s… and reconnects on a fresh socket with
 * a fresh identity and a new READY. It heartbeats when one is due.
 *
 * Only intervals spent waiting count against the queue: time spent storing a reading, or a stall of
 * the whole process, does not, and after one the heartbeats that arrived meanwhile are read first.
 * While it stores a reading the worker sends no heartbeat (the queue, like ppqueue, would take one
 * as "idle"). Every request gets an answer: an ack, or, for one it cannot use, a heartbeat that puts
 * it back in the queue's line at once.
 */
export class IngestWorker {
  private socket: Dealer | undefined;
  stored = 0;
  duplicates = 0;
  reconnects = 0;
  /** Messages from the queue that were malformed, and readings that could not be stored. */
  dropped = 0;
  /** What the view shows: this connection's identity, what the loop is doing, its liveness. */
  private identity = "";
  private state: WorkerSnapshot["state"] = "waiting";
  private liveness: number;
  private pauseMs = 0;
  private pauseEndsAt = 0;

  constructor(
    private readonly config: WorkerConfig,
    private readonly store: ReadingStore,
    private readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {
    this.liveness = config.liveness;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { heartbeatMs, liveness: maxLiveness, backoffInitMs, backoffMaxMs } = this.config;
    const onAbort = () => closeSockets(this.socket);
    signal.addEventListener("abort", onAbort, { once: true });
    const viewTimer = this.publish ? setInterval(() => this.publish?.(this.view()), VIEW_MS) : undefined;
    const trimmed = this.store.sweep();
    if (trimmed > 0) this.log.info({ removed: trimmed, keep: this.store.keep }, "old readings and crashed writes removed from the store");
    try {
      let socket = await this.connect();
      let answered = false;
      let interval = backoffInitMs;
      let heartbeatAt = performance.now() + heartbeatMs;
      this.liveness = maxLiveness;
      while (!signal.aborted) {
        const frames = await this.receive(socket);
        if (frames) {
          if (!answered) this.log.info({ backoffMs: backoffInitMs }, "queue answered; back-off reset");
          answered = true;
          this.liveness = maxLiveness;
          interval = backoffInitMs;
          await this.handle(fromQueue(frames), socket, signal);
        } else if (--this.liveness === 0 && !signal.aborted) {
          this.log.warn({ delayMs: interval, attempt: this.reconnects + 1 }, "queue silent; reconnecting after a pause");
          closeSockets(socket);
          this.pausing(interval);
          if (!(await pause(interval, signal))) break;
          interval = Math.min(interval * 2, backoffMaxMs);
          this.reconnects += 1;
          socket = await this.connect();
          answered = false;
          this.liveness = maxLiveness;
          this.state = "waiting";
        }
        if (performance.now() >= heartbeatAt) {
          heartbeatAt = performance.now() + heartbeatMs;
          await this.send(socket, HEARTBEAT);
        }
      }
    } finally {
      clearInterval(viewTimer);
      signal.removeEventListener("abort", onAbort);
      closeSockets(this.socket);
    }
  }

  private pausing(ms: number): void {
    this.state = "paused";
    this.pauseMs = ms;
    this.pauseEndsAt = performance.now() + ms;
  }

  /** The live view: idle, storing or paused before a reconnect; what it stored. */
  view(): View {
    return workerView({
      queue: this.config.queue,
      identity: this.identity,
      state: this.state,
      liveness: this.liveness,
      maxLiveness: this.config.liveness,
      reconnectInMs: this.pauseEndsAt - performance.now(),
      pauseMs: this.pauseMs,
      stored: this.stored,
      duplicates: this.duplicates,
      reconnects: this.reconnects,
      dropped: this.dropped,
    });
  }

  private async connect(): Promise<Dealer> {
    // A fresh identity per socket: the queue must never mistake a new connection for the old one.
    const { heartbeatMs } = this.config;
    const routingId = `${this.config.id}-${randomBytes(3).toString("hex")}`;
    const socket = new Dealer({
      linger: 0,
      routingId,
      receiveTimeout: heartbeatMs,
      sendTimeout: heartbeatMs,
      ...peerLimits(MAX_MESSAGE_BYTES),
    });
    this.socket = socket;
    this.identity = routingId;
    socket.connect(this.config.queue);
    await this.send(socket, READY);
    this.log.info({ queue: this.config.queue, identity: routingId }, "ready sent");
    return socket;
  }

  /** The next message, or undefined when a heartbeat interval passed without one (or on stop). */
  private async receive(socket: Dealer): Promise<Buffer[] | undefined> {
    try {
      return await socket.receive();
    } catch (err) {
      if (code(err) === "EAGAIN" || socket.closed) return undefined;
      throw err;
    }
  }

  /** A send that cannot go out within a heartbeat interval is given up: the device's retry covers a lost ack. */
  private async send(socket: Dealer, message: Buffer | Buffer[]): Promise<void> {
    try {
      await socket.send(message);
    } catch (err) {
      if (code(err) !== "EAGAIN" && !socket.closed) throw err;
    }
  }

  private async handle(msg: FromQueue, socket: Dealer, signal: AbortSignal): Promise<void> {
    switch (msg.kind) {
      case "heartbeat":
        return;
      case "request":
        return this.storeReading(msg.client, msg.reading, socket, signal);
      case "bad-request":
        // No ack: garbage earns none, and a real device's retry is the remedy. But the queue counts
        // this worker busy until it hears from it: a heartbeat now puts it back in the line.
        this.drop({ client: msg.client, reason: msg.reason }, "malformed reading dropped");
        return this.send(socket, HEARTBEAT);
      case "invalid":
        this.drop({ reason: msg.reason }, "invalid message from the queue dropped");
        return;
    }
  }

  private async storeReading(client: Buffer, r: Reading, socket: Dealer, signal: AbortSignal): Promise<void> {
    this.log.debug({ device: r.device, seq: r.seq }, "reading received");
    this.state = "storing";
    try {
      if (this.config.delayMs > 0 && !(await pause(this.config.delayMs, signal))) return;
    } finally {
      this.state = "waiting";
    }
    let status: "stored" | "duplicate";
    try {
      status = this.store.put(r, this.config.id);
    } catch (err) {
      // A full or broken disk: no ack (the device keeps the reading and retries), and free again.
      this.drop({ err, device: r.device, seq: r.seq }, "reading not stored");
      return this.send(socket, HEARTBEAT);
    }
    if (status === "stored") this.stored += 1;
    else this.duplicates += 1;
    // Every reading is counted in the views; a duplicate (a device's retry of a reading that was
    // stored after all) is worth a line of its own.
    if (status === "stored") this.log.debug({ device: r.device, seq: r.seq, status }, "reading stored");
    else this.log.info({ device: r.device, seq: r.seq, status }, "reading stored");
    await this.send(socket, [
      client,
      EMPTY,
      encodeAck({ v: PROTOCOL_VERSION, device: r.device, seq: r.seq, status, worker: this.config.id }),
    ]);
  }

  private drop(fields: Record<string, unknown>, msg: string): void {
    this.dropped += 1;
    this.log.warn({ ...fields, dropped: this.dropped }, msg);
  }
}
