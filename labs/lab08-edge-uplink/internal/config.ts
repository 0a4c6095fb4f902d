import os from "node:os";
import { BREAKER_COOL_DOWN_MS, BREAKER_THRESHOLD, READING_INTERVAL_MS, REQUEST_TIMEOUT_MS } from "./device.ts";
import { NAME_PATTERN } from "./protocol.ts";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS } from "./receiver.ts";
import { INTERVAL_INIT_MS, INTERVAL_MAX_MS } from "./worker.ts";

export const LAB = "lab08";
export const PRIMARY_FRONT = "tcp://127.0.0.1:5080";
export const PRIMARY_BACK = "tcp://127.0.0.1:5081";
export const BACKUP_FRONT = "tcp://127.0.0.1:5082";

const heartbeat = {
  heartbeat: { type: "number", default: HEARTBEAT_INTERVAL_MS, describe: "heartbeat interval, ms" },
  liveness: { type: "number", default: HEARTBEAT_LIVENESS, describe: "missed heartbeats before a peer is dead" },
} as const;

function checkHeartbeat(a: { heartbeat: number; liveness: number }): string | undefined {
  if (a.heartbeat < 10) return "--heartbeat must be at least 10 ms";
  if (!Number.isInteger(a.liveness) || a.liveness < 1) return "--liveness must be a whole number, 1 or more";
  return undefined;
}

export const receiverOptions = {
  front: { type: "string", default: PRIMARY_FRONT, describe: "ROUTER endpoint for devices" },
  back: { type: "string", default: PRIMARY_BACK, describe: "ROUTER endpoint for workers" },
  ...heartbeat,
} as const;

export const checkReceiver = checkHeartbeat;

export const workerOptions = {
  id: { type: "string", default: `worker-${process.pid}`, describe: "worker name (in the store and the logs)" },
  queue: { type: "string", default: PRIMARY_BACK, describe: "the receiver's worker endpoint" },
  store: { type: "string", default: ".store/readings", describe: "readings store folder (shared by every worker)" },
  backoff: { type: "number", default: INTERVAL_INIT_MS, describe: "first reconnect pause, ms (doubles each time)" },
  backoffMax: { type: "number", default: INTERVAL_MAX_MS, describe: "longest reconnect pause, ms" },
  delay: { type: "number", default: 0, describe: "extra ms per reading: a slow worker, for experiments" },
  ...heartbeat,
} as const;

export function checkWorker(a: {
  id: string;
  heartbeat: number;
  liveness: number;
  backoff: number;
  backoffMax: number;
  delay: number;
}): string | undefined {
  if (!NAME_PATTERN.test(a.id)) return `--id "${a.id}" may hold only letters, digits, - and _`;
  if (a.backoff < 1 || a.backoffMax < a.backoff) return "--backoff must be 1 or more and --backoff-max at least --backoff";
  if (a.delay < 0) return "--delay must be 0 or more";
  return checkHeartbeat(a);
}

export const deviceOptions = {
  id: { type: "string", default: os.hostname().replace(/[^A-Za-z0-9_-]/g, "-") || "device", describe: "device id" },
  receiver: {
    type: "string",
    array: true,
    default: [PRIMARY_FRONT, BACKUP_FRONT],
    describe: "receiver endpoints in order of preference (repeat, or separate with commas)",
  },
  interval: { type: "number", default: READING_INTERVAL_MS, describe: "a reading every N ms" },
  timeout: { type: "number", default: REQUEST_TIMEOUT_MS, describe: "ms to wait for an ack before failing over" },
  breakerThreshold: { type: "number", default: BREAKER_THRESHOLD, describe: "failures in a row that open a receiver's circuit" },
  coolDown: { type: "number", default: BREAKER_COOL_DOWN_MS, describe: "ms an open circuit waits before a probe" },
  outbox: { type: "string", describe: "store-and-forward folder (default .store/outbox/<id>)" },
  capacity: { type: "number", default: 100_000, describe: "readings the outbox holds at most (the oldest go first)" },
  count: { type: "number", default: 0, describe: "take this many readings, deliver them, and exit (0: run until stopped)" },
} as const;

export function checkDevice(a: {
  id: string;
  interval: number;
  timeout: number;
  breakerThreshold: number;
  coolDown: number;
  capacity: number;
  count: number;
}): string | undefined {
  if (!NAME_PATTERN.test(a.id)) return `--id "${a.id}" may hold only letters, digits, - and _`;
  if (a.interval < 1 || a.timeout < 1) return "--interval and --timeout must be at least 1 ms";
  if (!Number.isInteger(a.breakerThreshold) || a.breakerThreshold < 1) return "--breaker-threshold must be a whole number, 1 or more";
  if (a.coolDown < 0) return "--cool-down must be 0 or more";
  if (!Number.isInteger(a.capacity) || a.capacity < 1) return "--capacity must be a whole number, 1 or more";
  if (!Number.isInteger(a.count) || a.count < 0) return "--count must be a whole number, 0 or more";
  return undefined;
}
