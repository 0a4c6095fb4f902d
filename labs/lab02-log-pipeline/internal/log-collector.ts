import { randomBytes } from "node:crypto";
import { basename } from "node:path";
import { bindAll, type Logger, peerLimits, publishView, receiveLoop, runLoops, UsageError, type View, Wakeup } from "@zlabs/kit";
import { Push, Subscriber } from "zeromq";
import { type Chunk, countLines, readChunks } from "./chunker.ts";
import { type InputConfig, inputFiles, removeSpooled } from "./input.ts";
import {
  BUS_MAX_MESSAGE_BYTES,
  type CollectorBus,
  type DoneHeader,
  decodeCollectorBus,
  encodeMessage,
  MAX_BATCH_LINES,
  MAX_LINE_BYTES,
  type MissingHeader,
} from "./protocol.ts";
import { type CollectorPhase, collectorView } from "./view.ts";

export const LINES_PER_CHUNK = 4000;
/** Lines sent but not yet acknowledged as stored: the collector keeps them for a resend, so this bounds its memory. */
export const WINDOW_LINES = 200_000;
export const START_RETRY_MS = 500;
/** While waiting for the writer and parsers, say so this often. */
export const WAITING_LOG_MS = 5000;
export const COLLECTOR_SNDHWM = 4;

export interface CollectorConfig {
  /** PUSH: chunks to the parsers (bound). */
  bind: string;
  /** The writer's PULL, for START. */
  writer: string;
  /** The writer's PUB. */
  bus: string;
  linesPerChunk: number;
  windowLines: number;
  /** Parsers that must have said HELLO before work flows, so the first one does not grab it all. */
  minParsers: number;
  /** Batches to run, one after the other; 0 runs them until stopped. Default 1. */
  repeat?: number;
  /** Between two batches, ms. */
  pauseMs?: number;
  /** Lines sent per second at most; 0 sends as fast as the pipeline takes them. */
  rate?: number;
}

/** How often the collector's view is refreshed between events, ms. */
export const COLLECTOR_VIEW_MS = 500;

export interface CollectorStats {
  batch: string;
  source: string;
  lines: number;
  chunksSent: number;
  chunksResent: number;
  seconds: number;
  done: DoneHeader;
}

/**
 * The log-collector command: gather the input, run it as one batch (or --repeat them); exit code 0
 * when DONE, and 0 when stopped (Ctrl-C while waiting for parsers is a normal way to stop).
 */
export async function runCollector(config: CollectorConfig & { input: InputConfig }, log: Logger, signal: AbortSignal): Promise<number> {
  const { files, spooled } = await inputFiles(config.input, log);
  try {
    const stats = await new LogCollector(config, log).collect(files, signal);
    return stats || signal.aborted ? 0 : 1;
  } finally {
    removeSpooled(spooled);
  }
}

/**
 * The ventilator: announces the batch (START, with the line count) to the writer, waits until it
 * is READY with enough parsers, then pushes chunks of lines. It keeps every chunk the writer has
 * not acknowledged, stops reading when that window is full (memory stays flat whatever the input
 * size), and sends again whatever the writer reports MISSING.
 */
export class LogCollector {
  private readonly work = new Push({ linger: 0, sendHighWaterMark: COLLECTOR_SNDHWM });
  private readonly control = new Push({ linger: 0 });
  private readonly bus = new Subscriber({ linger: 0, ...peerLimits(BUS_MAX_MESSAGE_BYTES) });
  private readonly unacked = new Map<number, Chunk>();
  /** Chunks the writer reported missing, by first line: a set, so a repeated MISSING adds nothing. */
  private readonly resend = new Set<number>();
  /** Something arrived on the bus (or a wait timed out): whoever waits looks again. */
  private readonly events = new Wakeup();
  private watermark = 0;
  private ready: { workers: number } | undefined;
  private done: DoneHeader | undefined;
  private batch = "";
  endpoint = "";
  chunksSent = 0;
  chunksResent = 0;
  /** Lines held for a possible resend: never more than the window plus one chunk. */
  unackedLines = 0;
  /** Bus messages dropped because they were malformed. */
  malformed = 0;
  /** True while reading is paused because the writer has not acknowledged enough. */
  windowFull = false;
  /** Batches begun, and the last one finished (for the view). */
  batches = 0;
  private phase: CollectorPhase = "starting";
  private expected = 0;
  linesSent = 0;
  private batchStarted = 0;
  private nextBatchAt = 0;
  private last: CollectorStats | undefined;

  constructor(
    private readonly config: CollectorConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = publishView,
  ) {}

