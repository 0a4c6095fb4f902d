import { randomBytes } from "node:crypto";
import { basename } from "node:path";
import { closeSockets, type Logger, pause } from "@zlabs/kit";
import { Push, Subscriber } from "zeromq";
import { type Chunk, countLines, readChunks } from "./chunker.ts";
import { type DoneHeader, decode, encode, type MissingHeader } from "./protocol.ts";

export const LINES_PER_CHUNK = 4000;
/** Lines sent but not yet acknowledged as stored: the collector keeps them for a resend, so this bounds its memory. */
export const WINDOW_LINES = 200_000;
export const START_RETRY_MS = 500;
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
}

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
 * The ventilator: announces the batch (START, with the line count) to the writer, waits until it
 * is READY with enough parsers, then pushes chunks of lines. It keeps every chunk the writer has
 * not acknowledged, stops reading when that window is full (memory stays flat whatever the input
 * size), and sends again whatever the writer reports MISSING.
 */
export class LogCollector {
  private readonly work = new Push({ linger: 0, sendHighWaterMark: COLLECTOR_SNDHWM });
  private readonly control = new Push({ linger: 0 });
  private readonly bus = new Subscriber({ linger: 0 });
  private readonly unacked = new Map<number, Chunk>();
  private readonly resendQueue: Chunk[] = [];
  private watermark = 0;
  private ready: { workers: number } | undefined;
  private done: DoneHeader | undefined;
  private wake: () => void = () => {};
  private batch = "";
  endpoint = "";
  chunksSent = 0;
  chunksResent = 0;
  /** True while reading is paused because the writer has not acknowledged enough. */
  windowFull = false;

  constructor(
    private readonly config: CollectorConfig,
    private readonly log: Logger,
  ) {}

  async bind(): Promise<string> {
    await this.work.bind(this.config.bind);
    this.endpoint = this.work.lastEndpoint ?? this.config.bind;
    this.log.info({ endpoint: this.endpoint }, "listening");
    return this.endpoint;
  }

  /** Lines held for a possible resend: never more than the window plus one chunk. */
  get unackedLines(): number {
    let n = 0;
    for (const c of this.unacked.values()) n += c.count;
    return n;
  }

  /** Runs one batch (the files in turn) to DONE; undefined when stopped before. */
  async collect(paths: readonly string[], signal: AbortSignal): Promise<CollectorStats | undefined> {
    if (!this.endpoint) await this.bind();
    this.control.connect(this.config.writer);
    this.bus.connect(this.config.bus);
    this.bus.subscribe("READY", "ACK", "MISSING", "DONE");
    const onAbort = () => {
      closeSockets(this.work, this.control, this.bus);
      this.wake();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const listening = this.listen(signal);
    try {
      const expected = await countLines(paths);
      this.batch = `${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "")}-${randomBytes(3).toString("hex")}`;
      const source = paths
        .map((p) => basename(p))
        .join(",")
        .slice(0, 120);
      await this.announce(expected, source, signal);
      const started = performance.now();
      this.log.info({ batch: this.batch, expected, source, parsers: this.ready?.workers }, "batch started");
      for await (const chunk of readChunks(paths, this.config.linesPerChunk)) {
        await this.whileWindowFull(signal);
        if (signal.aborted) return undefined;
        await this.sendResends();
        this.unacked.set(chunk.first, chunk);
        await this.work.send(encode("LINES", { batch: this.batch, first: chunk.first, count: chunk.count }, chunk.payload));
        this.chunksSent += 1;
      }
      while (!this.done && !signal.aborted) {
        await this.sendResends();
        await this.nextEvent();
      }
      if (!this.done) return undefined;
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
      return stats;
    } catch (err) {
      if (signal.aborted) return undefined;
      throw err;
    } finally {
      signal.removeEventListener("abort", onAbort);
      closeSockets(this.work, this.control, this.bus);
      await listening;
    }
  }

  /** START until READY names this batch with enough parsers (the Guide's sync, made robust to a late writer). */
  private async announce(expected: number, source: string, signal: AbortSignal): Promise<void> {
    let waitingSince = performance.now();
    while (!signal.aborted) {
      await this.control.send(encode("START", { batch: this.batch, expected, source, parsers: this.config.minParsers }));
      await Promise.race([this.nextEvent(), pause(START_RETRY_MS, signal)]);
      if (this.ready && this.ready.workers >= this.config.minParsers) return;
      if (performance.now() - waitingSince > 5000) {
        this.log.info(
          { parsers: this.ready?.workers ?? 0, want: this.config.minParsers, writer: Boolean(this.ready) },
          "waiting for the writer and parsers",
        );
        waitingSince = performance.now();
      }
    }
  }

  private async whileWindowFull(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.unackedLines >= this.config.windowLines) {
      if (!this.windowFull) this.log.debug({ unacked: this.unackedLines }, "window full; waiting for the writer");
      this.windowFull = true;
      await this.sendResends();
      await this.nextEvent();
    }
    this.windowFull = false;
  }

  private async sendResends(): Promise<void> {
    while (this.resendQueue.length > 0) {
      const chunk = this.resendQueue.shift() as Chunk;
      if (!this.unacked.has(chunk.first)) continue;
      await this.work.send(encode("LINES", { batch: this.batch, first: chunk.first, count: chunk.count }, chunk.payload));
      this.chunksResent += 1;
    }
  }

  private nextEvent(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private async listen(signal: AbortSignal): Promise<void> {
    try {
      for await (const frames of this.bus) {
        const decoded = decode(frames, ["READY", "ACK", "MISSING", "DONE"]);
        if (!decoded.ok) {
          this.log.warn({ reason: decoded.reason }, "malformed message dropped");
          continue;
        }
        const m = decoded.message;
        if (!("batch" in m.header) || m.header.batch !== this.batch) continue;
        if (m.cmd === "READY") this.ready = { workers: m.header.workers };
        else if (m.cmd === "ACK") this.acknowledged(m.header.watermark);
        else if (m.cmd === "MISSING") this.missing(m.header);
        else if (m.cmd === "DONE") this.done = m.header;
        this.wake();
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  private acknowledged(watermark: number): void {
    if (watermark <= this.watermark) return;
    this.watermark = watermark;
    for (const [first, chunk] of this.unacked) if (first + chunk.count <= watermark) this.unacked.delete(first);
  }

  private missing(header: MissingHeader): void {
    const wanted = [...this.unacked.values()].filter((c) => header.ranges.some(([f, n]) => c.first < f + n && f < c.first + c.count));
    this.log.warn({ chunks: wanted.length, ranges: header.ranges.length }, "writer reports lines missing; sending again");
    this.resendQueue.push(...wanted);
  }
}
