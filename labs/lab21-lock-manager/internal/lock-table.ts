/**
 * The lock table: leases, FIFO waiters and fencing tokens, as a plain state machine with the clock
 * passed in (monotonic ms), so every rule is tested without sockets. The lock server wraps it with a
 * ROUTER, sessions, the idempotency cache and the sweep timer.
 *
 * Rules:
 * - A lock is free, or held by one client under a lease: a token and a deadline (grant time + TTL).
 * - ACQUIRE on a free lock with nobody in line grants at once; otherwise the client joins the line
 *   (first come, first served) and gets GRANTED asynchronously when its turn comes.
 * - Every grant takes a new token from one counter that only grows (and is persisted ahead, see
 *   token-store.ts), so the tokens of one lock strictly increase, across restarts too.
 * - RENEW extends the lease only for its holder; RELEASE by anyone else is NOT_OWNER.
 * - The sweep ends leases past their deadline and drops waiters whose client fell silent, then
 *   hands each freed lock to the next live waiter.
 * - During the grace period after a restart nothing is granted: requests wait in line.
 * - Everything a peer can grow is bounded: locks, waiters per lock, TTL.
 */
import type { LockReply } from "./protocol.ts";

export interface TableLimits {
  /** Locks held or waited for at once. */
  maxLocks: number;
  /** Clients in line for one lock. */
  maxWaiters: number;
  /** The longest lease a client may ask for, ms. */
  maxTtlMs: number;
  /** The shortest, ms. */
  minTtlMs: number;
}

export interface Lease {
  client: string;
  token: number;
  /** The ACQUIRE's request id (an asynchronous GRANTED carries it). */
  req: number;
  ttlMs: number;
  grantedAt: number;
  deadline: number;
}

export interface Waiter {
  client: string;
  req: number;
  ttlMs: number;
  since: number;
}

interface LockState {
  holder: Lease | undefined;
  waiters: Waiter[];
}

/** What the history checker reads: every grant and every end of a lease, in order. */
export type HistoryEvent =
  | { kind: "grant"; lock: string; client: string; token: number; at: number; deadline: number }
  | { kind: "renew"; lock: string; client: string; token: number; at: number; deadline: number }
  | { kind: "end"; lock: string; client: string; token: number; at: number; why: "released" | "expired" };

/** A grant made while handling something else: the lock server sends it as an asynchronous GRANTED. */
export interface Grant {
  lock: string;
  lease: Lease;
  /** ms the new holder waited in line. */
  waitedMs: number;
}

export interface TokenSource {
  next(): number;
}

export interface TableCounts {
  grants: number;
  releases: number;
  expiries: number;
  denied: number;
  waitersDropped: number;
}

export class LockTable {
  private readonly locks = new Map<string, LockState>();
  /** Grants made as a side effect (a release, a sweep), for the caller to notify; drained by takeGrants. */
  private pending: Grant[] = [];
  readonly counts: TableCounts = { grants: 0, releases: 0, expiries: 0, denied: 0, waitersDropped: 0 };

  constructor(
    private readonly limits: TableLimits,
    private readonly tokens: TokenSource,
    /** Nothing is granted before this (monotonic ms): the grace period after a restart. */
    private grantsFrom = 0,
    /** Every grant and end, for the tests' history checker (bounded by the caller). */
    private readonly history?: HistoryEvent[],
  ) {}

  get size(): number {
    return this.locks.size;
  }

  inGrace(now: number): boolean {
    return now < this.grantsFrom;
  }

  graceLeftMs(now: number): number {
    return Math.max(0, this.grantsFrom - now);
  }

  holderOf(lock: string): Lease | undefined {
    return this.locks.get(lock)?.holder;
  }

  waitersOf(lock: string): readonly Waiter[] {
    return this.locks.get(lock)?.waiters ?? [];
  }

  entries(): IterableIterator<[string, LockState]> {
    return this.locks.entries();
  }

