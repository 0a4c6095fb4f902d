import { type Logger, type LoopStats, pause, peerLimits, receiveLoop, reconnectAfterDrops, runLoops, type View } from "@zlabs/kit";
import { Subscriber } from "zeromq";
import { analyse, gapBetween, type LagPolicy, percentile, RateMeter, sampleCount, snail, Window } from "./analysis.ts";
import { type FromCamera, frameChecksum, fromCamera, SUB_MAX_MESSAGE_BYTES, TOPIC_PREFIX, topicOf } from "./protocol.ts";
import { type EngineSnapshot, engineView, VIEW_MS } from "./view.ts";

/** Frames an engine's SUB queues before libzmq drops for it: a few, never 1000 x 12 MB. */
export const ENGINE_RCVHWM = 2;
/** The Suicidal Snail limit (the Guide's MAX_ALLOWED_DELAY): a frame older than this is stale. */
export const MAX_LAG_MS = 1000;
/** Latencies kept for p50/p99. */
export const LATENCY_WINDOW = 200;
/** The exit code of an engine that gave up as the Suicidal Snail. */
export const EXIT_SNAIL = 3;
/** Cameras one engine keeps state for: a publisher inventing names cannot grow it without bound. */
export const MAX_CAMERAS = 16;

export interface EngineConfig {
  id: string;
  /** Cameras' PUB endpoints, connected to. */
  cameras: string[];
  /** One camera's name, or "" for every camera. */
  camera: string;
  rcvHwm: number;
  maxLagMs: number;
  onLag: LagPolicy;
  /** Analyse only the newest frame queued, skipping older ones. */
  latest: boolean;
  /** Check each frame's checksum (when the camera sent one). */
  verify: boolean;
  /** The analysis reads every sampleStep-th pixel of every sampleStep-th row. */
  sampleStep: number;
  /** Extra ms per frame: a slow engine, for the experiments. */
  costMs: number;
  statsMs: number;
}

interface CameraState {
  lastSeq: number | undefined;
  frames: number;
  gaps: number;
  samples: Uint8Array;
  previous: Uint8Array | undefined;
  width: number;
  height: number;
  histogram: number[];
  meanLuma: number;
  motion: number | undefined;
}

/**
 * An analytics engine: a SUB socket with a receive HWM of a few frames, the kit's per-message error
 * boundary, and for every frame a luminance histogram and a motion score on a subsample of the Y
 * plane, its checksum checked, seq gaps counted, and its latency from capture to analysis.
 *
 * Slow subscribers: libzmq drops frames for this engine when its queues are full (the camera never
 * waits); a frame older than maxLagMs means this engine cannot keep up, and the Suicidal Snail
 * rule applies: "resync" drops everything queued and goes on from the newest frame, "exit" logs
 * loudly and exits with EXIT_SNAIL. "latest" analyses only the newest frame queued, always.
 */
export class AnalyticsEngine {
  private readonly sub = new Subscriber({ linger: 0, receiveHighWaterMark: 0, ...peerLimits(SUB_MAX_MESSAGE_BYTES) });
  private readonly cameras = new Map<string, CameraState>();
  private readonly latencies = new Window(LATENCY_WINDOW);
  private readonly startedAt = performance.now();
  private readonly rate = new RateMeter(5000, this.startedAt);
  frames = 0;
  gaps = 0;
  /** Frames refused as malformed (counted, logged). */
  refused = 0;
  badChecksums = 0;
  checked = 0;
  resyncs = 0;
  /** Frames dropped unanalysed: drained by a resync or skipped by the latest-frame mode. */
  skipped = 0;
  lastLagMs = 0;
  exitCode = 0;
  /** performance.now() of the first and the last frame analysed: the span the frames were counted over. */
  private firstAt = 0;
  private lastAt = 0;
  readonly loop: LoopStats = { received: 0, failed: 0 };

  constructor(
    private readonly config: EngineConfig,
    private readonly log: Logger,
    private readonly options: { publish?: (view: View) => void } = {},
  ) {
    this.sub.receiveHighWaterMark = config.rcvHwm;
  }

  snapshot(): EngineSnapshot {
    const now = performance.now();
    const lat = this.latencies.all;
    return {
      id: this.config.id,
      fps: this.rate.perSecond(now),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      frames: this.frames,
      gaps: this.gaps,
      refused: this.refused,
      badChecksums: this.badChecksums,
      checked: this.checked,
      resyncs: this.resyncs,
      skipped: this.skipped,
      lagMs: this.lastLagMs,
      maxLagMs: this.config.maxLagMs,
      onLag: this.config.onLag,
      latest: this.config.latest,
      rcvHwm: this.config.rcvHwm,
      cameras: [...this.cameras.entries()].map(([name, c]) => ({
        name,
        width: c.width,
        height: c.height,
        frames: c.frames,
        gaps: c.gaps,
        histogram: c.histogram,
        meanLuma: c.meanLuma,
        motion: c.motion,
      })),
    };
  }

