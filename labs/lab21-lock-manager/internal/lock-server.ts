import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Router } from "zeromq";
import { type HistoryEvent, LockTable, type TableLimits, ttlLeft } from "./lock-table.ts";
import { decodeRequest, encodeReply, fromPeer, type LockReply, type LockRequest } from "./protocol.ts";
import { TokenStore } from "./token-store.ts";
import { type ServerSnapshot, serverView, VIEW_MS } from "./view.ts";

/** The longest lease a client may ask for; also the grace period after a restart. */
export const MAX_TTL_MS = 30_000;
export const MIN_TTL_MS = 50;
/** How often leases are checked for expiry and waiters for silence. */
export const SWEEP_MS = 100;
/** Clients send HEARTBEAT this often; silent for `liveness` intervals, a client loses its places in line. */
export const HEARTBEAT_MS = 1000;
export const LIVENESS = 3;
export const MAX_LOCKS = 10_000;
export const MAX_WAITERS = 100;
export const MAX_CLIENTS = 10_000;
/** Replies remembered per client for retried requests (same req id, same answer). */
export const REPLY_CACHE = 64;

export interface ServerConfig {
  endpoint: string;
  /** Where the token high-water mark lives. */
  dataDir: string;
  maxTtlMs: number;
  /** No grants for this long after a restart; at least maxTtlMs. */
  graceMs: number;
  sweepMs: number;
  heartbeatMs: number;
  liveness: number;
  maxLocks: number;
  maxWaiters: number;
  maxClients: number;
}

interface Session {
  client: string;
  /** The newest ROUTER routing id the client spoke from: replies and notifications go there. */
  peer: Buffer;
  lastHeard: number;
  replies: Map<number, LockReply>;
}

export interface ServerOptions {
  publish?: (view: View) => void;
  now?: () => number;
  /** Every grant and end, for the tests' history checker. */
  history?: HistoryEvent[];
}

/**
 * The lock server: a ROUTER that keeps a session per client id (the routing id it last spoke from,
 * when it was last heard, its recent replies), the lock table, and a sweep timer. Grants that come
 * from a release or an expiry go out as asynchronous GRANTED notifications to the waiter's newest
 * routing id; a client that reconnects under a new routing id is sent its leases again.
 */
export class LockServer {
  // mandatory, send timeout 0: a reply to a peer whose connection has gone fails at once (counted).
  private readonly router = new Router({ linger: 0, mandatory: true, sendTimeout: 0, ...peerLimits() });
  private readonly out = new SendQueue(this.router);
  private readonly sessions = new Map<string, Session>();
  readonly table: LockTable;
  readonly tokens: TokenStore;
  readonly endpoints = { endpoint: "" };
  readonly loop: LoopStats = { received: 0, failed: 0 };
  dropped = 0;
  unreachable = 0;
  retried = 0;
  private readonly now: () => number;
  private readonly startedAt: number;
  private graceAnnounced: boolean;

  constructor(
    private readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly options: ServerOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.tokens = new TokenStore(config.dataDir);
    this.startedAt = this.now();
    const grace = this.tokens.restarted ? config.graceMs : 0;
    const limits: TableLimits = {
      maxLocks: config.maxLocks,
      maxWaiters: config.maxWaiters,
      maxTtlMs: config.maxTtlMs,
      minTtlMs: MIN_TTL_MS,
    };
    this.table = new LockTable(limits, this.tokens, this.startedAt + grace, options.history);
    this.graceAnnounced = grace === 0;
    if (grace > 0)
      log.warn(
        { graceMs: grace, tokensFrom: this.tokens.last + 1 },
        "restarted: no grants during the grace period (leases held before are unknown)",
      );
  }

