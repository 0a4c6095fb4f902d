// Flags of every role. The service flags (registry, hosts, instance, lease, metrics, codec) are
// shared by every service role.
import { type ConfigOf, intOption, isSafeName, numberOption } from "@zlabs/kit";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS, MAX_WAITING_REQUESTS, RECONNECT_MS, REQUEST_EXPIRY_MS } from "lab12/mdp";
import type { AlertSinkConfig } from "./alert-sink.ts";
import { ALERT_TTL_MS } from "./alert-sink.ts";
import { CODECS, type CodecName } from "./codec.ts";
import { DEFAULT_REGISTRY, parseRegistryUrl } from "./discovery.ts";
import { DETECT_TIMEOUT_MS, type EnricherConfig, MAX_ENRICHING } from "./event-enricher.ts";
import { ACK_TIMEOUT_MS, type GatewayConfig, MAX_IN_FLIGHT, RETRY_MS } from "./ingest-gateway.ts";
import { type IntelFeedConfig, REPUBLISH_MS } from "./intel-feed.ts";
import { DEFAULT_REGISTRATION } from "./registry.ts";
import { ATTACK_EVERY_S, EVENTS_PER_S, type SensorConfig } from "./sensor.ts";
import type { ServiceConfig } from "./service.ts";

export const LAB = "lab10";
/** Default ports (5100-5109). */
export const PORTS = {
  registry: 5100,
  ingest: 5101,
  http: 5102,
  enricher: 5103,
  intel: 5104,
  broker: 5105,
  sink: 5106,
  done: 5107,
  dashboard: 5108,
  page: 5109,
} as const;
/** The MDP service the detectors offer. */
export const DETECT_SERVICE = "soc.detect";

const port = (d: number, what: string) => intOption(d, `${what} (0: any free port, registered)`, { min: 0, max: 65535 });

export const serviceOptions = {
  registry: { type: "string", default: DEFAULT_REGISTRY, describe: "registry URL: builtin:tcp://host:port or etcd:http://host:port[,...]" },
  bindHost: { type: "string", default: "127.0.0.1", describe: "address the service binds (0.0.0.0 in containers and namespaces)" },
  advertiseHost: { type: "string", default: "", describe: "address put in the registry (default: the bind host; required with 0.0.0.0)" },
  instance: { type: "string", default: "", describe: "instance name, unique within the service type (default: role-pid)" },
  leaseTtlMs: intOption(DEFAULT_REGISTRATION.ttlMs, "registry lease time to live, ms", { min: 100, max: 3_600_000 }),
  leaseRenewMs: intOption(DEFAULT_REGISTRATION.renewMs, "lease renewal interval, ms", { min: 50, max: 3_600_000 }),
  metricsPort: intOption(0, "port of GET /metrics (Prometheus text) (0: any free port, registered in meta.metrics)", {
    min: 0,
    max: 65535,
  }),
  codec: {
    type: "string",
    choices: CODECS as unknown as string[],
    default: "protobuf",
    describe: "encoding of what this role sends to other roles",
  },
} as const;

type ServiceFlags = ConfigOf<typeof serviceOptions>;

const HOST_RE = /^[A-Za-z0-9.-]{1,253}$/;

/** The one check across the service flags. */
export function checkService(a: {
  registry: string;
  bindHost: string;
  advertiseHost: string;
  instance: string;
  leaseTtlMs: number;
  leaseRenewMs: number;
}): string | undefined {
  if (!parseRegistryUrl(a.registry))
    return `--registry "${a.registry}": builtin:tcp://host:port or etcd:http://host:port[,http://host:port] expected`;
  if (!HOST_RE.test(a.bindHost)) return `--bind-host "${a.bindHost}" must be an address or host name`;
  if (a.advertiseHost && !HOST_RE.test(a.advertiseHost)) return `--advertise-host "${a.advertiseHost}" must be an address or host name`;
  if ((a.bindHost === "0.0.0.0" || a.bindHost === "*") && !a.advertiseHost)
    return "--bind-host 0.0.0.0 needs --advertise-host (the address others reach this service at)";
  if (a.instance && !isSafeName(a.instance)) return `--instance "${a.instance}" may hold only letters, digits, ., - and _ (1-64)`;
  if (a.leaseRenewMs >= a.leaseTtlMs) return `--lease-renew-ms ${a.leaseRenewMs} must be below --lease-ttl-ms ${a.leaseTtlMs}`;
  return undefined;
}

export function serviceConfig(role: string, a: ServiceFlags): ServiceConfig {
  return {
    registry: a.registry,
    bindHost: a.bindHost,
    advertiseHost: a.advertiseHost || a.bindHost,
    instance: a.instance || `${role}-${process.pid}`,
    leaseTtlMs: a.leaseTtlMs,
    leaseRenewMs: a.leaseRenewMs,
    metricsPort: a.metricsPort,
    codec: a.codec as CodecName,
  };
}

export const registryOptions = {
  bindHost: serviceOptions.bindHost,
  port: port(PORTS.registry, "ROUTER port of the registry"),
} as const;