  async run(signal: AbortSignal): Promise<number> {
    const { config, log } = this;
    for (const endpoint of config.cameras) this.sub.connect(endpoint);
    reconnectAfterDrops(this.sub, config.cameras, log);
    this.sub.subscribe(config.camera ? topicOf(config.camera) : TOPIC_PREFIX);
    log.info(
      { cameras: config.cameras, rcvHwm: config.rcvHwm, maxLagMs: config.maxLagMs, onLag: config.onLag, latest: config.latest },
      "subscribed",
    );
    const publish = this.options.publish;
    await runLoops(
      signal,
      {
        sockets: [this.sub],
        every: [
          { ms: config.statsMs, run: () => this.logStats() },
          ...(publish ? [{ ms: VIEW_MS, run: () => publish(engineView(this.snapshot())) }] : []),
        ],
        log,
      },
      () => receiveLoop(this.sub, signal, (frames) => this.onMessage(frames), { log, name: "camera", stats: this.loop }),
    );
    this.logStats("engine stopped");
    return this.exitCode;
  }

  private logStats(msg = "engine stats"): void {
    const s = this.snapshot();
    this.log.info(
      {
        frames: s.frames,
        fps: Math.round(s.fps * 10) / 10,
        gaps: s.gaps,
        refused: s.refused,
        badChecksums: s.badChecksums,
        checked: s.checked,
        resyncs: s.resyncs,
        skipped: s.skipped,
        p50: s.p50,
        p99: s.p99,
        spanMs: Math.round(this.lastAt - this.firstAt),
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      },
      msg,
    );
  }

  /** The newest message queued, counting the ones it replaces as skipped (the latest-frame mode, a resync). */
  private async drain(frames: Buffer[]): Promise<{ frames: Buffer[]; dropped: number }> {
    let dropped = 0;
    while (!this.sub.closed && this.sub.readable) {
      frames = await this.sub.receive();
      dropped += 1;
    }
    return { frames, dropped };
  }

  private async onMessage(received: Buffer[]): Promise<void> {
    let frames = received;
    if (this.config.latest) {
      const d = await this.drain(frames);
      frames = d.frames;
      this.skipped += d.dropped;
    }
    await this.onFrame(fromCamera(frames));
  }

  private async onFrame(msg: FromCamera): Promise<void> {
    if (msg.kind === "invalid") {
      this.refused += 1;
      this.log.warn({ reason: msg.reason, refused: this.refused }, "malformed frame dropped");
      return;
    }
    const { header: h, payload } = msg;
    const lag = Date.now() - h.ts;
    this.lastLagMs = lag;
    const verdict = snail(lag, this.config.maxLagMs, this.config.onLag);
    if (verdict === "exit") {
      this.log.fatal(
        { lagMs: lag, maxLagMs: this.config.maxLagMs, seq: h.seq },
        "Suicidal Snail: this engine is too slow for the camera; exiting",
      );
      this.exitCode = EXIT_SNAIL;
      this.sub.close();
      return;
    }
    if (verdict === "resync") {
      const { dropped } = await this.drain([]);
      this.resyncs += 1;
      this.skipped += dropped + 1;
      this.log.warn(
        { lagMs: lag, maxLagMs: this.config.maxLagMs, seq: h.seq, dropped: dropped + 1 },
        "lagging past the limit: dropped the queue, resyncing to the newest frame",
      );
      // The seq after a resync is not a gap of the camera's: start counting afresh.
      const state = this.cameras.get(h.camera);
      if (state) state.lastSeq = undefined;
      return;
    }
    if (!this.cameras.has(h.camera) && this.cameras.size >= MAX_CAMERAS) {
      this.refused += 1;
      this.log.warn({ camera: h.camera, refused: this.refused }, `frame from a camera over the ${MAX_CAMERAS} followed dropped`);
      return;
    }
    const state = this.stateFor(h.camera, h.width, h.height);
    const gap = gapBetween(state.lastSeq, h.seq);
    if (gap > 0) {
      state.gaps += gap;
      this.gaps += gap;
    }
    state.lastSeq = h.seq;
    if (this.config.verify && h.sum >= 0) {
      this.checked += 1;
      if (frameChecksum(payload) !== h.sum) {
        this.badChecksums += 1;
        this.log.error({ camera: h.camera, seq: h.seq, badChecksums: this.badChecksums }, "frame corrupted: checksum mismatch");
      }
    }
    const stats = analyse(h, payload, state.samples, state.previous, this.config.sampleStep);
    [state.previous, state.samples] = [state.samples, state.previous ?? new Uint8Array(state.samples.length)];
    state.histogram = stats.histogram;
    state.meanLuma = stats.meanLuma;
    state.motion = stats.motion;
    if (this.config.costMs > 0) await pause(this.config.costMs);
    const now = performance.now();
    this.latencies.push(Date.now() - h.ts);
    this.rate.mark(now);
    if (this.frames === 0) this.firstAt = now;
    this.lastAt = now;
    state.frames += 1;
    this.frames += 1;
  }

  private stateFor(camera: string, width: number, height: number): CameraState {
    let s = this.cameras.get(camera);
    if (!s || s.width !== width || s.height !== height) {
      // A new camera, or one whose size changed: its subsample buffers are sized by values the
      // decoder has bounded (at most 3840x2160 bytes at step 1), and the cameras a SUB hears are few.
      s = {
        lastSeq: s?.lastSeq,
        frames: s?.frames ?? 0,
        gaps: s?.gaps ?? 0,
        samples: new Uint8Array(sampleCount(width, height, this.config.sampleStep)),
        previous: undefined,
        width,
        height,
        histogram: [],
        meanLuma: 0,
        motion: undefined,
      };
      this.cameras.set(camera, s);
    }
    return s;
  }
}
