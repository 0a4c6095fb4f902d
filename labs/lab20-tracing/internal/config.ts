import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, numberOption } from "@zlabs/kit";
import { type LoadConfig, REQUEST_TIMEOUT_MS } from "./load-client.ts";
import { DOWNSTREAM_TIMEOUT_MS, type ServiceConfig, STAGES, STATS_MS, type Stage } from "./monitored-service.ts";
import { type CollectorConfig, FILE_MAX_BYTES, FILES_KEPT } from "./trace-collector.ts";
import { SETTLE_MS } from "./traces.ts";
import { FLUSH_MS, SIDE_SNDHWM } from "./tracing.ts";

export const LAB = "lab20";
export const COLLECTOR = "tcp://127.0.0.1:5200";
export const GATEWAY = "tcp://127.0.0.1:5201";
export const ENRICHER = "tcp://127.0.0.1:5202";
export const SCORER = "tcp://127.0.0.1:5203";
/** Where the collector writes its OTLP JSON files (the manifest's `data`). */
export const TRACES_DIR = fileURLToPath(new URL("../.store/traces", import.meta.url));

export const serviceOptions = {
  stage: { type: "string", choices: [...STAGES], demandOption: true, describe: "which stage of the chain this process is" },
  bind: endpointOption(GATEWAY, "ROUTER endpoint this stage serves"),
  next: { type: "string", default: "", describe: "the next stage's endpoint (none for the scorer)" },
  collector: endpointOption(COLLECTOR, "the trace collector's PULL endpoint"),
  tracing: { type: "boolean", default: true, describe: "make spans (--no-tracing: none)" },
  sample: numberOption(1, "ratio of new traces (started here) sampled; a parent's decision always wins", { min: 0, max: 1 }),
  flush: intOption(FLUSH_MS, "ms between span batches", { min: 1 }),
  sideHwm: intOption(SIDE_SNDHWM, "side channel SNDHWM, in span batches: beyond it batches are dropped", { min: 1 }),
  sideSndbuf: intOption(0, "side channel kernel send buffer, bytes (0: the system's)", { min: 0 }),
  statsMs: intOption(STATS_MS, "ms between 'stats' log lines (only when something changed)", { min: 10 }),
  workMs: numberOption(0, "simulated work per request, ms", { min: 0, max: 10_000 }),
  timeout: intOption(DOWNSTREAM_TIMEOUT_MS, "ms to wait for the next stage before answering with an error", { min: 1 }),
} as const;

export function checkService(a: { stage: string; next: string }): string | undefined {
  if (a.stage === "scorer" && a.next) return "the scorer is the last stage: no --next";
  if (a.stage !== "scorer" && !a.next) return `the ${a.stage} needs --next (the next stage's endpoint)`;
  if (a.next && !/^(tcp|ipc|inproc):\/\//.test(a.next)) return `--next "${a.next}" is not an endpoint (tcp://host:port)`;
  return undefined;
}

export function serviceConfig(a: ConfigOf<typeof serviceOptions>): ServiceConfig {
  const stage = a.stage as Stage;
  return {
    stage,
    bind: a.bind,
    next: a.next || undefined,
    workMs: a.workMs,
    timeoutMs: a.timeout,
    statsMs: a.statsMs,
    tracing: {
      service: stage,
      collector: a.collector,
      enabled: a.tracing,
      sampleRatio: a.sample,
      flushMs: a.flush,
      sideHwm: a.sideHwm,
      sideSndbuf: a.sideSndbuf,
    },
  };
}

export const collectorOptions = {
  bind: endpointOption(COLLECTOR, "PULL endpoint for span batches"),
  settle: intOption(SETTLE_MS, "ms without a new span after which a trace is settled (orphans flagged)", { min: 1 }),
  dir: { type: "string", default: TRACES_DIR, describe: "folder of the OTLP JSON files ('' for none)" },
  fileMaxBytes: intOption(FILE_MAX_BYTES, "an OTLP JSON file is rotated past this size", { min: 1024 }),
  files: intOption(FILES_KEPT, "OTLP JSON files kept", { min: 1, max: 100 }),
  rcvbuf: intOption(0, "the PULL's kernel receive buffer, bytes (0: the system's)", { min: 0 }),
  otlpUrl: { type: "string", default: "", describe: "OTLP/HTTP endpoint to forward to (e.g. http://127.0.0.1:4318)" },
} as const;

export function checkCollector(a: { otlpUrl: string }): string | undefined {
  if (!a.otlpUrl) return undefined;
  try {
    const u = new URL(a.otlpUrl);
    return u.protocol === "http:" || u.protocol === "https:" ? undefined : `--otlp-url "${a.otlpUrl}" must be http(s)`;
  } catch {
    return `--otlp-url "${a.otlpUrl}" is not a URL`;
  }
}

export function collectorConfig(a: ConfigOf<typeof collectorOptions>): CollectorConfig {
  return {
    bind: a.bind,
    settleMs: a.settle,
    dir: a.dir || undefined,
    fileMaxBytes: a.fileMaxBytes,
    filesKept: a.files,
    rcvbuf: a.rcvbuf,
    otlpUrl: a.otlpUrl || undefined,
  };
}

export const loadOptions = {
  gateway: endpointOption(GATEWAY, "the gateway's endpoint"),
  rate: numberOption(4, "transactions per second", { min: 0.1, max: 100_000 }),
  count: intOption(0, "transactions in all (0: until stopped)", { min: 0 }),
  timeout: intOption(REQUEST_TIMEOUT_MS, "ms to wait for a verdict", { min: 1 }),
  seed: intOption(20, "seed of the made-up transactions", { min: 0 }),
} as const;

export function loadConfig(a: ConfigOf<typeof loadOptions>): LoadConfig {
  return { gateway: a.gateway, rate: a.rate, count: a.count, timeoutMs: a.timeout, seed: a.seed };
}
