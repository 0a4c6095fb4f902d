import { type Logger, peerLimits, receiveLoop, SendQueue, type View } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { Burst } from "./burst.ts";
import { type AckBody, decodeReply, encodeRecord, PROTOCOL_VERSION, type Reply } from "./protocol.ts";
import { clientView, RateMeter, VIEW_MS } from "./view.ts";

export const REQUEST_TIMEOUT_MS = 5000;
export const DEFAULT_INFLIGHT = 50;
const ACTIONS = ["login", "logout", "read", "update", "delete", "grant", "revoke"];

export interface ClientConfig {
  /** The client's name: its routing id at the gateway, and the start of its record ids. */
  id: string;
  gateway: string;
  /** Records to send; 0: no end, until stopped. */
  records: number;
  /** New records per second at most; 0: as fast as the window allows. */
  rate: number;
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
 * stores it once whatever happens. New records go out at `rate` a second at most (retries are not
 * held back), `records` of them or, with 0, until stopped.
 */
export class AuditClient {
  /** The client's name is its routing id, so the gateway's logs and view name it as it names itself. */
  private readonly socket: Dealer;
  private readonly out: SendQueue;
  private readonly attempts = new Map<string, Attempt>();
  /**
   * Records finished (acknowledged or refused). One attempt per record is alive at a time (a retry
   * replaces the attempt that timed out or got BUSY, and a late reply to a replaced attempt is
   * ignored), so a record is finished once and a count is all it takes.
   */
  private finishedCount = 0;
  private readonly queue: number[] = [];
  private next = 1;
  /** Records told BUSY, waiting to be sent again: they keep their place in the window. */
  private waiting = 0;
  private counter = 0;
  /** New records the rate allows now (Infinity without a rate). */
  private credit: number;
  /** Record ids are <id>-<session>-<n>: a new session each run, so a run never repeats an earlier run's ids. */
  readonly session = Date.now().toString(36);
  private finished: (() => void) | undefined;
  private readonly ackedRate = new RateMeter();
  /** Records that got no answer in time: one line per burst (an archivist died holding several). */
  private readonly timeoutBurst = new Burst((b) =>
    this.log.warn(
      { timeouts: this.stats.timeouts },
      `${b.count} record${b.count === 1 ? "" : "s"} got no answer within ${this.config.timeoutMs / 1000} s; sent again`,
    ),
  );
  readonly stats: ClientStats = { acked: 0, duplicates: 0, busy: 0, timeouts: 0, errors: 0, invalid: 0, seconds: 0 };
  /** Record ids acknowledged, for checks: kept for a run of so many records, not for one without end. */
  readonly acknowledged = new Set<string>();

  constructor(
    private readonly config: ClientConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {
    this.socket = new Dealer({ linger: 0, routingId: config.id, ...peerLimits() });
    this.out = new SendQueue(this.socket);
    this.credit = config.rate > 0 ? 1 : Number.POSITIVE_INFINITY;
  }

  recordId(n: number): string {
    return `${this.config.id}-${this.session}-${n}`;
  }

  /** Every record sent; 0 records: never. */
  private get allDone(): boolean {
    return this.config.records > 0 && this.finishedCount === this.config.records;
  }

  view(): View {
    this.ackedRate.sample(performance.now(), this.stats.acked);
    return clientView({
      acked: this.stats.acked,
      records: this.config.records,
      inflight: this.attempts.size,
      window: this.config.inflight,
      waitingAfterBusy: this.waiting,
      busy: this.stats.busy,
      timeouts: this.stats.timeouts,
      duplicates: this.stats.duplicates,
      ackedPerSec: this.ackedRate.perSecond,
    });
  }

  async run(signal: AbortSignal): Promise<ClientStats> {
    const started = performance.now();
    this.socket.connect(this.config.gateway);
    const { gateway, records, inflight, rate } = this.config;
    this.log.info(
      { gateway, records: records || "until stopped", inflight, rate: rate || "unlimited", firstRecord: this.recordId(1) },
      "sending",
    );
    const allDone = new Promise<void>((resolve) => {
      this.finished = resolve;
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    const receiving = this.receive(signal);
    const timers = [setInterval(() => this.publish(this.view()), VIEW_MS)];
    if (rate > 0)
      timers.push(
        setInterval(() => {
          this.credit = 1; // unused credit is not saved up: a client held back does not burst afterwards
          this.fill();
        }, 1000 / rate),
      );
    this.fill();
    await allDone;
    for (const t of timers) clearInterval(t);
    for (const a of this.attempts.values()) clearTimeout(a.timer);
    this.socket.close();
    await receiving;
    this.timeoutBurst.flush();
    this.publish(this.view());
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
      const n = this.queue.shift() ?? this.newRecord();
      if (n === undefined) return;
      this.send(n);
    }
  }

  /** The next record's number, if the count and the rate allow one now. */
  private newRecord(): number | undefined {
    if (this.credit < 1 || (this.config.records > 0 && this.next > this.config.records)) return undefined;
    this.credit -= 1;
    return this.next++;
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
    this.timeoutBurst.add();
    this.retry(attempt.recordNo);
  }

  private retry(recordNo: number): void {
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
        this.finishedCount += 1;
        this.log.error({ recordId: this.recordId(attempt.recordNo), reason: reply.reason }, "record refused");
        break;
    }
    this.fill();
    if (this.allDone) this.finished?.();
  }

  private acked(recordNo: number, body: AckBody): void {
    this.finishedCount += 1;
    this.stats.acked += 1;
    if (body.result === "duplicate") this.stats.duplicates += 1;
    if (this.config.records > 0) this.acknowledged.add(this.recordId(recordNo));
  }
}
