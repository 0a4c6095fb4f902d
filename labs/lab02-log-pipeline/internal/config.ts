import os from "node:os";
import { LINES_PER_CHUNK, WINDOW_LINES } from "./collector.ts";
import { MISSING_AFTER_MS, ROTATE_BYTES } from "./writer.ts";

export const LAB = "lab02";
export const WORK_ENDPOINT = "tcp://127.0.0.1:5020";
export const WRITER_ENDPOINT = "tcp://127.0.0.1:5021";
export const BUS_ENDPOINT = "tcp://127.0.0.1:5022";
/** The demo's key. A real deployment sets its own (LAB02_KEY) and keeps it secret. */
export const DEMO_KEY = "lab02-demo-key-change-me";

export const collectorOptions = {
  input: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: 'log files or globs to ingest as one batch (repeat the flag), or "-" for stdin',
  },
  sample: { type: "number", default: 0, describe: "also ingest this many generated sample lines (with PII)" },
  bind: { type: "string", default: WORK_ENDPOINT, describe: "PUSH endpoint the parsers connect to" },
  writer: { type: "string", default: WRITER_ENDPOINT, describe: "the writer's PULL endpoint (START)" },
  bus: { type: "string", default: BUS_ENDPOINT, describe: "the writer's PUB endpoint (READY, ACK, MISSING, DONE)" },
  chunkLines: { type: "number", default: LINES_PER_CHUNK, describe: "lines per message" },
  window: { type: "number", default: WINDOW_LINES, describe: "lines sent but not yet stored, at most (bounds memory)" },
  minParsers: { type: "number", default: 1, describe: "parsers that must be up before work flows" },
  spoolDir: { type: "string", default: ".store", describe: 'where stdin ("-") is spooled before the batch starts' },
} as const;

export function checkCollector(a: {
  input: string[];
  sample: number;
  chunkLines: number;
  window: number;
  minParsers: number;
}): string | undefined {
  if (a.input.length === 0 && a.sample <= 0) return "nothing to ingest: give --input (a path, a glob or -) or --sample N";
  if (!Number.isInteger(a.sample) || a.sample < 0) return "--sample must be a whole number of lines";
  if (!Number.isInteger(a.chunkLines) || a.chunkLines < 1) return "--chunk-lines must be a whole number, 1 or more";
  if (a.window < a.chunkLines) return "--window must hold at least one chunk (--chunk-lines)";
  if (!Number.isInteger(a.minParsers) || a.minParsers < 0) return "--min-parsers must be a whole number, 0 or more";
  return undefined;
}

export const parserOptions = {
  id: { type: "string", default: `${os.hostname()}-${process.pid}`, describe: "worker id in the writer's counts" },
  work: { type: "string", default: WORK_ENDPOINT, describe: "the collector's PUSH endpoint" },
  results: { type: "string", default: WRITER_ENDPOINT, describe: "the writer's PULL endpoint" },
  bus: { type: "string", default: BUS_ENDPOINT, describe: "the writer's PUB endpoint (KILL)" },
  key: { type: "string", default: DEMO_KEY, describe: "HMAC key for pseudonyms (16+ characters; set LAB02_KEY)" },
  parse: { type: "boolean", default: true, describe: "--no-parse passes lines through untouched (benchmark)" },
  delay: { type: "number", default: 0, describe: "extra ms per chunk: a slow parser, for experiments" },
} as const;

export function checkParser(a: { key: string; delay: number }): string | undefined {
  if (a.delay < 0) return "--delay must be 0 or more";
  return a.key.length < 16 ? "--key must be at least 16 characters" : undefined;
}

export const writerOptions = {
  bind: { type: "string", default: WRITER_ENDPOINT, describe: "PULL endpoint for parsers' results and the collector's START" },
  bus: { type: "string", default: BUS_ENDPOINT, describe: "PUB endpoint for READY, ACK, MISSING, DONE, KILL" },
  out: { type: "string", default: ".store/events", describe: "directory of the NDJSON files" },
  rotateMb: { type: "number", default: ROTATE_BYTES / 1024 / 1024, describe: "start a new file past this size, MiB" },
  missingAfter: { type: "number", default: MISSING_AFTER_MS, describe: "ms without progress before asking for lost lines again" },
  kill: { type: "boolean", default: true, describe: "--no-kill keeps the parsers running after a batch" },
  once: { type: "boolean", default: false, describe: "exit after one batch" },
} as const;

export function checkWriter(a: { rotateMb: number; missingAfter: number }): string | undefined {
  if (!(a.rotateMb > 0)) return "--rotate-mb must be more than 0";
  if (a.missingAfter < 50) return "--missing-after must be at least 50 ms";
  return undefined;
}
