import { type Logger, peerLimits, receiveLoop, runLoops, untilAborted, type View } from "@zlabs/kit";
import { Subscriber } from "zeromq";
import { type Direction, decodeLookup, FE_TO_BE, type FromTap, fromTap, peerName } from "./protocol.ts";
import { type AuditorSnapshot, auditorView, RateWindow, VIEW_MS } from "./view.ts";

/** Audit lines printed a second at most; the rest are summed up once a second. */
export const AUDIT_LINES_PER_SECOND = 5;
/** A stalled auditor's receive queue (ZMQ_RCVHWM) and kernel buffer (SO_RCVBUF): small, so they fill soon. */
const STALLED_HWM = 10;
const STALLED_RCVBUF = 4096;

export interface AuditorConfig {
  tap: string;
  /** Subscribe, then never read: a consumer that has stalled. */
  stall: boolean;
}

/**
 * A consumer of the proxy's capture tap: it prints who asked for which customer (the audit trail
 * a compliance team wants), counts both directions, and finds what it missed from the sequence
 * numbers. With --stall it subscribes and never reads, to show that the proxy does not wait for it.
 */
export class Auditor {
  readonly captured = { "fe>be": 0, "be>fe": 0 };
  readonly missed = { "fe>be": 0, "be>fe": 0 };
  private readonly lastSeq = { "fe>be": 0, "be>fe": 0 };
  invalid = 0;
  private printed = 0;
  private suppressed = 0;
  private readonly rates = new RateWindow();

  constructor(
    private readonly config: AuditorConfig,
    private readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const socket = new Subscriber({
      linger: 0,
      ...peerLimits(),
      ...(this.config.stall ? { receiveHighWaterMark: STALLED_HWM, receiveBufferSize: STALLED_RCVBUF } : {}),
    });
    socket.subscribe();
    socket.connect(this.config.tap);
    this.log.info(
      { tap: this.config.tap, stall: this.config.stall },
      this.config.stall ? "subscribed to the tap; reading nothing" : "auditing the tap",
    );
    const publish = this.publish;
    await runLoops(
      signal,
      {
        sockets: [socket],
        every: [
          { ms: 1000, run: () => this.summarise() },
          ...(publish ? [{ ms: VIEW_MS, run: () => publish(auditorView(this.snapshot())) }] : []),
        ],
        log: this.log,
      },
      () =>
        this.config.stall
          ? untilAborted(signal)
          : receiveLoop(socket, signal, (frames) => this.onCapture(fromTap(frames)), { log: this.log, name: "tap" }),
    );
  }

  snapshot(): AuditorSnapshot {
    const [perSecond = 0] = this.rates.update("all", performance.now(), [this.captured["fe>be"] + this.captured["be>fe"]]);
    return { stalled: this.config.stall, captured: { ...this.captured }, missed: { ...this.missed }, invalid: this.invalid, perSecond };
  }

  onCapture(msg: FromTap): void {
    if (msg.kind === "invalid") {
      this.invalid += 1;
      this.log.warn({ reason: msg.reason, total: this.invalid }, "not a capture message; dropped");
      return;
    }
    const d: Direction = msg.direction;
    this.captured[d] += 1;
    // The first message seen sets the start: a late subscriber has not missed what came before.
    if (this.lastSeq[d] > 0 && msg.seq > this.lastSeq[d] + 1) this.missed[d] += msg.seq - this.lastSeq[d] - 1;
    this.lastSeq[d] = Math.max(this.lastSeq[d], msg.seq);
    if (d === FE_TO_BE) this.audit(msg.frames);
  }

  /** One line per request: which client asked for which customer (frames: id, [request id], "", lookup). */
  private audit(frames: Buffer[]): void {
    if (this.printed >= AUDIT_LINES_PER_SECOND) {
      this.suppressed += 1;
      return;
    }
    this.printed += 1;
    const body = frames[frames.length - 1];
    const lookup = decodeLookup(body);
    const client = peerName(frames[0] as Buffer);
    if (lookup.ok) this.log.info({ client, customer: lookup.value.customer }, "AUDIT lookup");
    else this.log.info({ client, frames: frames.length, why: lookup.reason }, "AUDIT request that is not a lookup");
  }

  private summarise(): void {
    if (this.suppressed > 0) this.log.info({ requests: this.suppressed }, "AUDIT more requests this second (not printed)");
    this.printed = 0;
    this.suppressed = 0;
  }
}
