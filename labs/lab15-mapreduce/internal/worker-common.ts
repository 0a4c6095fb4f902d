import type { Logger } from "@zlabs/kit";
import { SendQueue } from "@zlabs/kit";
import { Dealer, Push } from "zeromq";
import { encodeHello, F, type WorkerKind } from "./protocol.ts";

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