  /** Grants made since the last call: each becomes an asynchronous GRANTED. */
  takeGrants(): Grant[] {
    const grants = this.pending;
    this.pending = [];
    return grants;
  }

  acquire(client: string, req: number, lock: string, ttlMs: number, now: number): LockReply {
    if (ttlMs < this.limits.minTtlMs || ttlMs > this.limits.maxTtlMs)
      return this.deny(req, lock, `ttl must be ${this.limits.minTtlMs}..${this.limits.maxTtlMs} ms`);
    let state = this.locks.get(lock);
    if (state?.holder?.client === client) return granted(req, lock, state.holder, now);
    const place = state ? state.waiters.findIndex((w) => w.client === client) : -1;
    if (state && place >= 0) return { req, status: "QUEUED", lock, place: place + 1 };
    if (!state) {
      if (this.locks.size >= this.limits.maxLocks) return this.deny(req, lock, `too many locks (${this.limits.maxLocks})`);
      state = { holder: undefined, waiters: [] };
      this.locks.set(lock, state);
    }
    if (!state.holder && state.waiters.length === 0 && !this.inGrace(now)) {
      return granted(req, lock, this.grant(lock, state, { client, req, ttlMs, since: now }, now), now);
    }
    if (state.waiters.length >= this.limits.maxWaiters) return this.deny(req, lock, `too many waiters (${this.limits.maxWaiters})`);
    state.waiters.push({ client, req, ttlMs, since: now });
    const reply: LockReply = { req, status: "QUEUED", lock, place: state.waiters.length };
    if (this.inGrace(now)) reply.reason = "grace period after a restart";
    return reply;
  }

  renew(client: string, req: number, lock: string, token: number, now: number): LockReply {
    const holder = this.locks.get(lock)?.holder;
    if (holder && holder.client === client && holder.token === token) {
      holder.deadline = now + holder.ttlMs;
      this.history?.push({ kind: "renew", lock, client, token, at: now, deadline: holder.deadline });
      return granted(req, lock, holder, now);
    }
    // The caller held this lock once (it has a token) and does no more: its lease is over.
    return { req, status: token > 0 ? "EXPIRED" : "NOT_OWNER", lock };
  }

  /** The holder lets go (the next in line gets it); a waiter leaves the line. */
  release(client: string, req: number, lock: string, now: number): LockReply {
    const state = this.locks.get(lock);
    if (!state) return { req, status: "NOT_OWNER", lock };
    if (state.holder?.client === client) {
      this.end(lock, state, "released", now);
      return { req, status: "RELEASED", lock };
    }
    const place = state.waiters.findIndex((w) => w.client === client);
    if (place < 0) return { req, status: "NOT_OWNER", lock };
    state.waiters.splice(place, 1);
    this.forgetIfIdle(lock, state);
    return { req, status: "RELEASED", lock };
  }

  /** The ledger asks whether a token is the live lease of a lock right now. */
  check(req: number, lock: string, token: number, now: number): LockReply {
    const holder = this.locks.get(lock)?.holder;
    if (holder && holder.token === token && now < holder.deadline) return { req, status: "VALID", lock, token, ttl: ttlLeft(holder, now) };
    return { req, status: "STALE", lock, ...(holder ? { token: holder.token } : {}) };
  }

  /**
   * The sweep timer's work: leases past their deadline end, waiters whose client is no longer alive
   * leave the line, and every free lock goes to its next waiter (once the grace period is over).
   */
  sweep(now: number, alive: (client: string) => boolean): void {
    for (const [lock, state] of this.locks) {
      const before = state.waiters.length;
      state.waiters = state.waiters.filter((w) => alive(w.client));
      this.counts.waitersDropped += before - state.waiters.length;
      if (state.holder && now >= state.holder.deadline) {
        this.counts.expiries += 1;
        this.end(lock, state, "expired", now);
      } else this.handOver(lock, state, now);
    }
  }

