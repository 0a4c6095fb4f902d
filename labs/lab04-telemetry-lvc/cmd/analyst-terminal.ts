import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { AnalystTerminal } from "../internal/analyst-terminal.ts";
import { LAB, terminalConfig, terminalLogLevel, terminalSpec } from "../internal/config.ts";

const config = terminalConfig(parseConfig(terminalSpec), Boolean(process.stdout.isTTY));
const log = createLogger({ lab: LAB, role: terminalSpec.role, ...terminalLogLevel(config) });

runMain(log, (signal) => new AnalystTerminal(config, log).run(signal));
