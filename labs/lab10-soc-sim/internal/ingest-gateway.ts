// The ingest gateway: HTTP `POST /api/events` (JSON, schema-checked with ajv) and a PULL for ZeroMQ
// sensors (protobuf, one event a frame). Each event goes down the pipeline (PUSH to the enrichers) and
// stays here until the alert sink's done notice comes back (SUB to every sink, topic = this instance):
// then, and only then, the HTTP request is answered 200. No notice within `retryMs`: sent again (the
// sink de-duplicates); none within `ackTimeoutMs`: 503, not acknowledged.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { bindAll, type Logger, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Ajv } from "ajv";
import { Pull, Push, Subscriber } from "zeromq";
import { decodeEvent, encodeEvent } from "./codec.ts";
import { checkEvent, EVENT_JSON_SCHEMA, newEventId, PROTOCOLS, type SecurityEvent } from "./event.ts";
import { type Done, decodeDone, MAX_EVENT_BYTES, MAX_NOTICE_BYTES } from "./protocol.ts";
import { listen, portOf, Service, type ServiceConfig, sendJson } from "./service.ts";
import { gatewayView } from "./view.ts";

export const ACK_TIMEOUT_MS = 10_000;
export const RETRY_MS = 2_000;
export const MAX_IN_FLIGHT = 20_000;
/** Largest HTTP body (one event). */
export const MAX_BODY_BYTES = 64 * 1024;
/** Per enricher: events queued in the PUSH before sends fail (and wait for the retry). */
export const PUSH_HWM = 10_000;
export const VIEW_MS = 1000;

export interface GatewayConfig {
  service: ServiceConfig;
  port: number;
  httpPort: number;
  ackTimeoutMs: number;
  retryMs: number;
  maxInFlight: number;
}

interface InFlight {
  event: SecurityEvent;
  acceptedAt: number;
  sentAt: number;
  waiters: ServerResponse[];
}

export interface GatewayStats {
  http: number;
  zmq: number;
  acked: number;
  resent: number;
  expired: number;
  rejected: number;
  malformed: number;
  inFlight: number;
  rate: number;
  p50: number;
  p99: number;
}

const ajv = new Ajv({ allErrors: false, strict: true });
const validateJson = ajv.compile(EVENT_JSON_SCHEMA);

