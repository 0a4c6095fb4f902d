import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { LAB, prefixes, terminalOptions } from "../internal/config.ts";
import { AnalystTerminal } from "../internal/terminal.ts";

const config = parseConfig({ lab: LAB, role: "analyst-terminal", describe: "watches telemetry topics (SUB)", options: terminalOptions });
const view = config.view === "auto" ? (process.stdout.isTTY ? "table" : "log") : config.view;
// In table view the screen is redrawn in place; only errors may interrupt it.
const log = createLogger({ lab: LAB, role: "analyst-terminal", ...(view === "table" && !process.env.LOG_LEVEL ? { level: "error" } : {}) });

runMain(log, (signal) =>
  new AnalystTerminal({ broker: config.broker, prefixes: prefixes(config.topic), view, statusEveryMs: config.statusEvery }, log).run(
    signal,
  ),
);
