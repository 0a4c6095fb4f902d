import { closeSockets, type Logger, SendQueue } from "@zlabs/kit";
import { Publisher, Pull } from "zeromq";
import { type DoneHeader, decode, type EventsHeader, encode, type StartHeader } from "./protocol.ts";
import { RotatingFile } from "./rotating-file.ts";
import { BatchTracker } from "./tracker.ts";

/** How often the writer tells the collector how far it has stored (its window moves on these). */
export const ACK_INTERVAL_MS = 20;
/** A watermark stuck this long means lines were lost (a parser died): ask for them again. */
export const MISSING_AFTER_MS = 2000;
export const PROGRESS_INTERVAL_MS = 2000;
export const ROTATE_BYTES = 64 * 1024 * 1024;
/** Small pipes: a stalled writer pushes back on the parsers, and they on the collector. */
export const WRITER_RCVHWM = 16;

export interface WriterConfig {
  /** PULL: results from parsers, HELLO, and the collector's START. */
  bind: string;
  /** PUB: READY, ACK, MISSING, DONE and KILL. */
  bus: string;
  outDir: string;
  rotateBytes: number;
  missingAfterMs: number;
  /** Publish KILL when a batch is complete, so every parser exits. */
  killWorkers: boolean;
  /** Exit after one batch. */
  once: boolean;
  ackIntervalMs?: number;
  progressIntervalMs?: number;
}

interface ActiveBatch {
  header: StartHeader;
  tracker: BatchTracker;
  file: RotatingFile;
  started: number;
  unparsed: number;
  resends: number;
  perWorker: Map<string, number>;
  /** Work flows once READY has named enough parsers; nothing can be missing before that. */
  flowing: boolean;
  watermarkMovedAt: number;
  lastWatermark: number;
  lastProgress: { at: number; stored: number };
}

/** What DONE says, and the lines each parser delivered. */
export type BatchSummary = DoneHeader & { perWorker: Record<string, number> };

/**
 * The sink: stores every event exactly once. It learns the batch size from START before work
 * flows, marks each line's sequence number as it stores it, drops what it already has, and asks
 * for what went missing when its watermark stops moving.
 */
export class StorageWriter {
  private readonly pull = new Pull({ linger: 0, receiveHighWaterMark: WRITER_RCVHWM });
  private readonly pub = new Publisher({ linger: 100 });
  private readonly bus = new SendQueue(this.pub);
  private readonly workers = new Set<string>();
  private batch: ActiveBatch | undefined;
  readonly endpoints = { bind: "", bus: "" };
  malformed = 0;
  onBatchDone: (summary: BatchSummary) => void = () => {};

  constructor(
    private readonly config: WriterConfig,
    private readonly log: Logger,
  ) {}

  async bind(): Promise<void> {
    await this.pull.bind(this.config.bind);
    await this.pub.bind(this.config.bus);
    this.endpoints.bind = this.pull.lastEndpoint ?? this.config.bind;
    this.endpoints.bus = this.pub.lastEndpoint ?? this.config.bus;
    this.log.info({ ...this.endpoints, outDir: this.config.outDir }, "listening");
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.bind) await this.bind();
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const timers = [
      setInterval(() => this.acknowledge(), this.config.ackIntervalMs ?? ACK_INTERVAL_MS),
      setInterval(() => this.checkProgress(), this.config.progressIntervalMs ?? PROGRESS_INTERVAL_MS),
    ];
    stop.signal.addEventListener("abort", () => this.pull.close(), { once: true });
    try {
      for await (const frames of this.pull) {
        await this.handle(frames, stop);
        if (stop.signal.aborted) break;
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    } finally {
      for (const t of timers) clearInterval(t);
      signal.removeEventListener("abort", onAbort);
      this.batch?.file.close();
      closeSockets(this.pull, this.pub);
    }
  }

  private async handle(frames: Buffer[], stop: AbortController): Promise<void> {
    const decoded = decode(frames, ["HELLO", "START", "EVENTS"]);
    if (!decoded.ok) {
      this.malformed += 1;
      this.log.warn({ reason: decoded.reason, total: this.malformed }, "malformed message dropped");
      return;
    }
    const m = decoded.message;
    if (m.cmd === "HELLO") {
      if (!this.workers.has(m.header.worker)) this.log.info({ worker: m.header.worker }, "parser joined");
      this.workers.add(m.header.worker);
    } else if (m.cmd === "START") {
      await this.start(m.header);
    } else if (m.cmd === "EVENTS" && m.payload) {
      const summary = this.store(m.header, m.payload);
      if (summary) await this.finish(summary, stop);
    }
  }

