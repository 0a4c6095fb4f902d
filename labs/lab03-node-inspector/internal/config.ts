import os from "node:os";
import { REQUEST_RETRIES, REQUEST_TIMEOUT_MS } from "./client.ts";
import { DEFAULT_PS_LIMIT, MAX_PS_LIMIT } from "./host.ts";

export const LAB = "lab03";
export const DEFAULT_ENDPOINT = "tcp://127.0.0.1:5030";
/** Chaos, as in the Guide's lpserver: a few good cycles first, then crashes and overloads. */
export const CHAOS_AFTER_CYCLES = 3;
export const CHAOS_CRASH_CHANCE = 0.1;
export const CHAOS_SLOW_CHANCE = 0.25;
export const CHAOS_SLOW_MS = 3000;

export const agentOptions = {
  id: { type: "string", default: os.hostname() || "node", describe: "agent id reported by info" },
  bind: { type: "string", default: DEFAULT_ENDPOINT, describe: "endpoint the REP socket binds" },
  chaos: { type: "boolean", default: false, describe: "misbehave on purpose: sometimes crash, sometimes answer late" },
  chaosAfter: { type: "number", default: CHAOS_AFTER_CYCLES, describe: "requests served normally before chaos starts" },
  crashChance: { type: "number", default: CHAOS_CRASH_CHANCE, describe: "chance per request of a crash (SIGKILL of itself), 0..1" },
  slowChance: { type: "number", default: CHAOS_SLOW_CHANCE, describe: "chance per request of a late answer, 0..1" },
  slowMs: { type: "number", default: CHAOS_SLOW_MS, describe: "how late a late answer is, ms" },
} as const;

export function checkAgent(a: { chaosAfter: number; crashChance: number; slowChance: number; slowMs: number }): string | undefined {
  if (!Number.isInteger(a.chaosAfter) || a.chaosAfter < 0) return "--chaos-after must be a whole number, 0 or more";
  for (const [flag, v] of [
    ["--crash-chance", a.crashChance],
    ["--slow-chance", a.slowChance],
  ] as const) {
    if (v < 0 || v > 1) return `${flag} must be between 0 and 1`;
  }
  if (a.slowMs < 0) return "--slow-ms must be 0 or more";
  return undefined;
}

export const cliOptions = {
  connect: { type: "string", default: DEFAULT_ENDPOINT, describe: "the agent's endpoint" },
  timeout: { type: "number", default: REQUEST_TIMEOUT_MS, describe: "ms to wait for a reply before retrying" },
  retries: { type: "number", default: REQUEST_RETRIES, describe: "attempts before giving up" },
  json: { type: "boolean", default: false, describe: "print the result as JSON (one line per reply)" },
  watch: { type: "number", default: 0, describe: "repeat the query every N seconds until Ctrl-C (0: once)" },
  limit: { type: "number", default: DEFAULT_PS_LIMIT, describe: `ps: how many processes (1..${MAX_PS_LIMIT})` },
  sort: { choices: ["cpu", "mem"] as const, default: "cpu" as const, describe: "ps: order by cpu or memory" },
  path: { type: "string", describe: "disk: the file system to report (default /)" },
} as const;

export const CLI_USAGE = "<command>   (ps, mem, cpu, load, uptime, disk, info)";

export function checkCli(a: { _: string[]; timeout: number; retries: number; watch: number }): string | undefined {
  if (a._.length !== 1)
    return a._.length === 0 ? "which command? ps, mem, cpu, load, uptime, disk or info" : `one command at a time, got: ${a._.join(" ")}`;
  if (a.timeout < 1) return "--timeout must be at least 1 ms";
  if (!Number.isInteger(a.retries) || a.retries < 1) return "--retries must be a whole number, 1 or more";
  if (a.watch < 0) return "--watch must be 0 or more seconds";
  return undefined;
}