  /** The collector's live view: the batch, what is sent, acknowledged and sent again. */
  view(now = performance.now()): View {
    return collectorView({
      batch: this.batch,
      number: this.batches,
      repeat: this.config.repeat ?? 1,
      phase: this.phase,
      expected: this.expected,
      sent: this.linesSent,
      acked: this.watermark,
      unacked: this.unackedLines,
      chunksResent: this.chunksResent,
      parsers: this.ready?.workers ?? 0,
      minParsers: this.config.minParsers,
      rate: this.config.rate ?? 0,
      windowFull: this.windowFull,
      elapsedMs: this.batchStarted ? now - this.batchStarted : 0,
      nextInMs: this.phase === "pause" ? this.nextBatchAt - now : 0,
      ...(this.last ? { last: this.last } : {}),
    });
  }

  private publishView(): void {
    this.publish(this.view());
  }

  async bind(): Promise<string> {
    const bound = await bindAll(this.log, { work: [this.work, this.config.bind] });
    this.endpoint = bound.work;
    return this.endpoint;
  }

  /** Runs the batch (the files in turn) to DONE, --repeat times; the last one's stats, undefined when stopped before. */
  async collect(paths: readonly string[], signal: AbortSignal): Promise<CollectorStats | undefined> {
    const { lines, longest, longestIn } = await countLines(paths);
    if (lines === 0) throw new UsageError("nothing to ingest: the input holds no lines");
    if (lines > MAX_BATCH_LINES) throw new UsageError(`the input holds ${lines} lines; one batch holds at most ${MAX_BATCH_LINES}`);
    if (longest > MAX_LINE_BYTES)
      throw new UsageError(`${longestIn} has a line of ${longest} bytes; lines of at most ${MAX_LINE_BYTES} bytes are ingested`);
    if (!this.endpoint) await this.bind();
    this.control.connect(this.config.writer);
    this.bus.connect(this.config.bus);
    this.bus.subscribe("READY", "ACK", "MISSING", "DONE");
    const source = paths
      .map((p) => basename(p))
      .join(",")
      .slice(0, 120);
    // The batch ends the loops when it is done: the bus listener has nothing more to wait for.
    const finished = new AbortController();
    const stopped = AbortSignal.any([signal, finished.signal]);
    let stats: CollectorStats | undefined;
    const repeat = this.config.repeat ?? 1;
    await runLoops(
      stopped,
      {
        sockets: [this.work, this.control, this.bus],
        onAbort: () => this.events.wake(),
        every: [{ ms: COLLECTOR_VIEW_MS, run: () => this.publishView() }],
        log: this.log,
      },
      () => receiveLoop(this.bus, stopped, (frames) => this.onBus(decodeCollectorBus(frames)), { log: this.log, name: "bus" }),
      async () => {
        for (let n = 1; repeat === 0 || n <= repeat; n++) {
          this.newBatch();
          const done = await this.ventilate(paths, lines, source, stopped);
          if (!done) break;
          stats = done;
          this.last = done;
          if (repeat !== 0 && n >= repeat) break;
          const pauseMs = this.config.pauseMs ?? 0;
          this.phase = "pause";
          this.nextBatchAt = performance.now() + pauseMs;
          this.publishView();
          if (pauseMs > 0) this.log.info({ seconds: pauseMs / 1000 }, "next batch after a pause");
          while (!stopped.aborted && performance.now() < this.nextBatchAt)
            await this.nextEvent(stopped, this.nextBatchAt - performance.now());
        }
        finished.abort();
      },
    );
    return signal.aborted ? undefined : stats;
  }

  /** A fresh batch: a new name, and nothing of the last one held. */
  private newBatch(): void {
    // The time to the millisecond: the writer keeps the newest batches by name, and batches of a
    // small file run several to a second.
    const startedAt = new Date()
      .toISOString()
      .slice(0, 23)
      .replace(/[-:T.]/g, "");
    this.batch = `${startedAt}-${randomBytes(3).toString("hex")}`;
    this.batches += 1;
    this.unacked.clear();
    this.resend.clear();
    this.watermark = 0;
    this.ready = undefined;
    this.done = undefined;
    this.chunksSent = 0;
    this.chunksResent = 0;
    this.unackedLines = 0;
    this.linesSent = 0;
    this.windowFull = false;
    this.batchStarted = 0;
    this.phase = "waiting";
    this.publishView();
  }

