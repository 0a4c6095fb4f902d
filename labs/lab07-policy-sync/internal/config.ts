import { type ConfigOf, endpointOption, intOption, listOption } from "@zlabs/kit";
import { BSTAR_HEARTBEAT_MS } from "lab11/binary-star";
import { type Flow, parseFlow, parseRule } from "./acl.ts";
import { chpServer, MAX_KEYS, SERVER_TTL_MS, type Server } from "./clone-client.ts";
import type { NodeConfig } from "./firewall-node.ts";
import { checkKey } from "./kvmsg.ts";
import { ACK_TIMEOUT_MS, type AdminConfig, type Change, parseSet } from "./policy-admin.ts";
import { HUGZ_MS, type MasterConfig, PENDING_TTL_MS, TTL_SWEEP_MS } from "./policy-master.ts";
import { checkSubtree, MAX_TTL_S, reservedKey } from "./protocol.ts";

export const LAB = "lab07";
/** CHP's three ports from P: the primary at 5070-5072, the backup at 5073-5075. */
export const PRIMARY = "tcp://127.0.0.1:5070";
export const BACKUP = "tcp://127.0.0.1:5073";
/** The Binary Star state link: the primary's PUB, the backup's PUB. */
export const PRIMARY_STATE = "tcp://127.0.0.1:5076";
export const BACKUP_STATE = "tcp://127.0.0.1:5077";
/** Firewall nodes' query REP: 5078 for the first, 5079 for the second. */
export const NODE_QUERY = "tcp://127.0.0.1:5078";
export const SERVERS = `${PRIMARY},${BACKUP}`;

const serversOption = {
  type: "string",
  array: true,
  default: [SERVERS] as string[],
  describe: "the masters' snapshot endpoints P (publisher P+1, collector P+2, as CHP), primary first",
} as const;
const serverTtl = intOption(SERVER_TTL_MS, "ms of server silence (no HUGZ, no update) before a client moves to the next server", {
  min: 10,
});
const maxKeys = intOption(MAX_KEYS, "the most keys a map (or a snapshot) may hold", { min: 1, max: 10_000_000 });

function servers(list: readonly string[]): Server[] {
  const endpoints = listOption(list);
  if (endpoints.length === 0 || endpoints.length > 2) throw new Error("give one or two servers");
  return endpoints.map((e) => chpServer(e));
}

/** A check that the servers parse, as a kit `check` returns it: a reason, or undefined. */
function checkServers(list: readonly string[], flag = "--servers"): string | undefined {
  try {
    servers(list);
    return undefined;
  } catch (err) {
    return `${flag}: ${(err as Error).message}`;
  }
}

export const masterOptions = {
  role: { type: "string", choices: ["primary", "backup"], default: "primary", describe: "this server's place in the Binary Star pair" },
  endpoint: endpointOption(PRIMARY, "our snapshot ROUTER P; the publisher binds P+1, the collector P+2 (CHP)"),
  peer: endpointOption(BACKUP, "the peer master's snapshot endpoint P (its publisher at P+1)"),
  state: endpointOption(PRIMARY_STATE, "where our Binary Star state PUB binds"),
  peerState: endpointOption(BACKUP_STATE, "the peer's Binary Star state PUB"),
  heartbeat: intOption(BSTAR_HEARTBEAT_MS, "Binary Star heartbeat, ms (the peer is dead after 2)", { min: 10 }),
  hugz: intOption(HUGZ_MS, "ms between HUGZ", { min: 10 }),
  ttlSweep: intOption(TTL_SWEEP_MS, "ms between TTL sweeps", { min: 10 }),
  serverTtl,
  pendingTtl: intOption(PENDING_TTL_MS, "ms after which a pending update the live active master never published is dropped", { min: 100 }),
  maxKeys,
} as const;

export function checkMaster(a: { endpoint: string; peer: string }): string | undefined {
  return checkServers([a.endpoint], "--endpoint") ?? checkServers([a.peer], "--peer");
}

export function masterConfig(a: ConfigOf<typeof masterOptions>): MasterConfig {
  return {
    role: a.role as "primary" | "backup",
    endpoint: a.endpoint,
    peer: a.peer,
    stateBind: a.state,
    peerState: a.peerState,
    heartbeatMs: a.heartbeat,
    hugzMs: a.hugz,
    ttlSweepMs: a.ttlSweep,
    serverTtlMs: a.serverTtl,
    pendingTtlMs: a.pendingTtl,
    maxKeys: a.maxKeys,
  };
}

