import { bindAll, type Logger, type LoopStats, MAX_MESSAGE_BYTES, peerLimits, receiveLoop, runLoops, type View, Wakeup } from "@zlabs/kit";
import { Dealer, Reply, Router, type Socket } from "zeromq";
import { Capture, type CaptureConfig, type CaptureCounters } from "./capture.ts";
import { PeerTable } from "./peers.ts";
import {
  BE_TO_FE,
  type Command,
  EMPTY,
  encodeStatistics,
  FE_TO_BE,
  type FromControl,
  fromControl,
  type ProxyStatistics,
} from "./protocol.ts";
import { type ProxySnapshot, proxyView, RateWindow, VIEW_MS } from "./view.ts";

/** The control socket takes commands of a few bytes: a bigger message drops the connection (libzmq). */
export const CONTROL_MAX_BYTES = 1024;
/** Handshake failures are logged once in this long at most (the rest counted into the next line). */
export const HANDSHAKE_LOG_MS = 5000;
/** How often capture drops are summarised in the log (a line only when there were new ones). */
export const DROP_LOG_MS = 5000;

export interface ProxyConfig {
  /** ROUTER for clients. */
  front: string;
  /** DEALER for the services. */
  back: string;
  /** REP for zmq_proxy_steerable's commands. */
  control: string;
  capture: Omit<CaptureConfig, "tap"> & { tap?: string };
  maxPeers: number;
  /**
   * STATISTICS counts every frame, as libzmq's master branch does; false (the default): a multipart
   * message counts once, as every libzmq 4.3 release does (4.3.4 checked against pyzmq in the tests).
   */
  countFrames?: boolean;
  /** The largest frame taken from a client or a service (ZMQ_MAXMSGSIZE on the front and back). */
  maxMessageBytes?: number;
}

export type SocketName = "front" | "back" | "control" | "capture";

/** What the socket monitor (socket.events) saw on one socket. */
export interface MonitorCounters {
  accepted: number;
  /** ZMTP handshakes completed. */
  handshakes: number;
  handshakeFailures: number;
  disconnected: number;
  acceptFailures: number;
}

export interface ProxyOptions {
  /** Where the live view goes (the kit's publishView); none in the tests. */
  publish?: (view: View) => void;
  now?: () => number;
}

const newMonitor = (): MonitorCounters => ({ accepted: 0, handshakes: 0, handshakeFailures: 0, disconnected: 0, acceptFailures: 0 });

/**
 * The monitored proxy: zmq_proxy_steerable written by hand. Two loops, one per direction, forward
 * every message as it came (the frames untouched), count what libzmq's STATISTICS counts (messages
 * and bytes, or frames and bytes with countFrames), count per client, hand each message to the capture, and stop reading while PAUSED; a
 * third loop serves the control socket. Each socket's monitor events are logged and counted.
 */
export class MonitoredProxy {
  readonly front: Router;
  readonly back: Dealer;
  readonly control = new Reply({ linger: 0, ...peerLimits(CONTROL_MAX_BYTES) });
  readonly capture: Capture;
  readonly peers: PeerTable;
  readonly stats: ProxyStatistics = {
    frontMsgsIn: 0,
    frontBytesIn: 0,
    frontMsgsOut: 0,
    frontBytesOut: 0,
    backMsgsIn: 0,
    backBytesIn: 0,
    backMsgsOut: 0,
    backBytesOut: 0,
  };
  readonly monitor: Record<SocketName, MonitorCounters> = {
    front: newMonitor(),
    back: newMonitor(),
    control: newMonitor(),
    capture: newMonitor(),
  };
  readonly endpoints = { front: "", back: "", control: "", capture: "" };
  /** Commands that were not one of the four, or not one frame. */
  invalidCommands = 0;
  readonly commands: Record<Command, number> = { PAUSE: 0, RESUME: 0, TERMINATE: 0, STATISTICS: 0 };
  readonly controlLoop: LoopStats = { received: 0, failed: 0 };
  private paused = false;
  private pausedAt = 0;
  private readonly resumed = new Wakeup();
  /** Aborted by TERMINATE, or by the role's own signal. */
  private readonly terminate = new AbortController();
  private readonly rates: RateWindow;
  private readonly now: () => number;

