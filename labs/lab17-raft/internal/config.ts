import { join } from "node:path";
import { type ConfigOf, intOption, listOption, numberOption, userPath } from "@zlabs/kit";
import { REQUEST_TIMEOUT_MS } from "./client.ts";
import type { ProposerConfig } from "./client-proposer.ts";
import type { Member, NodeConfig } from "./consensus-node.ts";
import { NODE_ID } from "./protocol.ts";
import { ELECTION_MAX_MS, ELECTION_MIN_MS, HEARTBEAT_MS, MAX_BATCH } from "./raft.ts";

export const LAB = "lab17";
/** The default cluster: n1..n5, buses on 5170..5174, clients on 5175..5179. */
export const DEFAULT_CLUSTER = [1, 2, 3, 4, 5].map((n) => `n${n}=tcp://127.0.0.1:${5169 + n}`);
export const DEFAULT_CLIENTS = [1, 2, 3, 4, 5].map((n) => `tcp://127.0.0.1:${5174 + n}`);
const ENDPOINT = /^(tcp|ipc|inproc):\/\/\S+$/;
/** The lab's own folder for node state (not a path the user typed). */
export const STORE_DIR = ".store";

export const nodeOptions = {
  id: { type: "string", demandOption: true, describe: "this node's id, one of --cluster (letters, digits, _ and -)" },
  cluster: {
    type: "string",
    array: true,
    default: DEFAULT_CLUSTER,
    describe: "every member as id=bus-endpoint (its PUB), this node included",
  },
  client: { type: "string", describe: "ROUTER endpoint for clients (default: tcp://127.0.0.1:5175 for n1 ... 5179 for n5)" },
  dir: { type: "string", describe: "where the node keeps its term, vote and log (default: the lab's .store/<id>)" },
  electionMin: intOption(ELECTION_MIN_MS, "shortest election timeout, ms", { min: 10 }),
  electionMax: intOption(ELECTION_MAX_MS, "longest election timeout, ms", { min: 10 }),
  heartbeat: intOption(HEARTBEAT_MS, "leader's heartbeat (AppendEntries) interval, ms", { min: 5 }),
  maxBatch: intOption(MAX_BATCH, "entries per AppendEntries at most (1: no batching)", { min: 1, max: 512 }),
} as const;

export function parseCluster(values: readonly (string | number)[]): Member[] | string {
  const members: Member[] = [];
  for (const item of listOption(values)) {
    const eq = item.indexOf("=");
    const id = item.slice(0, eq);
    const bus = item.slice(eq + 1);
    if (eq < 1 || !NODE_ID.test(id)) return `--cluster: "${item}" is not id=endpoint with an id of letters, digits, _ and -`;
    if (!ENDPOINT.test(bus)) return `--cluster: "${bus}" (of ${id}) is not a ZeroMQ endpoint`;
    if (members.some((m) => m.id === id)) return `--cluster: ${id} is listed twice`;
    members.push({ id, bus });
  }
  return members;
}

export function checkNode(a: ConfigOf<typeof nodeOptions>): string | undefined {
  const cluster = parseCluster(a.cluster);
  if (typeof cluster === "string") return cluster;
  if (!cluster.some((m) => m.id === a.id)) return `--id ${a.id} is not one of --cluster (${cluster.map((m) => m.id).join(", ")})`;
  if (a.electionMax < a.electionMin) return "--election-max must be at least --election-min";
  if (a.heartbeat * 2 > a.electionMin) return "--heartbeat must be at most half of --election-min";
  if (a.client !== undefined && !ENDPOINT.test(a.client)) return "--client must be a ZeroMQ endpoint";
  if (a.client === undefined && !/^n[1-5]$/.test(a.id)) return "--client is needed for a node other than n1..n5";
  return undefined;
}

export function nodeConfig(a: ConfigOf<typeof nodeOptions>): NodeConfig {
  return {
    id: a.id,
    cluster: parseCluster(a.cluster) as Member[],
    client: a.client ?? (DEFAULT_CLIENTS[Number(a.id.slice(1)) - 1] as string),
    dir: a.dir !== undefined ? userPath(a.dir) : join(STORE_DIR, a.id),
    electionMinMs: a.electionMin,
    electionMaxMs: a.electionMax,
    heartbeatMs: a.heartbeat,
    maxBatch: a.maxBatch,
  };
}

export const proposerOptions = {
  nodes: { type: "string", array: true, default: DEFAULT_CLIENTS, describe: "every node's client endpoint (ROUTER)" },
  clientId: { type: "string", default: `proposer-${process.pid}`, describe: "client id: retried writes under it apply once" },
  rate: numberOption(2, "operations a second (0: as fast as answered)", { min: 0 }),
  count: intOption(0, "operations in all, then exit (0: until stopped)", { min: 0 }),
  sessions: intOption(1, "requests in flight, each from a session of its own", { min: 1, max: 1000 }),
  timeout: intOption(REQUEST_TIMEOUT_MS, "ms to wait for an answer before trying another node", { min: 10 }),
  seed: intOption(17, "seed of the sequence of operations", { min: 0 }),
} as const;

export function checkProposer(a: ConfigOf<typeof proposerOptions>): string | undefined {
  const nodes = listOption(a.nodes);
  if (nodes.length === 0) return "--nodes: give at least one endpoint";
  const bad = nodes.find((n) => !ENDPOINT.test(n));
  if (bad) return `--nodes: "${bad}" is not a ZeroMQ endpoint`;
  if (!/^[A-Za-z0-9_-]{1,48}$/.test(a.clientId)) return "--client-id may hold only letters, digits, _ and - (at most 48)";
  return undefined;
}

export function proposerConfig(a: ConfigOf<typeof proposerOptions>): ProposerConfig {
  return {
    nodes: listOption(a.nodes),
    clientId: a.clientId,
    rate: a.rate,
    count: a.count,
    sessions: a.sessions,
    timeoutMs: a.timeout,
    seed: a.seed,
  };
}