/** The JSON body -> an event, or the reason it is refused (the 400's body). */
export function eventFromJson(text: string): { ok: true; value: SecurityEvent } | { ok: false; reason: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${(err as Error).message.slice(0, 100)}` };
  }
  if (!validateJson(body)) {
    const e = validateJson.errors?.[0];
    return {
      ok: false,
      reason: `schema: ${e?.instancePath || "body"} ${e?.message ?? "invalid"}${e?.params && "additionalProperty" in e.params ? ` (${String(e.params.additionalProperty)})` : ""}`,
    };
  }
  const b = body as unknown as Record<string, unknown>;
  return checkEvent({ ...b, protocol: PROTOCOLS[b.protocol as string], id: b.id ?? newEventId("http") });
}

export class IngestGateway {
  readonly service: Service;
  private readonly pull = new Pull({ linger: 0, ...peerLimits(MAX_EVENT_BYTES) });
  private readonly push = new Push({ linger: 0, sendTimeout: 0, immediate: true, sendHighWaterMark: PUSH_HWM });
  private readonly pushes = new SendQueue(this.push);
  private readonly done = new Subscriber({ linger: 0, ...peerLimits(MAX_NOTICE_BYTES) });
  readonly inFlight = new Map<string, InFlight>();
  readonly stats: GatewayStats = {
    http: 0,
    zmq: 0,
    acked: 0,
    resent: 0,
    expired: 0,
    rejected: 0,
    malformed: 0,
    inFlight: 0,
    rate: 0,
    p50: 0,
    p99: 0,
  };
  private readonly latencies: number[] = [];
  private lastAcked = 0;
  private readonly m;
  endpoint = "";
  httpUrl = "";

  constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {
    this.service = new Service("ingest-gateway", config.service, log);
    const s = this.service;
    this.m = {
      accepted: s.counter("lab10_ingest_accepted_total", "events taken in", ["via"]),
      rejected: s.counter("lab10_ingest_rejected_total", "HTTP bodies refused with 400/413/503", ["reason"]),
      malformed: s.counter("lab10_ingest_malformed_total", "ZeroMQ messages dropped as malformed"),
      acked: s.counter("lab10_ingest_acknowledged_total", "events the alert sink finished (HTTP 200)"),
      resent: s.counter("lab10_ingest_resent_total", "events sent down the pipeline again"),
      expired: s.counter("lab10_ingest_expired_total", "events not finished within the ack timeout (HTTP 503)"),
      inFlight: s.gauge("lab10_ingest_in_flight", "events in the pipeline"),
      latency: s.histogram(
        "lab10_ingest_ack_seconds",
        "from accept to the sink's done notice",
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ),
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    const { service, config } = this;
    await service.start();
    this.endpoint = (await bindAll(this.log, { ingest: [this.pull, service.bindEndpoint(config.port)] })).ingest;
    const server = createServer((req, res) => this.serve(req, res));
    const httpPort = await listen(server, config.service.bindHost, config.httpPort, "--http-port");
    this.httpUrl = `http://${config.service.advertiseHost}:${httpPort}`;
    this.done.subscribe(config.service.instance);
    service.follow("event-enricher", (r) => r.endpoint, this.push);
    service.follow("alert-sink", (r) => r.meta.done, this.done);
    service.publishStats(() => ({
      stage: "ingest",
      in: this.stats.http + this.stats.zmq,
      out: this.stats.acked,
      inFlight: this.inFlight.size,
      rejected: this.stats.rejected + this.stats.malformed,
      p50: this.stats.p50,
      p99: this.stats.p99,
    }));
    await service.register(service.advertised(this.endpoint), { http: this.httpUrl }, signal);
    try {
      await runLoops(
        signal,
        {
          sockets: [this.pull, this.push, this.done],
          every: [
            { ms: Math.max(5, Math.min(config.retryMs, config.ackTimeoutMs) / 4), run: () => this.sweep() },
            { ms: VIEW_MS, run: () => this.refresh() },
          ],
          log: this.log,
        },
        () => receiveLoop(this.pull, signal, (frames) => this.onZmq(frames), { log: this.log, name: "ingest" }),
        () => receiveLoop(this.done, signal, (frames) => this.onDone(frames), { log: this.log, name: "done" }),
      );
    } finally {
      for (const f of this.inFlight.values())
        for (const res of f.waiters) sendJson(res, 503, { error: "gateway stopping: not acknowledged" });
      server.closeAllConnections();
      server.close();
      await service.close();
    }
  }

  private reject(res: ServerResponse, status: number, reason: string, label: string): void {
    this.stats.rejected += 1;
    this.m.rejected.inc({ reason: label });
    if (this.stats.rejected <= 10 || this.stats.rejected % 100 === 0)
      this.log.warn({ status, reason, rejected: this.stats.rejected }, "event refused");
    res.setHeader("connection", "close");
    sendJson(res, status, { error: reason });
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/api/events") {
      sendJson(res, 404, { error: "POST /api/events" });
      return;
    }
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      sendJson(res, 405, { error: "POST only" });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        if (!over) this.reject(res, 413, `body over ${MAX_BODY_BYTES} bytes`, "too-large");
        over = true;
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("error", () => {});
    req.on("end", () => {
      if (over) return;
      const parsed = eventFromJson(Buffer.concat(chunks).toString("utf8"));
      if (!parsed.ok) {
        this.reject(
          res,
          400,
          parsed.reason,
          parsed.reason.startsWith("invalid JSON") ? "json" : parsed.reason.startsWith("schema") ? "schema" : "value",
        );
        return;
      }
      this.stats.http += 1;
      this.m.accepted.inc({ via: "http" });
      this.accept(parsed.value, res);
    });
  }

  private onZmq(frames: Buffer[]): void {
    const ev = decodeEvent(frames);
    if (!ev.ok) {
      this.stats.malformed += 1;
      this.m.malformed.inc();
      if (this.stats.malformed <= 10 || this.stats.malformed % 100 === 0)
        this.log.warn({ reason: ev.reason, malformed: this.stats.malformed }, "malformed event dropped");
      return;
    }
    this.stats.zmq += 1;
    this.m.accepted.inc({ via: "zmq" });
    this.accept(ev.value, undefined);
  }

  /** Takes an event into the pipeline (or adds a waiter to the same id already in it). */
  accept(event: SecurityEvent, res: ServerResponse | undefined): void {
    const known = this.inFlight.get(event.id);
    if (known) {
      if (res) known.waiters.push(res);
      return;
    }
    if (this.inFlight.size >= this.config.maxInFlight) {
      if (res) this.reject(res, 503, `pipeline full (${this.config.maxInFlight} events in flight): retry later`, "full");
      else this.stats.expired += 1;
      return;
    }
    const now = performance.now();
    const entry: InFlight = {
      event: { ...event, gateway: this.config.service.instance, receivedMs: Date.now(), attempt: 1, traceId: event.traceId || event.id },
      acceptedAt: now,
      sentAt: now,
      waiters: res ? [res] : [],
    };
    this.inFlight.set(event.id, entry);
    this.send(entry);
  }

  private send(entry: InFlight): void {
    entry.sentAt = performance.now();
    // sendTimeout 0: with no enricher (or all full) the send fails at once and the sweep sends again.
    this.pushes.send(encodeEvent(entry.event, this.config.service.codec)).catch(() => {});
  }

  private onDone(frames: Buffer[]): void {
    const d = decodeDone(frames);
    if (!d.ok) {
      this.stats.malformed += 1;
      this.log.warn({ reason: d.reason }, "malformed done notice dropped");
      return;
    }
    this.finish(d.value);
  }

  private finish(done: Done): void {
    const entry = this.inFlight.get(done.id);
    if (!entry) return; // a second notice (after a resend) or one for an event that expired
    this.inFlight.delete(done.id);
    const ms = performance.now() - entry.acceptedAt;
    this.m.latency.observe(ms / 1000);
    this.m.acked.inc();
    this.stats.acked += 1;
    this.latencies.push(ms);
    if (this.latencies.length > 2000) this.latencies.splice(0, 1000);
    for (const res of entry.waiters) sendJson(res, 200, { id: done.id, score: done.score, alerts: done.alerts });
  }

  sweep(): void {
    const now = performance.now();
    for (const [id, e] of this.inFlight) {
      if (now - e.acceptedAt >= this.config.ackTimeoutMs) {
        this.inFlight.delete(id);
        this.stats.expired += 1;
        this.m.expired.inc();
        for (const res of e.waiters)
          sendJson(res, 503, { error: `not processed within ${this.config.ackTimeoutMs} ms: not acknowledged, retry with the same id` });
        continue;
      }
      if (now - e.sentAt >= this.config.retryMs) {
        e.event = { ...e.event, attempt: e.event.attempt + 1 };
        this.stats.resent += 1;
        this.m.resent.inc();
        this.send(e);
      }
    }
    this.stats.inFlight = this.inFlight.size;
    this.m.inFlight.set(this.inFlight.size);
  }

  private refresh(): void {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    this.stats.p50 = sorted.length ? (sorted[Math.floor(sorted.length * 0.5)] as number) : 0;
    this.stats.p99 = sorted.length ? (sorted[Math.floor(sorted.length * 0.99)] as number) : 0;
    this.stats.rate = this.stats.acked - this.lastAcked;
    this.lastAcked = this.stats.acked;
    this.stats.inFlight = this.inFlight.size;
    this.publish(gatewayView(this.stats, this.config.service.instance, this.httpUrl));
  }
}

export { portOf };
