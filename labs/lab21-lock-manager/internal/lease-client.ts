import { randomInt } from "node:crypto";
import { type Logger, type LoopStats, pause, peerLimits, receiveLoop, SendQueue } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { decodeReply, encodeRequest, type LockReply, type Op, oneFrame } from "./protocol.ts";

/** How long a request waits for its reply before it is sent again (same req id: harmless). */
export const REQUEST_TIMEOUT_MS = 2000;
/** The client's lease ends this share of the TTL before the server's: clocks drift, messages take time. */
export const SAFETY_MARGIN = 0.1;

export interface ClientConfig {
  /** The application's id: leases are bound to it, not to the socket. */
  id: string;
  server: string;
  heartbeatMs: number;
  timeoutMs: number;
}

/** A lease as the client sees it: its local deadline is earlier than the server's. */
export interface HeldLease {
  lock: string;
  token: number;
  ttlMs: number;
  /** Monotonic ms after which this client must not act under the lease. */
  deadline: number;
}

interface Pending {
  resolve: (reply: LockReply | undefined) => void;
}

/**
 * A lock client: one DEALER to the lock server, a receive loop that matches replies to requests by
 * req id and takes asynchronous GRANTED notifications, a HEARTBEAT every interval, a RENEW for each
 * held lease every third of its TTL, and a request sent again with the same req id when its reply is
 * late. Request ids start at a random number, so a restarted client never reuses a req id of its
 * predecessor (the server would answer it from its cache).
 */
export class LockClient {
  private readonly dealer = new Dealer({ linger: 0, ...peerLimits() });
  private readonly out = new SendQueue(this.dealer);
  private nextReq = randomInt(1, 2 ** 47);
  private readonly pending = new Map<number, Pending>();
  /** ACQUIREs waiting in line, by lock: resolved by an asynchronous GRANTED. */
  private readonly waiting = new Map<string, { req: number; ttlMs: number; granted: (r: LockReply) => void }>();
  readonly leases = new Map<string, HeldLease>();
  readonly loop: LoopStats = { received: 0, failed: 0 };
  private timers: NodeJS.Timeout[] = [];
  private readonly renewers = new Map<string, NodeJS.Timeout>();
  dropped = 0;
  closed = false;

