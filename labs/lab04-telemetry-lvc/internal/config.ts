import { listOption } from "@zlabs/kit";
import { MAX_TOPICS } from "./broker.ts";
import { SAMPLE_INTERVAL_MS } from "./source.ts";
import { STATUS_EVERY_MS } from "./terminal.ts";

export const LAB = "lab04";
export const FRONT = "tcp://127.0.0.1:5040";
export const BACK = "tcp://127.0.0.1:5041";
const SEGMENT = /^[A-Za-z0-9_-]{1,40}$/;

export const brokerOptions = {
  front: { type: "string", default: FRONT, describe: "XSUB endpoint publishers connect to" },
  back: { type: "string", default: BACK, describe: "XPUB endpoint subscribers connect to" },
  maxTopics: { type: "number", default: MAX_TOPICS, describe: "topics the cache holds at most (least recently updated go first)" },
  maxAge: { type: "number", default: 0, describe: "ms after which a cached value is dropped (0: never)" },
  publisher: { type: "string", array: true, default: [] as string[], describe: "also connect to these publishers that bind (repeat)" },
} as const;

export function checkBroker(a: { maxTopics: number; maxAge: number }): string | undefined {
  if (!Number.isInteger(a.maxTopics) || a.maxTopics < 1) return "--max-topics must be a whole number, 1 or more";
  if (a.maxAge < 0) return "--max-age must be 0 or more";
  return undefined;
}

export const sourceOptions = {
  site: { type: "string", default: "plant1", describe: "first topic segment" },
  id: { type: "string", describe: "source name in every header (default: <site>-source)" },
  devices: { type: "number", default: 3, describe: "pumps at the site, three metrics each" },
  broker: { type: "string", default: FRONT, describe: "the broker's XSUB endpoint" },
  interval: { type: "number", default: SAMPLE_INTERVAL_MS, describe: "ms between samples of a topic" },
  churn: { type: "number", default: 0, describe: "publish to this many distinct topics as fast as possible (benchmark)" },
  limit: { type: "number", default: 0, describe: "stop after this many samples (0: never)" },
} as const;

export function checkSource(a: { site: string; devices: number; interval: number; churn: number; limit: number }): string | undefined {
  if (!SEGMENT.test(a.site)) return `--site "${a.site}" may hold only letters, digits, - and _`;
  if (!Number.isInteger(a.devices) || a.devices < 1 || a.devices > 1000) return "--devices must be a whole number from 1 to 1000";
  if (a.interval < 1) return "--interval must be at least 1 ms";
  if (!Number.isInteger(a.churn) || a.churn < 0 || !Number.isInteger(a.limit) || a.limit < 0)
    return "--churn and --limit must be whole numbers, 0 or more";
  return undefined;
}

export const terminalOptions = {
  broker: { type: "string", default: BACK, describe: "the broker's XPUB endpoint" },
  topic: { type: "string", array: true, default: [""] as string[], describe: "topic prefixes to watch (repeat; default: everything)" },
  view: { choices: ["auto", "table", "log"] as const, default: "auto" as const, describe: "table redraws in place; log prints lines" },
  statusEvery: { type: "number", default: STATUS_EVERY_MS, describe: "status line period in log view, ms (0: off)" },
} as const;

export function prefixes(values: readonly string[]): string[] {
  const list = values.length === 0 ? [""] : values.flatMap((v) => (v === "" ? [""] : listOption([v])));
  return [...new Set(list)];
}
