import { type ConfigOf, intOption, listOption, numberOption, userPath } from "@zlabs/kit";
import { BEACON_INTERVAL_MS, BEACON_PORT } from "./discovery.ts";
import {
  ACK_TIMEOUT_MS,
  ANTI_ENTROPY_MS,
  DEAD_RETAIN_MS,
  type GossipNodeConfig,
  INDIRECT_PROBES,
  JOIN_MS,
  OUTLIER_MS,
  PROBE_MS,
  RETRANSMIT,
  SUSPECT_MS,
  SYNC_MS,
  TOMBSTONE_MS,
} from "./gossip-node.ts";
import { isEndpoint, isNodeId, MAX_RANK } from "./protocol.ts";

export const LAB = "lab23";
export const STORE_DIR = ".store";

export const nodeOptions = {
  id: { type: "string", default: `node-${process.pid}`, describe: "node id (keep it across restarts: it names the store file)" },
  rank: intOption(100, "election rank: the live node with the lowest rank coordinates", { min: 0, max: MAX_RANK }),
  host: { type: "string", default: "127.0.0.1", describe: "address to bind and advertise" },
  pubPort: intOption(0, "TCP port of the PUB (0: any free one, advertised by beacon)", { min: 0, max: 65535 }),
  mailboxPort: intOption(0, "TCP port of the mailbox ROUTER (0: any free one, advertised by beacon)", { min: 0, max: 65535 }),
  beaconPort: intOption(BEACON_PORT, "UDP port for beacons on loopback (0: no beacons, seeds only)", { min: 0, max: 65535 }),
  beacon: intOption(BEACON_INTERVAL_MS, "ms between beacons", { min: 10 }),
  seed: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: "a member's mailbox to join through (repeat, or comma-separated)",
  },
  probe: intOption(PROBE_MS, "SWIM protocol period: one member pinged each, ms", { min: 10 }),
  ackTimeout: intOption(ACK_TIMEOUT_MS, "ms without an ACK before asking others to ping (PING-REQ)", { min: 1 }),
  suspect: intOption(SUSPECT_MS, "ms a member stays suspect before it is declared dead", { min: 1 }),
  deadRetain: intOption(DEAD_RETAIN_MS, "ms a dead member is remembered before it is forgotten", { min: 1 }),
  antiEntropy: intOption(ANTI_ENTROPY_MS, "ms between anti-entropy rounds (a digest to one random member)", { min: 10 }),
  join: intOption(JOIN_MS, "ms between JOINs to a seed that is not a live member", { min: 10 }),
  sync: intOption(SYNC_MS, "ms between Berkeley rounds (run by the coordinator)", { min: 10 }),
  outlier: intOption(OUTLIER_MS, "a clock farther than this (ms) from the median is left out of the average", { min: 1 }),
  tombstone: intOption(TOMBSTONE_MS, "ms after which a tombstone is forgotten", { min: 1000 }),
  storeDir: {
    type: "string",
    default: STORE_DIR,
    describe: "folder of the store file <id>.jsonl (relative: from where you run the command)",
  },
  clockSkewMs: numberOption(0, "this node's clock error, ms (the Berkeley demo)", { min: -86_400_000, max: 86_400_000 }),
} as const;

export function checkNode(a: ConfigOf<typeof nodeOptions>): string | undefined {
  if (!isNodeId(a.id)) return `--id "${a.id}" may hold only letters, digits, ".", "-" and "_" (at most 64)`;
  if (!/^[A-Za-z0-9.:-]+$/.test(a.host)) return `--host "${a.host}" is not an address`;
  const bad = listOption(a.seed).find((s) => !isEndpoint(s));
  if (bad) return `--seed "${bad}" is not a tcp://host:port endpoint`;
  if (a.ackTimeout >= a.probe) return "--ack-timeout must be shorter than --probe";
  return undefined;
}

export function nodeConfig(a: ConfigOf<typeof nodeOptions>): GossipNodeConfig {
  return {
    id: a.id,
    rank: a.rank,
    host: a.host,
    pubPort: a.pubPort,
    mailboxPort: a.mailboxPort,
    beaconPort: a.beaconPort,
    beaconMs: a.beacon,
    seeds: listOption(a.seed),
    probeMs: a.probe,
    ackTimeoutMs: a.ackTimeout,
    suspectMs: a.suspect,
    deadRetainMs: a.deadRetain,
    indirect: INDIRECT_PROBES,
    retransmit: RETRANSMIT,
    joinMs: a.join,
    antiEntropyMs: a.antiEntropy,
    syncMs: a.sync,
    outlierMs: a.outlier,
    tombstoneMs: a.tombstone,
    skewMs: a.clockSkewMs,
    // The default lives in the lab; a folder the user typed is theirs.
    storeDir: a.storeDir === STORE_DIR ? STORE_DIR : userPath(a.storeDir),
  };
}

export const adminOptions = {
  node: { type: "string", default: "", describe: "the node to ask: its mailbox endpoint, or its id (found by beacon)" },
  beaconPort: intOption(BEACON_PORT, "UDP port to hear beacons on, to find a node by id", { min: 1, max: 65535 }),
  timeout: intOption(5000, "ms to wait for a node (to be found, and to answer)", { min: 1 }),
  every: intOption(0, "writer mode: write a random key on a random node every N ms until stopped (0: off)", { min: 0 }),
  keys: intOption(12, "writer mode: how many distinct keys it writes", { min: 1, max: 1000 }),
  json: { type: "boolean", default: false, describe: "print the answer as JSON" },
} as const;

export const ADMIN_USAGE = "set KEY VALUE [KEY VALUE ...] | del KEY | get KEY | status";

export function checkAdmin(a: ConfigOf<typeof adminOptions>): string | undefined {
  if (a.every > 0) return a._.length > 0 ? "writer mode (--every) takes no command" : undefined;
  const [op, ...rest] = a._;
  if (!a.node) return "which node? give --node (an endpoint or an id)";
  if (op === "set" && rest.length >= 2 && rest.length % 2 === 0) return undefined;
  if ((op === "get" || op === "del") && rest.length === 1) return undefined;
  if (op === "status" && rest.length === 0) return undefined;
  return `usage: gossip-admin --node N ${ADMIN_USAGE}`;
}
