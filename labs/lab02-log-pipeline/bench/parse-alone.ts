/**
 * The parser with no distribution: one process reads the whole input into chunks, waits for "go"
 * on stdin (so several copies can start parsing at the same moment), parses every chunk, and
 * prints one JSON line: lines, seconds, and the CPU its threads spent. Run by bench/pipeline.ts.
 */
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseConfig } from "@zlabs/kit";
import { Pseudonymizer } from "../internal/anonymize.ts";
import { type Chunk, readChunks } from "../internal/chunker.ts";
import { LINES_PER_CHUNK } from "../internal/log-collector.ts";
import { parseChunk } from "../internal/parse.ts";
import { cpuSince, threadCpu } from "./thread-cpu.ts";

const config = parseConfig({
  lab: "lab02",
  role: "parse-alone",
  describe: "parses a file with no sockets and prints the rate (for the benchmark)",
  options: {
    input: { type: "string", demandOption: true, describe: "the log file" },
    key: { type: "string", demandOption: true, describe: "HMAC key (16+ characters)" },
    chunkLines: { type: "number", default: LINES_PER_CHUNK, describe: "lines per chunk" },
  },
  check: (a) => (existsSync(a.input) ? undefined : `--input: no file ${a.input}`),
});

const chunks: Chunk[] = [];
for await (const chunk of readChunks([config.input], config.chunkLines)) chunks.push(chunk);
console.log(JSON.stringify({ msg: "loaded", chunks: chunks.length }));
const stdin = createInterface({ input: process.stdin });
// A line, or the end of stdin when run by hand, starts the clock.
await new Promise<void>((resolve) => {
  stdin.once("line", () => resolve());
  stdin.once("close", () => resolve());
});
stdin.close();

const p = new Pseudonymizer(config.key);
let lines = 0;
const before = threadCpu(process.pid);
const started = performance.now();
for (const chunk of chunks) {
  parseChunk(chunk.payload, chunk.first, p);
  lines += chunk.count;
}
const seconds = (performance.now() - started) / 1000;
const cpu = cpuSince(before, threadCpu(process.pid));
console.log(JSON.stringify({ msg: "parsed", lines, seconds, cpu, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
