import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, numberOption, userPath } from "@zlabs/kit";
import { CLIENT_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS, RECONNECT_MS } from "lab12/mdp";
import {
  ARTEFACT_BYTES,
  CLIENT_RETRIES,
  LANES,
  MAX_OUTSTANDING,
  type PatientConfig,
  POLL_MS,
  RETRY_MS,
  CLIENT_TIMEOUT_MS as TSP_CLIENT_TIMEOUT_MS,
} from "./patient-client.ts";
import { isTargetService } from "./protocol.ts";
import { MAX_ARTEFACT_BYTES, STORAGE_SERVICE, type StorageConfig } from "./storage-service.ts";
import { COMPACT_MIN_BYTES } from "./store.ts";
import {
  CLOSE_WORKERS,
  DISPATCH_RETRIES,
  DISPATCH_TIMEOUT_MS,
  DISPATCHERS,
  MAX_OPEN_REQUESTS,
  REPLY_WORKERS,
  REQUEST_WORKERS,
  SCAN_MS,
  STORAGE_RETRY_MS,
  type TitanicConfig,
} from "./titanic-broker.ts";

export const LAB = "lab13";
/** The Majordomo broker every role of this lab talks to (lab12's broker, on lab13's port). */
export const BROKER = "tcp://127.0.0.1:5130";
/** The lab's own data folder: defaults resolve against the lab, a path the user types against where they typed it. */
const STORE = fileURLToPath(new URL("../.store/", import.meta.url));

/** A folder flag: empty means the lab's .store/<name>. */
function dirOf(value: string, name: string): string {
  return value === "" ? `${STORE}${name}` : userPath(value);
}

const mdp = {
  broker: endpointOption(BROKER, "the Majordomo broker's endpoint"),
  heartbeat: intOption(HEARTBEAT_INTERVAL_MS, "MDP heartbeat interval, ms (the same as the broker's)", { min: 10, max: 3_600_000 }),
  liveness: intOption(HEARTBEAT_LIVENESS, "silent heartbeats before the broker counts as gone", { min: 1, max: 100 }),
  reconnect: intOption(RECONNECT_MS, "ms before registering again after the broker went silent", { min: 0, max: 3_600_000 }),
} as const;

export const titanicOptions = {
  ...mdp,
  dir: { type: "string", default: "", describe: "folder of the journal (default: the lab's .store/titanic)" },
  groupCommit: {
    type: "boolean",
    default: true,
    describe: "one fsync for every request waiting (--no-group-commit: one fsync per request)",
  },
  compactMinBytes: intOption(
    COMPACT_MIN_BYTES,
    "compact the journal once closed requests take this many bytes (and more than the open ones)",
    {
      min: 0,
    },
  ),
  requestWorkers: intOption(REQUEST_WORKERS, "MDP workers for titanic.request (requests stored at once)", { min: 1, max: 256 }),
  replyWorkers: intOption(REPLY_WORKERS, "MDP workers for titanic.reply", { min: 1, max: 256 }),
  closeWorkers: intOption(CLOSE_WORKERS, "MDP workers for titanic.close", { min: 1, max: 256 }),
  dispatchers: intOption(DISPATCHERS, "requests dispatched to their services at once", { min: 1, max: 256 }),
  scan: intOption(SCAN_MS, "ms between scans of the pending requests (a new request wakes the dispatcher at once)", {
    min: 1,
    max: 3_600_000,
  }),
  dispatchTimeout: intOption(DISPATCH_TIMEOUT_MS, "ms the dispatcher waits for a service's reply, per attempt", { min: 1, max: 3_600_000 }),
  dispatchRetries: intOption(DISPATCH_RETRIES, "attempts per dispatch (the request stays pending after the last)", { min: 1, max: 100 }),
  storageRetry: intOption(STORAGE_RETRY_MS, "ms between attempts to reopen unusable storage", { min: 1, max: 3_600_000 }),
  maxOpen: intOption(MAX_OPEN_REQUESTS, "most requests stored and not closed (more get 500: retry later)", { min: 1, max: 10_000_000 }),
} as const;

