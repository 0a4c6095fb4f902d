import { randomBytes } from "node:crypto";
import { closeSockets, type Logger, pause, peerLimits } from "@zlabs/kit";
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

  constructor(
    private readonly config: WorkerConfig,
    private readonly store: ReadingStore,
    private readonly log: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const { heartbeatMs, liveness: maxLiveness, backoffInitMs, backoffMaxMs } = this.config;
    const onAbort = () => closeSockets(this.socket);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      let socket = await this.connect();
      let answered = false;
      let liveness = maxLiveness;
      let interval = backoffInitMs;
      let heartbeatAt = performance.now() + heartbeatMs;
      while (!signal.aborted) {
        const frames = await this.receive(socket);
        if (frames) {
          if (!answered) this.log.info({ backoffMs: backoffInitMs }, "queue answered; back-off reset");
          answered = true;
          liveness = maxLiveness;
          interval = backoffInitMs;
          await this.handle(fromQueue(frames), socket, signal);
        } else if (--liveness === 0 && !signal.aborted) {
          this.log.warn({ delayMs: interval, attempt: this.reconnects + 1 }, "queue silent; reconnecting after a pause");
          closeSockets(socket);
          if (!(await pause(interval, signal))) break;
          interval = Math.min(interval * 2, backoffMaxMs);
          this.reconnects += 1;
          socket = await this.connect();
          answered = false;
          liveness = maxLiveness;
        }
        if (performance.now() >= heartbeatAt) {
          heartbeatAt = performance.now() + heartbeatMs;
          await this.send(socket, HEARTBEAT);
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      closeSockets(this.socket);
    }
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
    if (this.config.delayMs > 0 && !(await pause(this.config.delayMs, signal))) return;
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
    this.log.info({ device: r.device, seq: r.seq, status }, "reading stored");
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
