import { type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Dealer, Push } from "zeromq";
import { encodeHello, F, type WorkerKind } from "./protocol.ts";
import { VIEW_MS, type WorkerSnapshot, workerView } from "./view.ts";

export interface WorkerConfig {
  name: string;
  work: string;
  sink: string;
  heartbeatMs: number;
}

/** A worker's two sockets: a DEALER to the master's work ROUTER, a PUSH to its sink; and the heartbeat. */
export class WorkerSockets {
  readonly work: Dealer;
  readonly sink: Push;
  private readonly workOut: SendQueue;
  private readonly hello: Buffer;

  constructor(
    config: WorkerConfig,
    kind: WorkerKind,
    private readonly log: Logger,
    maxMessageSize: number,
  ) {
    this.work = new Dealer({ linger: 0, maxMessageSize, receiveHighWaterMark: 0 });
    this.sink = new Push({ linger: 1000, sendHighWaterMark: 10_000 });
    this.work.connect(config.work);
    this.sink.connect(config.sink);
    this.workOut = new SendQueue(this.work);
    this.hello = encodeHello({ kind, name: config.name });
  }

  /** READY: on connect and then every heartbeat interval (the master counts workers in with it). */
  ready(): void {
    this.workOut.send([F.READY, this.hello]).catch((err: unknown) => this.log.debug({ err }, "READY not sent"));
  }
}

/**
 * What a map worker and a reduce worker share: the two sockets, READY on start and every heartbeat,
 * the live view, and one receive loop on the work DEALER handing each message to `onMaster`.
 */
export abstract class WorkerBase {
  protected readonly sockets: WorkerSockets;
  protected readonly rate = new Rate();
  dropped = 0;
  readonly loop: LoopStats = { received: 0, failed: 0 };

  constructor(
    protected readonly base: WorkerConfig,
    protected readonly kind: WorkerKind,
    protected readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {
    this.sockets = new WorkerSockets(base, kind, log, peerLimits().maxMessageSize);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { work, sink } = this.sockets;
    const publish = this.publish;
    this.sockets.ready();
    this.log.info({ name: this.base.name, work: this.base.work, sink: this.base.sink }, `${this.kind} worker ready`);
    await runLoops(
      signal,
      {
        sockets: [work, sink],
        every: [
          { ms: this.base.heartbeatMs, run: () => this.sockets.ready() },
          ...(publish ? [{ ms: VIEW_MS, run: () => publish(workerView(this.snapshot())) }] : []),
        ],
        log: this.log,
      },
      () => receiveLoop(work, signal, (frames) => this.onMaster(frames, signal), { log: this.log, name: "work", stats: this.loop }),
    );
  }

  abstract snapshot(): WorkerSnapshot;
  protected abstract onMaster(frames: Buffer[], signal: AbortSignal): Promise<void> | undefined;

  /** A message dropped: logged and counted. */
  protected drop(fields: Record<string, unknown>, msg: string): void {
    this.dropped += 1;
    this.log.warn({ ...fields, total: this.dropped }, msg);
  }
}

/** Records counted over a sliding window of a few seconds, for the views' records/s. */
export class Rate {
  private readonly marks: [number, number][] = [];
  constructor(private readonly windowMs = 5000) {}
  add(at: number, n: number): void {
    this.marks.push([at, n]);
    while (this.marks.length > 0 && (this.marks[0] as [number, number])[0] < at - this.windowMs) this.marks.shift();
  }
  perSecond(now: number): number {
    while (this.marks.length > 0 && (this.marks[0] as [number, number])[0] < now - this.windowMs) this.marks.shift();
    const total = this.marks.reduce((s, [, n]) => s + n, 0);
    return (total * 1000) / this.windowMs;
  }
}