  private async ventilate(
    paths: readonly string[],
    expected: number,
    source: string,
    signal: AbortSignal,
  ): Promise<CollectorStats | undefined> {
    this.expected = expected;
    await this.announce(expected, source, signal);
    if (signal.aborted) return undefined;
    const started = performance.now();
    this.batchStarted = started;
    this.phase = "sending";
    this.publishView();
    const rate = this.config.rate ?? 0;
    this.log.info({ batch: this.batch, expected, source, parsers: this.ready?.workers, ...(rate ? { rate } : {}) }, "batch started");
    for await (const chunk of readChunks(paths, this.config.linesPerChunk)) {
      await this.whileWindowFull(signal);
      if (signal.aborted) return undefined;
      await this.sendResends();
      this.unacked.set(chunk.first, chunk);
      this.unackedLines += chunk.count;
      await this.work.send(encodeMessage("LINES", { batch: this.batch, first: chunk.first, count: chunk.count }, chunk.payload));
      this.chunksSent += 1;
      this.linesSent += chunk.count;
      // Paced: the next chunk goes when the lines sent so far are due at --rate (resends go meanwhile).
      const due = started + (this.linesSent / (rate || Number.POSITIVE_INFINITY)) * 1000;
      while (rate && !signal.aborted && performance.now() < due) {
        await this.sendResends();
        await this.nextEvent(signal, due - performance.now());
      }
    }
    this.phase = "finishing";
    this.publishView();
    while (!this.done && !signal.aborted) {
      await this.sendResends();
      await this.nextEvent(signal);
    }
    if (!this.done) return undefined;
    // DONE says every line is stored, whether or not the last ACK arrived.
    this.acknowledged(expected);
    const seconds = (performance.now() - started) / 1000;
    const stats = {
      batch: this.batch,
      source,
      lines: expected,
      chunksSent: this.chunksSent,
      chunksResent: this.chunksResent,
      seconds,
      done: this.done,
    };
    this.log.info({ ...stats, linesPerSec: Math.round(expected / seconds) }, "batch done");
    this.phase = "done";
    return stats;
  }

  private enoughParsers(): boolean {
    return this.ready !== undefined && this.ready.workers >= this.config.minParsers;
  }

  /** START until READY names this batch with enough parsers (the Guide's sync, made robust to a late writer). */
  private async announce(expected: number, source: string, signal: AbortSignal): Promise<void> {
    let saidAt = performance.now();
    let said = false;
    while (!signal.aborted) {
      await this.control.send(encodeMessage("START", { batch: this.batch, expected, source, parsers: this.config.minParsers }));
      const again = performance.now() + START_RETRY_MS;
      while (!this.enoughParsers() && !signal.aborted && performance.now() < again) await this.nextEvent(signal, again - performance.now());
      if (this.enoughParsers()) return;
      if (!said || performance.now() - saidAt > WAITING_LOG_MS) {
        said = true;
        this.log.info(
          { parsers: this.ready?.workers ?? 0, want: this.config.minParsers, writer: Boolean(this.ready) },
          "waiting for the writer and parsers",
        );
        saidAt = performance.now();
      }
    }
  }

  private async whileWindowFull(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.unackedLines >= this.config.windowLines) {
      if (!this.windowFull) this.log.debug({ unacked: this.unackedLines }, "window full; waiting for the writer");
      this.windowFull = true;
      await this.sendResends();
      await this.nextEvent(signal);
    }
    this.windowFull = false;
  }

  private async sendResends(): Promise<void> {
    for (const first of this.resend) {
      this.resend.delete(first);
      const chunk = this.unacked.get(first);
      if (!chunk) continue;
      await this.work.send(encodeMessage("LINES", { batch: this.batch, first: chunk.first, count: chunk.count }, chunk.payload));
      this.chunksResent += 1;
    }
  }

  /** Until the next message on the bus, the signal, or `ms` (then every waiter looks again). */
  private async nextEvent(signal: AbortSignal, ms = START_RETRY_MS): Promise<void> {
    const timer = setTimeout(() => this.events.wake(), ms);
    try {
      await this.events.wait(signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private onBus(message: CollectorBus): void {
    if (message.kind === "invalid") {
      this.malformed += 1;
      this.log.warn({ reason: message.reason, total: this.malformed }, "malformed message dropped");
      return;
    }
    if (message.header.batch !== this.batch) return;
    switch (message.kind) {
      case "ready":
        this.ready = { workers: message.header.workers };
        break;
      case "ack":
        this.acknowledged(message.header.watermark);
        break;
      case "missing":
        this.missing(message.header);
        break;
      case "done":
        this.done = message.header;
        break;
    }
    this.events.wake();
  }

  private acknowledged(watermark: number): void {
    if (watermark <= this.watermark) return;
    this.watermark = watermark;
    for (const [first, chunk] of this.unacked) {
      if (first + chunk.count > watermark) continue;
      this.unacked.delete(first);
      this.unackedLines -= chunk.count;
    }
  }

  private missing(header: MissingHeader): void {
    const wanted = [...this.unacked.values()].filter((c) => header.ranges.some(([f, n]) => c.first < f + n && f < c.first + c.count));
    this.log.warn({ chunks: wanted.length, ranges: header.ranges.length }, "writer reports lines missing; sending again");
    for (const c of wanted) this.resend.add(c.first);
  }
}
