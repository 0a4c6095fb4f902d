import { type Logger, pause, peerLimits, type View, Wakeup } from "@zlabs/kit";
import { Request } from "zeromq";
import { CircuitBreaker } from "./breaker.ts";
import type { Outbox } from "./outbox.ts";
import { encodeReading, fromReceiver, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type Reading } from "./protocol.ts";
import { deviceView, receiverLabel, VIEW_MS } from "./view.ts";

export const REQUEST_TIMEOUT_MS = 2500;
export const BREAKER_THRESHOLD = 3;
export const BREAKER_COOL_DOWN_MS = 10_000;
export const READING_INTERVAL_MS = 1000;
/** How often a device with every receiver unavailable looks again. */
const RECHECK_MS = 250;

export interface DeviceConfig {
  id: string;
  /** In order of preference: primary first. */
  receivers: string[];
  intervalMs: number;
  timeoutMs: number;
  breakerThreshold: number;
  coolDownMs: number;
  /** Take this many readings, deliver them all, then finish (0: run until stopped). */
  count: number;
}

/** A simulated sensor: a temperature drifting around 21 °C. */
function sample(seq: number): { sensor: string; value: number; unit: string } {
  return { sensor: "temperature", value: Math.round((21 + 3 * Math.sin(seq / 10) + Math.random() - 0.5) * 100) / 100, unit: "C" };
}

/**
 * A field device: takes a reading every interval into its on-disk outbox, and sends the oldest one
 * at a time as a Lazy Pirate (fresh REQ socket per attempt, bounded wait) with fail-over: an
 * attempt that gets no reply moves the next attempt to the next receiver in the list, and each
 * receiver's circuit breaker keeps a dead one from costing a timeout on every reading.
 */
export class FieldDevice {
  private readonly breakers: CircuitBreaker[];
  /** Woken when a reading is taken: the send loop has something to do. */
  private readonly readingTaken = new Wakeup();
  private taken = 0;
  delivered = 0;
  /** Replies that were not a valid ack of the reading sent. */
  badAcks = 0;
  failovers = 0;
  /** For the view: acks and timeouts per receiver, the attempt in flight, the reading being delivered. */
  private readonly acked: number[];
  private readonly failed: number[];
  private sending: { receiver: number; seq: number; since: number } | undefined;
  private lastAck = -1;
  private current: Reading | undefined;
  /** Every receiver unavailable (now, or since the outbox last drained). */
  private buffering = false;
  private bufferedSince: { at: number; delivered: number } | undefined;