  constructor(
    private readonly config: ClientConfig,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get id(): string {
    return this.config.id;
  }

  /** Connects and starts the receive loop and the heartbeat. */
  start(signal: AbortSignal): Promise<void> {
    this.dealer.connect(this.config.server);
    this.timers.push(setInterval(() => void this.send("HEARTBEAT", {}), this.config.heartbeatMs));
    void this.send("HEARTBEAT", {});
    return receiveLoop(this.dealer, signal, (frames) => this.onReply(frames), { log: this.log, name: "server", stats: this.loop });
  }

  /** Stops everything at once, without releasing: what a crash looks like to the server. */
  close(): void {
    this.closed = true;
    for (const t of [...this.timers, ...this.renewers.values()]) clearInterval(t);
    this.timers = [];
    this.renewers.clear();
    for (const p of this.pending.values()) p.resolve(undefined);
    this.pending.clear();
    this.dealer.close();
  }

  /** Whether this client may act under its lease of `lock` now (its local deadline not passed). */
  holds(lock: string): HeldLease | undefined {
    const lease = this.leases.get(lock);
    if (lease && this.now() < lease.deadline) return lease;
    return undefined;
  }

  /**
   * Takes the lock: GRANTED at once, or QUEUED and then an asynchronous GRANTED. While in line the
   * same ACQUIRE (same req id) goes again every liveness period, so a restarted server learns the line
   * again. Resolves with the lease, or undefined when denied or stopped.
   */
  async acquire(lock: string, ttlMs: number, signal: AbortSignal): Promise<HeldLease | undefined> {
    const req = this.nextReq++;
    const granted = new Promise<LockReply>((resolve) => this.waiting.set(lock, { req, ttlMs, granted: resolve }));
    let queued = false;
    try {
      for (;;) {
        const sentAt = this.now();
        const reply = await this.requestUntilAnswered("ACQUIRE", { lock, ttl: ttlMs }, req, signal);
        if (!reply || signal.aborted || this.closed) return undefined;
        // After a QUEUED, the answer to the ACQUIRE sent again can be the grant itself: it crossed the
        // asynchronous GRANTED on the wire, and the lock was still won by waiting in line.
        if (reply.status === "GRANTED") return this.hold(lock, reply, sentAt, ttlMs, queued);
        if (reply.status !== "QUEUED") {
          this.log.warn({ lock, status: reply.status, reason: reply.reason }, "acquire refused");
          return undefined;
        }
        queued = true;
        const notified = await Promise.race([granted, pause(this.config.timeoutMs * 2, signal).then(() => undefined)]);
        // Counted from its arrival: the server granted a little earlier, which the safety margin covers.
        if (notified) return this.hold(lock, notified, this.now(), ttlMs, true);
      }
    } finally {
      this.waiting.delete(lock);
    }
  }

  async release(lock: string): Promise<LockReply | undefined> {
    this.drop(lock);
    return this.request("RELEASE", { lock });
  }

  /** One request, sent again with the same req id while its reply is late, up to `attempts` times. */
  async request(op: Op, fields: Record<string, unknown>, attempts = 3): Promise<LockReply | undefined> {
    const req = this.nextReq++;
    for (let i = 0; i < attempts && !this.closed; i++) {
      const reply = await this.once(op, fields, req);
      if (reply) return reply;
    }
    return undefined;
  }

  private async requestUntilAnswered(op: Op, fields: Record<string, unknown>, req: number, signal: AbortSignal) {
    while (!signal.aborted && !this.closed) {
      const reply = await this.once(op, fields, req);
      if (reply) return reply;
    }
    return undefined;
  }

  private once(op: Op, fields: Record<string, unknown>, req: number): Promise<LockReply | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        resolve(undefined);
      }, this.config.timeoutMs);
      this.pending.set(req, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      void this.send(op, fields, req);
    });
  }

  private async send(op: Op, fields: Record<string, unknown>, req = this.nextReq++): Promise<void> {
    if (this.closed) return;
    try {
      await this.out.send(encodeRequest({ op, req, client: this.config.id, ...fields }));
    } catch (err) {
      if (!this.closed) this.log.warn({ err, op }, "send failed");
    }
  }

  private hold(lock: string, reply: LockReply, sentAt: number, ttlMs: number, waited = false): HeldLease {
    const lease = this.setLease(lock, reply, sentAt, ttlMs);
    this.log.info({ lock, token: lease.token, ttlMs, waited }, "lock held");
    if (!this.renewers.has(lock))
      this.renewers.set(
        lock,
        setInterval(() => void this.renew(lock), Math.max(10, Math.floor(ttlMs / 3))),
      );
    return lease;
  }

  /** The lease's local deadline counts from when the request was sent, minus the safety margin. */
  private setLease(lock: string, reply: LockReply, sentAt: number, ttlMs: number): HeldLease {
    const left = reply.ttl ?? ttlMs;
    const lease = { lock, token: reply.token ?? 0, ttlMs, deadline: sentAt + left - ttlMs * SAFETY_MARGIN };
    this.leases.set(lock, lease);
    return lease;
  }

  private async renew(lock: string): Promise<void> {
    const lease = this.leases.get(lock);
    if (!lease) return;
    const sentAt = this.now();
    const reply = await this.request("RENEW", { lock, token: lease.token }, 1);
    if (!reply || this.leases.get(lock) !== lease) return;
    if (reply.status === "GRANTED" && reply.token === lease.token) this.setLease(lock, reply, sentAt, lease.ttlMs);
    else {
      this.log.warn({ lock, token: lease.token, status: reply.status }, "lease lost");
      this.drop(lock);
    }
  }

  private drop(lock: string): void {
    const renewer = this.renewers.get(lock);
    if (renewer) clearInterval(renewer);
    this.renewers.delete(lock);
    this.leases.delete(lock);
  }

  private onReply(frames: Buffer[]): void {
    const decoded = decodeReply(oneFrame(frames));
    if (!decoded.ok) {
      this.dropped += 1;
      this.log.warn({ reason: decoded.reason }, "malformed reply dropped");
      return;
    }
    const reply = decoded.value;
    if (reply.async) {
      const w = reply.lock ? this.waiting.get(reply.lock) : undefined;
      if (w && w.req === reply.req) w.granted(reply);
      // A lease sent again after a reconnect: a lease we hold already, or one granted while we were away.
      else {
        const held = reply.lock ? this.leases.get(reply.lock) : undefined;
        if (held && held.token === reply.token) this.setLease(held.lock, reply, this.now(), held.ttlMs);
      }
      return;
    }
    this.pending.get(reply.req)?.resolve(reply);
    this.pending.delete(reply.req);
  }
}
