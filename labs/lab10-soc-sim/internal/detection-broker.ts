// The detection broker: lab12's Majordomo broker as it is (imported through lab12's exports), bound on
// this service's port and registered as "detection-broker", so enrichers (MDP clients) and detectors
// (MDP workers) find it through the registry.
import type { Logger, View } from "@zlabs/kit";
import { MajordomoBroker } from "lab12/broker";
import { Service, type ServiceConfig } from "./service.ts";

export interface DetectionBrokerConfig {
  service: ServiceConfig;
  port: number;
  heartbeatMs: number;
  liveness: number;
  requestExpiryMs: number;
  maxWaiting: number;
}

export class DetectionBroker {
  readonly service: Service;
  readonly broker: MajordomoBroker;
  endpoint = "";
  private readonly port: number;

  constructor(config: DetectionBrokerConfig, log: Logger, publish?: (view: View) => void) {
    this.service = new Service("detection-broker", config.service, log);
    this.port = config.port;
    const { heartbeatMs, liveness, requestExpiryMs, maxWaiting } = config;
    this.broker = new MajordomoBroker(
      { endpoint: this.service.bindEndpoint(this.port), heartbeatMs, liveness, requestExpiryMs, maxWaiting },
      log,
      publish ? { publish } : {},
    );
  }

  async run(signal: AbortSignal): Promise<void> {
    const { service } = this;
    await service.start();
    await this.broker.bind();
    this.endpoint = this.broker.endpoints.endpoint;
    const workers = service.gauge("lab10_broker_workers", "detectors registered with the broker");
    const waiting = service.gauge("lab10_broker_waiting", "requests waiting for a detector");
    const tick = setInterval(() => {
      workers.set(this.broker.workerCount());
      waiting.set(this.broker.waiting);
    }, 1000);
    service.publishStats(() => ({ stage: "broker", workers: this.broker.workerCount(), waiting: this.broker.waiting }));
    await service.register(service.advertised(this.endpoint), { mdp: "MDP/0.1" }, signal);
    try {
      await this.broker.run(signal);
    } finally {
      clearInterval(tick);
      await service.close();
    }
  }
}