  constructor(
    private readonly config: ProxyConfig,
    private readonly log: Logger,
    private readonly options: ProxyOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    const limits = peerLimits(config.maxMessageBytes ?? MAX_MESSAGE_BYTES);
    // handover: a client that reconnects under its routing id takes its id back at once.
    // sendTimeout 0: a ROUTER send never waits (a reply for a client gone is dropped, as libzmq's proxy does).
    this.front = new Router({ linger: 0, handover: true, sendTimeout: 0, ...limits });
    // The DEALER's send waits while no service is connected or all are full: requests then stay in
    // ZeroMQ's queues (and the front end is not read), as with zmq_proxy.
    this.back = new Dealer({ linger: 0, ...limits });
    this.capture = new Capture({ ...config.capture }, log);
    this.peers = new PeerTable(config.maxPeers);
    this.rates = new RateWindow();
    // Monitor events are observed from before the bind, so not one accept is missed.
    this.observe("front", this.front);
    this.observe("back", this.back);
    this.observe("control", this.control);
    if (this.capture.tap) this.observe("capture", this.capture.tap);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  async bind(): Promise<void> {
    const sockets: Partial<Record<SocketName, [Socket, string]>> = {
      front: [this.front, this.config.front],
      back: [this.back, this.config.back],
      control: [this.control, this.config.control],
    };
    if (this.capture.tap && this.config.capture.tap) sockets.capture = [this.capture.tap, this.config.capture.tap];
    await this.capture.open();
    Object.assign(this.endpoints, await bindAll(this.log, sockets as Record<SocketName, [Socket, string]>));
  }

  /** A copy of the counters STATISTICS sends. */
  statistics(): ProxyStatistics {
    return { ...this.stats };
  }

  snapshot(): ProxySnapshot {
    const now = this.now();
    return {
      paused: this.paused,
      pausedForMs: this.paused ? now - this.pausedAt : 0,
      stats: this.statistics(),
      peers: this.peers.list(),
      peersForgotten: this.peers.forgotten,
      monitor: structuredClone(this.monitor),
      capture: { ...this.capture.counters } as CaptureCounters,
      tap: this.endpoints.capture || undefined,
      file: this.config.capture.file,
      invalidCommands: this.invalidCommands,
      unit: this.config.countFrames ? "frames" : "messages",
      now,
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.front) await this.bind();
    const stop = () => this.terminate.abort();
    signal.addEventListener("abort", stop, { once: true });
    if (signal.aborted) stop();
    const inner = this.terminate.signal;
    const log = this.log;
    const publish = this.options.publish;
    try {
      await runLoops(
        inner,
        {
          sockets: [this.front, this.back, this.control, this.capture.tap],
          every: [
            { ms: DROP_LOG_MS, run: () => this.capture.logDrops() },
            ...(publish ? [{ ms: VIEW_MS, run: () => publish(proxyView(this.snapshot(), this.rates)) }] : []),
          ],
          onAbort: () => this.resumed.wake(),
          log,
        },
        () => this.forwardRequests(inner),
        () => this.forwardReplies(inner),
        () =>
          receiveLoop(this.control, inner, (frames) => this.onControl(fromControl(frames)), {
            log,
            name: "control",
            stats: this.controlLoop,
          }),
        () => this.capture.run(inner),
      );
    } finally {
      signal.removeEventListener("abort", stop);
      this.capture.logDrops();
    }
    if (!signal.aborted) log.info({ ...this.stats }, "terminated by the control socket");
  }

  /** Front to back: requests. The hot path: no allocation but the frames, no log. */
  private async forwardRequests(signal: AbortSignal): Promise<void> {
    const { front, back, stats, peers, capture } = this;
    const capturing = capture.enabled;
    const countFrames = this.config.countFrames === true;
    while (!signal.aborted) {
      if (this.paused) await this.untilResumed(signal);
      let frames: Buffer[];
      try {
        frames = await front.receive();
      } catch (err) {
        if (signal.aborted || front.closed) return;
        if ((err as { code?: string }).code === "EAGAIN") continue;
        throw err;
      }
      let bytes = 0;
      for (const f of frames) bytes += f.length;
      const n = countFrames ? frames.length : 1;
      stats.frontMsgsIn += n;
      stats.frontBytesIn += bytes;
      peers.request(frames[0] as Buffer, bytes, this.now());
      // A message read just as PAUSE arrived is held, not forwarded, until RESUME: nothing is lost.
      if (this.paused) await this.untilResumed(signal);
      if (signal.aborted) return;
      if (capturing) capture.record(FE_TO_BE, frames);
      try {
        await back.send(frames);
      } catch (err) {
        if (signal.aborted || back.closed) return;
        throw err;
      }
      stats.backMsgsOut += n;
      stats.backBytesOut += bytes;
    }
  }

  /** Back to front: replies, routed by their first frame (the client's routing id) by the ROUTER. */
  private async forwardReplies(signal: AbortSignal): Promise<void> {
    const { front, back, stats, peers, capture } = this;
    const capturing = capture.enabled;
    const countFrames = this.config.countFrames === true;
    while (!signal.aborted) {
      if (this.paused) await this.untilResumed(signal);
      let frames: Buffer[];
      try {
        frames = await back.receive();
      } catch (err) {
        if (signal.aborted || back.closed) return;
        if ((err as { code?: string }).code === "EAGAIN") continue;
        throw err;
      }
      let bytes = 0;
      for (const f of frames) bytes += f.length;
      const n = countFrames ? frames.length : 1;
      stats.backMsgsIn += n;
      stats.backBytesIn += bytes;
      if (this.paused) await this.untilResumed(signal);
      if (signal.aborted) return;
      peers.reply(frames[0], bytes, this.now());
      if (capturing) capture.record(BE_TO_FE, frames);
      try {
        // Never waits (send timeout 0, not mandatory): a reply to a client gone is dropped by libzmq.
        await front.send(frames);
      } catch (err) {
        if (signal.aborted || front.closed) return;
        // A full client (its HWM reached): dropped as libzmq's ROUTER drops it; still counted as sent.
        if ((err as { code?: string }).code !== "EAGAIN") throw err;
      }
      stats.frontMsgsOut += n;
      stats.frontBytesOut += bytes;
    }
  }

  private async untilResumed(signal: AbortSignal): Promise<void> {
    while (this.paused && !signal.aborted) await this.resumed.wait();
  }

  /** A command: applied, answered as libzmq answers it on a REP control socket. */
  private async onControl(msg: FromControl): Promise<void> {
    if (msg.kind === "invalid") {
      this.invalidCommands += 1;
      this.log.warn({ reason: msg.reason, total: this.invalidCommands }, "unknown control command: nothing changed");
      await this.control.send(EMPTY);
      return;
    }
    const command = msg.command;
    this.commands[command] += 1;
    switch (command) {
      case "STATISTICS":
        await this.control.send(encodeStatistics(this.stats));
        this.log.info({ ...this.stats }, "STATISTICS sent");
        return;
      case "PAUSE":
        if (!this.paused) {
          this.paused = true;
          this.pausedAt = this.now();
        }
        this.log.info({ ...this.stats }, "PAUSE: forwarding stopped, messages wait in ZeroMQ's queues");
        break;
      case "RESUME":
        if (this.paused) {
          const pausedMs = Math.round(this.now() - this.pausedAt);
          this.paused = false;
          this.resumed.wake();
          this.log.info({ pausedMs }, "RESUME: forwarding again, the queues drain");
        } else this.log.info("RESUME: was not paused");
        break;
      case "TERMINATE":
        this.log.info("TERMINATE: stopping");
        break;
    }
    await this.control.send(EMPTY);
    if (command === "TERMINATE") this.terminate.abort();
  }

  /** Socket monitor events (libzmq's zmq_socket_monitor, zeromq.js socket.events): logged and counted. */
  private observe(name: SocketName, socket: Socket): void {
    const counters = this.monitor[name];
    const events = socket.events;
    events.on("accept", (e) => {
      counters.accepted += 1;
      this.log.info({ socket: name, address: e.address, accepted: counters.accepted }, "peer connected");
    });
    events.on("handshake", () => {
      counters.handshakes += 1;
    });
    events.on("disconnect", (e) => {
      counters.disconnected += 1;
      this.log.info({ socket: name, address: e.address, disconnected: counters.disconnected }, "peer disconnected");
    });
    // A peer that fails its handshake reconnects every 100 ms: one line a HANDSHAKE_LOG_MS at most.
    let loggedAt = Number.NEGATIVE_INFINITY;
    let unlogged = 0;
    const failed = (e: { address: string; error: Error & { code?: string; status?: number } }) => {
      counters.handshakeFailures += 1;
      const now = this.now();
      if (now - loggedAt < HANDSHAKE_LOG_MS) {
        unlogged += 1;
        return;
      }
      this.log.warn(
        {
          socket: name,
          address: e.address,
          why: e.error.code ?? e.error.status ?? e.error.message,
          failures: counters.handshakeFailures,
          ...(unlogged ? { sinceLastLine: unlogged + 1 } : {}),
        },
        "handshake failed",
      );
      loggedAt = now;
      unlogged = 0;
    };
    events.on("handshake:error:protocol", failed);
    events.on("handshake:error:auth", failed);
    events.on("handshake:error:other", failed);
    events.on("accept:error", (e) => {
      counters.acceptFailures += 1;
      this.log.warn({ socket: name, address: e.address, why: e.error.message }, "accept failed");
    });
  }
}
