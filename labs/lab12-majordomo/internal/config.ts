import { type ConfigOf, endpointOption, intOption, numberOption } from "@zlabs/kit";
import type { BrokerConfig } from "./majordomo-broker.ts";
import {
  CLIENT_RETRIES,
  CLIENT_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_LIVENESS,
  isMmi,
  isServiceName,
  MAX_WAITING_BYTES,
  MAX_WAITING_REQUESTS,
  RECONNECT_MS,
  REQUEST_EXPIRY_MS,
} from "./mdp.ts";
import type { MdpWorkerOptions } from "./worker.ts";

export const LAB = "lab12";
/** The broker's one endpoint, for clients and workers alike. */
export const BROKER = "tcp://127.0.0.1:5120";

const heartbeat = {
  heartbeat: intOption(HEARTBEAT_INTERVAL_MS, "heartbeat interval, ms (the same on broker and workers)", { min: 10, max: 3_600_000 }),
  liveness: intOption(HEARTBEAT_LIVENESS, "silent heartbeat intervals before the peer counts as dead", { min: 1, max: 100 }),
} as const;

export const brokerOptions = {
  endpoint: endpointOption(BROKER, "ROUTER endpoint for clients and workers"),
  requestExpiry: intOption(REQUEST_EXPIRY_MS, "ms a request waits for a worker of its service before the broker answers 504", {
    min: 1,
    max: 86_400_000,
  }),
  maxWaiting: intOption(MAX_WAITING_REQUESTS, "most requests waiting for workers at once (more get 503)", { min: 1, max: 1_000_000 }),
  maxWaitingMib: intOption(MAX_WAITING_BYTES / 1024 / 1024, "most MiB of request bodies waiting at once (more get 503)", {
    min: 1,
    max: 65_536,
  }),
  ...heartbeat,
} as const;

export function brokerConfig(a: ConfigOf<typeof brokerOptions>): BrokerConfig {
  return {
    endpoint: a.endpoint,
    heartbeatMs: a.heartbeat,
    liveness: a.liveness,
    requestExpiryMs: a.requestExpiry,
    maxWaiting: a.maxWaiting,
    maxWaitingBytes: a.maxWaitingMib * 1024 * 1024,
  };
}

const serviceName = (describe: string, fallback: string) => ({ type: "string", default: fallback, describe }) as const;

export const workerOptions = {
  broker: endpointOption(BROKER, "the broker's endpoint"),
  reconnect: intOption(RECONNECT_MS, "ms to wait before connecting again after the broker went silent", { min: 0, max: 3_600_000 }),
  ...heartbeat,
} as const;

export function checkService(a: { service: string }): string | undefined {
  if (!isServiceName(a.service)) return `--service "${a.service}" must be 1 to 255 printable ASCII characters`;
  if (isMmi(a.service)) return `--service "${a.service}": the mmi. namespace belongs to the broker (RFC 8)`;
  return undefined;
}

function workerConfig(a: ConfigOf<typeof workerOptions> & { service: string }): MdpWorkerOptions {
  return { broker: a.broker, service: a.service, heartbeatMs: a.heartbeat, liveness: a.liveness, reconnectMs: a.reconnect };
}

export const echoOptions = {
  service: serviceName("the service name to register", "echo"),
  delayMs: numberOption(0, "ms each request takes (so a kill mid-request can be seen)", { min: 0, max: 600_000 }),
  ...workerOptions,
} as const;

export interface EchoConfig {
  worker: MdpWorkerOptions;
  delayMs: number;
}

export function echoConfig(a: ConfigOf<typeof echoOptions>): EchoConfig {
  return { worker: workerConfig(a), delayMs: a.delayMs };
}

export const hashOptions = {
  service: serviceName("the service name to register", "intel.hash"),
  delayMs: numberOption(0, "ms each lookup takes", { min: 0, max: 600_000 }),
  ...workerOptions,
} as const;

export function hashConfig(a: ConfigOf<typeof hashOptions>): EchoConfig {
  return { worker: workerConfig(a), delayMs: a.delayMs };
}

export const clientOptions = {
  broker: endpointOption(BROKER, "the broker's endpoint"),
  timeout: intOption(CLIENT_TIMEOUT_MS, "ms to wait for a reply (synchronous client: per attempt)", { min: 1, max: 3_600_000 }),
  retries: intOption(CLIENT_RETRIES, "attempts per request, each on a fresh socket (synchronous client)", { min: 1, max: 100 }),
  async: { type: "boolean", default: false, describe: "use the asynchronous client (one DEALER, replies matched by tag)" },
  inFlight: intOption(1, "requests in flight at once (with --async)", { min: 1, max: 10_000 }),
  rate: numberOption(2, "requests a second (0: as fast as replies come)", { min: 0, max: 1_000_000 }),
  count: intOption(0, "requests to send, then exit (0: until stopped)", { min: 0 }),
  hashes: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: "SHA-256 hashes to look up (repeat); without any, the client cycles through samples",
  },
  echoService: serviceName("the echo service to call", "echo"),
  hashService: serviceName("the hash reputation service to call", "intel.hash"),
} as const;

export interface RequesterConfig {
  broker: string;
  timeoutMs: number;
  retries: number;
  async: boolean;
  inFlight: number;
  rate: number;
  count: number;
  hashes: string[];
  echoService: string;
  hashService: string;
}

export function checkClient(a: { echoService: string; hashService: string; hashes: string[] }): string | undefined {
  for (const s of [a.echoService, a.hashService])
    if (!isServiceName(s)) return `service "${s}" must be 1 to 255 printable ASCII characters`;
  const bad = a.hashes.find((h) => !/^[0-9a-fA-F]{64}$/.test(h));
  return bad === undefined ? undefined : `--hashes "${bad}" is not a SHA-256 (64 hex digits)`;
}

export function requesterConfig(a: ConfigOf<typeof clientOptions>): RequesterConfig {
  return {
    broker: a.broker,
    timeoutMs: a.timeout,
    retries: a.retries,
    async: a.async,
    inFlight: a.inFlight,
    rate: a.rate,
    count: a.count,
    hashes: a.hashes.map((h) => h.toLowerCase()),
    echoService: a.echoService,
    hashService: a.hashService,
  };
}
