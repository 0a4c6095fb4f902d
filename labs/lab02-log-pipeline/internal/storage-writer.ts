import { isAbsolute, relative } from "node:path";
import { bindAll, type Logger, peerLimits, publishView, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Publisher, Pull } from "zeromq";
import {
  BUS_SUBSCRIPTION_MAX_BYTES,
  type DoneHeader,
  decodeWriterMessage,
  EVENTS_MAX_MESSAGE_BYTES,
  type EventsHeader,
  encodeMessage,
  MAX_DONE_FILES,
  MAX_WORKERS,
  type StartHeader,
} from "./protocol.ts";
import { pruneBatches } from "./retention.ts";
import { RotatingFile } from "./rotating-file.ts";
import { BatchTracker } from "./tracker.ts";
import { type ParserProgress, writerView } from "./view.ts";

/** How often the writer tells the collector how far it has stored (its window moves on these). */
export const ACK_INTERVAL_MS = 20;
/** A watermark stuck this long means lines were lost (a parser died): ask for them again. */
export const MISSING_AFTER_MS = 2000;
export const PROGRESS_INTERVAL_MS = 2000;
export const ROTATE_BYTES = 64 * 1024 * 1024;
/** Small pipes: a stalled writer pushes back on the parsers, and they on the collector. */
export const WRITER_RCVHWM = 16;
/** How often the writer's view is refreshed, ms. */
export const WRITER_VIEW_MS = 500;

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
  /** Keep the files of the last N batches only (0: keep all). */
  keepBatches?: number;
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
  /** Lines and chunks each parser delivered in this batch, for the view. */
  progress: Map<string, ParserProgress>;
  linesPerSec: number;
  /** Work flows once READY has named enough parsers; nothing can be missing before that. */
  flowing: boolean;
  watermarkMovedAt: number;
  lastWatermark: number;
  lastProgress: { at: number; stored: number };
}

/** A path as the view shows it: relative to where the writer runs when it is inside, else whole. */
function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** What DONE says, and the lines each parser delivered. */
export type BatchSummary = DoneHeader & { perWorker: Record<string, number> };

/**
 * The sink: stores every event exactly once. It learns the batch size from START before work
 * flows, marks each line's sequence number as it stores it, drops what it already has, and asks
 * for what went missing when its watermark stops moving. Whatever a peer sends, the writer only
 * ever writes inside its folder, allocates what MAX_BATCH_LINES allows and counts MAX_WORKERS.
 */
export class StorageWriter {
  private readonly pull = new Pull({ linger: 0, receiveHighWaterMark: WRITER_RCVHWM, ...peerLimits(EVENTS_MAX_MESSAGE_BYTES) });
  private readonly pub = new Publisher({ linger: 100, ...peerLimits(BUS_SUBSCRIPTION_MAX_BYTES) });
  private readonly bus = new SendQueue(this.pub);
  private readonly workers = new Set<string>();
  private batch: ActiveBatch | undefined;
  /** When each parser was last heard from (HELLO or EVENTS), ms since epoch. */
  private readonly heard = new Map<string, number>();
  private last: { batch: string; stored: number; seconds: number; resends: number; duplicates: number } | undefined;
  private readonly stop = new AbortController();
  readonly endpoints = { bind: "", bus: "" };
  /** Messages dropped because they were malformed, and messages taken in all (the receive loop's). */
  malformed = 0;
  readonly loop = { received: 0, failed: 0 };
  onBatchDone: (summary: BatchSummary) => void = () => {};

  constructor(
    private readonly config: WriterConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = publishView,
  ) {}

  /** The writer's live view: the batch's progress and each parser's share. */
  view(now = Date.now()): View {
    const b = this.batch;
    const parsers = new Map<string, ParserProgress>();
    for (const w of this.workers) {
      const p = b?.progress.get(w);
      const lastAt = this.heard.get(w);
      parsers.set(w, { lines: p?.lines ?? 0, chunks: p?.chunks ?? 0, ...(lastAt === undefined ? {} : { lastAt }) });
    }
    return writerView(
      {
        ...(b
          ? {
              batch: {
                name: b.header.batch,
                expected: b.tracker.expected,
                stored: b.tracker.stored,
                watermark: b.tracker.watermark,
                duplicates: b.tracker.duplicates,
                resends: b.resends,
                linesPerSec: b.linesPerSec,
                flowing: b.flowing,
              },
            }
          : {}),
        parsers,
        outDir: shortPath(this.config.outDir),
        keepBatches: this.config.keepBatches ?? 0,
        ...(this.last ? { last: this.last } : {}),
      },
      now,
    );
  }

  private publishView(): void {
    this.publish(this.view());
  }

  /** Parsers heard from (HELLO or EVENTS), at most MAX_WORKERS. */
  get parsers(): number {
    return this.workers.size;
  }