export const nodeOptions = {
  name: { type: "string", default: `fw-${process.pid}`, describe: "this node's name (shown by the masters and in answers)" },
  subtree: { type: "string", default: "/acl/edge/", describe: 'the subtree of rules this node enforces ("" for every key)' },
  servers: serversOption,
  query: endpointOption(NODE_QUERY, "REP endpoint where the node answers checks"),
  serverTtl,
  maxKeys,
} as const;

export function checkNode(a: { name: string; subtree: string; servers: readonly string[] }): string | undefined {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(a.name)) return `--name "${a.name}" may hold only letters, digits, ., - and _`;
  if (!checkSubtree(Buffer.from(a.subtree)).ok) return `--subtree "${a.subtree}" is not "" or /seg/.../ (it ends with a slash)`;
  return checkServers(a.servers);
}

export function nodeConfig(a: ConfigOf<typeof nodeOptions>): NodeConfig {
  return { name: a.name, subtree: a.subtree, servers: servers(a.servers), query: a.query, serverTtlMs: a.serverTtl, maxKeys: a.maxKeys };
}

export const adminOptions = {
  servers: serversOption,
  set: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: 'KEY=RULE to set (repeat), e.g. "/acl/edge/0150=deny tcp 203.0.113.0/24 any any any"',
  },
  delete: { type: "string", array: true, default: [] as string[], describe: "KEY to delete (repeat)" },
  ttl: intOption(0, "seconds after which the masters delete what --set sets (0: never)", { min: 0, max: MAX_TTL_S }),
  check: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: 'a flow to check at every --nodes node, "tcp 10.2.3.4:50000 10.1.0.22:22" (repeat)',
  },
  status: { type: "boolean", default: false, describe: "ask every --nodes node what it holds (rules, sequence, digest)" },
  nodes: { type: "string", array: true, default: [] as string[], describe: "firewall nodes' query endpoints" },
  demo: { type: "boolean", default: false, describe: "run the demo script: base policy, then a change every --every ms, until stopped" },
  every: intOption(4000, "ms between the demo's changes", { min: 100 }),
  ackTimeout: intOption(ACK_TIMEOUT_MS, "ms a change waits for its acknowledgement", { min: 10 }),
} as const;

function adminChanges(a: { set: string[]; delete: string[]; ttl: number }): Change[] {
  return [...a.set.map((s) => parseSet(s, a.ttl)), ...a.delete.map((key): Change => ({ what: "delete", key }))];
}

export function checkAdmin(a: ConfigOf<typeof adminOptions>): string | undefined {
  if (!a.demo && a.set.length + a.delete.length + a.check.length === 0 && !a.status)
    return "what? give --set, --delete, --check, --status or --demo";
  let changes: Change[];
  try {
    changes = adminChanges(a);
  } catch (err) {
    return (err as Error).message;
  }
  for (const c of changes) {
    const key = checkKey(Buffer.from(c.key));
    if (!key.ok || reservedKey(c.key)) return `"${c.key.slice(0, 80)}" is not a key (1 to 255 bytes, printable, not HUGZ...)`;
    if (c.rule !== undefined) {
      const rule = parseRule(c.key, c.rule);
      if (!rule.ok) return `--set ${c.key}: ${rule.reason}`;
    }
  }
  for (const f of a.check) if (!parseFlow(f)) return `--check "${f}" is not "tcp|udp|icmp SRC[:PORT] DST[:PORT]"`;
  if ((a.check.length > 0 || a.status) && listOption(a.nodes).length === 0) return "--check and --status need --nodes";
  for (const n of listOption(a.nodes)) if (!/^(tcp|ipc|inproc):\/\/\S+$/.test(n)) return `--nodes: ${n} is not a ZeroMQ endpoint`;
  return checkServers(a.servers);
}

export function adminConfig(a: ConfigOf<typeof adminOptions>): AdminConfig {
  return {
    servers: servers(a.servers),
    changes: adminChanges(a),
    checks: a.check.map((f) => parseFlow(f) as Flow),
    status: a.status,
    nodes: listOption(a.nodes),
    demo: a.demo,
    everyMs: a.every,
    ackTimeoutMs: a.ackTimeout,
  };
}
