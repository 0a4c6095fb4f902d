import { type Logger, peerLimits, receiveLoop, SendQueue } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { type AckBody, decodeReply, encodeRecord, PROTOCOL_VERSION, type Reply } from "./protocol.ts";

export const REQUEST_TIMEOUT_MS = 5000;
export const DEFAULT_INFLIGHT = 50;
const ACTIONS = ["login", "logout", "read", "update", "delete", "grant", "revoke"];

export interface ClientConfig {
  id: string;
  gateway: string;
  records: number;
  /** Requests in flight at most. */
  inflight: number;
  /** No answer within this: send the record again (same record id, new correlation id). */
  timeoutMs: number;
}

interface Attempt {
  recordNo: number;
  timer: NodeJS.Timeout;
}

export interface ClientStats {
  acked: number;
  duplicates: number;
  busy: number;
  timeouts: number;
  errors: number;
  /** Replies that were not a reply of this protocol. */
  invalid: number;
  seconds: number;
}

/** The client's exit code: 0 when every record was acknowledged, 1 when any was refused with ERROR. */
export function exitCodeOf(stats: ClientStats): number {
  return stats.errors > 0 ? 1 : 0;
}

/**
 * A load generator of audit events: one DEALER socket with many requests in flight. Each attempt
 * has its own correlation id; a reply is matched by it, so replies may come in any order, and a
 * reply to an attempt already given up is recognised and ignored. BUSY means "try again shortly";
 * no reply within the timeout means "send it again": the record id stays the same, so the archive
 * stores it once whatever happens.
 */
export class AuditClient {
  private readonly socket = new Dealer({ linger: 0, ...peerLimits() });
  private readonly out = new SendQueue(this.socket);
  private readonly attempts = new Map<string, Attempt>();
  private readonly done = new Set<number>();
  private readonly queue: number[] = [];
  private next = 1;
  /** Records told BUSY, waiting to be sent again: they keep their place in the window. */
  private waiting = 0;
  private counter = 0;
  private finished: (() => void) | undefined;
  readonly stats: ClientStats = { acked: 0, duplicates: 0, busy: 0, timeouts: 0, errors: 0, invalid: 0, seconds: 0 };
  /** Record ids acknowledged, for checks. */
  readonly acknowledged = new Set<string>();

  constructor(
    private readonly config: ClientConfig,
    private readonly log: Logger,
  ) {}

  recordId(n: number): string {
    return `${this.config.id}-${n}`;
  }

  async run(signal: AbortSignal): Promise<ClientStats> {
    const started = performance.now();
    this.socket.connect(this.config.gateway);
    this.log.info({ gateway: this.config.gateway, records: this.config.records, inflight: this.config.inflight }, "sending");
    const allDone = new Promise<void>((resolve) => {
      this.finished = resolve;
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    const receiving = this.receive(signal);
    this.fill();
    if (this.config.records === 0) this.finished?.();
    await allDone;
    for (const a of this.attempts.values()) clearTimeout(a.timer);
    this.socket.close();
    await receiving;
    this.stats.seconds = (performance.now() - started) / 1000;
    this.log.info(
      { ...this.stats, perSec: Math.round(this.stats.acked / this.stats.seconds) },
      signal.aborted ? "stopped" : "all records acknowledged",
    );
    return this.stats;
  }

  /** Keeps the window full: retries first, then new records. */
  private fill(): void {
    while (this.attempts.size + this.waiting < this.config.inflight) {
      const n = this.queue.shift() ?? (this.next <= this.config.records ? this.next++ : undefined);
      if (n === undefined) return;
      this.send(n);
    }
  }

  private send(recordNo: number): void {
    const corr = `${(++this.counter).toString(36)}`;
    const timer = setTimeout(() => this.timedOut(corr), this.config.timeoutMs);
    this.attempts.set(corr, { recordNo, timer });
    const record = {
      v: PROTOCOL_VERSION,
      id: this.recordId(recordNo),
      at: Date.now(),
      actor: `user${recordNo % 97}`,
      action: ACTIONS[recordNo % ACTIONS.length] as string,
      target: `doc-${recordNo % 1000}`,
    };
    void this.out.send([corr, "AUDIT", encodeRecord(record)]).catch(() => {});
  }

  private timedOut(corr: string): void {
    const attempt = this.attempts.get(corr);
    if (!attempt) return;
    this.attempts.delete(corr);
    this.stats.timeouts += 1;
    this.log.warn({ recordId: this.recordId(attempt.recordNo) }, "no answer in time; sending the record again");
    this.retry(attempt.recordNo);
  }

  private retry(recordNo: number): void {
    if (this.done.has(recordNo)) return;
    this.queue.push(recordNo);
    this.fill();
  }

  private receive(signal: AbortSignal): Promise<void> {
    return receiveLoop(this.socket, signal, (frames) => this.onReply(decodeReply(frames)), { log: this.log, name: "gateway" });
  }

  private onReply(reply: Reply): void {
    if (reply.kind === "invalid") {
      this.stats.invalid += 1;
      this.log.warn({ reason: reply.reason, total: this.stats.invalid }, "invalid reply dropped");
      return;
    }
    const attempt = this.attempts.get(reply.corr);
    if (!attempt) return; // a reply to an attempt given up: its retry is out already
    this.attempts.delete(reply.corr);
    clearTimeout(attempt.timer);
    switch (reply.kind) {
      case "ack":
        this.acked(attempt.recordNo, reply.body);
        break;
      case "busy":
        this.stats.busy += 1;
        this.waiting += 1;
        setTimeout(
          () => {
            this.waiting -= 1;
            this.retry(attempt.recordNo);
          },
          reply.retryAfterMs * (0.5 + Math.random()),
        );
        break;
      case "error":
        this.stats.errors += 1;
        this.done.add(attempt.recordNo);
        this.log.error({ recordId: this.recordId(attempt.recordNo), reason: reply.reason }, "record refused");
        break;
    }
    this.fill();
    if (this.done.size === this.config.records) this.finished?.();
  }

  private acked(recordNo: number, body: AckBody): void {
    if (this.done.has(recordNo)) return;
    this.done.add(recordNo);
    this.stats.acked += 1;
    if (body.result === "duplicate") this.stats.duplicates += 1;
    this.acknowledged.add(this.recordId(recordNo));
  }
}
