import { type Logger, pause, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { type ClientConfig, LockClient } from "./lease-client.ts";
import { decodeWriteReply, encodeWrite, oneFrame, type WriteReply } from "./protocol.ts";
import { type ClientSnapshot, clientView, VIEW_MS } from "./view.ts";

export interface WriterConfig extends ClientConfig {
  ledger: string;
  lock: string;
  ttlMs: number;
  /** Entries written per turn. */
  writes: number;
  /** ms to prepare an entry: the time between checking the lease and the write reaching the ledger. */
  writeEveryMs: number;
  /** ms between a release and the next ACQUIRE. */
  restMs: number;
}

export interface WriterOptions {
  publish?: (view: View) => void;
}

type Phase = "starting" | "waiting" | "holding" | "resting";

/**
 * The lock-client role, a writer: it takes the lock, writes a few entries to the ledger under its
 * fencing token, releases, rests, and again. Before each entry it checks its lease (local deadline);
 * the entry then takes `writeEveryMs` to prepare. A process paused in between (SIGSTOP, a long GC)
 * writes late with a token that is no longer current: the ledger refuses it. Nothing on the client
 * can prevent that; the fencing token at the resource does.
 */
export class Writer {
  readonly client: LockClient;
  private readonly ledger = new Dealer({ linger: 0, ...peerLimits() });
  private readonly toLedger = new SendQueue(this.ledger);
  private nextReq = 1;
  private readonly pending = new Map<number, (r: WriteReply | undefined) => void>();
  phase: Phase = "starting";
  since = performance.now();
  turns = 0;
  accepted = 0;
  refused = 0;
  unanswered = 0;
  lastRefusal = "";

  constructor(
    private readonly config: WriterConfig,
    private readonly log: Logger,
    private readonly options: WriterOptions = {},
  ) {
    this.client = new LockClient(config, log);
  }

  async run(signal: AbortSignal): Promise<void> {
    this.ledger.connect(this.config.ledger);
    const publish = this.options.publish;
    signal.addEventListener("abort", () => this.client.close(), { once: true });
    await runLoops(
      signal,
      { sockets: [this.ledger], every: publish ? [{ ms: VIEW_MS, run: () => publish(clientView(this.snapshot())) }] : [], log: this.log },
      () => this.client.start(signal),
      () => receiveLoop(this.ledger, signal, (frames) => this.onLedger(frames), { log: this.log, name: "ledger" }),
      () => this.turnsLoop(signal),
    );
  }

  private setPhase(phase: Phase): void {
    this.phase = phase;
    this.since = performance.now();
  }

  private async turnsLoop(signal: AbortSignal): Promise<void> {
    const { lock, ttlMs } = this.config;
    while (!signal.aborted) {
      this.setPhase("waiting");
      const lease = await this.client.acquire(lock, ttlMs, signal);
      if (!lease) {
        await pause(this.config.restMs, signal);
        continue;
      }
      this.setPhase("holding");
      this.turns += 1;
      for (let i = 1; i <= this.config.writes && !signal.aborted; i++) {
        // The check: is the lease still ours by our own clock?
        const held = this.client.holds(lock);
        if (!held) {
          this.log.warn({ lock, token: lease.token }, "lease ran out before the entry; stopping this turn");
          break;
        }
        this.log.debug({ lock, token: held.token, entry: i }, "preparing entry");
        // Preparing the entry takes time: a pause here (SIGSTOP, GC) outlives the lease unseen.
        if (!(await pause(this.config.writeEveryMs, signal))) break;
        await this.write(held.token, `${this.config.id} entry ${i} of turn ${this.turns}`);
      }
      if (signal.aborted) break;
      const released = await this.client.release(lock);
      this.log.info({ lock, token: lease.token, status: released?.status ?? "no answer" }, "released");
      this.setPhase("resting");
      await pause(this.config.restMs, signal);
    }
  }

  private async write(token: number, text: string): Promise<void> {
    const req = this.nextReq++;
    const answered = new Promise<WriteReply | undefined>((resolve) => this.pending.set(req, resolve));
    const timer = setTimeout(() => this.pending.get(req)?.(undefined), this.config.timeoutMs);
    try {
      await this.toLedger.send(encodeWrite({ req, client: this.config.id, lock: this.config.lock, token, text }));
      const reply = await answered;
      if (!reply) {
        this.unanswered += 1;
        this.log.warn({ token }, "the ledger did not answer");
      } else if (reply.status === "ACCEPTED") {
        this.accepted += 1;
        this.log.info({ token, seq: reply.seq }, "entry accepted");
      } else {
        this.refused += 1;
        this.lastRefusal = reply.reason ?? "";
        this.log.warn({ token, reason: reply.reason }, "entry refused");
      }
    } finally {
      clearTimeout(timer);
      this.pending.delete(req);
    }
  }

  private onLedger(frames: Buffer[]): void {
    const decoded = decodeWriteReply(oneFrame(frames));
    if (!decoded.ok) return void this.log.warn({ reason: decoded.reason }, "malformed ledger reply dropped");
    this.pending.get(decoded.value.req)?.(decoded.value);
  }

  snapshot(): ClientSnapshot {
    const lease = this.client.leases.get(this.config.lock);
    return {
      id: this.config.id,
      lock: this.config.lock,
      phase: this.phase,
      forMs: performance.now() - this.since,
      token: lease?.token,
      leaseLeftMs: lease ? lease.deadline - performance.now() : undefined,
      turns: this.turns,
      accepted: this.accepted,
      refused: this.refused,
      unanswered: this.unanswered,
      lastRefusal: this.lastRefusal,
    };
  }
}
