import type { Span } from "@opentelemetry/api";
import { SpanStatusCode } from "@opentelemetry/api";
import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Dealer, Router } from "zeromq";
import {
  decodeVerdict,
  EMPTY,
  encodeRequest,
  encodeVerdict,
  fromUpstream,
  MAX_REQUEST_BYTES,
  type Transaction,
  type Verdict,
} from "./protocol.ts";
import { type ExporterStats, Tracing, type TracingConfig } from "./tracing.ts";
import { serviceView, VIEW_MS } from "./view.ts";

export const STAGES = ["gateway", "enricher", "scorer"] as const;
export type Stage = (typeof STAGES)[number];
/** A request unanswered downstream this long is answered with an error. */
export const DOWNSTREAM_TIMEOUT_MS = 2000;
/** Requests in flight downstream at most; beyond, a request is refused at once. */
export const MAX_IN_FLIGHT = 10_000;
/** Cards the enricher remembers (their transaction counts); the oldest is forgotten beyond. */
export const MAX_CARDS = 10_000;
/** How often a 'stats' line is logged (when something changed). */
export const STATS_MS = 5000;

export interface ServiceConfig {
  stage: Stage;
  /** ROUTER endpoint this stage serves. */
  bind: string;
  /** The next stage's endpoint (the scorer has none). */
  next?: string;
  /** Simulated work per request, ms (0: none). */
  workMs: number;
  timeoutMs: number;
  statsMs: number;
  tracing: TracingConfig;
}

interface Pending {
  envelope: Buffer[];
  upstreamId: number;
  server: Span;
  client: Span;
  since: number;
}

export interface ServiceStats {
  requests: number;
  replies: number;
  errors: number;
  dropped: number;
  inFlight: number;
  badTraceparents: number;
  spans: ExporterStats;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stage's own work: what it adds to the transaction, or the verdict when it is the last one. */
export function merchantRisk(merchant: string): number {
  let h = 2166136261;
  for (let i = 0; i < merchant.length; i++) h = Math.imul(h ^ merchant.charCodeAt(i), 16777619);
  return ((h >>> 0) % 1000) / 1000;
}

export function score(tx: Transaction): { score: number; decision: string } {
  const f = tx.features ?? {};
  const x = Math.log10(1 + tx.amount) / 4 + (f.merchantRisk ?? 0) * 0.8 + Math.min(f.cardVelocity ?? 0, 20) * 0.05 - 1.2;
  const s = Math.round((1 / (1 + Math.exp(-4 * x))) * 1000) / 1000;
  return { score: s, decision: s >= 0.8 ? "decline" : s >= 0.5 ? "review" : "approve" };
}

/**
 * One stage of the chain: a ROUTER for the stage before (or the client), a DEALER to the next.
 * Each request gets a SERVER span whose parent comes from the traceparent frame, and a CLIENT span
 * around the call downstream whose context goes on in the next traceparent frame.
 */
export class MonitoredService {
  private readonly front = new Router({ linger: 0, ...peerLimits(MAX_REQUEST_BYTES) });
  private readonly back?: Dealer;
  private readonly frontOut: SendQueue;
  private readonly backOut?: SendQueue;
  private readonly pending = new Map<number, Pending>();
  private readonly cards = new Map<string, number>();
  private nextId = 1;
  readonly tracing: Tracing;
  readonly endpoints = { bind: "" };
  readonly loops: Record<"front" | "back", LoopStats> = { front: { received: 0, failed: 0 }, back: { received: 0, failed: 0 } };
  requests = 0;
  replies = 0;
  errors = 0;
  dropped = 0;

