import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, numberOption, userPath } from "@zlabs/kit";
import type { GenerateConfig } from "./generate-logs.ts";
import type { InputConfig } from "./input.ts";
import { type CollectorConfig, LINES_PER_CHUNK, WINDOW_LINES } from "./log-collector.ts";
import type { ParserConfig } from "./log-parser.ts";
import { MAX_BATCH_LINES, MAX_CHUNK_LINES, MAX_WORKERS } from "./protocol.ts";
import { MISSING_AFTER_MS, ROTATE_BYTES, type WriterConfig } from "./storage-writer.ts";

export const LAB = "lab02";
export const WORK_ENDPOINT = "tcp://127.0.0.1:5020";
export const WRITER_ENDPOINT = "tcp://127.0.0.1:5021";
export const BUS_ENDPOINT = "tcp://127.0.0.1:5022";
/** The lab's own folder: its demo data lives in .store there (what `./run.sh clean` removes). */
export const LAB_DIR = fileURLToPath(new URL("..", import.meta.url));
export const STORE_DIR = join(LAB_DIR, ".store");
export const DEFAULT_OUT_DIR = join(STORE_DIR, "events");

/** The demo's key. A real deployment sets its own (LAB02_KEY) and keeps it secret. */
export const DEMO_KEY = "lab02-demo-key-change-me";
/** An HMAC key shorter than this is too easy to guess, and pseudonyms could be reversed by trying. */
export const MIN_KEY_LENGTH = 16;

export const collectorOptions = {
  input: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: 'log files or globs to ingest as one batch (repeat the flag), or "-" for stdin',
  },
  sample: intOption(0, "also ingest this many generated sample lines (with PII)", { min: 0, max: MAX_BATCH_LINES }),
  bind: endpointOption(WORK_ENDPOINT, "PUSH endpoint the parsers connect to"),
  writer: endpointOption(WRITER_ENDPOINT, "the writer's PULL endpoint (START)"),
  bus: endpointOption(BUS_ENDPOINT, "the writer's PUB endpoint (READY, ACK, MISSING, DONE)"),
  chunkLines: intOption(LINES_PER_CHUNK, "lines per message", { min: 1, max: MAX_CHUNK_LINES }),
  window: intOption(WINDOW_LINES, "lines sent but not yet stored, at most (bounds memory)", { min: 1 }),
  minParsers: intOption(1, "parsers that must be up before work flows", { min: 0, max: MAX_WORKERS }),
  repeat: intOption(1, "batches to run one after the other (0: until stopped)", { min: 0 }),
  pause: numberOption(0, "seconds between two batches", { min: 0, max: 3600 }),
  rate: intOption(0, "lines sent per second at most (0: as fast as the pipeline takes them)", { min: 0 }),
  spoolDir: { type: "string", describe: 'where stdin ("-") and --sample lines are spooled (default: the lab\'s .store)' },
} as const;

export function checkCollector(a: { input: string[]; sample: number; chunkLines: number; window: number }): string | undefined {
  if (a.input.length === 0 && a.sample <= 0) return "nothing to ingest: give --input (a path, a glob or -) or --sample N";
  if (a.window < a.chunkLines) return "--window must hold at least one chunk (--chunk-lines)";
  return undefined;
}

export function collectorConfig(a: ConfigOf<typeof collectorOptions>): CollectorConfig & { input: InputConfig } {
  return {
    bind: a.bind,
    writer: a.writer,
    bus: a.bus,
    linesPerChunk: a.chunkLines,
    windowLines: a.window,
    minParsers: a.minParsers,
    repeat: a.repeat,
    pauseMs: Math.round(a.pause * 1000),
    rate: a.rate,
    input: { inputs: a.input, spoolDir: a.spoolDir ? userPath(a.spoolDir) : STORE_DIR, sampleLines: a.sample },
  };
}

export const parserOptions = {
  id: { type: "string", default: `${os.hostname()}-${process.pid}`, describe: "worker id in the writer's counts" },
  work: endpointOption(WORK_ENDPOINT, "the collector's PUSH endpoint"),
  results: endpointOption(WRITER_ENDPOINT, "the writer's PULL endpoint"),
  bus: endpointOption(BUS_ENDPOINT, "the writer's PUB endpoint (KILL)"),
  key: { type: "string", default: DEMO_KEY, describe: `HMAC key for pseudonyms (${MIN_KEY_LENGTH}+ characters; set LAB02_KEY)` },
  parse: { type: "boolean", default: true, describe: "--no-parse passes lines through untouched (benchmark)" },
  delay: intOption(0, "extra ms per chunk: a slow parser, for experiments", { min: 0 }),
} as const;

export function checkParser(a: { key: string }): string | undefined {
  return a.key.length < MIN_KEY_LENGTH ? `--key must be at least ${MIN_KEY_LENGTH} characters` : undefined;
}

export function parserConfig(a: ConfigOf<typeof parserOptions>): ParserConfig & { key: string } {
  return { id: a.id, work: a.work, results: a.results, bus: a.bus, parse: a.parse, delayMs: a.delay, key: a.key };
}

export const writerOptions = {
  bind: endpointOption(WRITER_ENDPOINT, "PULL endpoint for parsers' results and the collector's START"),
  bus: endpointOption(BUS_ENDPOINT, "PUB endpoint for READY, ACK, MISSING, DONE, KILL"),
  out: { type: "string", describe: "directory of the NDJSON files (default: the lab's .store/events)" },
  keepBatches: intOption(0, "keep the files of the last N batches only, deleting older ones (0: keep all)", { min: 0 }),
  rotateMb: intOption(ROTATE_BYTES / 1024 / 1024, "start a new file past this size, MiB", { min: 1 }),
  missingAfter: intOption(MISSING_AFTER_MS, "ms without progress before asking for lost lines again", { min: 50 }),
  kill: { type: "boolean", default: true, describe: "--no-kill keeps the parsers running after a batch" },
  once: { type: "boolean", default: false, describe: "exit after one batch" },
} as const;

export function writerConfig(a: ConfigOf<typeof writerOptions>): WriterConfig {
  return {
    bind: a.bind,
    bus: a.bus,
    outDir: a.out ? userPath(a.out) : DEFAULT_OUT_DIR,
    keepBatches: a.keepBatches,
    rotateBytes: a.rotateMb * 1024 * 1024,
    missingAfterMs: a.missingAfter,
    killWorkers: a.kill,
    once: a.once,
  };
}

export const generateOptions = {
  lines: intOption(10_000, "how many lines", { min: 0 }),
  seed: intOption(1, "same seed, same lines"),
  out: { type: "string", default: "-", describe: 'file to write, or "-" for stdout' },
} as const;

export function generateConfig(a: ConfigOf<typeof generateOptions>): GenerateConfig {
  return { lines: a.lines, seed: a.seed, out: a.out === "-" ? "-" : userPath(a.out) };
}