  async bind(): Promise<void> {
    const bound = await bindAll(this.log.child({ outDir: this.config.outDir }), {
      pull: [this.pull, this.config.bind],
      bus: [this.pub, this.config.bus],
    });
    this.endpoints.bind = bound.pull;
    this.endpoints.bus = bound.bus;
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.bind) await this.bind();
    const stopped = AbortSignal.any([signal, this.stop.signal]);
    try {
      await runLoops(
        stopped,
        {
          sockets: [this.pull, this.pub],
          every: [
            { ms: this.config.ackIntervalMs ?? ACK_INTERVAL_MS, run: () => this.acknowledge() },
            { ms: this.config.progressIntervalMs ?? PROGRESS_INTERVAL_MS, run: () => this.checkProgress() },
            { ms: WRITER_VIEW_MS, run: () => this.publishView() },
          ],
          log: this.log,
        },
        () => receiveLoop(this.pull, stopped, (frames) => this.handle(frames), { log: this.log, name: "pull", stats: this.loop }),
      );
    } finally {
      this.batch?.file.close();
    }
  }

  private async handle(frames: Buffer[]): Promise<void> {
    const message = decodeWriterMessage(frames);
    switch (message.kind) {
      case "invalid":
        this.malformed += 1;
        this.log.warn({ reason: message.reason, total: this.malformed }, "malformed message dropped");
        return;
      case "hello":
        this.joined(message.header.worker);
        return;
      case "start":
        await this.start(message.header);
        return;
      case "events": {
        const summary = this.store(message.header, message.payload);
        if (summary) await this.finish(summary);
        return;
      }
    }
  }

  /** A parser heard from; past MAX_WORKERS names a new one is not counted (a peer may invent names). */
  private joined(worker: string): boolean {
    if (this.workers.has(worker)) {
      this.heard.set(worker, Date.now());
      return true;
    }
    if (this.workers.size >= MAX_WORKERS) {
      this.log.warn({ worker, workers: this.workers.size }, "too many parsers; not counted");
      return false;
    }
    this.workers.add(worker);
    this.heard.set(worker, Date.now());
    this.log.info({ worker }, "parser joined");
    return true;
  }

  private async start(header: StartHeader): Promise<void> {
    if (this.batch?.header.batch !== header.batch) {
      if (this.batch) this.log.warn({ batch: this.batch.header.batch, stored: this.batch.tracker.stored }, "batch abandoned for a new one");
      this.batch?.file.close();
      const pruned = pruneBatches(this.config.outDir, this.config.keepBatches ?? 0, header.batch);
      if (pruned.length)
        this.log.info({ batches: pruned.length, oldest: pruned[0], keep: this.config.keepBatches }, "old batches' files deleted");
      const now = performance.now();
      this.batch = {
        header,
        tracker: new BatchTracker(header.expected),
        file: new RotatingFile(this.config.outDir, `events-${header.batch}`, this.config.rotateBytes),
        started: now,
        unparsed: 0,
        resends: 0,
        perWorker: new Map(),
        progress: new Map(),
        linesPerSec: 0,
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
    await this.bus.send(encodeMessage("READY", { batch: header.batch, workers: this.workers.size }));
  }

  /** Stores one chunk; returns the summary when it completes the batch. */
  private store(header: EventsHeader, payload: Buffer): BatchSummary | undefined {
    const b = this.batch;
    if (!b || b.header.batch !== header.batch) {
      this.log.debug({ batch: header.batch }, "events for no current batch dropped");
      return undefined;
    }
    const verdict = b.tracker.record(header.first, header.count);
    if (verdict !== "stored") {
      this.log.debug({ first: header.first, count: header.count, verdict }, "chunk not stored");
      return undefined;
    }
    b.file.write(payload);
    b.unparsed += header.unparsed;
    const worker = this.joined(header.worker) ? header.worker : "(others)";
    b.perWorker.set(worker, (b.perWorker.get(worker) ?? 0) + header.count);
    const progress = b.progress.get(worker) ?? { lines: 0, chunks: 0 };
    b.progress.set(worker, { lines: progress.lines + header.count, chunks: progress.chunks + 1 });
    if (!b.tracker.complete) return undefined;
    return {
      batch: b.header.batch,
      stored: b.tracker.stored,
      duplicates: b.tracker.duplicates,
      unparsed: b.unparsed,
      resends: b.resends,
      seconds: (performance.now() - b.started) / 1000,
      files: b.file.files.slice(0, MAX_DONE_FILES),
      perWorker: Object.fromEntries(b.perWorker),
    };
  }

  private async finish(summary: BatchSummary): Promise<void> {
    this.batch?.file.close();
    this.batch = undefined;
    this.last = {
      batch: summary.batch,
      stored: summary.stored,
      seconds: summary.seconds,
      resends: summary.resends,
      duplicates: summary.duplicates,
    };
    this.publishView();
    const { perWorker, ...done } = summary;
    this.log.info({ ...summary, linesPerSec: Math.round(summary.stored / summary.seconds) }, "batch complete");
    await this.bus.send(encodeMessage("DONE", done));
    if (this.config.killWorkers) {
      await this.bus.send(encodeMessage("KILL", {}));
      this.log.info({ workers: this.workers.size }, "KILL sent to every parser");
      this.workers.clear();
    }
    this.onBatchDone(summary);
    if (this.config.once) this.stop.abort();
  }

  private acknowledge(): void {
    const b = this.batch;
    if (!b) return;
    void this.bus
      .send(encodeMessage("ACK", { batch: b.header.batch, watermark: b.tracker.watermark, stored: b.tracker.stored }))
      .catch(() => {});
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
      void this.bus.send(encodeMessage("MISSING", { batch: b.header.batch, ranges })).catch(() => {});
    }
  }

  private checkProgress(): void {
    const b = this.batch;
    if (!b) return;
    const now = performance.now();
    const rate = ((b.tracker.stored - b.lastProgress.stored) * 1000) / Math.max(1, now - b.lastProgress.at);
    b.lastProgress = { at: now, stored: b.tracker.stored };
    b.linesPerSec = rate;
    // The view shows the progress; the log keeps it at debug.
    this.log.debug(
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
