// The proxy's capture: every forwarded message, with its direction, to a PUB tap and to a file,
// without ever making a forwarding loop wait. record() is synchronous and cheap: the tap send
// cannot block (XPUB, no-drop, send timeout 0: a full subscriber makes it fail at once, counted),
// and the file gets the message through a bounded queue that a writer drains (full: counted).
import { mkdirSync } from "node:fs";
import { type FileHandle, open, rename, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { type Logger, peerLimits, receiveLoop, UsageError, Wakeup } from "@zlabs/kit";
import { XPublisher } from "zeromq";
import { captureLine, captureMessage, type Direction, FE_TO_BE, fromSubscriber } from "./protocol.ts";

/** Messages the tap's XPUB queues per subscriber before it drops (ZMQ_SNDHWM). */
export const CAPTURE_HWM = 10_000;
/**
 * The tap's kernel send buffer (SO_SNDBUF) per connection: small, so that what a stalled subscriber
 * holds up is mostly in the HWM queue, where it is counted, not megabytes in the kernel.
 */
export const CAPTURE_SNDBUF = 64 * 1024;
/** A capture file is rotated when it reaches this size. */
export const CAPTURE_FILE_BYTES = 8 * 1024 * 1024;
/** Rotated files kept beside the current one (audit.jsonl.1 ...). */
export const CAPTURE_FILES_KEPT = 2;
/** Messages waiting for the file writer; beyond this a message is not written, and counted. */
export const FILE_QUEUE_MESSAGES = 20_000;
/** Bytes of frames waiting for the file writer, at most. */
export const FILE_QUEUE_BYTES = 16 * 1024 * 1024;
/** Topics the tap keeps track of (subscriptions are one per topic at an XPUB that is not verbose). */
const MAX_TOPICS = 256;
/** A subscription frame: 1 byte and a topic; nobody needs a topic longer than this. */
const SUBSCRIPTION_MAX_BYTES = 256;

export interface CaptureConfig {
  /** XPUB endpoint of the tap; undefined: no tap. */
  tap?: string;
  /** Capture file (absolute path); undefined: no file. */
  file?: string;
  fileBytes: number;
  filesKept: number;
  hwm: number;
  /**
   * Plain PUB behaviour: a full subscriber loses messages alone, the others still get them, but
   * libzmq drops them silently (only the subscribers' sequence gaps tell). Default (false): no-drop,
   * a full subscriber makes the message fail for every subscriber, and the proxy counts it.
   */
  lossy?: boolean;
}

export interface CaptureCounters {
  /** Messages sent to the tap (while it had a subscription). */
  tapSent: number;
  /** Messages the tap refused because a subscriber's queue was full. */
  tapDropped: number;
  /** Topics subscribed at the tap now. */
  subscriptions: number;
  fileWritten: number;
  /** Messages not written because the writer was behind (its queue full) or the file failed. */
  fileDropped: number;
  /** Bytes in the current file. */
  fileBytes: number;
  rotations: number;
  /** Messages from subscribers that were not subscriptions. */
  invalid: number;
}

type Pending = { direction: Direction; seq: number; frames: Buffer[]; at: number };

export class Capture {
  readonly tap: XPublisher | undefined;
  readonly counters: CaptureCounters = {
    tapSent: 0,
    tapDropped: 0,
    subscriptions: 0,
    fileWritten: 0,
    fileDropped: 0,
    fileBytes: 0,
    rotations: 0,
    invalid: 0,
  };
  /** The number of the last message captured, per direction (the tap's seq frame). */
  private readonly seq: Record<Direction, number> = { "fe>be": 0, "be>fe": 0 };
  private readonly topics = new Set<string>();
  private queue: Pending[] = [];
  private queueBytes = 0;
  private readonly work = new Wakeup();
  private file: FileHandle | undefined;
  /** Drops already logged: the proxy calls logDrops on a timer, so drops make a line per tick at most. */
  private lastDropLog = { tap: 0, file: 0 };
  private readonly onTapSent = () => {
    this.counters.tapSent += 1;
  };
  private readonly onTapDropped = () => {
    this.counters.tapDropped += 1;
  };

  constructor(
    private readonly config: CaptureConfig,
    private readonly log: Logger,
  ) {
    // No-drop: a subscriber whose queue is full makes the send fail (EAGAIN) instead of dropping
    // silently, so the drop is counted; send timeout 0 makes that failure immediate, never a wait.
    this.tap = config.tap
      ? new XPublisher({
          linger: 0,
          noDrop: !config.lossy,
          sendTimeout: 0,
          sendHighWaterMark: config.hwm,
          sendBufferSize: CAPTURE_SNDBUF,
          ...peerLimits(SUBSCRIPTION_MAX_BYTES),
        })
      : undefined;
  }

  get enabled(): boolean {
    return this.tap !== undefined || this.config.file !== undefined;
  }

  /** Called by a forwarding loop for every message, before it forwards it. Never waits, never throws. */
  record(direction: Direction, frames: Buffer[]): void {
    const seq = ++this.seq[direction];
    if (this.tap && this.counters.subscriptions > 0)
      this.tap.send(captureMessage(direction, seq, frames)).then(this.onTapSent, this.onTapDropped);
    if (this.config.file === undefined) return;
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    if (this.queue.length >= FILE_QUEUE_MESSAGES || this.queueBytes + bytes > FILE_QUEUE_BYTES) {
      this.counters.fileDropped += 1;
      return;
    }
    this.queue.push({ direction, seq, frames, at: Date.now() });
    this.queueBytes += bytes;
    if (this.work.waiting) this.work.wake();
  }

  /** Opens the file (appending), so a bad path is a clear error before anything is forwarded. */
  async open(): Promise<void> {
    if (this.config.file === undefined) return;
    try {
      mkdirSync(dirname(this.config.file), { recursive: true });
      this.file = await open(this.config.file, "a");
      this.counters.fileBytes = (await stat(this.config.file)).size;
    } catch (err) {
      throw new UsageError(`cannot open the capture file ${this.config.file}: ${(err as Error).message}`);
    }
  }

  /** The tap's subscription reader and the file writer, until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const stop = () => this.work.wake();
    signal.addEventListener("abort", stop, { once: true });
    try {
      await Promise.all([
        this.tap ? receiveLoop(this.tap, signal, (frames) => this.onSubscription(frames), { log: this.log, name: "capture" }) : undefined,
        this.writeFile(signal),
      ]);
    } finally {
      signal.removeEventListener("abort", stop);
      await this.file?.close().catch(() => undefined);
      this.file = undefined;
    }
  }

  /** Logs drops when they start, then at most every few seconds, never per message. */
  logDrops(): void {
    for (const [what, count] of [
      ["tap", this.counters.tapDropped],
      ["file", this.counters.fileDropped],
    ] as const) {
      if (count > this.lastDropLog[what]) {
        this.log.warn(
          { capture: what, dropped: count - this.lastDropLog[what], total: count },
          what === "tap"
            ? "capture tap full: messages not captured (forwarding goes on)"
            : "capture file behind: messages not written (forwarding goes on)",
        );
        this.lastDropLog[what] = count;
      }
    }
  }

  private onSubscription(frames: Buffer[]): void {
    const msg = fromSubscriber(frames);
    switch (msg.kind) {
      case "subscribe": {
        const topic = msg.topic.toString("latin1");
        if (!this.topics.has(topic) && this.topics.size >= MAX_TOPICS) {
          this.counters.invalid += 1;
          this.log.warn({ topics: this.topics.size }, "capture subscription refused: too many topics");
          return;
        }
        this.topics.add(topic);
        break;
      }
      case "unsubscribe":
        this.topics.delete(msg.topic.toString("latin1"));
        break;
      case "invalid":
        this.counters.invalid += 1;
        this.log.warn({ reason: msg.reason, total: this.counters.invalid }, "message at the capture tap dropped");
        return;
    }
    this.counters.subscriptions = this.topics.size;
    this.log.info(
      { topic: msg.topic.length ? msg.topic.toString("latin1") : "(everything)", subscriptions: this.topics.size },
      msg.kind === "subscribe" ? "capture tap subscribed" : "capture tap unsubscribed",
    );
  }

  private async writeFile(signal: AbortSignal): Promise<void> {
    if (this.config.file === undefined) return;
    if (!this.file) await this.open();
    while (!signal.aborted) {
      if (this.queue.length === 0) {
        await this.work.wait();
        continue;
      }
      const batch = this.queue;
      this.queue = [];
      this.queueBytes = 0;
      let text = "";
      for (const p of batch) text += captureLine(p.direction, p.seq, p.frames, new Date(p.at));
      const bytes = Buffer.byteLength(text);
      try {
        await (this.file as FileHandle).write(text);
        this.counters.fileWritten += batch.length;
        this.counters.fileBytes += bytes;
        if (this.counters.fileBytes >= this.config.fileBytes) await this.rotate();
      } catch (err) {
        this.counters.fileDropped += batch.length;
        this.log.error({ err, file: this.config.file }, "capture file write failed");
      }
    }
  }

  /** audit.jsonl -> audit.jsonl.1 -> ... -> audit.jsonl.N (the oldest is overwritten), then a new file. */
  private async rotate(): Promise<void> {
    const file = this.config.file as string;
    await this.file?.close();
    for (let i = this.config.filesKept; i >= 1; i--) {
      const from = i === 1 ? file : `${file}.${i - 1}`;
      await rename(from, `${file}.${i}`).catch(() => undefined);
    }
    if (this.config.filesKept === 0) await open(file, "w").then((h) => h.close());
    this.file = await open(file, "a");
    this.counters.fileBytes = 0;
    this.counters.rotations += 1;
    this.log.info({ file, kept: this.config.filesKept, rotations: this.counters.rotations }, "capture file rotated");
  }

  /** For tests: the message count per direction. */
  captured(direction: Direction = FE_TO_BE): number {
    return this.seq[direction];
  }
}
