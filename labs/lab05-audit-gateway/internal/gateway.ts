import { type Logger, runLoops, SendQueue } from "@zlabs/kit";
import { Dealer, Router } from "zeromq";
import { checkRequest, encodeBody, isStatus } from "./protocol.ts";

/** Records in the archive's hands at once; beyond it a client is told BUSY. */
export const MAX_INFLIGHT = 256;
/** An archived record is acknowledged long before this; past it the request is counted lost (an archivist died). */
export const REQUEST_TTL_MS = 10_000;
/** A client silent this long is forgotten. */
export const CLIENT_TTL_MS = 30_000;
/** What BUSY suggests a client wait before trying again. */
export const RETRY_AFTER_MS = 100;
const SWEEP_MS = 500;

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
  lastSeen: number;
  inflight: number;
}

export interface GatewayStats {
  requests: number;
  acked: number;
  busy: number;
  malformed: number;
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
  private readonly front = new Router({ linger: 0, mandatory: true, sendTimeout: 0 });
  private readonly back = new Dealer({ linger: 0, sendTimeout: 0 });
  private readonly toClients = new SendQueue(this.front);
  private readonly pending = new Map<string, Pending>();
  private readonly clients = new Map<string, ClientState>();
  readonly endpoints = { front: "", back: "" };
  readonly stats: GatewayStats = { requests: 0, acked: 0, busy: 0, malformed: 0, clientGone: 0, lost: 0, maxInflight: 0 };

  constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get inflight(): number {
    return this.pending.size;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  async bind(): Promise<void> {
    await this.front.bind(this.config.front);
    await this.back.bind(this.config.back);
    this.endpoints.front = this.front.lastEndpoint ?? this.config.front;
    this.endpoints.back = this.back.lastEndpoint ?? this.config.back;
    this.log.info({ ...this.endpoints, maxInflight: this.config.maxInflight }, "listening");
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.front) await this.bind();
    try {
      await runLoops(
        signal,
        { sockets: [this.front, this.back], every: [{ ms: SWEEP_MS, run: () => this.sweep() }] },
        () => this.requests(signal),
        () => this.replies(signal),
      );
    } finally {
      this.log.info({ ...this.stats }, "gateway stopped");
    }
  }

  private async requests(signal: AbortSignal): Promise<void> {
    try {
      for await (const frames of this.front) {
        const checked = checkRequest(frames);
        const [client, corr] = frames as [Buffer, Buffer | undefined];
        if (!checked.ok) {
          this.stats.malformed += 1;
          this.log.warn({ reason: checked.reason, total: this.stats.malformed }, "malformed request");
          if (corr && corr.length > 0 && corr.length <= 64) await this.reply(client, corr, "ERROR", encodeBody({ reason: checked.reason }));
          continue;
        }
        this.stats.requests += 1;
        const clientKey = client.toString("hex");
        const state = this.touch(clientKey);
        if (this.pending.size >= this.config.maxInflight) {
          this.stats.busy += 1;
          await this.reply(client, checked.value.corr, "BUSY", encodeBody({ inflight: this.pending.size, retryAfterMs: RETRY_AFTER_MS }));
          continue;
        }
        const key = `${clientKey}:${checked.value.corr.toString("hex")}`;
        try {
          await this.back.send([client, checked.value.corr, Buffer.from("AUDIT"), checked.value.record]);
        } catch (err) {
          // No archivist connected, or every pipe full: the client hears BUSY, nothing waits here.
          if ((err as { code?: string }).code !== "EAGAIN") throw err;
          this.stats.busy += 1;
          await this.reply(client, checked.value.corr, "BUSY", encodeBody({ inflight: this.pending.size, retryAfterMs: RETRY_AFTER_MS }));
          continue;
        }
        this.pending.set(key, { clientKey, since: this.now() });
        state.inflight += 1;
        this.stats.maxInflight = Math.max(this.stats.maxInflight, this.pending.size);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  private async replies(signal: AbortSignal): Promise<void> {
    try {
      for await (const frames of this.back) {
        const [client, corr, status, body] = frames;
        if (frames.length !== 4 || !client || !corr || !status || !body || !isStatus(status.toString())) {
          this.stats.malformed += 1;
          this.log.warn({ frames: frames.length }, "malformed reply from an archivist dropped");
          continue;
        }
        const clientKey = client.toString("hex");
        const entry = this.pending.get(`${clientKey}:${corr.toString("hex")}`);
        if (entry) {
          this.pending.delete(`${clientKey}:${corr.toString("hex")}`);
          const state = this.clients.get(clientKey);
          if (state) state.inflight -= 1;
        }
        if (status.toString() === "ACK") this.stats.acked += 1;
        await this.reply(client, corr, status.toString(), body);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  /** Routed by identity; a client that has gone (or whose queue is full) is counted, never waited for. */
  private async reply(client: Buffer, corr: Buffer, status: string, body: Buffer): Promise<void> {
    try {
      await this.toClients.send([client, corr, Buffer.from(status), body]);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "EHOSTUNREACH" && code !== "EAGAIN") throw err;
      this.stats.clientGone += 1;
      this.log.debug({ client: client.toString("hex"), status }, "reply for a client that is gone dropped");
    }
  }

  private touch(clientKey: string): ClientState {
    let state = this.clients.get(clientKey);
    if (!state) {
      state = { lastSeen: 0, inflight: 0 };
      this.clients.set(clientKey, state);
      this.log.info({ client: clientKey, clients: this.clients.size }, "client joined");
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
      this.log.warn({ client: p.clientKey, lost: this.stats.lost }, "no archive reply within the TTL; the client will retry");
    }
    for (const [key, c] of this.clients) {
      if (now - c.lastSeen < this.config.clientTtlMs || c.inflight > 0) continue;
      this.clients.delete(key);
      this.log.info({ client: key, clients: this.clients.size }, "client expired");
    }
  }
}
