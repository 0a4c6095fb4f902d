import {
  bindAll,
  bytesForLog,
  encode,
  type Logger,
  type LoopStats,
  peerLimits,
  receiveLoop,
  runLoops,
  SendQueue,
  type View,
} from "@zlabs/kit";
import { Dealer, Router } from "zeromq";
import { Burst, burstNames } from "./burst.ts";
import { AUDIT, decodeRequest, decodeResult, encodeBody, type Request } from "./protocol.ts";
import { type GatewaySnapshot, gatewayView, RateMeter, VIEW_MS } from "./view.ts";

/** Records in the archive's hands at once; beyond it a client is told BUSY. */
export const MAX_INFLIGHT = 256;
/** An archived record is acknowledged long before this; past it the request is counted lost (an archivist died). */
export const REQUEST_TTL_MS = 10_000;
/** A client silent this long is forgotten. */
export const CLIENT_TTL_MS = 30_000;
/** What BUSY suggests a client wait before trying again. */
export const RETRY_AFTER_MS = 100;
const SWEEP_MS = 500;
/** A BUSY phase is over once no BUSY was answered for this long (so a gateway at its bound does not flap). */
export const BUSY_QUIET_MS = 2000;
const AUDIT_FRAME = Buffer.from(AUDIT);

export interface GatewayConfig {
  /** ROUTER for clients. */
  front: string;
  /** DEALER for archivists. */
  back: string;
  maxInflight: number;
  requestTtlMs: number;
  clientTtlMs: number;
}

interface Pending {
  clientKey: string;
  since: number;
}

interface ClientState {
  /** The routing id as text (hex where it is not printable). */
  name: string;
  lastSeen: number;
  inflight: number;
  acked: number;
  busy: number;
  busyRate: RateMeter;
}

/** Why new records get BUSY. */
type BusyReason = "at the bound" | "no archivist";

export interface GatewayStats {
  requests: number;
  acked: number;
  busy: number;
  /** Requests refused with ERROR: wrong frames, bad corr, unknown kind, bad record. */
  malformed: number;
  /** Results from archivists dropped: wrong frames, bad body. */
  badResults: number;
  /** Replies for clients that had gone away. */
  clientGone: number;
  /** Requests the archive never answered within the TTL. */
  lost: number;
  maxInflight: number;
}

/**
 * The audit gateway: a ROUTER for clients in front of a DEALER to the archivists (the Guide's
 * asynchronous server). Clients keep many requests in flight; the gateway passes each on with the
 * client's identity in front, and routes each reply back by that identity, in whatever order
 * replies come. Work in the archive's hands is bounded: past the bound a client gets BUSY at once,
 * and the gateway never queues requests itself, so its memory stays flat under any overload.
 */
export class AuditGateway {
  private readonly front = new Router({ linger: 0, mandatory: true, sendTimeout: 0, ...peerLimits() });
  private readonly back = new Dealer({ linger: 0, sendTimeout: 0, ...peerLimits() });
  private readonly toClients = new SendQueue(this.front);
  private readonly pending = new Map<string, Pending>();
  private readonly clients = new Map<string, ClientState>();
  readonly endpoints = { front: "", back: "" };
  readonly stats: GatewayStats = { requests: 0, acked: 0, busy: 0, malformed: 0, badResults: 0, clientGone: 0, lost: 0, maxInflight: 0 };
  /** Messages whose handling threw (logged by the loop): none expected. */
  readonly loops: Record<"front" | "back", LoopStats> = { front: { received: 0, failed: 0 }, back: { received: 0, failed: 0 } };

  /** The BUSY phase: since when, why, how many replies; undefined while every record goes through. */
  private busyPhase: { since: number; lastAt: number; reason: BusyReason; replies: number } | undefined;
  private readonly ackedRate = new RateMeter();
  private readonly busyRate = new RateMeter();
  /** Requests the archive never answered: one line per burst (an archivist died holding many). */
  private readonly lostBurst = new Burst((b) =>
    this.log.warn(
      { clients: burstNames(b), lost: this.stats.lost },
      `${b.count} request${b.count === 1 ? "" : "s"} lost: no archive reply within ${this.config.requestTtlMs / 1000} s`,
    ),
  );

  constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
    private readonly options: { now?: () => number; publish?: (view: View) => void } = {},
  ) {}

  private now(): number {
    return this.options.now?.() ?? performance.now();
  }

  get inflight(): number {
    return this.pending.size;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  async bind(): Promise<void> {
    const bound = await bindAll(this.log, { front: [this.front, this.config.front], back: [this.back, this.config.back] });
    Object.assign(this.endpoints, bound);
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.front) await this.bind();
    const log = this.log;
    try {
      await runLoops(
        signal,
        {
          sockets: [this.front, this.back],
          every: [
            { ms: SWEEP_MS, run: () => this.sweep() },
            { ms: VIEW_MS, run: () => this.options.publish?.(this.view()) },
          ],
          log,
        },
        () =>
          receiveLoop(this.front, signal, (frames) => this.onRequest(decodeRequest(frames)), {
            log,
            name: "front",
            stats: this.loops.front,
          }),
        () => receiveLoop(this.back, signal, (frames) => this.onResult(frames), { log, name: "back", stats: this.loops.back }),
      );
    } finally {
      this.lostBurst.flush();
      this.endBusyPhase(true);
      this.log.info({ ...this.stats }, "gateway stopped");
    }
  }

  private async onRequest(request: Request): Promise<void> {
    switch (request.kind) {
      case "invalid":
        this.stats.malformed += 1;
        this.log.warn({ client: request.client, reason: request.reason, total: this.stats.malformed }, "malformed request");
        return this.reply(request.client, request.corr, "ERROR", encodeBody({ reason: request.reason }));
      case "audit":
        return this.forward(request);
    }
  }

  /** Passes a request to the archive, or answers BUSY: past the bound, or with no archivist able to take it. */
  private async forward({ client, corr, record }: Request & { kind: "audit" }): Promise<void> {
    this.stats.requests += 1;
    const clientKey = client.toString("latin1");
    const state = this.touch(clientKey, client);
    if (this.pending.size >= this.config.maxInflight) return this.busy(state, client, corr, "at the bound");
    try {
      await this.back.send([client, corr, AUDIT_FRAME, record]);
    } catch (err) {
      // No archivist connected, or every pipe full: the client hears BUSY, nothing waits here.
      if ((err as { code?: string }).code !== "EAGAIN") throw err;
      return this.busy(state, client, corr, "no archivist");
    }
    this.pending.set(`${clientKey}\0${corr.toString("latin1")}`, { clientKey, since: this.now() });
    state.inflight += 1;
    this.stats.maxInflight = Math.max(this.stats.maxInflight, this.pending.size);
  }

  private busy(state: ClientState, client: Buffer, corr: Buffer, reason: BusyReason): Promise<void> {
    this.stats.busy += 1;
    state.busy += 1;
    this.startBusyPhase(reason);
    return this.reply(client, corr, "BUSY", encode({ inflight: this.pending.size, retryAfterMs: RETRY_AFTER_MS }));
  }

  private async onResult(frames: Buffer[]): Promise<void> {
    const result = decodeResult(frames);
    switch (result.kind) {
      case "invalid":
        this.stats.badResults += 1;
        this.log.warn(
          { frames: frames.length, reason: result.reason, total: this.stats.badResults },
          "malformed result from an archivist dropped",
        );
        return;
      case "result": {
        const clientKey = result.client.toString("latin1");
        const key = `${clientKey}\0${result.corr.toString("latin1")}`;
        if (this.pending.delete(key)) {
          const state = this.clients.get(clientKey);
          if (state) {
            state.inflight -= 1;
            if (result.status === "ACK") state.acked += 1;
          }
        }
        if (result.status === "ACK") this.stats.acked += 1;
        return this.reply(result.client, result.corr, result.status, result.body);
      }
    }
  }

  /** Routed by identity; a client that has gone (or whose queue is full) is counted, never waited for. */
  private async reply(client: Buffer, corr: Buffer, status: string, body: Buffer): Promise<void> {
    try {
      await this.toClients.send([client, corr, status, body]);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "EHOSTUNREACH" && code !== "EAGAIN") throw err;
      this.stats.clientGone += 1;
      this.log.debug({ client, status }, "reply for a client that is gone dropped");
    }
  }

  private touch(clientKey: string, client: Buffer): ClientState {
    let state = this.clients.get(clientKey);
    if (!state) {
      state = { name: bytesForLog(client), lastSeen: 0, inflight: 0, acked: 0, busy: 0, busyRate: new RateMeter() };
      this.clients.set(clientKey, state);
      this.log.info({ client, clients: this.clients.size }, "client joined");
    }
    state.lastSeen = this.now();
    return state;
  }

  /** Forgets requests the archive never answered, and clients gone silent. */
  private sweep(): void {
    const now = this.now();
    for (const [key, p] of this.pending) {
      if (now - p.since < this.config.requestTtlMs) continue;
      this.pending.delete(key);
      this.stats.lost += 1;
      const state = this.clients.get(p.clientKey);
      if (state) state.inflight -= 1;
      this.lostBurst.add(state?.name ?? bytesForLog(Buffer.from(p.clientKey, "latin1")));
    }
    if (this.busyPhase && now - this.busyPhase.lastAt >= BUSY_QUIET_MS) this.endBusyPhase(false);
    for (const [key, c] of this.clients) {
      if (now - c.lastSeen < this.config.clientTtlMs || c.inflight > 0) continue;
      this.clients.delete(key);
      this.log.info({ client: Buffer.from(key, "latin1"), clients: this.clients.size }, "client expired");
    }
  }

  private startBusyPhase(reason: BusyReason): void {
    const now = this.now();
    if (this.busyPhase) {
      this.busyPhase.replies += 1;
      this.busyPhase.lastAt = now;
      this.busyPhase.reason = reason;
      return;
    }
    this.busyPhase = { since: now, lastAt: now, reason, replies: 1 };
    this.log.warn(
      { inflight: this.pending.size, max: this.config.maxInflight },
      reason === "no archivist" ? "BUSY: no archivist can take a record" : "BUSY: the archive has all the records it may in hand",
    );
  }

  /** Ends the BUSY phase with one line: how long it lasted and how many BUSY replies it took. */
  private endBusyPhase(stopping: boolean): void {
    const phase = this.busyPhase;
    if (!phase) return;
    this.busyPhase = undefined;
    if (stopping) return;
    const seconds = Math.round((phase.lastAt - phase.since) / 100) / 10;
    this.log.info({ busyReplies: phase.replies, seconds, inflight: this.pending.size }, "BUSY over: records go through again");
  }

  /** What the gateway shows: in flight against the bound, BUSY, archived, per client. */
  snapshot(): GatewaySnapshot {
    const now = this.now();
    this.ackedRate.sample(now, this.stats.acked);
    this.busyRate.sample(now, this.stats.busy);
    const oldest = this.pending.values().next().value as Pending | undefined;
    const phase = this.busyPhase;
    return {
      inflight: this.pending.size,
      maxInflight: this.config.maxInflight,
      oldestMs: oldest ? now - oldest.since : 0,
      busyReason:
        phase && now - phase.lastAt < BUSY_QUIET_MS
          ? phase.reason === "no archivist"
            ? "no archivist connected"
            : "the archive's hands are full"
          : undefined,
      clients: [...this.clients.values()].map((c) => {
        c.busyRate.sample(now, c.busy);
        return {
          name: c.name,
          inflight: c.inflight,
          acked: c.acked,
          busy: c.busy,
          busyPerSec: c.busyRate.perSecond,
          silentMs: now - c.lastSeen,
        };
      }),
      acked: this.stats.acked,
      ackedPerSec: this.ackedRate.perSecond,
      busy: this.stats.busy,
      busyPerSec: this.busyRate.perSecond,
      lost: this.stats.lost,
      clientGone: this.stats.clientGone,
      malformed: this.stats.malformed,
      requestTtlMs: this.config.requestTtlMs,
    };
  }

  view(): View {
    return gatewayView(this.snapshot());
  }
}