  /** The client is gone for good (silent past the session timeout): it leaves every line. */
  forgetWaiter(client: string): void {
    for (const [lock, state] of this.locks) {
      const before = state.waiters.length;
      state.waiters = state.waiters.filter((w) => w.client !== client);
      this.counts.waitersDropped += before - state.waiters.length;
      this.forgetIfIdle(lock, state);
    }
  }

  /** Whether the client holds or waits for any lock. */
  involves(client: string): boolean {
    for (const state of this.locks.values())
      if (state.holder?.client === client || state.waiters.some((w) => w.client === client)) return true;
    return false;
  }

  private end(lock: string, state: LockState, why: "released" | "expired", now: number): void {
    const holder = state.holder as Lease;
    if (why === "released") this.counts.releases += 1;
    this.history?.push({ kind: "end", lock, client: holder.client, token: holder.token, at: now, why });
    state.holder = undefined;
    this.handOver(lock, state, now);
  }

  private handOver(lock: string, state: LockState, now: number): void {
    if (!state.holder && !this.inGrace(now)) {
      const next = state.waiters.shift();
      if (next) this.pending.push({ lock, lease: this.grant(lock, state, next, now), waitedMs: now - next.since });
    }
    this.forgetIfIdle(lock, state);
  }

  private grant(lock: string, state: LockState, w: Waiter, now: number): Lease {
    const lease: Lease = {
      client: w.client,
      req: w.req,
      ttlMs: w.ttlMs,
      token: this.tokens.next(),
      grantedAt: now,
      deadline: now + w.ttlMs,
    };
    state.holder = lease;
    this.counts.grants += 1;
    this.history?.push({ kind: "grant", lock, client: w.client, token: lease.token, at: now, deadline: lease.deadline });
    return lease;
  }

  private forgetIfIdle(lock: string, state: LockState): void {
    if (!state.holder && state.waiters.length === 0) this.locks.delete(lock);
  }

  private deny(req: number, lock: string, reason: string): LockReply {
    this.counts.denied += 1;
    return { req, status: "DENIED", lock, reason };
  }
}

export const ttlLeft = (lease: Lease, now: number) => Math.max(0, Math.floor(lease.deadline - now));

function granted(req: number, lock: string, lease: Lease, now: number): LockReply {
  return { req, status: "GRANTED", lock, token: lease.token, ttl: ttlLeft(lease, now) };
}

/**
 * The history checker: per lock, a lease is granted only after the previous one ended, and tokens
 * strictly increase. Leases of a server that crashed have no "end": they count as held until their
 * deadline (as last renewed). Returns the violations found (empty: none).
 */
export function checkHistory(events: readonly HistoryEvent[], crashes: readonly number[] = []): string[] {
  const problems: string[] = [];
  const held = new Map<string, { client: string; token: number; at: number; deadline: number }>();
  const lastToken = new Map<string, number>();
  let crash = 0;
  for (const e of events) {
    // A server crash before this event: leases still open then end, at the latest, at their deadline.
    while (crash < crashes.length && (crashes[crash] as number) <= e.at) {
      for (const [lock, h] of held) held.set(lock, { ...h, at: -1 });
      crash += 1;
    }
    if (e.kind === "grant") {
      const h = held.get(e.lock);
      if (h && (h.at >= 0 || e.at < h.deadline))
        problems.push(`${e.lock}: token ${e.token} granted to ${e.client} at ${e.at.toFixed(1)} while ${h.client} held token ${h.token}`);
      const last = lastToken.get(e.lock) ?? 0;
      if (e.token <= last) problems.push(`${e.lock}: token ${e.token} not above ${last}`);
      lastToken.set(e.lock, e.token);
      held.set(e.lock, { client: e.client, token: e.token, at: e.at, deadline: e.deadline });
    } else {
      const h = held.get(e.lock);
      if (!h || h.token !== e.token) problems.push(`${e.lock}: ${e.kind} of token ${e.token}, which was not held`);
      else if (e.kind === "renew") h.deadline = e.deadline;
      else held.delete(e.lock);
    }
  }
  return problems;
}
