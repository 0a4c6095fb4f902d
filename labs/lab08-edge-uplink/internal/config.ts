import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, listOption, userPath } from "@zlabs/kit";
import type { ReceiverConfig } from "./central-receiver.ts";
import { BREAKER_COOL_DOWN_MS, BREAKER_THRESHOLD, type DeviceConfig, READING_INTERVAL_MS, REQUEST_TIMEOUT_MS } from "./field-device.ts";
import { INTERVAL_INIT_MS, INTERVAL_MAX_MS, type WorkerConfig } from "./ingest-worker.ts";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS, NAME_PATTERN } from "./protocol.ts";
import { KEEP_PER_DEVICE } from "./store.ts";

export const LAB = "lab08";
export const PRIMARY_FRONT = "tcp://127.0.0.1:5080";
export const PRIMARY_BACK = "tcp://127.0.0.1:5081";
export const BACKUP_FRONT = "tcp://127.0.0.1:5082";
/** Readings an outbox holds at most: beyond it the oldest go (and are counted). */
export const OUTBOX_CAPACITY = 100_000;
/**
 * The demo's data, in the lab's folder whatever the current directory (listed under the manifest's
 * "data", so `./run.sh clean` removes it). A --store or --outbox the user gives is the user's path:
 * it resolves against the directory the command was run in.
 */
export const LAB_STORE = fileURLToPath(new URL("../.store", import.meta.url));
export const DEFAULT_STORE = join(LAB_STORE, "readings");
export const defaultOutbox = (id: string) => join(LAB_STORE, "outbox", id);

const heartbeat = {
  heartbeat: intOption(HEARTBEAT_INTERVAL_MS, "heartbeat interval, ms", { min: 10 }),
  liveness: intOption(HEARTBEAT_LIVENESS, "missed heartbeats before a peer is dead", { min: 1 }),
} as const;

const checkId = (id: string): string | undefined =>
  NAME_PATTERN.test(id) ? undefined : `--id "${id}" may hold only letters, digits, - and _ (64 at most)`;

export const receiverOptions = {
  front: endpointOption(PRIMARY_FRONT, "ROUTER endpoint for devices"),
  back: endpointOption(PRIMARY_BACK, "ROUTER endpoint for workers"),
  ...heartbeat,
} as const;

export function receiverConfig(a: ConfigOf<typeof receiverOptions>): ReceiverConfig {
  return { front: a.front, back: a.back, heartbeatMs: a.heartbeat, liveness: a.liveness };
}

export const workerOptions = {
  id: { type: "string", default: `worker-${process.pid}`, describe: "worker name (in the store and the logs)" },
  queue: endpointOption(PRIMARY_BACK, "the receiver's worker endpoint"),
  store: { type: "string", describe: "readings store folder, shared by every worker (default .store/readings in the lab)" },
  keep: intOption(KEEP_PER_DEVICE, "readings the store keeps per device, the oldest deleted (0: all)", { min: 0 }),
  backoff: intOption(INTERVAL_INIT_MS, "first reconnect pause, ms (doubles each time)", { min: 1 }),
  backoffMax: intOption(INTERVAL_MAX_MS, "longest reconnect pause, ms", { min: 1 }),
  delay: intOption(0, "extra ms per reading: a slow worker, for experiments", { min: 0 }),
  ...heartbeat,
} as const;

export function checkWorker(a: { id: string; backoff: number; backoffMax: number }): string | undefined {
  return checkId(a.id) ?? (a.backoffMax < a.backoff ? "--backoff-max must be at least --backoff" : undefined);
}

export function workerConfig(a: ConfigOf<typeof workerOptions>): { worker: WorkerConfig; storeDir: string; keep: number } {
  return {
    worker: {
      id: a.id,
      queue: a.queue,
      heartbeatMs: a.heartbeat,
      liveness: a.liveness,
      backoffInitMs: a.backoff,
      backoffMaxMs: a.backoffMax,
      delayMs: a.delay,
    },
    storeDir: a.store === undefined ? DEFAULT_STORE : userPath(a.store),
    keep: a.keep,
  };
}

export const deviceOptions = {
  id: {
    type: "string",
    default:
      os
        .hostname()
        .replace(/[^A-Za-z0-9_-]/g, "-")
        .slice(0, 64) || "device",
    describe: "device id",
  },
  receiver: {
    type: "string",
    array: true,
    endpoint: true,
    default: [PRIMARY_FRONT, BACKUP_FRONT],
    describe: "receiver endpoints in order of preference (repeat, or separate with commas)",
  },
  interval: intOption(READING_INTERVAL_MS, "a reading every N ms", { min: 1 }),
  timeout: intOption(REQUEST_TIMEOUT_MS, "ms to wait for an ack before failing over", { min: 1 }),
  breakerThreshold: intOption(BREAKER_THRESHOLD, "failures in a row that open a receiver's circuit", { min: 1 }),
  coolDown: intOption(BREAKER_COOL_DOWN_MS, "ms an open circuit waits before a probe", { min: 0 }),
  outbox: { type: "string", describe: "store-and-forward folder (default .store/outbox/<id> in the lab)" },
  capacity: intOption(OUTBOX_CAPACITY, "readings the outbox holds at most (the oldest go first)", { min: 1 }),
  count: intOption(0, "take this many readings, deliver them, and exit (0: run until stopped)", { min: 0 }),
} as const;

export const checkDevice = (a: { id: string }): string | undefined => checkId(a.id);

export function deviceConfig(a: ConfigOf<typeof deviceOptions>): { device: DeviceConfig; outboxDir: string; capacity: number } {
  return {
    device: {
      id: a.id,
      receivers: listOption(a.receiver),
      intervalMs: a.interval,
      timeoutMs: a.timeout,
      breakerThreshold: a.breakerThreshold,
      coolDownMs: a.coolDown,
      count: a.count,
    },
    outboxDir: a.outbox === undefined ? defaultOutbox(a.id) : userPath(a.outbox),
    capacity: a.capacity,
  };
}
