import os from "node:os";
import { type ConfigOf, endpointOption, intOption, listOption } from "@zlabs/kit";
import type { DashboardConfig } from "./dashboard.ts";
import { DEFAULT_LIVENESS } from "./liveness.ts";
import { SIMULATIONS } from "./metrics.ts";
import type { AgentConfig } from "./monitor-agent.ts";
import { isLevel, LEVELS, type Level, NAME_PATTERN } from "./protocol.ts";

export const LAB = "lab01";
/** The Guide's heartbeat rate: once a second. */
export const DEFAULT_INTERVAL_MS = 1000;
/** Faster than this, heartbeats would be most of what the host does. */
export const MIN_INTERVAL_MS = 10;
export const DEFAULT_AGENT_ENDPOINT = "tcp://127.0.0.1:5011";
/** The demo's agents bind 5011-5019; the dashboard watches them all (absent ones cost nothing). */
export const DEFAULT_DASHBOARD_CONNECT = Array.from({ length: 9 }, (_, i) => `tcp://127.0.0.1:${5011 + i}`);

const hostName =
  os
    .hostname()
    .replace(/[^A-Za-z0-9_-]/g, "-")
    .slice(0, 40) || "node";

const agentOptions = {
  id: { type: "string", default: hostName, describe: "agent id (letters, digits, - and _)" },
  rack: { type: "string", default: "rack1", describe: "rack the node sits in (a topic segment)" },
  bind: endpointOption(DEFAULT_AGENT_ENDPOINT, "endpoint the PUB socket binds"),
  interval: intOption(DEFAULT_INTERVAL_MS, "heartbeat interval, ms", { min: MIN_INTERVAL_MS }),
  simulate: { choices: SIMULATIONS, default: "none" as const, describe: "raise the alert level on purpose" },
} as const;

export const agentSpec = {
  lab: LAB,
  role: "monitor-agent",
  describe: "publishes this node's heartbeat (PUB) with real host metrics",
  options: agentOptions,
  check: (args: { id: string; rack: string }): string | undefined => {
    if (!NAME_PATTERN.test(args.id)) return `--id "${args.id}" may hold only letters, digits, - and _ (no dots: it is a topic segment)`;
    if (!NAME_PATTERN.test(args.rack)) return `--rack "${args.rack}" may hold only letters, digits, - and _`;
    return undefined;
  },
};

export function agentConfig(args: ConfigOf<typeof agentOptions>): AgentConfig {
  return { id: args.id, rack: args.rack, bind: args.bind, intervalMs: args.interval, simulate: args.simulate };
}

const dashboardOptions = {
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
  liveness: intOption(DEFAULT_LIVENESS, "intervals of silence before an agent is dead", { min: 1 }),
} as const;

export const dashboardSpec = {
  lab: LAB,
  role: "dashboard",
  describe: "watches agents' heartbeats (SUB) and tracks each as alive / suspect / dead",
  options: dashboardOptions,
  check: (args: { connect: string[]; rack: string[]; level: string[] }): string | undefined => {
    if (listOption(args.connect).length === 0) return "--connect needs at least one endpoint";
    const badRack = listOption(args.rack).find((r) => !NAME_PATTERN.test(r));
    if (badRack) return `--rack "${badRack}" may hold only letters, digits, - and _`;
    const badLevel = listOption(args.level).find((l) => !isLevel(l));
    if (badLevel) return `--level "${badLevel}" is not one of ${LEVELS.join(", ")}`;
    return undefined;
  },
};

export function dashboardConfig(args: ConfigOf<typeof dashboardOptions>): DashboardConfig {
  return {
    connect: listOption(args.connect),
    racks: listOption(args.rack),
    levels: listOption(args.level).filter(isLevel) as Level[],
    liveness: args.liveness,
  };
}
