// A capturing node: sends flow records to the gateways (ZeroMQ PUSH with one bare protobuf frame, as
// a producer generated from the .proto in any language would, or HTTP JSON), a few a second, and every
// so often an attack: a SYN port scan from a known-bad address.
import { hostname } from "node:os";
import { type Logger, SendQueue, seededRandom, type View } from "@zlabs/kit";
import { Push } from "zeromq";
import { eventBytes } from "./codec.ts";
import { type CaptureNode, newEventId, type SecurityEvent } from "./event.ts";
import { KNOWN_BAD_IP } from "./intel.ts";
import { Service, type ServiceConfig } from "./service.ts";
import { eventJson, normalFlow, SCAN_TARGET, scanPorts, scanProbe } from "./traffic.ts";

export const EVENTS_PER_S = 3;
export const ATTACK_EVERY_S = 30;
/** Probes a second during an attack. */
export const SCAN_RATE = 20;

export interface SensorConfig {
  service: ServiceConfig;
  rate: number;
  attackEverySec: number;
  via: "zmq" | "http";
  site: string;
  seed: number;
}

export class Sensor {
  readonly service: Service;
  private readonly push = new Push({ linger: 0, sendTimeout: 0, immediate: true, sendHighWaterMark: 1000 });
  private readonly pushes = new SendQueue(this.push);
  private gateways: string[] = [];
  readonly stats = { sent: 0, failed: 0, attacks: 0, alerts: 0 };
  private readonly node: CaptureNode;
  private readonly rand: () => number;

  constructor(
    private readonly config: SensorConfig,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {
    this.service = new Service("sensor", config.service, log);
    this.node = { id: config.service.instance, hostname: hostname(), site: config.site, interface: "eth0" };
    this.rand = seededRandom(config.seed);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { service, config } = this;
    await service.start();
    service.follow(
      "ingest-gateway",
      (r) => r.endpoint,
      this.push,
      (records) => {
        this.gateways = records.map((r) => r.meta.http).filter((u): u is string => typeof u === "string" && /^http:\/\//.test(u));
      },
    );
    service.publishStats(() => ({ stage: "sensor", out: this.stats.sent, failed: this.stats.failed, attacks: this.stats.attacks }));
    await service.register(service.metricsUrl.replace(/\/metrics$/, ""), { via: config.via }, signal);
    const timers: NodeJS.Timeout[] = [];
    if (config.rate > 0)
      timers.push(
        setInterval(() => void this.send(normalFlow(this.rand, this.node, newEventId(this.node.id), Date.now())), 1000 / config.rate),
      );
    if (config.attackEverySec > 0) {
      const first = setTimeout(() => void this.attack(signal), Math.min(5000, config.attackEverySec * 1000));
      timers.push(
        first,
        setInterval(() => void this.attack(signal), config.attackEverySec * 1000),
      );
    }
    timers.push(setInterval(() => this.refresh(), 1000));
    try {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    } finally {
      for (const t of timers) clearInterval(t);
      this.push.close();
      await service.close();
    }
  }

  /** The attack: SCAN_RATE probes a second from the known-bad address against one host. */
  async attack(signal: AbortSignal): Promise<void> {
    this.stats.attacks += 1;
    this.log.warn(
      { from: KNOWN_BAD_IP, target: SCAN_TARGET, ports: scanPorts().length },
      "injecting an attack: port scan from a known-bad address",
    );
    for (const port of scanPorts()) {
      if (signal.aborted) return;
      void this.send(scanProbe(this.rand, this.node, newEventId(this.node.id), Date.now(), port));
      await new Promise((r) => setTimeout(r, 1000 / SCAN_RATE));
    }
  }

  async send(event: SecurityEvent): Promise<void> {
    try {
      if (this.config.via === "zmq") await this.pushes.send(eventBytes(event));
      else {
        const url = this.gateways[Math.floor(this.rand() * this.gateways.length)];
        if (!url) throw new Error("no gateway");
        const res = await fetch(`${url}/api/events`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(eventJson(event)),
        });
        const body = (await res.json()) as { alerts?: string[] };
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        if (body.alerts?.length) this.stats.alerts += 1;
      }
      this.stats.sent += 1;
    } catch {
      this.stats.failed += 1;
      if (this.stats.failed === 1 || this.stats.failed % 100 === 0)
        this.log.warn({ failed: this.stats.failed }, "no gateway took an event (none registered yet, or all full)");
    }
  }

  private refresh(): void {
    this.publish({
      title: `sensor ${this.node.id} (${this.config.site}): ${this.config.rate}/s via ${this.config.via}, attack every ${this.config.attackEverySec} s`,
      rows: [[`sent ${this.stats.sent}`, `failed ${this.stats.failed}`, `attacks ${this.stats.attacks}`]],
    });
  }
}
