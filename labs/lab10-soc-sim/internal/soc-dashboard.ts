// The SOC's web page, served through lab16's bridge (imported from lab16's exports, with this lab's
// page in place of lab16's): services send their figures and the sink its alerts to the bridge's SUB
// (topics "soc.stats.<type>.<instance>", "soc.alert", "soc.alerts"); the dashboard adds the registry's
// list ("soc.services"); every browser gets them over its WebSocket, the last value of each topic first.
import { fileURLToPath } from "node:url";
import type { Logger, View } from "@zlabs/kit";
import { ZmqBridge } from "lab16/bridge";
import type { ServiceRecord } from "./registry.ts";
import { Service, type ServiceConfig, TOPIC_SERVICES } from "./service.ts";
import { dashboardView } from "./view.ts";

/** The registry's list is sent again this often even when unchanged (health ages on the page). */
export const SERVICES_EVERY_MS = 2000;
export const VIEW_MS = 1000;

const web = (name: string) => fileURLToPath(new URL(`../web/${name}`, import.meta.url));
export const PAGE_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: web("soc.html"), type: "text/html; charset=utf-8" },
  "/soc.js": { file: web("soc.js"), type: "text/javascript; charset=utf-8" },
  "/soc.css": { file: web("soc.css"), type: "text/css; charset=utf-8" },
};

export interface DashboardConfig {
  service: ServiceConfig;
  port: number;
  httpPort: number;
}

export class SocDashboard {
  readonly service: Service;
  readonly bridge: ZmqBridge;
  services: ServiceRecord[] = [];
  url = "";

  constructor(
    private readonly config: DashboardConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {
    this.service = new Service("soc-dashboard", config.service, log);
    const { bindHost, advertiseHost } = config.service;
    this.bridge = new ZmqBridge(
      {
        http: `${bindHost}:${config.httpPort}`,
        upstream: this.service.bindEndpoint(config.port),
        connect: [],
        allowOrigins: config.httpPort && advertiseHost !== bindHost ? [`http://${advertiseHost}:${config.httpPort}`] : [],
        slowBufferBytes: 1024 * 1024,
        slowDisconnectMs: 5000,
        pingMs: 30_000,
        maxClients: 100,
        files: PAGE_FILES,
      },
      log,
    );
  }

  async run(signal: AbortSignal): Promise<void> {
    const { service } = this;
    const registry = await service.start();
    const local = await this.bridge.start();
    this.url = local.replace(/^http:\/\/[^/]+/, `http://${this.config.service.advertiseHost}:${new URL(local).port}`);
    const unwatch = registry.watch(undefined, (records) => {
      this.services = records;
      this.sendServices();
    });
    service.publishStats(() => ({ stage: "dashboard", browsers: this.bridge.stats.browsers, upstream: this.bridge.stats.upstream }));
    const browsers = service.gauge("lab10_dashboard_browsers", "browsers connected");
    const timer = setInterval(() => {
      this.sendServices();
      browsers.set(this.bridge.stats.browsers);
      this.publish(dashboardView(this.url, this.services, this.bridge.stats.browsers, this.bridge.stats.upstream));
    }, SERVICES_EVERY_MS);
    await service.register(service.advertised(this.bridge.upstreamEndpoint), { http: this.url }, signal);
    this.log.info({ url: this.url }, "SOC dashboard: open the page");
    try {
      await this.bridge.run(signal);
    } finally {
      clearInterval(timer);
      unwatch();
      await service.close();
    }
  }

  private sendServices(): void {
    this.service.toDashboard(TOPIC_SERVICES, { at: Date.now(), services: this.services });
  }
}
