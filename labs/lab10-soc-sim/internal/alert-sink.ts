// The alert sink: the pipeline's end (PULL from the enrichers). Each scored event's rule hits become
// alerts, de-duplicated and stored with an expiry (memory by default, Redis by flag); then the event's
// gateway is told it is done (PUB, topic = gateway instance), which is what acknowledges the event. An
// event seen again (a resend) is acknowledged again without storing its alerts twice.
import type { IncomingMessage, ServerResponse } from "node:http";
import { bindAll, type Logger, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Publisher, Pull } from "zeromq";
import type { Alert, AlertStore, Severity } from "./alert-store.ts";
import { MemoryAlertStore } from "./alert-store-memory.ts";
import { openRedisAlertStore } from "./alert-store-redis.ts";
import { decodeScored, type Scored } from "./codec.ts";
import { encodeDone, MAX_EVENT_BYTES } from "./protocol.ts";
import { Service, type ServiceConfig, sendJson, TOPIC_ALERT, TOPIC_ALERTS } from "./service.ts";
import { sinkView } from "./view.ts";

export const ALERT_TTL_MS = 600_000;
/** Event ids remembered as done (a resend of one of these is acknowledged, not stored again). */
export const DONE_MEMORY = 100_000;
/** Alerts sent to the dashboard in its list. */
export const DASHBOARD_ALERTS = 30;
/** At most this often the dashboard's alert list is sent again (when it changed). */
export const DASHBOARD_EVERY_MS = 500;
export const VIEW_MS = 1000;

export interface AlertSinkConfig {
  service: ServiceConfig;
  port: number;
  donePort: number;
  store: string;
  alertTtlMs: number;
}

export interface SinkStats {
  events: number;
  resends: number;
  stored: number;
  duplicates: number;
  malformed: number;
  storeErrors: number;
  rate: number;
}

export async function openAlertStore(url: string, log: Logger): Promise<AlertStore> {
  if (url === "memory") return new MemoryAlertStore();
  return openRedisAlertStore(url, log);
}

/** A bounded set of ids, oldest forgotten first. */
export class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as string);
  }
}

export class AlertSink {
  readonly service: Service;
  private readonly pull = new Pull({ linger: 0, ...peerLimits(MAX_EVENT_BYTES) });
  private readonly done = new Publisher({ linger: 0 });
  private readonly doneSends = new SendQueue(this.done);
  private store: AlertStore | undefined;
  private readonly finished = new RecentIds(DONE_MEMORY);
  readonly stats: SinkStats = { events: 0, resends: 0, stored: 0, duplicates: 0, malformed: 0, storeErrors: 0, rate: 0 };
  private last = 0;
  private changed = true;
  private ticks = 0;
  private latest: Alert[] = [];
  private readonly m;
  endpoint = "";
  doneEndpoint = "";

