import { createLogger, parseConfig, runMain } from "@zlabs/kit";
import { AnalystTerminal } from "../internal/analyst-terminal.ts";
import { LAB, terminalConfig, terminalSpec } from "../internal/config.ts";

const config = terminalConfig(parseConfig(terminalSpec));
const log = createLogger({ lab: LAB, role: terminalSpec.role });

runMain(log, (signal) => new AnalystTerminal(config, log).run(signal));