  private async start(header: StartHeader): Promise<void> {
    if (this.batch?.header.batch !== header.batch) {
      if (this.batch) this.log.warn({ batch: this.batch.header.batch, stored: this.batch.tracker.stored }, "batch abandoned for a new one");
      this.batch?.file.close();
      const now = performance.now();
      this.batch = {
        header,
        tracker: new BatchTracker(header.expected),
        file: new RotatingFile(this.config.outDir, `events-${header.batch}`, this.config.rotateBytes),
        started: now,
        unparsed: 0,
        resends: 0,
        perWorker: new Map(),
        flowing: false,
        watermarkMovedAt: now,
        lastWatermark: 0,
        lastProgress: { at: now, stored: 0 },
      };
      this.log.info({ batch: header.batch, expected: header.expected, source: header.source }, "batch started");
    }
    // START is repeated until the collector sees READY with enough parsers: answer every time.
    const batch = this.batch as ActiveBatch;
    if (!batch.flowing && this.workers.size >= header.parsers) {
      batch.flowing = true;
      batch.watermarkMovedAt = performance.now();
    }
    await this.bus.send(encode("READY", { batch: header.batch, workers: this.workers.size }));
  }

  /** Stores one chunk; returns the summary when it completes the batch. */
  private store(header: EventsHeader, payload: Buffer): BatchSummary | undefined {
    const b = this.batch;
    if (!b || b.header.batch !== header.batch) {
      this.log.debug({ batch: header.batch }, "events for no current batch dropped");
      return undefined;
    }
    this.workers.add(header.worker);
    const verdict = b.tracker.record(header.first, header.count);
    if (verdict !== "stored") {
      this.log.debug({ first: header.first, count: header.count, verdict }, "chunk not stored");
      return undefined;
    }
    b.file.write(payload);
    b.unparsed += header.unparsed;
    b.perWorker.set(header.worker, (b.perWorker.get(header.worker) ?? 0) + header.count);
    if (!b.tracker.complete) return undefined;
    return {
      batch: b.header.batch,
      stored: b.tracker.stored,
      duplicates: b.tracker.duplicates,
      unparsed: b.unparsed,
      resends: b.resends,
      seconds: (performance.now() - b.started) / 1000,
      files: [...b.file.files],
      perWorker: Object.fromEntries(b.perWorker),
    };
  }

  private async finish(summary: BatchSummary, stop: AbortController): Promise<void> {
    this.batch?.file.close();
    this.batch = undefined;
    const { perWorker, ...done } = summary;
    this.log.info({ ...summary, linesPerSec: Math.round(summary.stored / summary.seconds) }, "batch complete");
    await this.bus.send(encode("DONE", done));
    if (this.config.killWorkers) {
      await this.bus.send(encode("KILL", {}));
      this.log.info({ workers: this.workers.size }, "KILL sent to every parser");
      this.workers.clear();
    }
    this.onBatchDone(summary);
    if (this.config.once) stop.abort();
  }

  private acknowledge(): void {
    const b = this.batch;
    if (!b) return;
    void this.bus.send(encode("ACK", { batch: b.header.batch, watermark: b.tracker.watermark, stored: b.tracker.stored })).catch(() => {});
    const now = performance.now();
    if (!b.flowing) return;
    if (b.tracker.watermark !== b.lastWatermark) {
      b.lastWatermark = b.tracker.watermark;
      b.watermarkMovedAt = now;
    } else if (now - b.watermarkMovedAt >= this.config.missingAfterMs) {
      const ranges = b.tracker.holes();
      b.resends += 1;
      b.watermarkMovedAt = now;
      this.log.warn(
        { batch: b.header.batch, watermark: b.tracker.watermark, ranges: ranges.length, first: ranges[0] },
        "lines missing; asking again",
      );
      void this.bus.send(encode("MISSING", { batch: b.header.batch, ranges })).catch(() => {});
    }
  }

  private checkProgress(): void {
    const b = this.batch;
    if (!b) return;
    const now = performance.now();
    const rate = ((b.tracker.stored - b.lastProgress.stored) * 1000) / Math.max(1, now - b.lastProgress.at);
    b.lastProgress = { at: now, stored: b.tracker.stored };
    this.log.info(
      {
        batch: b.header.batch,
        stored: b.tracker.stored,
        expected: b.tracker.expected,
        linesPerSec: Math.round(rate),
        perWorker: Object.fromEntries(b.perWorker),
      },
      "progress",
    );
  }
}