  constructor(
    private readonly config: AlertSinkConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {
    this.service = new Service("alert-sink", config.service, log);
    this.m = {
      events: this.service.counter("lab10_sink_events_total", "scored events finished", ["outcome"]),
      alerts: this.service.counter("lab10_sink_alerts_total", "alerts by result", ["result", "rule", "severity"]),
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    const { service, config } = this;
    await service.start();
    this.store = await openAlertStore(config.store, this.log);
    const bound = await bindAll(this.log, {
      pull: [this.pull, service.bindEndpoint(config.port)],
      done: [this.done, service.bindEndpoint(config.donePort)],
    });
    this.endpoint = bound.pull;
    this.doneEndpoint = bound.done;
    service.route((req, res, path) => this.api(req, res, path));
    service.publishStats(() => ({
      stage: "sink",
      in: this.stats.events,
      out: this.stats.events,
      stored: this.stats.stored,
      duplicates: this.stats.duplicates,
    }));
    const httpBase = service.metricsUrl.replace(/\/metrics$/, "");
    await service.register(
      service.advertised(this.endpoint),
      { done: service.advertised(this.doneEndpoint), http: httpBase, store: config.store === "memory" ? "memory" : "redis" },
      signal,
    );
    try {
      await runLoops(
        signal,
        {
          sockets: [this.pull, this.done],
          every: [
            { ms: DASHBOARD_EVERY_MS, run: () => void this.toDashboard() },
            { ms: VIEW_MS, run: () => this.refresh() },
          ],
          log: this.log,
        },
        () => receiveLoop(this.pull, signal, (frames) => this.onScored(frames), { log: this.log, name: "scored" }),
      );
    } finally {
      await this.store.close().catch(() => {});
      await service.close();
    }
  }

  private api(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (req.method !== "GET") return false;
    if (path === "/api/alerts") {
      const limit = Math.min(1000, Math.max(1, Number(new URL(req.url ?? "/", "http://x").searchParams.get("limit")) || 100));
      this.store?.list(limit).then(
        (alerts) => sendJson(res, 200, { alerts }),
        (err: Error) => sendJson(res, 503, { error: err.message }),
      );
      return true;
    }
    if (path === "/api/stats") {
      sendJson(res, 200, {
        events: this.stats.events,
        stored: this.stats.stored,
        duplicates: this.stats.duplicates,
        resends: this.stats.resends,
      });
      return true;
    }
    return false;
  }

  async onScored(frames: Buffer[]): Promise<void> {
    const s = decodeScored(frames);
    if (!s.ok) {
      this.stats.malformed += 1;
      this.m.events.inc({ outcome: "malformed" });
      if (this.stats.malformed <= 10 || this.stats.malformed % 100 === 0)
        this.log.warn({ reason: s.reason, malformed: this.stats.malformed }, "malformed scored event dropped");
      return;
    }
    const { event, verdict } = s.value;
    if (this.finished.has(event.id)) {
      this.stats.resends += 1;
      this.m.events.inc({ outcome: "resend" });
      this.ack(s.value);
      return;
    }
    try {
      for (const hit of verdict.hits) {
        const now = Date.now();
        const alert: Alert = {
          severity: hit.severity as Severity,
          rule: hit.rule,
          subject: hit.subject,
          summary: hit.summary,
          eventId: event.traceId || event.id,
          firstSeen: now,
          lastSeen: now,
          count: 1,
        };
        const result = await (this.store as AlertStore).put(alert, this.config.alertTtlMs);
        this.m.alerts.inc({ result, rule: hit.rule, severity: hit.severity });
        this.changed = true;
        if (result === "stored") {
          this.stats.stored += 1;
          this.log.info({ severity: hit.severity, rule: hit.rule, subject: hit.subject, event: event.id }, `ALERT ${hit.summary}`);
          this.service.toDashboard(TOPIC_ALERT, alert);
        } else this.stats.duplicates += 1;
      }
    } catch (err) {
      // Not acknowledged: the gateway sends the event again.
      this.stats.storeErrors += 1;
      this.m.events.inc({ outcome: "store-error" });
      this.log.warn({ err: (err as Error).message, id: event.id }, "alert store failed: event not acknowledged");
      return;
    }
    this.finished.add(event.id);
    this.stats.events += 1;
    this.m.events.inc({ outcome: "done" });
    this.ack(s.value);
  }

  private ack({ event, verdict }: Scored): void {
    if (!event.gateway) return;
    this.doneSends
      .send(encodeDone(event.gateway, { id: event.id, score: verdict.score, alerts: [...new Set(verdict.hits.map((h) => h.rule))] }))
      .catch(() => {});
  }

  private async toDashboard(): Promise<void> {
    // When it changed, and every 10th tick anyway (a dashboard that started later gets the list).
    this.ticks += 1;
    if ((!this.changed && this.ticks % 10 !== 0) || !this.store) return;
    this.changed = false;
    this.latest = await this.store.list(DASHBOARD_ALERTS).catch(() => this.latest);
    this.service.toDashboard(TOPIC_ALERTS, { instance: this.config.service.instance, alerts: this.latest });
  }

  private refresh(): void {
    this.stats.rate = this.stats.events - this.last;
    this.last = this.stats.events;
    this.publish(sinkView(this.config.service.instance, this.stats, this.latest, this.config.store));
  }
}
