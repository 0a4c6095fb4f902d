// What every SOC service shares: the registry (register under a lease, find the others), /metrics in
// the Prometheus text format (prom-client), the once-a-second stats the dashboard draws, and the ready line.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Logger, SendQueue, UsageError } from "@zlabs/kit";
import { Counter, Gauge, Histogram, Registry as MetricsRegistry } from "prom-client";
import { Publisher } from "zeromq";
import type { CodecName } from "./codec.ts";
import { openRegistry } from "./discovery.ts";
import type { Health, Registration, Registry, ServiceRecord } from "./registry.ts";

/** How often a service sends its figures to the dashboard. */
export const STATS_MS = 1000;
/** Dashboard topics (lab16 bridge topics: [A-Za-z0-9_.-]). */
export const TOPIC_STATS = "soc.stats.";
export const TOPIC_ALERTS = "soc.alerts";
export const TOPIC_ALERT = "soc.alert";
export const TOPIC_SERVICES = "soc.services";

export interface ServiceConfig {
  registry: string;
  bindHost: string;
  advertiseHost: string;
  instance: string;
  leaseTtlMs: number;
  leaseRenewMs: number;
  metricsPort: number;
  codec: CodecName;
}

export type Route = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/** The port of a bound endpoint ("tcp://127.0.0.1:40123" -> 40123). */
export function portOf(endpoint: string): number {
  return Number(/:(\d+)$/.exec(endpoint)?.[1] ?? 0);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

/** Listens an HTTP server on host:port (0 = ephemeral); EADDRINUSE is the user's mistake. */
export async function listen(server: Server, host: string, port: number, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new UsageError(`${what}: cannot listen on ${host}:${port}: ${err.code === "EADDRINUSE" ? "the address is in use" : err.message}`),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export class Service {
  readonly metrics = new MetricsRegistry();
  registry: Registry | undefined;
  private registration: Registration | undefined;
  private server: Server | undefined;
  private readonly routes: Route[] = [];
  private readonly statsPub = new Publisher({ linger: 0, sendHighWaterMark: 100 });
  /** One writer for the timer and the sink's alerts (a second pending send throws EBUSY). */
  private readonly statsSends = new SendQueue(this.statsPub);
  private readonly unwatch: (() => void)[] = [];
  private statsTimer: NodeJS.Timeout | undefined;
  metricsUrl = "";

  constructor(
    readonly type: string,
    readonly config: ServiceConfig,
    readonly log: Logger,
  ) {
    this.metrics.setDefaultLabels({ service: type, instance: config.instance });
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter {
    return new Counter({ name, help, labelNames, registers: [this.metrics] });
  }

  gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.metrics] });
  }

  histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ name, help, buckets, registers: [this.metrics] });
  }

  /** An extra HTTP route on the metrics server (the sink's /api/alerts). */
  route(r: Route): void {
    this.routes.push(r);
  }

  /** tcp://bindHost:port to bind. */
  bindEndpoint(port: number): string {
    return `tcp://${this.config.bindHost}:${port}`;
  }

  /** What others connect to, for a bound endpoint. */
  advertised(boundEndpoint: string): string {
    return `tcp://${this.config.advertiseHost}:${portOf(boundEndpoint)}`;
  }

  /** Opens the registry and the metrics server. */
  async start(): Promise<Registry> {
    const server = createServer((req, res) => this.serve(req, res));
    this.server = server;
    const port = await listen(server, this.config.bindHost, this.config.metricsPort, "--metrics-port");
    this.metricsUrl = `http://${this.config.advertiseHost}:${port}/metrics`;
    this.registry = await openRegistry(this.config.registry, this.log);
    return this.registry;
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0] as string;
    if (req.method === "GET" && path === "/metrics") {
      this.metrics.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    for (const r of this.routes) if (r(req, res, path)) return;
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }

  /** Registers this instance (retrying until the registry answers) and logs the ready line. */
  async register(endpoint: string, meta: Record<string, string>, signal: AbortSignal): Promise<void> {
    const record: ServiceRecord = {
      type: this.type,
      instance: this.config.instance,
      endpoint,
      health: "passing",
      meta: { ...meta, metrics: this.metricsUrl },
    };
    const registry = this.registry ?? (await this.start());
    let logged = false;
    while (!signal.aborted) {
      try {
        this.registration = await registry.register(record, { ttlMs: this.config.leaseTtlMs, renewMs: this.config.leaseRenewMs });
        break;
      } catch (err) {
        if (!logged) this.log.warn({ err: (err as Error).message, registry: this.config.registry }, "registry unreachable: retrying");
        logged = true;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    if (signal.aborted) return;
    this.log.info({ type: this.type, instance: this.config.instance, endpoint, meta: record.meta }, "ready");
  }

  async setHealth(health: Health): Promise<void> {
    await this.registration?.setHealth(health).catch(() => {});
  }

  /**
   * Keeps `connectTo` connected to every live instance of `type` (a PUSH to every enricher, a SUB to
   * every intel feed): connects new endpoints, disconnects those gone from the registry.
   */
  follow(
    type: string,
    endpointOf: (r: ServiceRecord) => string | undefined,
    socket: { connect(e: string): void; disconnect(e: string): void },
    onChange?: (records: ServiceRecord[]) => void,
  ): void {
    const connected = new Set<string>();
    const registry = this.registry;
    if (!registry) throw new Error("start() first");
    this.unwatch.push(
      registry.watch(type, (records) => {
        const now = new Set(
          records.map(endpointOf).filter((e): e is string => typeof e === "string" && /^tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}$/.test(e)),
        );
        for (const e of now)
          if (!connected.has(e)) {
            socket.connect(e);
            connected.add(e);
            this.log.info({ type, endpoint: e }, `connected to ${type}`);
          }
        for (const e of [...connected])
          if (!now.has(e)) {
            try {
              socket.disconnect(e);
            } catch {
              // already gone with the socket
            }
            connected.delete(e);
            this.log.info({ type, endpoint: e }, `${type} gone from the registry: disconnected`);
          }
        onChange?.(records);
      }),
    );
  }

  /** Sends `stats()` to every dashboard once a second (found through the registry). */
  publishStats(stats: () => Record<string, unknown>): void {
    this.follow("soc-dashboard", (r) => r.endpoint, this.statsPub);
    const topic = `${TOPIC_STATS}${this.type}.${this.config.instance}`;
    this.statsTimer = setInterval(() => {
      const body = JSON.stringify({ type: this.type, instance: this.config.instance, at: Date.now(), ...stats() });
      this.statsSends.send([topic, body]).catch(() => {});
    }, STATS_MS);
  }

  /** Sends one message to the dashboards on the stats socket (the sink's alerts). */
  toDashboard(topic: string, body: unknown): void {
    this.statsSends.send([topic, JSON.stringify(body)]).catch(() => {});
  }

  async close(): Promise<void> {
    clearInterval(this.statsTimer);
    for (const u of this.unwatch) u();
    this.statsPub.close();
    await this.registry?.close().catch(() => {});
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((r) => this.server?.close(() => r()));
    }
  }
}
