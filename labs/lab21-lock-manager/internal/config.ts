import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, userPath } from "@zlabs/kit";
import { REQUEST_TIMEOUT_MS } from "./lease-client.ts";
import { CHECK_TIMEOUT_MS, type LedgerConfig, MAX_ENTRIES } from "./ledger.ts";
import type { WriterConfig } from "./lock-client.ts";
import {
  HEARTBEAT_MS,
  LIVENESS,
  MAX_CLIENTS,
  MAX_LOCKS,
  MAX_TTL_MS,
  MAX_WAITERS,
  MIN_TTL_MS,
  type ServerConfig,
  SWEEP_MS,
} from "./lock-server.ts";
import { isName, MAX_CLIENT_CHARS, MAX_LOCK_CHARS } from "./protocol.ts";

export const LAB = "lab21";
export const SERVER = "tcp://127.0.0.1:5210";
export const LEDGER = "tcp://127.0.0.1:5211";
/** The lab's own data folder (the manifest's `data`): defaults resolve here, not where the user ran. */
const STORE = join(fileURLToPath(new URL("..", import.meta.url)), ".store");
export const SERVER_DATA = join(STORE, "lock-server");
export const LEDGER_DATA = join(STORE, "ledger");

const dataDir = (given: string, fallback: string) => (given ? userPath(given) : fallback);

export const serverOptions = {
  endpoint: endpointOption(SERVER, "ROUTER endpoint for lock clients"),
  dataDir: { type: "string", default: "", describe: "folder for the token high-water mark (default: the lab's .store/lock-server)" },
  maxTtl: intOption(MAX_TTL_MS, "the longest lease a client may ask for, ms", { min: MIN_TTL_MS, max: 3_600_000 }),
  grace: intOption(-1, "ms without grants after a restart (-1: --max-ttl); at least --max-ttl", { min: -1 }),
  sweep: intOption(SWEEP_MS, "how often leases and waiters are checked, ms", { min: 5, max: 60_000 }),
  heartbeat: intOption(HEARTBEAT_MS, "clients' heartbeat interval, ms", { min: 10 }),
  liveness: intOption(LIVENESS, "silent intervals before a waiter loses its place", { min: 1 }),
  maxLocks: intOption(MAX_LOCKS, "locks held or waited for at once", { min: 1, max: 1_000_000 }),
  maxWaiters: intOption(MAX_WAITERS, "clients in line for one lock", { min: 1, max: 100_000 }),
  maxClients: intOption(MAX_CLIENTS, "client sessions at once", { min: 1, max: 1_000_000 }),
} as const;

export function checkServer(a: { grace: number; maxTtl: number }): string | undefined {
  return a.grace !== -1 && a.grace < a.maxTtl
    ? `--grace ${a.grace} is shorter than --max-ttl ${a.maxTtl}: a lease granted before a restart could still run`
    : undefined;
}

export function serverConfig(a: ConfigOf<typeof serverOptions>): ServerConfig {
  return {
    endpoint: a.endpoint,
    dataDir: dataDir(a.dataDir, SERVER_DATA),
    maxTtlMs: a.maxTtl,
    graceMs: a.grace === -1 ? a.maxTtl : a.grace,
    sweepMs: a.sweep,
    heartbeatMs: a.heartbeat,
    liveness: a.liveness,
    maxLocks: a.maxLocks,
    maxWaiters: a.maxWaiters,
    maxClients: a.maxClients,
  };
}

export const clientOptions = {
  id: { type: "string", default: `writer-${process.pid}`, describe: "client id: leases are bound to it (keep it across restarts)" },
  server: endpointOption(SERVER, "the lock server"),
  ledger: endpointOption(LEDGER, "the ledger"),
  lock: { type: "string", default: "ledger", describe: "the lock to take" },
  ttl: intOption(10_000, "lease asked for, ms", { min: MIN_TTL_MS, max: 3_600_000 }),
  writes: intOption(3, "entries written per turn", { min: 1, max: 1_000_000 }),
  writeEvery: intOption(1000, "ms to prepare each entry (between the lease check and the write)", { min: 0 }),
  rest: intOption(2000, "ms between a release and the next acquire", { min: 0 }),
  heartbeat: intOption(HEARTBEAT_MS, "heartbeat interval, ms", { min: 10 }),
  timeout: intOption(REQUEST_TIMEOUT_MS, "ms to wait for a reply before sending again (same request id)", { min: 10 }),
} as const;

export function checkClient(a: { id: string; lock: string }): string | undefined {
  if (!isName(a.id, MAX_CLIENT_CHARS)) return `--id "${a.id}" must be 1-${MAX_CLIENT_CHARS} letters, digits, ".", "_" or "-"`;
  if (!isName(a.lock, MAX_LOCK_CHARS)) return `--lock "${a.lock}" must be 1-${MAX_LOCK_CHARS} letters, digits, ".", "_" or "-"`;
  return undefined;
}

export function clientConfig(a: ConfigOf<typeof clientOptions>): WriterConfig {
  return {
    id: a.id,
    server: a.server,
    ledger: a.ledger,
    lock: a.lock,
    ttlMs: a.ttl,
    writes: a.writes,
    writeEveryMs: a.writeEvery,
    restMs: a.rest,
    heartbeatMs: a.heartbeat,
    timeoutMs: a.timeout,
  };
}

export const ledgerOptions = {
  endpoint: endpointOption(LEDGER, "ROUTER endpoint for writers"),
  server: endpointOption(SERVER, "the lock server, asked whether a token is current"),
  id: { type: "string", default: "ledger", describe: "the ledger's client id at the lock server" },
  dataDir: { type: "string", default: "", describe: "folder for the ledger files (default: the lab's .store/ledger)" },
  maxEntries: intOption(MAX_ENTRIES, "entries per file; the ledger keeps two files", { min: 1, max: 10_000_000 }),
  checkTimeout: intOption(CHECK_TIMEOUT_MS, "ms to wait for the lock server's answer to CHECK", { min: 10 }),
} as const;

export function checkLedger(a: { id: string }): string | undefined {
  return isName(a.id, MAX_CLIENT_CHARS) ? undefined : `--id "${a.id}" must be 1-${MAX_CLIENT_CHARS} letters, digits, ".", "_" or "-"`;
}

export function ledgerConfig(a: ConfigOf<typeof ledgerOptions>): LedgerConfig {
  return {
    endpoint: a.endpoint,
    server: a.server,
    id: a.id,
    dataDir: dataDir(a.dataDir, LEDGER_DATA),
    maxEntries: a.maxEntries,
    checkTimeoutMs: a.checkTimeout,
  };
}