  async bind(): Promise<void> {
    Object.assign(this.endpoints, await bindAll(this.log, { endpoint: [this.router, this.config.endpoint] }));
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.endpoint) await this.bind();
    const publish = this.options.publish;
    try {
      await runLoops(
        signal,
        {
          sockets: [this.router],
          every: [
            { ms: this.config.sweepMs, run: () => this.sweep() },
            ...(publish ? [{ ms: VIEW_MS, run: () => publish(serverView(this.snapshot())) }] : []),
          ],
          log: this.log,
        },
        () => receiveLoop(this.router, signal, (frames) => this.onMessage(frames), { log: this.log, name: "clients", stats: this.loop }),
      );
    } finally {
      this.tokens.close();
    }
  }

  private onMessage(frames: Buffer[]): void {
    const msg = fromPeer(frames);
    if (msg.kind === "invalid") {
      this.drop({ reason: msg.reason }, "invalid message dropped");
      return;
    }
    const decoded = decodeRequest(msg.body);
    if (!decoded.ok) {
      this.drop({ peer: msg.peer, reason: decoded.reason }, "malformed request dropped");
      return;
    }
    const r = decoded.value;
    const session = this.session(r.client, msg.peer);
    if (!session) {
      this.reply(msg.peer, { req: r.req, status: "DENIED", reason: `too many clients (${this.config.maxClients})` });
      return;
    }
    this.reply(session.peer, this.answer(session, r));
    this.notifyGrants();
  }

  /** The client's session, its routing id and liveness brought up to date; undefined when full. */
  private session(client: string, peer: Buffer): Session | undefined {
    const now = this.now();
    let s = this.sessions.get(client);
    if (!s) {
      if (this.sessions.size >= this.config.maxClients) return undefined;
      s = { client, peer, lastHeard: now, replies: new Map() };
      this.sessions.set(client, s);
      return s;
    }
    s.lastHeard = now;
    if (!s.peer.equals(peer)) {
      s.peer = peer;
      // Reconnected (a new socket or a restarted process with the same id): its leases go with it,
      // and a GRANTED sent to the old routing id may have been lost: send them again.
      for (const [lock, state] of this.table.entries()) {
        const h = state.holder;
        if (h?.client === client)
          this.reply(peer, { req: h.req, status: "GRANTED", lock, token: h.token, ttl: ttlLeft(h, now), async: true });
      }
      this.log.info({ client }, "client reconnected; its leases follow it");
    }
    return s;
  }

  private answer(s: Session, r: LockRequest): LockReply {
    const now = this.now();
    if (r.op === "HEARTBEAT") return { req: r.req, status: "ALIVE" };
    if (r.op === "CHECK") return this.table.check(r.req, r.lock, r.token, now);
    const cached = s.replies.get(r.req);
    // A QUEUED whose client has since left the line (dropped while silent) is not answered from the
    // cache: the ACQUIRE goes through again (which grants nothing twice: a holder gets its own lease).
    const lapsed = cached?.status === "QUEUED" && !this.table.waitersOf(r.lock).some((w) => w.client === s.client);
    if (cached && !lapsed) {
      this.retried += 1;
      return cached;
    }
    let reply: LockReply;
    if (r.op === "ACQUIRE") reply = this.table.acquire(r.client, r.req, r.lock, r.ttl, now);
    else if (r.op === "RENEW") reply = this.table.renew(r.client, r.req, r.lock, r.token, now);
    else reply = this.table.release(r.client, r.req, r.lock, now);
    this.remember(s, r.req, reply);
    this.logReply(r, reply);
    return reply;
  }

  private remember(s: Session, req: number, reply: LockReply): void {
    s.replies.set(req, reply);
    if (s.replies.size > REPLY_CACHE) s.replies.delete(s.replies.keys().next().value as number);
  }

  private logReply(r: LockRequest, reply: LockReply): void {
    const fields = { client: r.client, lock: r.lock, token: reply.token ?? (r.token || undefined) };
    if (reply.status === "GRANTED" && r.op === "ACQUIRE") this.log.info({ ...fields, ttlMs: reply.ttl }, "granted");
    else if (reply.status === "GRANTED") this.log.debug({ ...fields, ttlMs: reply.ttl }, "renewed");
    else if (reply.status === "QUEUED") this.log.info({ ...fields, place: reply.place, reason: reply.reason }, "queued");
    else if (reply.status === "RELEASED") this.log.info({ client: r.client, lock: r.lock }, "released");
    else if (reply.status === "DENIED") this.log.warn({ ...fields, reason: reply.reason }, "denied");
    else this.log.info({ ...fields, op: r.op, status: reply.status }, "refused");
  }

  /** Grants made by a release or the sweep: an asynchronous GRANTED to each new holder. */
  private notifyGrants(): void {
    const now = this.now();
    for (const { lock, lease, waitedMs } of this.table.takeGrants()) {
      const s = this.sessions.get(lease.client);
      this.log.info({ client: lease.client, lock, token: lease.token, waitedMs: Math.round(waitedMs) }, "granted to the next in line");
      if (s) this.reply(s.peer, { req: lease.req, status: "GRANTED", lock, token: lease.token, ttl: ttlLeft(lease, now), async: true });
    }
  }

  private sweep(): void {
    const now = this.now();
    if (!this.graceAnnounced && !this.table.inGrace(now)) {
      this.graceAnnounced = true;
      this.log.info({}, "grace period over: granting again");
    }
    const silentAfter = this.config.heartbeatMs * this.config.liveness;
    const expiriesBefore = this.table.counts.expiries;
    const holders = new Map<string, string>();
    for (const [lock, state] of this.table.entries())
      if (state.holder && now >= state.holder.deadline) holders.set(lock, state.holder.client);
    this.table.sweep(now, (client) => {
      const s = this.sessions.get(client);
      return s !== undefined && now - s.lastHeard <= silentAfter;
    });
    if (this.table.counts.expiries > expiriesBefore)
      for (const [lock, client] of holders) this.log.warn({ lock, client }, "lease expired (the holder did not renew)");
    this.notifyGrants();
    // A session silent for long and involved in nothing is forgotten (with its cached replies).
    const forgetAfter = Math.max(silentAfter, this.config.maxTtlMs) * 2;
    for (const [client, s] of this.sessions) {
      if (now - s.lastHeard <= forgetAfter) continue;
      this.table.forgetWaiter(client);
      if (!this.table.involves(client)) this.sessions.delete(client);
    }
  }

  private reply(peer: Buffer, reply: LockReply): void {
    this.out.send([peer, encodeReply(reply)]).catch((err: unknown) => {
      const code = (err as { code?: string }).code;
      if (code !== "EHOSTUNREACH" && code !== "EAGAIN") return this.log.warn({ err }, "send failed");
      this.unreachable += 1;
      this.log.debug({ peer, status: reply.status }, "reply to a vanished peer dropped");
    });
  }

  private drop(fields: Record<string, unknown>, msg: string): void {
    this.dropped += 1;
    this.log.warn({ ...fields, total: this.dropped }, msg);
  }

  snapshot(): ServerSnapshot {
    const now = this.now();
    const locks = [...this.table.entries()].map(([name, s]) => ({
      name,
      holder: s.holder?.client,
      token: s.holder?.token,
      leftMs: s.holder ? s.holder.deadline - now : undefined,
      ttlMs: s.holder?.ttlMs,
      waiters: s.waiters.map((w) => w.client),
    }));
    return {
      locks,
      clients: this.sessions.size,
      ...this.table.counts,
      graceLeftMs: this.table.graceLeftMs(now),
      lastToken: this.tokens.last,
      highWater: this.tokens.highWater,
      dropped: this.dropped,
      retried: this.retried,
    };
  }
}
