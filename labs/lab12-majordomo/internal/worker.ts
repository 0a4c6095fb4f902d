import { type Logger, pause, peerLimits, SendQueue } from "@zlabs/kit";
import { Dealer } from "zeromq";
import {
  DISCONNECT,
  fromBroker,
  HEARTBEAT,
  isMmi,
  isServiceName,
  MAX_BODY_FRAMES,
  workerCommand,
  workerReady,
  workerReply,
} from "./mdp.ts";

export interface MdpWorkerOptions {
  /** The broker's endpoint. */
  broker: string;
  /** The one service this worker offers (RFC 7: one worker, one service). */
  service: string;
  /** Heartbeat interval, ms: must match the broker's (RFC 7's known weakness). */
  heartbeatMs: number;
  /** Heartbeat intervals without a word from the broker before it counts as gone. */
  liveness: number;
  /** Pause before connecting again after the broker went silent, ms. */
  reconnectMs: number;
  /** The largest request frame taken; the kit's 1 MiB by default. */
  maxMessageBytes?: number;
}

export type WorkerState = "connecting" | "idle" | "busy";

export interface WorkerStats {
  requests: number;
  replies: number;
  /** Handler errors: the worker sends DISCONNECT and registers again; the broker sends the request once more elsewhere. */
  failed: number;
  /** Registrations after the first: after a DISCONNECT, a silent broker, or a failed request. */
  reconnects: number;
  /** DISCONNECTs received from the broker. */
  disconnects: number;
  /** Messages from the broker dropped as malformed or unexpected. */
  dropped: number;
}

/** Why a session (one socket, one registration) ended. */
type Ending = "stopped" | "disconnect" | "silent" | "failed";

/**
 * The Majordomo worker (the Guide's mdwrkapi): a DEALER that sends READY for its service, answers
 * each REQUEST with one REPLY, and heartbeats both ways. The broker counts as gone after
 * `liveness` silent intervals: the worker closes its socket, waits `reconnectMs`, and registers
 * again on a new socket. On DISCONNECT (a restarted broker that does not know it answers its
 * next HEARTBEAT so) it closes and registers again at once, without waiting for liveness to run out.
 *
 * The handler runs while the socket loop goes on, so heartbeats keep flowing during a long
 * request: the broker can then tell a busy worker from a dead one, and re-dispatch only the
 * requests of the dead. A handler that throws makes the worker send DISCONNECT and register
 * again: the broker sends that request to another worker (once), instead of it hanging here.
 */
export class MdpWorker {
  state: WorkerState = "connecting";
  readonly stats: WorkerStats = { requests: 0, replies: 0, failed: 0, reconnects: 0, disconnects: 0, dropped: 0 };

  constructor(
    private readonly options: MdpWorkerOptions,
    private readonly log: Logger,
  ) {}

  async run(signal: AbortSignal, handle: (body: Buffer[]) => Promise<Buffer[]>): Promise<void> {
    const { service } = this.options;
    if (!isServiceName(service) || isMmi(service))
      throw new TypeError(`cannot offer service ${JSON.stringify(service)} (mmi.* belongs to the broker)`);
    while (!signal.aborted) {
      const ending = await this.session(signal, handle);
      this.state = "connecting";
      if (signal.aborted || ending === "stopped") break;
      this.stats.reconnects += 1;
      if (ending === "silent") await pause(this.options.reconnectMs, signal);
    }
  }

  /** One registration: a fresh socket, READY, then requests and heartbeats until it ends. */
  private async session(signal: AbortSignal, handle: (body: Buffer[]) => Promise<Buffer[]>): Promise<Ending> {
    const { broker, service, heartbeatMs, liveness } = this.options;
    const log = this.log;
    const socket = new Dealer({ linger: 0, ...peerLimits(this.options.maxMessageBytes) });
    socket.connect(broker);
    const sends = new SendQueue(socket);
    let lastHeard = performance.now();
    let lastSent = 0;
    let ending: Ending = "stopped";
    let busy = false;
    const end = (why: Ending) => {
      ending = why;
      if (!socket.closed) socket.close();
    };
    const send = (frames: Buffer[]) => {
      lastSent = performance.now();
      return sends.send(frames).catch((err: unknown) => {
        if (!socket.closed) log.warn({ err }, "send to the broker failed");
      });
    };
    void send(workerReady(service));
    this.state = "idle";
    log.info({ service, broker }, "registered with the broker (READY)");
    const timer = setInterval(() => {
      const now = performance.now();
      if (now - lastHeard > heartbeatMs * liveness) {
        log.warn({ silentMs: Math.round(now - lastHeard) }, "broker silent: connecting again on a new socket");
        end("silent");
      } else if (now - lastSent >= heartbeatMs / 2) void send(workerCommand(HEARTBEAT));
    }, heartbeatMs);
    // RFC 7: the worker MAY send DISCONNECT at any time; on stop it does, then closes.
    const onAbort = () => {
      void send(workerCommand(DISCONNECT)).finally(() => end("stopped"));
      setTimeout(() => end("stopped"), 200).unref();
    };
    signal.addEventListener("abort", onAbort, { once: true });

    const serve = async (client: Buffer, body: Buffer[]) => {
      busy = true;
      this.state = "busy";
      this.stats.requests += 1;
      let reply: Buffer[];
      try {
        reply = await handle(body);
        if (!Array.isArray(reply) || reply.length === 0 || reply.length > MAX_BODY_FRAMES)
          throw new RangeError(`a reply body has 1 to ${MAX_BODY_FRAMES} frames`);
      } catch (err) {
        this.stats.failed += 1;
        log.error({ err, failed: this.stats.failed }, "request failed: DISCONNECT, so the broker sends it to another worker");
        if (!socket.closed) await send(workerCommand(DISCONNECT));
        end("failed");
        return;
      } finally {
        busy = false;
      }
      if (socket.closed) {
        log.warn("reply dropped: the connection it came on is gone (the broker sends the request again)");
        return;
      }
      this.state = "idle";
      this.stats.replies += 1;
      await send(workerReply(client, reply));
    };

    try {
      while (!socket.closed) {
        let frames: Buffer[];
        try {
          frames = await socket.receive();
        } catch (err) {
          if (socket.closed) break;
          if ((err as { code?: string }).code === "EAGAIN") continue;
          throw err;
        }
        lastHeard = performance.now();
        const msg = fromBroker(frames);
        switch (msg.kind) {
          case "heartbeat":
            break;
          case "disconnect":
            this.stats.disconnects += 1;
            log.warn("DISCONNECT from the broker: registering again on a new socket");
            end("disconnect");
            break;
          case "request":
            if (busy) {
              this.drop("a second REQUEST while one is in progress");
              break;
            }
            void serve(msg.client, msg.body);
            break;
          case "invalid":
            this.drop(msg.reason);
            break;
        }
      }
    } finally {
      clearInterval(timer);
      signal.removeEventListener("abort", onAbort);
      if (!socket.closed) socket.close();
    }
    return ending;
  }

  private drop(reason: string): void {
    this.stats.dropped += 1;
    this.log.warn({ reason, dropped: this.stats.dropped }, "message from the broker dropped");
  }
}
