import { bindAll, type Logger, pause, peerLimits, type View } from "@zlabs/kit";
import { Publisher } from "zeromq";
import { RateMeter } from "./analysis.ts";
import { encodeHeader, FORMAT_NV12, frameChecksum, nv12Bytes, topicOf } from "./protocol.ts";
import { drawFrame } from "./scene.ts";
import { type CameraSnapshot, cameraView, VIEW_MS } from "./view.ts";

/** Frames queued per subscriber before PUB drops for it: HWM counts messages, and one is 12 MB. */
export const CAMERA_SNDHWM = 4;
export const CAMERA_FPS = 4;
/** How often the camera logs its counts (one line, not one per frame). */
export const STATS_MS = 10_000;
/**
 * Buffers allocated per frame, counted at the allocation sites (`allocations`): the encoded header
 * always (88 bytes: zeromq.js copies a part of 128 bytes or less into libzmq at send()), and the
 * payload only when it is drawn live (a fresh Buffer: see below). A ring of pre-rendered frames
 * (`loop`) allocates no payload. The topic is one Buffer for the camera's life.
 */
export const ALLOCATIONS_LIVE = 2;
export const ALLOCATIONS_RING = 1;

export interface CameraConfig {
  endpoint: string;
  camera: string;
  width: number;
  height: number;
  stride: number;
  /** Frames a second; 0: as fast as the camera can draw (benchmarks). */
  fps: number;
  /** Stop after this many frames; 0: run until stopped. */
  frames: number;
  sndHwm: number;
  checksum: boolean;
  /**
   * 0: draw every frame live into a fresh Buffer (the demo). N > 0: a ring of N pre-rendered
   * frames, drawn once at the start and then IMMUTABLE: each is sent as it is when its turn comes,
   * again and again, and never written after its first send (benchmarks: no drawing, no copy and
   * no allocation per frame, so the transport is what is measured).
   */
  loop: number;
  statsMs: number;
}

export interface CameraOptions {
  publish?: (view: View) => void;
}

/**
 * The camera: publishes frames of a moving scene. zeromq.js sends a Buffer this large zero-copy:
 * libzmq reads the Buffer's own memory, from its I/O thread, after `send()` has resolved, for as
 * long as the frame waits in the HWM queue and in the TCP send path, and nothing tells JavaScript
 * when it is done. Reusing a pooled buffer after send() resolves corrupts frames (patterns.md,
 * Lab 18: 20 of 20). So a payload is never written after its first send(), by one of two
 * strategies, both provably safe because no byte libzmq may read is ever rewritten:
 * - live (loop 0, the demo): each frame is drawn into a FRESH Buffer, sent, and dropped; V8 frees
 *   it once libzmq has released it (zeromq.js keeps a reference until then). One allocation a frame.
 * - ring (loop N): N frames drawn once before the first send and never written again; each is sent
 *   as it is, as often as its turn comes. libzmq may read a ring frame whenever it likes, as often
 *   as it likes (several queued sends of one frame share its bytes, as the bare PUB's do): nothing
 *   writes it. No payload allocation, no copy.
 */
export class CameraFeed {
  private readonly pub: Publisher;
  readonly topic: Buffer;
  readonly frameBytes: number;
  endpoint = "";
  sent = 0;
  /** Buffers allocated for frames and headers since the start. */
  allocations = 0;
  private drawMs = 0;
  private sendMs = 0;
  private readonly startedAt = performance.now();
  private readonly rate = new RateMeter(5000, this.startedAt);

  constructor(
    private readonly config: CameraConfig,
    private readonly log: Logger,
    private readonly options: CameraOptions = {},
  ) {
    // A PUB receives subscriptions from its peers: the kit's 1 MiB limit applies to them.
    this.pub = new Publisher({ linger: 0, sendHighWaterMark: config.sndHwm, ...peerLimits() });
    this.topic = topicOf(config.camera);
    this.frameBytes = nv12Bytes(config.stride, config.height);
  }

  async bind(): Promise<string> {
    this.endpoint = (await bindAll(this.log, { camera: [this.pub, this.config.endpoint] })).camera;
    return this.endpoint;
  }

