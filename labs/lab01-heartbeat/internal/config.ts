import os from "node:os";
import { listOption } from "@zlabs/kit";
import { DEFAULT_LIVENESS } from "./liveness.ts";
import { SIMULATIONS } from "./metrics.ts";
import { isLevel, LEVELS, type Level, NAME_PATTERN } from "./protocol.ts";

export const LAB = "lab01";
/** The Guide's heartbeat rate: once a second. */
export const DEFAULT_INTERVAL_MS = 1000;
export const DEFAULT_AGENT_ENDPOINT = "tcp://127.0.0.1:5011";
/** The demo's agents bind 5011-5019; the dashboard watches them all (absent ones cost nothing). */
export const DEFAULT_DASHBOARD_CONNECT = Array.from({ length: 9 }, (_, i) => `tcp://127.0.0.1:${5011 + i}`);
export const DEFAULT_STATUS_EVERY_MS = 5000;

const hostName =
  os
    .hostname()
    .replace(/[^A-Za-z0-9_-]/g, "-")
    .slice(0, 40) || "node";

export const agentOptions = {
  id: { type: "string", default: hostName, describe: "agent id (letters, digits, - and _)" },
  rack: { type: "string", default: "rack1", describe: "rack the node sits in (a topic segment)" },
  bind: { type: "string", default: DEFAULT_AGENT_ENDPOINT, describe: "endpoint the PUB socket binds" },
  interval: { type: "number", default: DEFAULT_INTERVAL_MS, describe: "heartbeat interval, ms" },
  simulate: { choices: SIMULATIONS, default: "none" as const, describe: "raise the alert level on purpose" },
} as const;

export function checkAgent(args: { id: string; rack: string; interval: number }): string | undefined {
  if (!NAME_PATTERN.test(args.id)) return `--id "${args.id}" may hold only letters, digits, - and _ (no dots: it is a topic segment)`;
  if (!NAME_PATTERN.test(args.rack)) return `--rack "${args.rack}" may hold only letters, digits, - and _`;
  if (args.interval < 10) return "--interval must be at least 10 ms";
  return undefined;
}

export const dashboardOptions = {
  connect: {
    type: "string",
    array: true,
    default: DEFAULT_DASHBOARD_CONNECT,
    describe: "agent endpoints (repeat the flag or separate with commas)",
  },
  rack: { type: "string", array: true, default: [] as string[], describe: "show only these racks (default: all)" },
  level: {
    type: "string",
    array: true,
    default: [] as string[],
    describe: `show only these alert levels: ${LEVELS.join(", ")} (default: all)`,
  },
  liveness: { type: "number", default: DEFAULT_LIVENESS, describe: "intervals of silence before an agent is dead" },
  view: {
    choices: ["auto", "table", "log"] as const,
    default: "auto" as const,
    describe: "table redraws in place; log prints a line per change",
  },
  statusEvery: { type: "number", default: DEFAULT_STATUS_EVERY_MS, describe: "status line period in log view, ms (0: off)" },
} as const;

export interface DashboardArgs {
  connect: string[];
  rack: string[];
  level: string[];
  liveness: number;
  statusEvery: number;
}

export function checkDashboard(args: DashboardArgs): string | undefined {
  if (listOption(args.connect).length === 0) return "--connect needs at least one endpoint";
  const badRack = listOption(args.rack).find((r) => !NAME_PATTERN.test(r));
  if (badRack) return `--rack "${badRack}" may hold only letters, digits, - and _`;
  const badLevel = listOption(args.level).find((l) => !isLevel(l));
  if (badLevel) return `--level "${badLevel}" is not one of ${LEVELS.join(", ")}`;
  if (!Number.isInteger(args.liveness) || args.liveness < 1) return "--liveness must be a whole number, 1 or more";
  if (args.statusEvery < 0) return "--status-every must be 0 or more";
  return undefined;
}

export function levelsOf(values: readonly string[]): Level[] {
  return listOption(values).filter(isLevel);
}