  constructor(
    private readonly config: DeviceConfig,
    private readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {
    this.breakers = config.receivers.map(() => new CircuitBreaker(config.breakerThreshold, config.coolDownMs));
    this.acked = config.receivers.map(() => 0);
    this.failed = config.receivers.map(() => 0);
  }

  async run(signal: AbortSignal): Promise<void> {
    const sampler = setInterval(() => this.takeReading(), this.config.intervalMs);
    const viewTimer = this.publish ? setInterval(() => this.publish?.(this.view()), VIEW_MS) : undefined;
    if (this.outbox.size > 0) {
      this.log.info({ buffered: this.outbox.size }, "readings left from before; sending them first");
      this.bufferedSince = { at: performance.now(), delivered: this.delivered };
    }
    try {
      while (!signal.aborted) {
        const reading = this.outbox.oldest();
        if (reading) {
          await this.deliver(reading, signal);
          continue;
        }
        if (this.config.count > 0 && this.taken >= this.config.count) break;
        await this.readingTaken.wait(signal);
      }
    } finally {
      clearInterval(sampler);
      clearInterval(viewTimer);
    }
    if (this.config.count > 0 && this.taken >= this.config.count)
      this.log.info({ delivered: this.delivered, dropped: this.outbox.dropped }, "all readings delivered");
  }

  private takeReading(): void {
    if (this.config.count > 0 && this.taken >= this.config.count) return;
    this.taken += 1;
    const reading = this.outbox.add((seq) => ({ v: PROTOCOL_VERSION, device: this.config.id, seq, takenAt: Date.now(), ...sample(seq) }));
    this.log.debug({ seq: reading.seq, buffered: this.outbox.size }, "reading taken");
    this.readingTaken.wake();
  }

  private async deliver(reading: Reading, signal: AbortSignal): Promise<void> {
    let lastFailed = -1;
    this.current = reading;
    for (let attempt = 1; !signal.aborted; ) {
      const target = this.pick(lastFailed);
      if (target === -1) {
        if (!this.buffering) {
          this.log.warn({ seq: reading.seq, buffered: this.outbox.size }, "every receiver unavailable; buffering readings");
          this.bufferedSince ??= { at: performance.now(), delivered: this.delivered };
        }
        this.buffering = true;
        await pause(RECHECK_MS, signal);
        continue;
      }
      this.buffering = false;
      const endpoint = this.config.receivers[target] as string;
      this.sending = { receiver: target, seq: reading.seq, since: performance.now() };
      const ack = await this.requestOnce(endpoint, reading, signal);
      this.sending = undefined;
      if (ack) {
        this.onAck(target, reading, attempt, ack);
        return;
      }
      if (signal.aborted) return;
      this.failed[target] = (this.failed[target] ?? 0) + 1;
      this.failovers += 1;
      const opened = this.breakers[target]?.failure(performance.now());
      this.log.warn({ seq: reading.seq, receiver: endpoint, attempt, circuit: opened ? "opened" : undefined }, "no reply; failing over");
      lastFailed = target;
      attempt += 1;
    }
  }

  /**
   * An ack: the reading leaves the outbox. Only what is news gets a line (the view counts the
   * rest): a delivery after a fail-over, a duplicate, a receiver's circuit closing again, the
   * outbox emptied after every receiver was down.
   */
  private onAck(target: number, reading: Reading, attempt: number, status: string): void {
    const endpoint = this.config.receivers[target] as string;
    if (this.breakers[target]?.success())
      this.log.info({ receiver: endpoint, name: receiverLabel(target) }, "receiver answers again; circuit closed");
    this.outbox.remove(reading.seq);
    this.delivered += 1;
    this.acked[target] = (this.acked[target] ?? 0) + 1;
    this.lastAck = target;
    this.current = undefined;
    const fields = { seq: reading.seq, receiver: endpoint, attempt, status, buffered: this.outbox.size };
    if (attempt > 1 || status !== "stored") this.log.info(fields, "reading delivered");
    else this.log.debug(fields, "reading delivered");
    if (this.bufferedSince && this.outbox.size === 0) {
      const late = this.delivered - this.bufferedSince.delivered;
      this.log.info(
        { delivered: late, afterMs: Math.round(performance.now() - this.bufferedSince.at) },
        "outbox drained: every buffered reading delivered",
      );
      this.bufferedSince = undefined;
    }
  }

  /** The live view: each receiver's circuit, where the reading in hand goes, the outbox. */
  view(): View {
    const now = performance.now();
    const oldest = this.current ?? (this.outbox.size > 0 ? this.outbox.oldest() : undefined);
    return deviceView({
      receivers: this.config.receivers.map((endpoint, i) => ({
        endpoint,
        circuit: this.breakers[i]?.state(now) ?? "closed",
        probeInMs: this.breakers[i]?.probeIn(now) ?? 0,
        acked: this.acked[i] ?? 0,
        failed: this.failed[i] ?? 0,
      })),
      sending: this.sending && { receiver: this.sending.receiver, seq: this.sending.seq, forMs: now - this.sending.since },
      lastAck: this.lastAck,
      timeoutMs: this.config.timeoutMs,
      outbox: this.outbox.size,
      oldest: oldest && { seq: oldest.seq, ageMs: Date.now() - oldest.takenAt },
      delivered: this.delivered,
      failovers: this.failovers,
      outboxDropped: this.outbox.dropped,
      buffering: this.buffering,
    });
  }

  /** The first receiver whose breaker lets a request through, trying another than the one that just failed if there is one. */
  private pick(lastFailed: number): number {
    const now = performance.now();
    const allowed = this.config.receivers.map((_, i) => i).filter((i) => this.breakers[i]?.allows(now));
    return allowed.find((i) => i !== lastFailed) ?? allowed[0] ?? -1;
  }

  /** One attempt on its own socket: the ack status, or undefined for no (valid) reply in time. */
  private async requestOnce(endpoint: string, reading: Reading, signal: AbortSignal): Promise<string | undefined> {
    const { timeoutMs } = this.config;
    const socket = new Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs, ...peerLimits(MAX_MESSAGE_BYTES) });
    const onAbort = () => socket.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      socket.connect(endpoint);
      await socket.send(encodeReading(reading));
      const reply = fromReceiver(await socket.receive(), reading);
      switch (reply.kind) {
        case "ack":
          return reply.ack.status;
        case "invalid":
          this.badAcks += 1;
          this.log.warn({ seq: reading.seq, reason: reply.reason, badAcks: this.badAcks }, "bad ack dropped");
          return undefined;
      }
    } catch (err) {
      if (signal.aborted || (err as { code?: string }).code === "EAGAIN") return undefined;
      throw err;
    } finally {
      signal.removeEventListener("abort", onAbort);
      if (!socket.closed) socket.close();
    }
  }
}
