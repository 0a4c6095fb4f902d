import { type ConfigOf, endpointOption, intOption, listOption } from "@zlabs/kit";
import type { TerminalConfig } from "./analyst-terminal.ts";
import { type BrokerConfig, MAX_TOPICS } from "./lvc-broker.ts";
import { MAX_SOURCE_LENGTH } from "./protocol.ts";
import { SAMPLE_INTERVAL_MS, type SourceConfig } from "./telemetry-source.ts";

export const LAB = "lab04";
export const FRONT = "tcp://127.0.0.1:5040";
export const BACK = "tcp://127.0.0.1:5041";
const SEGMENT = /^[A-Za-z0-9_-]{1,40}$/;

const brokerOptions = {
  front: endpointOption(FRONT, "XSUB endpoint publishers connect to"),
  back: endpointOption(BACK, "XPUB endpoint subscribers connect to"),
  maxTopics: intOption(MAX_TOPICS, "topics the cache holds at most (least recently updated go first)", { min: 1 }),
  maxAge: intOption(0, "ms after which a cached value is dropped (0: never)", { min: 0 }),
  publisher: {
    type: "string",
    array: true,
    default: [] as string[],
    endpoint: true,
    describe: "also connect to these publishers that bind (repeat)",
  },
} as const;

export const brokerSpec = { lab: LAB, role: "lvc-broker", describe: "XSUB-XPUB proxy with a Last Value Cache", options: brokerOptions };

export function brokerConfig(args: ConfigOf<typeof brokerOptions>): BrokerConfig {
  return {
    front: args.front,
    back: args.back,
    maxTopics: args.maxTopics,
    maxAgeMs: args.maxAge,
    publishers: listOption(args.publisher),
  };
}

const sourceOptions = {
  site: { type: "string", default: "plant1", describe: "first topic segment" },
  id: { type: "string", describe: "source name in every header (default: <site>-source)" },
  devices: intOption(3, "pumps at the site, three metrics each", { min: 1, max: 1000 }),
  broker: endpointOption(FRONT, "the broker's XSUB endpoint"),
  interval: intOption(SAMPLE_INTERVAL_MS, "ms between samples of a topic", { min: 1 }),
  churn: intOption(0, "publish to this many distinct topics as fast as possible (benchmark)", { min: 0 }),
  limit: intOption(0, "stop after this many samples (0: never)", { min: 0 }),
} as const;

export const sourceSpec = {
  lab: LAB,
  role: "telemetry-source",
  describe: "publishes a plant's telemetry (PUB)",
  options: sourceOptions,
  check: (a: { site: string; id?: string }): string | undefined => {
    if (!SEGMENT.test(a.site)) return `--site "${a.site}" may hold only letters, digits, - and _`;
    if (a.id !== undefined && (a.id.length === 0 || a.id.length > MAX_SOURCE_LENGTH))
      return `--id must be 1 to ${MAX_SOURCE_LENGTH} characters`;
    return undefined;
  },
};

export function sourceConfig(args: ConfigOf<typeof sourceOptions>): SourceConfig {
  return {
    id: args.id ?? `${args.site}-source`,
    site: args.site,
    devices: args.devices,
    broker: args.broker,
    intervalMs: args.interval,
    churn: args.churn,
    limit: args.limit,
  };
}

const terminalOptions = {
  broker: endpointOption(BACK, "the broker's XPUB endpoint"),
  topic: { type: "string", array: true, default: [""] as string[], describe: "topic prefixes to watch (repeat; default: everything)" },
} as const;

export const terminalSpec = { lab: LAB, role: "analyst-terminal", describe: "watches telemetry topics (SUB)", options: terminalOptions };

export function prefixes(values: readonly string[]): string[] {
  const list = values.length === 0 ? [""] : values.flatMap((v) => (v === "" ? [""] : listOption([v])));
  return [...new Set(list)];
}

export function terminalConfig(args: ConfigOf<typeof terminalOptions>): TerminalConfig {
  return { broker: args.broker, prefixes: prefixes(args.topic) };
}
