/** The 24 labs of the course, ready or planned; `zlabs list` marks the ones whose folder exists. */
export interface CatalogEntry {
  folder: string;
  title: string;
  pattern: string;
  roles: string[];
}

export const CATALOG: readonly CatalogEntry[] = [
  {
    folder: "lab01-heartbeat",
    title: "Cluster heartbeat monitor",
    pattern: "PUB-SUB, topic filtering",
    roles: ["monitor-agent", "dashboard"],
  },
  {
    folder: "lab02-log-pipeline",
    title: "SIEM log ingestion",
    pattern: "PUSH-PULL ventilator / worker / sink",
    roles: ["log-collector", "log-parser", "storage-writer"],
  },
  {
    folder: "lab03-node-inspector",
    title: "Remote node inspection",
    pattern: "REQ-REP, Lazy Pirate client",
    roles: ["node-agent", "admin-cli"],
  },
  {
    folder: "lab04-telemetry-lvc",
    title: "Real-time telemetry",
    pattern: "XSUB-XPUB proxy, Last Value Cache",
    roles: ["telemetry-source", "lvc-broker", "analyst-terminal"],
  },
  {
    folder: "lab05-audit-gateway",
    title: "Asynchronous audit gateway",
    pattern: "ROUTER-DEALER, correlation",
    roles: ["audit-gateway", "archival-worker", "audit-client"],
  },
  {
    folder: "lab06-malware-scan",
    title: "Scalable malware scanning",
    pattern: "ROUTER-ROUTER load-balancing broker, LRU queue",
    roles: ["scanner-broker", "av-engine", "upload-service"],
  },
  {
    folder: "lab07-policy-sync",
    title: "Policy synchronisation",
    pattern: "Clone (snapshot + updates)",
    roles: ["policy-server", "policy-agent"],
  },
  {
    folder: "lab08-edge-uplink",
    title: "Edge device uplink",
    pattern: "Paranoid Pirate, client fail-over",
    roles: ["central-receiver", "ingest-worker", "field-device"],
  },
  {
    folder: "lab09-c2-ironhouse",
    title: "Encrypted command channel",
    pattern: "CurveZMQ Ironhouse, ZAP",
    roles: ["c2-server", "implant", "keygen"],
  },
  { folder: "lab10-soc-sim", title: "SOC simulation", pattern: "Mixed patterns, discovery", roles: ["sensor", "correlator", "console"] },
  { folder: "lab11-binary-star", title: "High-availability broker", pattern: "Binary Star", roles: ["primary", "backup", "client"] },
  { folder: "lab12-majordomo", title: "Service broker", pattern: "Majordomo (MDP/0.1 + MMI)", roles: ["broker", "worker", "client"] },
  { folder: "lab13-titanic", title: "Persistent request queue", pattern: "Titanic over Majordomo", roles: ["titanic", "worker", "client"] },
  { folder: "lab14-dht-ring", title: "DHT ring", pattern: "Consistent hashing, gossip", roles: ["dht-node", "dht-client"] },
  { folder: "lab15-mapreduce", title: "MapReduce", pattern: "Scatter-gather", roles: ["coordinator", "mapper", "reducer"] },
  { folder: "lab16-ws-bridge", title: "WebSocket bridge", pattern: "ZeroMQ to browsers over ws", roles: ["feed", "bridge"] },
  {
    folder: "lab17-raft",
    title: "Raft prototype",
    pattern: "Election and log replication over a bus",
    roles: ["raft-node", "raft-client"],
  },
  { folder: "lab18-video-stream", title: "Zero-copy video stream", pattern: "PUB-SUB with large frames", roles: ["camera", "viewer"] },
  { folder: "lab19-native-curve", title: "Native Ironhouse", pattern: "libzmq CURVE, Z85 keys", roles: ["server", "client", "keygen"] },
  { folder: "lab20-tracing", title: "Distributed tracing", pattern: "PUSH-PULL side channel", roles: ["service", "collector"] },
  {
    folder: "lab21-lock-manager",
    title: "Distributed lock manager",
    pattern: "Leases over ROUTER-DEALER",
    roles: ["lock-server", "lock-client"],
  },
  {
    folder: "lab22-monitored-proxy",
    title: "Monitored proxy",
    pattern: "ROUTER-DEALER proxy with capture and monitor",
    roles: ["proxy", "backend", "frontend"],
  },
  { folder: "lab23-gossip", title: "Gossip mesh", pattern: "Decentralised PUB-SUB", roles: ["gossip-node"] },
  {
    folder: "lab24-beacon",
    title: "Service discovery",
    pattern: "UDP beacon + secure REQ-REP",
    roles: ["beacon-service", "beacon-client"],
  },
];
