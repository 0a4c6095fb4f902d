import os from "node:os";
import { type ConfigOf, endpointOption, intOption, numberOption } from "@zlabs/kit";
import type { AdminQuery } from "./admin-cli.ts";
import { type ClientConfig, REQUEST_RETRIES, REQUEST_TIMEOUT_MS } from "./client.ts";
import { DEFAULT_PS_LIMIT, MAX_PS_LIMIT } from "./host.ts";
import type { AgentConfig } from "./node-agent.ts";

export const LAB = "lab03";
export const DEFAULT_ENDPOINT = "tcp://127.0.0.1:5030";
/** Chaos, as in the Guide's lpserver: a few good cycles first, then crashes and overloads. */
export const CHAOS_AFTER_CYCLES = 3;
export const CHAOS_CRASH_CHANCE = 0.1;
export const CHAOS_SLOW_CHANCE = 0.25;
export const CHAOS_SLOW_MS = 3000;

export const agentOptions = {
  id: { type: "string", default: os.hostname() || "node", describe: "agent id reported by info" },
  bind: endpointOption(DEFAULT_ENDPOINT, "endpoint the REP socket binds"),
  chaos: { type: "boolean", default: false, describe: "misbehave on purpose: sometimes crash, sometimes answer late" },
  chaosAfter: intOption(CHAOS_AFTER_CYCLES, "requests served normally before chaos starts", { min: 0 }),
  crashChance: numberOption(CHAOS_CRASH_CHANCE, "chance per request of a crash (SIGKILL of itself)", { min: 0, max: 1 }),
  slowChance: numberOption(CHAOS_SLOW_CHANCE, "chance per request of a late answer", { min: 0, max: 1 }),
  slowMs: intOption(CHAOS_SLOW_MS, "how late a late answer is, ms", { min: 0 }),
} as const;

export function agentConfig(a: ConfigOf<typeof agentOptions>): AgentConfig {
  const chaos = { afterCycles: a.chaosAfter, crashChance: a.crashChance, slowChance: a.slowChance, slowMs: a.slowMs };
  return { id: a.id, bind: a.bind, ...(a.chaos ? { chaos } : {}) };
}

export const cliOptions = {
  connect: endpointOption(DEFAULT_ENDPOINT, "the agent's endpoint"),
  timeout: intOption(REQUEST_TIMEOUT_MS, "ms to wait for a reply before retrying", { min: 1 }),
  retries: intOption(REQUEST_RETRIES, "attempts before giving up", { min: 1 }),
  json: { type: "boolean", default: false, describe: "print the result as JSON (one line per reply)" },
  watch: numberOption(0, "repeat the query every N seconds until Ctrl-C (0: once)", { min: 0 }),
  limit: intOption(DEFAULT_PS_LIMIT, "ps: how many processes", { min: 1, max: MAX_PS_LIMIT }),
  sort: { choices: ["cpu", "mem"] as const, default: "cpu" as const, describe: "ps: order by cpu or memory" },
  path: { type: "string", describe: "disk: the file system to report (default /)" },
} as const;

export const CLI_USAGE = "<command>   (ps, mem, cpu, load, uptime, disk, info)";

export function checkCli(a: { _: string[] }): string | undefined {
  if (a._.length === 1) return undefined;
  return a._.length === 0 ? "which command? ps, mem, cpu, load, uptime, disk or info" : `one command at a time, got: ${a._.join(" ")}`;
}

/** The client's settings and the query to ask, from the command line. */
export function cliConfig(a: ConfigOf<typeof cliOptions>): { client: ClientConfig; query: AdminQuery } {
  const cmd = a._[0] as string;
  const args: Record<string, unknown> = cmd === "ps" ? { limit: a.limit, sort: a.sort } : cmd === "disk" && a.path ? { path: a.path } : {};
  return {
    client: { endpoint: a.connect, timeoutMs: a.timeout, retries: a.retries },
    query: { cmd, args, json: a.json, watchSec: a.watch },
  };
}
