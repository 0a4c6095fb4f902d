import { type ConfigOf, intOption, listOption } from "@zlabs/kit";
import { BSTAR_HEARTBEAT_MS } from "./binary-star.ts";
import { type ClientAppConfig, REQUEST_INTERVAL_MS, REQUEST_TIMEOUT_MS, SETTLE_DELAY_MS } from "./client-app.ts";
import type { HaBrokerConfig } from "./ha-broker.ts";
import { MAX_CLIENT_CHARS } from "./protocol.ts";

export const LAB = "lab11";
/** Ports 5110-5119 (the Guide's bstarsrv uses 5001-5004 in the same layout). */
export const PRIMARY_FRONT = "tcp://127.0.0.1:5111";
export const BACKUP_FRONT = "tcp://127.0.0.1:5112";
export const PRIMARY_STATE = "tcp://127.0.0.1:5113";
export const BACKUP_STATE = "tcp://127.0.0.1:5114";

const DEFAULTS = {
  primary: { front: PRIMARY_FRONT, stateBind: PRIMARY_STATE, peerState: BACKUP_STATE },
  backup: { front: BACKUP_FRONT, stateBind: BACKUP_STATE, peerState: PRIMARY_STATE },
} as const;

// No defaults in the specs: the role decides them (see DEFAULTS).
const endpoint = (describe: string) => ({ type: "string", describe, endpoint: true }) as const;

export const brokerOptions = {
  role: { type: "string", choices: ["primary", "backup"], demandOption: true, describe: "which server of the pair this is" },
  front: endpoint(`ROUTER for clients (default ${PRIMARY_FRONT} as primary, ${BACKUP_FRONT} as backup)`),
  stateBind: endpoint(`where this server's state PUB binds (default ${PRIMARY_STATE} as primary, ${BACKUP_STATE} as backup)`),
  peerState: endpoint(
    `the peer's state PUB, which this server's SUB connects to (default ${BACKUP_STATE} as primary, ${PRIMARY_STATE} as backup)`,
  ),
  heartbeat: intOption(BSTAR_HEARTBEAT_MS, "ms between state messages; the peer is taken for gone after two silent ones", {
    min: 10,
    max: 60_000,
  }),
} as const;

export function brokerConfig(a: ConfigOf<typeof brokerOptions>): HaBrokerConfig {
  const role = a.role === "backup" ? "backup" : "primary";
  const d = DEFAULTS[role];
  return {
    role,
    front: a.front ?? d.front,
    stateBind: a.stateBind ?? d.stateBind,
    peerState: a.peerState ?? d.peerState,
    heartbeatMs: a.heartbeat,
  };
}

export const clientOptions = {
  servers: {
    type: "string",
    array: true,
    default: [PRIMARY_FRONT, BACKUP_FRONT],
    describe: "the primary's and the backup's front ends, in that order",
  },
  id: {
    type: "string",
    default: `client-${process.pid}`,
    describe: `this client's name in requests (1 to ${MAX_CLIENT_CHARS} characters)`,
  },
  timeout: intOption(REQUEST_TIMEOUT_MS, "ms to wait for a reply before failing over", { min: 1 }),
  settle: intOption(SETTLE_DELAY_MS, "ms to wait after switching server before sending again (at least the pair's fail-over time)", {
    min: 0,
  }),
  interval: intOption(REQUEST_INTERVAL_MS, "ms between requests", { min: 0 }),
  count: intOption(0, "requests to make, then exit (0: until stopped)", { min: 0 }),
} as const;

/** The one check across flags: exactly two servers, and a usable name. */
export function checkClient(a: { servers: readonly (string | number)[]; id: string }): string | undefined {
  const servers = listOption(a.servers);
  if (servers.length !== 2) return `--servers takes two endpoints, the primary's and the backup's (got ${servers.length})`;
  const bad = servers.find((s) => !/^(tcp|ipc|inproc):\/\/\S+$/.test(s));
  if (bad) return `--servers: "${bad}" is not a ZeroMQ endpoint such as tcp://127.0.0.1:5111`;
  if (a.id.length < 1 || a.id.length > MAX_CLIENT_CHARS) return `--id must be 1 to ${MAX_CLIENT_CHARS} characters`;
  return undefined;
}

export function clientConfig(a: ConfigOf<typeof clientOptions>): ClientAppConfig {
  const [primary, backup] = listOption(a.servers) as [string, string];
  return { servers: [primary, backup], id: a.id, timeoutMs: a.timeout, settleMs: a.settle, intervalMs: a.interval, count: a.count };
}