export const gatewayOptions = {
  ...serviceOptions,
  port: port(PORTS.ingest, "PULL port for ZeroMQ sensors"),
  httpPort: port(PORTS.http, "HTTP port of POST /api/events"),
  ackTimeoutMs: intOption(ACK_TIMEOUT_MS, "ms an event may take through the pipeline before the HTTP answer is 503", { min: 10 }),
  retryMs: intOption(RETRY_MS, "ms without a done notice before an event is sent again", { min: 10 }),
  maxInFlight: intOption(MAX_IN_FLIGHT, "events in the pipeline at once (more get 503)", { min: 1, max: 1_000_000 }),
} as const;

export function gatewayConfig(a: ConfigOf<typeof gatewayOptions>): GatewayConfig {
  return {
    service: serviceConfig("ingest-gateway", a),
    port: a.port,
    httpPort: a.httpPort,
    ackTimeoutMs: a.ackTimeoutMs,
    retryMs: a.retryMs,
    maxInFlight: a.maxInFlight,
  };
}

export const enricherOptions = {
  ...serviceOptions,
  port: port(PORTS.enricher, "PULL port for the gateways"),
  detectTimeoutMs: intOption(DETECT_TIMEOUT_MS, "ms to wait for a detector's verdict (through the broker)", { min: 10 }),
  maxEnriching: intOption(MAX_ENRICHING, "events being scored at once", { min: 1, max: 100_000 }),
} as const;

export function enricherConfig(a: ConfigOf<typeof enricherOptions>): EnricherConfig {
  return {
    service: serviceConfig("event-enricher", a),
    port: a.port,
    detectTimeoutMs: a.detectTimeoutMs,
    maxEnriching: a.maxEnriching,
    detectService: DETECT_SERVICE,
  };
}

export const intelOptions = {
  ...serviceOptions,
  port: port(PORTS.intel, "PUB port of the indicators"),
  republishMs: intOption(REPUBLISH_MS, "ms between two rounds of every indicator (each lives 3 rounds)", { min: 10 }),
} as const;

export function intelConfig(a: ConfigOf<typeof intelOptions>): IntelFeedConfig {
  return { service: serviceConfig("intel-feed", a), port: a.port, republishMs: a.republishMs };
}

const heartbeat = {
  heartbeat: intOption(HEARTBEAT_INTERVAL_MS, "MDP heartbeat interval, ms (the same on broker and detectors)", { min: 10, max: 3_600_000 }),
  liveness: intOption(HEARTBEAT_LIVENESS, "silent heartbeats before the MDP peer counts as dead", { min: 1, max: 100 }),
} as const;

export const brokerOptions = {
  ...serviceOptions,
  port: port(PORTS.broker, "ROUTER port of the Majordomo broker (lab12)"),
  requestExpiry: intOption(REQUEST_EXPIRY_MS, "ms a request waits for a detector before the broker answers 504", { min: 1 }),
  maxWaiting: intOption(MAX_WAITING_REQUESTS, "requests waiting for detectors at once (more get 503)", { min: 1 }),
  ...heartbeat,
} as const;

export const detectorOptions = {
  ...serviceOptions,
  reconnect: intOption(RECONNECT_MS, "ms before registering again after the broker went silent", { min: 0 }),
  ...heartbeat,
} as const;

export const sinkOptions = {
  ...serviceOptions,
  port: port(PORTS.sink, "PULL port for the enrichers"),
  donePort: port(PORTS.done, "PUB port of the done notices (topic: gateway instance)"),
  store: { type: "string", default: "memory", describe: "alert store: memory or redis://host:port" },
  alertTtlMs: intOption(ALERT_TTL_MS, "ms an alert lives (a repeat within it is a duplicate)", { min: 1 }),
} as const;

export function checkSink(a: { store: string }): string | undefined {
  return a.store === "memory" || /^redis:\/\/[A-Za-z0-9.-]+:\d{1,5}(\/\d+)?$/.test(a.store)
    ? undefined
    : `--store "${a.store}": memory or redis://host:port expected`;
}

export function sinkConfig(a: ConfigOf<typeof sinkOptions>): AlertSinkConfig {
  return { service: serviceConfig("alert-sink", a), port: a.port, donePort: a.donePort, store: a.store, alertTtlMs: a.alertTtlMs };
}

export const dashboardOptions = {
  ...serviceOptions,
  port: port(PORTS.dashboard, "SUB port of the bridge (services send their figures and alerts here)"),
  httpPort: port(PORTS.page, "HTTP port of the page and its WebSocket"),
} as const;

export const sensorOptions = {
  ...serviceOptions,
  rate: numberOption(EVENTS_PER_S, "normal flow records a second", { min: 0, max: 100_000 }),
  attackEvery: numberOption(ATTACK_EVERY_S, "seconds between two injected attacks (port scan from a known-bad address); 0: never", {
    min: 0,
  }),
  via: {
    type: "string",
    choices: ["zmq", "http"],
    default: "zmq",
    describe: "how events reach the gateway: ZeroMQ PUSH (protobuf) or HTTP POST (JSON)",
  },
  site: { type: "string", default: "hq", describe: "the capturing node's site" },
  seed: intOption(10, "random seed of the traffic"),
} as const;

export function sensorConfig(a: ConfigOf<typeof sensorOptions>): SensorConfig {
  return {
    service: serviceConfig("sensor", a),
    rate: a.rate,
    attackEverySec: a.attackEvery,
    via: a.via as "zmq" | "http",
    site: a.site,
    seed: a.seed,
  };
}