export function titanicConfig(a: ConfigOf<typeof titanicOptions>): TitanicConfig {
  return {
    broker: a.broker,
    dir: dirOf(a.dir, "titanic"),
    groupCommit: a.groupCommit,
    compactMinBytes: a.compactMinBytes,
    requestWorkers: a.requestWorkers,
    replyWorkers: a.replyWorkers,
    closeWorkers: a.closeWorkers,
    dispatchers: a.dispatchers,
    scanMs: a.scan,
    dispatchTimeoutMs: a.dispatchTimeout,
    dispatchRetries: a.dispatchRetries,
    heartbeatMs: a.heartbeat,
    liveness: a.liveness,
    reconnectMs: a.reconnect,
    storageRetryMs: a.storageRetry,
    maxOpen: a.maxOpen,
  };
}

const serviceOption = { type: "string", default: STORAGE_SERVICE, describe: "the archive's MDP service name" } as const;

export function checkService(a: { service: string }): string | undefined {
  return isTargetService(a.service) ? undefined : `--service "${a.service}" must be 1-255 printable characters, not titanic.* or mmi.*`;
}

export const storageOptions = {
  ...mdp,
  service: serviceOption,
  dir: { type: "string", default: "", describe: "folder of the archive (default: the lab's .store/archive)" },
  maxArtefactBytes: intOption(MAX_ARTEFACT_BYTES, "largest artefact taken, bytes", { min: 1, max: 1024 * 1024 }),
  costMs: numberOption(0, "extra ms per artefact: a slower archive", { min: 0, max: 3_600_000 }),
} as const;

export function storageConfig(a: ConfigOf<typeof storageOptions>): StorageConfig {
  return {
    broker: a.broker,
    service: a.service,
    dir: dirOf(a.dir, "archive"),
    maxArtefactBytes: a.maxArtefactBytes,
    costMs: a.costMs,
    heartbeatMs: a.heartbeat,
    liveness: a.liveness,
    reconnectMs: a.reconnect,
  };
}

export const patientOptions = {
  broker: mdp.broker,
  service: { ...serviceOption, describe: "the service the requests go to, through Titanic" },
  dir: { type: "string", default: "", describe: "folder of the client's journal of uuids (default: the lab's .store/client)" },
  requests: intOption(0, "requests to submit in all, then exit once all are answered and closed (0: until stopped)", { min: 0 }),
  rate: numberOption(0, "new requests per second at most (0: as fast as Titanic takes them)", { min: 0 }),
  seed: intOption(1, "makes the artefacts (case-<seed>-<n>.bin)", { min: 0, max: 1_000_000 }),
  artefactBytes: intOption(ARTEFACT_BYTES, "bytes per artefact", { min: 1, max: MAX_ARTEFACT_BYTES }),
  lanes: intOption(LANES, "calls to Titanic at once", { min: 1, max: 256 }),
  maxOutstanding: intOption(MAX_OUTSTANDING, "most requests acknowledged and not yet answered", { min: 1, max: 100_000 }),
  poll: intOption(POLL_MS, "ms between polls of titanic.reply while it answers 300", { min: 1, max: 3_600_000 }),
  retry: intOption(RETRY_MS, "ms before a call that failed (500, no answer) is made again", { min: 1, max: 3_600_000 }),
  timeout: intOption(TSP_CLIENT_TIMEOUT_MS, "ms to wait for Titanic per attempt", { min: 1, max: 3_600_000 }),
  retries: intOption(CLIENT_RETRIES, "attempts per call (Lazy Pirate)", { min: 1, max: 100 }),
} as const;

export function patientConfig(a: ConfigOf<typeof patientOptions>): PatientConfig {
  return {
    broker: a.broker,
    service: a.service,
    dir: dirOf(a.dir, "client"),
    requests: a.requests,
    rate: a.rate,
    seed: a.seed,
    artefactBytes: a.artefactBytes,
    lanes: a.lanes,
    maxOutstanding: a.maxOutstanding,
    pollMs: a.poll,
    retryMs: a.retry,
    timeoutMs: a.timeout,
    retries: a.retries,
  };
}

/** The Guide's client timeout, for the README's table. */
export const GUIDE_CLIENT_TIMEOUT_MS = CLIENT_TIMEOUT_MS;
