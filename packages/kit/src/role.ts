import { type CommandSpec, type ConfigOf, type LabOption, parseConfig } from "./config.ts";
import { runMain } from "./lifecycle.ts";
import { createLogger, type Logger } from "./log.ts";

export interface RoleCommand<O extends Record<string, LabOption>> extends CommandSpec<O> {
  /** stderr for a command-line tool whose stdout is its answer. */
  logStream?: "stdout" | "stderr";
}

/**
 * What every cmd/ file does, in one call: parse the flags and environment (a bad one prints a line
 * and exits 2), make the role's logger, and run main until it returns or a stop signal arrives.
 */
export function runRole<O extends Record<string, LabOption>>(
  spec: RoleCommand<O>,
  main: (config: ConfigOf<O>, log: Logger, signal: AbortSignal) => Promise<unknown>,
): void {
  const config = parseConfig(spec);
  const log = createLogger({ lab: spec.lab, role: spec.role, stream: spec.logStream });
  runMain(log, (signal) => main(config, log, signal));
}
