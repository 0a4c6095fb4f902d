/**
 * lab02 benchmark: lines per second end to end over a 1,000,000-line input, with parsing off and
 * on, 1 and 2 parsers, and the parser alone in one process with no sockets, so the report shows
 * what the distribution costs. Peak RSS of every process comes from its own exit log.
 *
 *   pnpm --filter lab02 bench [-- --lines 1000000 --chunk-lines 1000]
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "@zlabs/kit";
import { freeTcpEndpoints, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { Pseudonymizer } from "../internal/anonymize.ts";
import { readChunks } from "../internal/chunker.ts";
import { LINES_PER_CHUNK } from "../internal/collector.ts";
import { writeSampleLogs } from "../internal/generator.ts";
import { parseChunk } from "../internal/parse.ts";

const config = parseConfig({
  lab: "lab02",
  role: "bench",
  describe: "end-to-end throughput of the log pipeline",
  options: {
    lines: { type: "number", default: 1_000_000, describe: "input size" },
    chunkLines: { type: "number", default: LINES_PER_CHUNK, describe: "lines per message" },
  },
});
const labDir = fileURLToPath(new URL("..", import.meta.url));
const KEY = "bench-key-0123456789";
const WAIT_MS = 600_000;

interface Run {
  name: string;
  linesPerSec: number;
  seconds: number;
  rss: Record<string, number>;
  /** CPU seconds each process used over its whole life (start-up included). */
  cpu: Record<string, number>;
}

async function pipelineRun(name: string, input: string, parsers: number, parse: boolean, work: string): Promise<Run> {
  const out = join(work, `out-${name.replace(/\W+/g, "-")}`);
  const [push, results, bus] = (await freeTcpEndpoints(3)) as [string, string, string];
  const procs = new ProcessPool();
  const env = { LOG_LEVEL: "info" };
  try {
    const writer = procs.start({
      labDir,
      cmd: "cmd/storage-writer.ts",
      name: "writer",
      env,
      args: ["--bind", results, "--bus", bus, "--out", out, "--once"],
    });
    await writer.waitForLog("listening", WAIT_MS);
    const workers: RoleProcess[] = [];
    for (let i = 1; i <= parsers; i++) {
      const args = ["--id", `p${i}`, "--work", push, "--results", results, "--bus", bus, "--key", KEY, ...(parse ? [] : ["--no-parse"])];
      workers.push(procs.start({ labDir, cmd: "cmd/log-parser.ts", name: `parser-${i}`, env, args }));
    }
    const collector = procs.start({
      labDir,
      cmd: "cmd/log-collector.ts",
      name: "collector",
      env,
      args: [
        "--input",
        input,
        "--bind",
        push,
        "--writer",
        results,
        "--bus",
        bus,
        "--chunk-lines",
        String(config.chunkLines),
        "--min-parsers",
        String(parsers),
      ],
    });
    const done = await collector.waitForLog("batch done", WAIT_MS);
    const all = [writer, collector, ...workers];
    await Promise.all(all.map((p) => p.exited));
    const rss = Object.fromEntries(all.map((p) => [p.name, Number(p.find("exiting")[0]?.maxRssMiB ?? Number.NaN)]));
    const cpu = Object.fromEntries(all.map((p) => [p.name, Number(p.find("exiting")[0]?.cpuSec ?? Number.NaN)]));
    return { name, linesPerSec: Number(done.linesPerSec), seconds: Number(done.seconds), rss, cpu };
  } finally {
    await procs.stopAll();
    rmSync(out, { recursive: true, force: true });
  }
}

async function parserAlone(input: string): Promise<Run> {
  const p = new Pseudonymizer(KEY);
  let lines = 0;
  let busy = 0;
  for await (const chunk of readChunks([input], config.chunkLines)) {
    const t = performance.now();
    parseChunk(chunk.payload, chunk.first, p);
    busy += performance.now() - t;
    lines += chunk.count;
  }
  return {
    name: "parser alone, in-process, no sockets",
    linesPerSec: Math.round(lines / (busy / 1000)),
    seconds: busy / 1000,
    rss: { bench: Math.round(process.resourceUsage().maxRSS / 1024) },
    cpu: { bench: busy / 1000 },
  };
}

const work = mkdtempSync(join(tmpdir(), "lab02-bench-"));
try {
  const input = join(work, "input.log");
  const file = createWriteStream(input);
  await writeSampleLogs(file, config.lines, 42);
  await new Promise<void>((r) => file.end(() => r()));
  let bytes = 0;
  for await (const b of createReadStream(input) as AsyncIterable<Buffer>) bytes += b.length;
  console.log(
    `input: ${config.lines.toLocaleString("en")} lines, ${(bytes / 1024 / 1024).toFixed(0)} MiB; ${config.chunkLines} lines per message\n`,
  );

  const runs = [
    await pipelineRun("parsing off, 1 parser", input, 1, false, work),
    await pipelineRun("parsing on, 1 parser", input, 1, true, work),
    await pipelineRun("parsing on, 2 parsers", input, 2, true, work),
    await parserAlone(input),
  ];
  const width = Math.max(...runs.map((r) => r.name.length));
  const list = (values: Record<string, number>, unit: string) =>
    Object.entries(values)
      .map(([k, v]) => `${k} ${v}${unit}`)
      .join(", ");
  for (const r of runs) {
    console.log(
      `${r.name.padEnd(width)}  ${r.linesPerSec.toLocaleString("en").padStart(10)} lines/s  ${r.seconds.toFixed(2).padStart(6)} s`,
    );
    console.log(`${"".padEnd(width)}  peak RSS: ${list(r.rss, " MiB")}`);
    console.log(`${"".padEnd(width)}  CPU time: ${list(r.cpu, " s")}`);
  }
  const [off, one, two, alone] = runs as [Run, Run, Run, Run];
  console.log(`\nparsing off: ${off.linesPerSec >= 1_000_000 ? "meets" : "MISSES"} the 1,000,000 lines/s target`);
  console.log(`2 parsers / parser alone: ${(two.linesPerSec / alone.linesPerSec).toFixed(2)}x (target 1.5x)`);
  console.log(`2 parsers / 1 parser, both in the pipeline: ${(two.linesPerSec / one.linesPerSec).toFixed(2)}x`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
