import { type ConfigOf, endpointOption, intOption, listOption, numberOption } from "@zlabs/kit";
import type { AgentFeedConfig } from "./agent-feed.ts";
import { HEARTBEAT_INTERVAL_MS } from "./agent-feed.ts";
import type { Level } from "./protocol.ts";
import { SAMPLE_EVERY_MS, type TelemetryFeedConfig } from "./telemetry-feed.ts";
import { type BridgeConfig, MAX_CLIENTS, PING_INTERVAL_MS, SLOW_BUFFER_BYTES, SLOW_DISCONNECT_MS } from "./zmq-bridge.ts";

export const LAB = "lab16";
/** The page and the WebSocket. */
export const HTTP = "127.0.0.1:5160";
/** The bridge's SUB, where the feeds connect. */
export const UPSTREAM = "tcp://127.0.0.1:5161";

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export const bridgeOptions = {
  http: { type: "string", default: HTTP, describe: "host:port of the page and its WebSocket (/ws)" },
  upstream: endpointOption(UPSTREAM, "the SUB's bound endpoint, where feeds connect their PUB"),
  connect: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: "also connect the SUB to a publisher that binds (a lab01 agent, lab04's broker); repeat",
  },
  allowOrigin: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: "another Origin allowed to open the WebSocket (the bridge's own always is); repeat",
  },
  slowBuffer: intOption(SLOW_BUFFER_BYTES, "bytes queued to one browser above which its messages are dropped", { min: 1024 }),
  slowDisconnect: intOption(SLOW_DISCONNECT_MS, "ms a browser may stay over the buffer limit before it is disconnected", { min: 1 }),
  ping: intOption(PING_INTERVAL_MS, "WebSocket ping interval, ms (no pong by the next ping: disconnected)", { min: 10 }),
  maxClients: intOption(MAX_CLIENTS, "browsers at once", { min: 1, max: 100_000 }),
} as const;

export function checkBridge(a: { http: string; allowOrigin: string[] }): string | undefined {
  if (!/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(a.http)) return `--http "${a.http}" must be host:port`;
  const bad = listOption(a.allowOrigin).find((o) => !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o));
  return bad ? `--allow-origin "${bad}" must be an origin such as http://host:port` : undefined;
}

export function bridgeConfig(a: ConfigOf<typeof bridgeOptions>): BridgeConfig {
  return {
    http: a.http,
    upstream: a.upstream,
    connect: listOption(a.connect),
    allowOrigins: listOption(a.allowOrigin),
    slowBufferBytes: a.slowBuffer,
    slowDisconnectMs: a.slowDisconnect,
    pingMs: a.ping,
    maxClients: a.maxClients,
  };
}

export const agentOptions = {
  agent: { type: "string", default: `agent-${process.pid}`, describe: "agent id ([A-Za-z0-9_-], 1-64)" },
  rack: { type: "string", default: "rack1", describe: "rack ([A-Za-z0-9_-], 1-64)" },
  bridge: endpointOption(UPSTREAM, "the bridge's SUB endpoint"),
  interval: intOption(HEARTBEAT_INTERVAL_MS, "heartbeat interval, ms", { min: 10, max: 3_600_000 }),
  level: { type: "string", choices: ["ok", "warn", "crit"], describe: "force this level (default: from the host's figures)" },
} as const;

export function checkAgent(a: { agent: string; rack: string }): string | undefined {
  if (!NAME_RE.test(a.agent)) return `--agent "${a.agent}" may hold only letters, digits, - and _ (1-64)`;
  if (!NAME_RE.test(a.rack)) return `--rack "${a.rack}" may hold only letters, digits, - and _ (1-64)`;
  return undefined;
}

export function agentConfig(a: ConfigOf<typeof agentOptions>): AgentFeedConfig {
  return { agent: a.agent, rack: a.rack, bridge: a.bridge, intervalMs: a.interval, level: a.level as Level | undefined };
}

export const telemetryOptions = {
  site: { type: "string", default: "plant3", describe: "site: the first topic segment ([A-Za-z0-9_-], 1-64)" },
  bridge: endpointOption(UPSTREAM, "the bridge's SUB endpoint"),
  every: numberOption(SAMPLE_EVERY_MS, "ms between two rounds of samples", { min: 0 }),
  seed: intOption(16, "random seed of the values"),
  values: intOption(1, "values per sample (lab04's count)", { min: 1, max: 4096 }),
} as const;

export function checkTelemetry(a: { site: string }): string | undefined {
  return NAME_RE.test(a.site) ? undefined : `--site "${a.site}" may hold only letters, digits, - and _ (1-64)`;
}

export function telemetryConfig(a: ConfigOf<typeof telemetryOptions>): TelemetryFeedConfig {
  return { site: a.site, bridge: a.bridge, everyMs: a.every, seed: a.seed, values: a.values };
}