  snapshot(): CameraSnapshot {
    const now = performance.now();
    const mem = process.memoryUsage();
    return {
      camera: this.config.camera,
      width: this.config.width,
      height: this.config.height,
      frameBytes: this.frameBytes,
      targetFps: this.config.fps,
      sent: this.sent,
      fps: this.rate.perSecond(now),
      drawMs: this.drawMs,
      sendMs: this.sendMs,
      allocationsPerFrame: this.sent ? this.allocations / this.sent : 0,
      ring: this.config.loop,
      rssMiB: mem.rss / 2 ** 20,
      externalMiB: mem.arrayBuffers / 2 ** 20,
      checksum: this.config.checksum,
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoint) await this.bind();
    const { config, log } = this;
    const publish = this.options.publish;
    const timers = [
      setInterval(() => {
        const s = this.snapshot();
        log.info({ sent: s.sent, fps: round(s.fps), rssMiB: round(s.rssMiB), externalMiB: round(s.externalMiB) }, "camera stats");
      }, config.statsMs),
      ...(publish ? [setInterval(() => publish(cameraView(this.snapshot())), VIEW_MS)] : []),
    ];
    const onAbort = () => this.pub.close();
    signal.addEventListener("abort", onAbort, { once: true });
    const geometry = { width: config.width, height: config.height, stride: config.stride };
    const period = config.fps > 0 ? 1000 / config.fps : 0;
    // The ring: drawn here, before any send, and never written again (see the class comment).
    const ring: readonly Readonly<{ payload: Buffer; sum: number }>[] = Array.from({ length: config.loop }, (_, i) => {
      const payload = Buffer.allocUnsafeSlow(this.frameBytes);
      drawFrame(payload, geometry, i);
      return { payload, sum: config.checksum ? frameChecksum(payload) : -1 };
    });
    let next = performance.now();
    log.info(
      {
        camera: config.camera,
        width: config.width,
        height: config.height,
        frameBytes: this.frameBytes,
        fps: config.fps,
        cpuSec: cpuSeconds(),
      },
      "camera on",
    );
    try {
      for (let seq = 0; !signal.aborted && (config.frames === 0 || seq < config.frames); seq++) {
        const t0 = performance.now();
        const ts = Date.now();
        let payload: Buffer;
        let sum = -1;
        const pre = ring[seq % (ring.length || 1)];
        if (pre) {
          // Immutable: sent as it is, never written (see the class comment).
          payload = pre.payload;
          sum = pre.sum;
        } else {
          // A fresh Buffer per frame (never pooled, never reused: see the class comment).
          payload = Buffer.allocUnsafeSlow(this.frameBytes);
          this.allocations += 1;
          drawFrame(payload, geometry, seq);
          if (config.checksum) sum = frameChecksum(payload);
        }
        const header = encodeHeader({
          camera: config.camera,
          seq,
          ts,
          width: config.width,
          height: config.height,
          format: FORMAT_NV12,
          stride: config.stride,
          sum,
        });
        this.allocations += 1;
        const t1 = performance.now();
        // PUB never blocks: a subscriber whose HWM queue is full misses this frame, the others do not.
        await this.pub.send([this.topic, header, payload]);
        const t2 = performance.now();
        this.drawMs = t1 - t0;
        this.sendMs = t2 - t1;
        this.sent += 1;
        this.rate.mark(t2);
        if (period > 0) {
          next += period;
          const wait = next - performance.now();
          if (wait > 0) await pause(wait, signal);
          else next = performance.now();
        } else await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      log.info({ sent: this.sent, allocations: this.allocations, cpuSec: cpuSeconds() }, "camera done");
      for (const t of timers) clearInterval(t);
      signal.removeEventListener("abort", onAbort);
      if (!this.pub.closed) {
        this.pub.linger = 1000;
        this.pub.close();
      }
    }
  }
}

const round = (x: number) => Math.round(x * 10) / 10;
/** CPU time of this process so far (the bench takes the difference between "camera on" and "camera done"). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