  constructor(
    private readonly config: ServiceConfig,
    private readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {
    this.tracing = new Tracing(config.tracing, log);
    this.frontOut = new SendQueue(this.front);
    if (config.next) {
      this.back = new Dealer({ linger: 0, ...peerLimits(MAX_REQUEST_BYTES) });
      this.back.connect(config.next);
      this.backOut = new SendQueue(this.back);
    }
  }

  stats(): ServiceStats {
    return {
      requests: this.requests,
      replies: this.replies,
      errors: this.errors,
      dropped: this.dropped,
      inFlight: this.pending.size,
      badTraceparents: this.tracing.badTraceparents,
      spans: { ...this.tracing.stats },
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    Object.assign(this.endpoints, await bindAll(this.log, { bind: [this.front, this.config.bind] }));
    const log = this.log;
    const publish = this.publish;
    try {
      await runLoops(
        signal,
        {
          sockets: [this.front, this.back],
          every: [
            { ms: Math.max(10, Math.min(500, this.config.timeoutMs / 4)), run: () => this.expire() },
            ...(publish ? [{ ms: VIEW_MS, run: () => publish(serviceView(this.config, this.stats())) }] : []),
            { ms: this.config.statsMs, run: () => this.report() },
          ],
          log,
        },
        () => receiveLoop(this.front, signal, (frames) => this.onRequest(frames), { log, name: "front", stats: this.loops.front }),
        ...(this.back
          ? [
              () =>
                receiveLoop(this.back as Dealer, signal, (frames) => this.onReply(frames), { log, name: "back", stats: this.loops.back }),
            ]
          : []),
      );
    } finally {
      await this.tracing.shutdown();
    }
  }

  private lastReported = { requests: 0, dropped: 0 };

  private report(): void {
    const s = this.stats();
    if (s.requests === this.lastReported.requests && s.spans.spansDropped === this.lastReported.dropped) return;
    this.lastReported = { requests: s.requests, dropped: s.spans.spansDropped };
    this.log.info(
      {
        requests: s.requests,
        errors: s.errors,
        badTraceparents: s.badTraceparents,
        spansSent: s.spans.spansSent,
        spansDropped: s.spans.spansDropped,
      },
      "stats",
    );
  }

  private async onRequest(frames: Buffer[]): Promise<void> {
    const msg = fromUpstream(frames);
    if (msg.kind === "invalid") {
      this.dropped += 1;
      this.log.warn({ reason: msg.reason, dropped: this.dropped }, "malformed request dropped");
      return;
    }
    this.requests += 1;
    const { tx, envelope } = msg;
    const server = this.tracing.server(
      `${this.config.stage} ${this.config.next ? "forward" : "score"}`,
      this.tracing.extract(msg.traceparent),
    );
    server.setAttribute("tx.id", tx.id);
    if (this.config.workMs > 0) await sleep(this.config.workMs);
    const reply = (v: Verdict, span: Span) => {
      if (!v.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: v.error });
      this.tracing.end(span);
      this.replies += 1;
      return this.frontOut.send([...envelope, EMPTY, encodeVerdict(v)]);
    };
    switch (this.config.stage) {
      case "gateway":
        if (tx.amount <= 0) {
          this.errors += 1;
          return reply({ id: tx.id, ok: false, error: "amount must be positive" }, server);
        }
        break;
      case "enricher": {
        const seen = (this.cards.get(tx.card) ?? 0) + 1;
        this.cards.delete(tx.card);
        this.cards.set(tx.card, seen);
        if (this.cards.size > MAX_CARDS) this.cards.delete(this.cards.keys().next().value as string);
        tx.features = { ...tx.features, cardVelocity: seen, merchantRisk: merchantRisk(tx.merchant) };
        break;
      }
      case "scorer": {
        const s = score(tx);
        server.setAttribute("fraud.score", s.score);
        server.setAttribute("fraud.decision", s.decision);
        return reply({ id: tx.id, ok: true, ...s }, server);
      }
    }
    if (!this.backOut) return reply({ id: tx.id, ok: false, error: "no next stage" }, server);
    if (this.pending.size >= MAX_IN_FLIGHT) {
      this.errors += 1;
      return reply({ id: tx.id, ok: false, error: "overloaded" }, server);
    }
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffffffff) + 1;
    const client = this.tracing.client(`${this.config.stage} -> next`, server);
    this.pending.set(id, { envelope, upstreamId: tx.id, server, client, since: performance.now() });
    await this.backOut.send(encodeRequest(this.tracing.inject(client), { ...tx, id }));
  }

  private async onReply(frames: Buffer[]): Promise<void> {
    const v = decodeVerdict(frames);
    if (!v.ok) {
      this.dropped += 1;
      this.log.warn({ reason: v.reason, dropped: this.dropped }, "malformed reply dropped");
      return;
    }
    const p = this.pending.get(v.value.id);
    if (!p) return; // late: already answered with a timeout
    this.pending.delete(v.value.id);
    this.tracing.end(p.client);
    if (!v.value.ok) {
      this.errors += 1;
      p.server.setStatus({ code: SpanStatusCode.ERROR, message: v.value.error });
    }
    this.tracing.end(p.server);
    this.replies += 1;
    await this.frontOut.send([...p.envelope, EMPTY, encodeVerdict({ ...v.value, id: p.upstreamId })]);
  }

  private expire(): void {
    const limit = performance.now() - this.config.timeoutMs;
    for (const [id, p] of this.pending) {
      if (p.since > limit) break; // in order of age
      this.pending.delete(id);
      this.errors += 1;
      p.client.setStatus({ code: SpanStatusCode.ERROR, message: "timeout" });
      this.tracing.end(p.client);
      p.server.setStatus({ code: SpanStatusCode.ERROR, message: "timeout" });
      this.tracing.end(p.server);
      this.log.warn({ stage: this.config.stage, id: p.upstreamId }, "next stage did not answer in time");
      void this.frontOut.send([...p.envelope, EMPTY, encodeVerdict({ id: p.upstreamId, ok: false, error: "timeout" })]).catch(() => {});
    }
  }
}
