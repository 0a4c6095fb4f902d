import { type ConfigOf, endpointOption, intOption } from "@zlabs/kit";
import { BEACON_ADDRESS, BEACON_INTERVAL_MS, BEACON_PORT } from "./beacon.ts";
import { CLIENT_ATTEMPTS, CLIENT_TIMEOUT_MS, type ClientConfig } from "./client-put-get.ts";
import { type DhtNodeConfig, LEAVE_MS } from "./dht-node.ts";
import { HOP_LIMIT, MAX_NAME_CHARS, MAX_REPLICATION } from "./protocol.ts";
import { REPLICATION, VNODES } from "./ring.ts";
import { HANDOFF_GRACE_MS, PEER_EXPIRY_MS, PEER_TIMEOUT_MS } from "./ring-node.ts";

export const LAB = "lab14";
/** The first node's mailbox in the demo; the others take the next ports (5141-5149). */
export const MAILBOX = "tcp://127.0.0.1:5141";

const beacon = {
  beaconPort: intOption(BEACON_PORT, "UDP port every node and client shares for beacons", { min: 1, max: 65535 }),
  beaconAddress: { type: "string", default: BEACON_ADDRESS, describe: "where beacons are sent (a broadcast address)" },
} as const;

export const nodeOptions = {
  name: { type: "string", default: `node-${process.pid}`, describe: "the node's name in logs and views" },
  bind: endpointOption(MAILBOX, "the mailbox ROUTER's endpoint (tcp://127.0.0.1:* for any port)"),
  ...beacon,
  beaconMs: intOption(BEACON_INTERVAL_MS, "ms between beacons", { min: 10 }),
  replication: intOption(REPLICATION, "replicas of each key (R)", { min: 1, max: MAX_REPLICATION }),
  vnodes: intOption(VNODES, "virtual nodes per node on the ring", { min: 1, max: 1024 }),
  hopLimit: intOption(HOP_LIMIT, "the most times a request is forwarded", { min: 1, max: HOP_LIMIT }),
  peerExpiry: intOption(PEER_EXPIRY_MS, "ms of silence (no beacon, no TCP) after which a peer has gone", { min: 50 }),
  peerTimeout: intOption(PEER_TIMEOUT_MS, "ms to wait for a peer's answer", { min: 10 }),
  grace: intOption(HANDOFF_GRACE_MS, "ms a node keeps keys it no longer owns, for reads that go to the old owner", { min: 0 }),
  leave: intOption(LEAVE_MS, "ms a stopping node waits for its hand-off to be acknowledged", { min: 0, max: 2500 }),
} as const;

export function checkNode(a: { name: string; bind: string }): string | undefined {
  if (!/^[A-Za-z0-9_.-]+$/.test(a.name) || a.name.length > MAX_NAME_CHARS)
    return `--name "${a.name}" may hold only letters, digits, ., - and _ (at most ${MAX_NAME_CHARS})`;
  return a.bind.startsWith("tcp://")
    ? undefined
    : `--bind must be a tcp:// endpoint (peers connect to the port in its beacon), not ${a.bind}`;
}

export function nodeConfig(a: ConfigOf<typeof nodeOptions>): DhtNodeConfig {
  return {
    name: a.name,
    bind: a.bind,
    beaconPort: a.beaconPort,
    beaconAddress: a.beaconAddress,
    beaconMs: a.beaconMs,
    replication: a.replication,
    vnodes: a.vnodes,
    hopLimit: a.hopLimit,
    peerExpiryMs: a.peerExpiry,
    peerTimeoutMs: a.peerTimeout,
    graceMs: a.grace,
    leaveMs: a.leave,
  };
}

export const clientOptions = {
  node: { type: "string", array: true, default: [] as string[], describe: "a node's mailbox (repeat); none: the nodes heard by beacon" },
  ...beacon,
  ops: intOption(0, "operations to run (0: until stopped)", { min: 0 }),
  rate: intOption(4, "operations a second (0: as fast as the ring answers)", { min: 0, max: 100_000 }),
  keys: intOption(200, "distinct keys written, then read back", { min: 1, max: 1_000_000 }),
  putRatio: { type: "number", default: 0.2, describe: "share of writes once every key exists [0..1]", min: 0, max: 1 },
  inFlight: intOption(1, "requests at once", { min: 1, max: 1000 }),
  timeout: intOption(CLIENT_TIMEOUT_MS, "ms to wait for a node before asking another", { min: 10 }),
  attempts: intOption(CLIENT_ATTEMPTS, "nodes asked per request", { min: 1 }),
  seed: intOption(14, "seed of the key choice", { min: 0 }),
} as const;

export function clientConfig(a: ConfigOf<typeof clientOptions>): ClientConfig {
  return {
    nodes: a.node,
    beaconPort: a.beaconPort,
    beaconAddress: a.beaconAddress,
    timeoutMs: a.timeout,
    attempts: a.attempts,
    ops: a.ops,
    rate: a.rate,
    keys: a.keys,
    putRatio: a.putRatio,
    inFlight: a.inFlight,
    seed: a.seed,
  };
}
