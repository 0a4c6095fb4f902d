import pino, { type Logger, type LoggerOptions } from "pino";
import pretty from "pino-pretty";

export type { Logger } from "pino";

/** Keys that may hold key material anywhere in a log record; pino replaces their values. */
const REDACTED_PATHS = [
  "secretKey",
  "*.secretKey",
  "curveSecretKey",
  "*.curveSecretKey",
  "privateKey",
  "*.privateKey",
  "hmacKey",
  "*.hmacKey",
];

export interface LoggerSpec {
  lab: string;
  role: string;
  /** Overrides LOG_LEVEL. */
  level?: string;
  /** Overrides the choice made from LOG_FORMAT and the terminal. */
  pretty?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Where JSON lines go (tests); stdout by default. */
  destination?: NodeJS.WritableStream;
  /** stderr for a command-line tool, whose stdout is its answer (`admin-cli --json ps | jq`). */
  stream?: "stdout" | "stderr";
}

/**
 * Pretty output for a person at a terminal, JSON lines for everything else.
 * LOG_FORMAT=json|pretty decides when set (the orchestrator sets it for its children).
 */
export function wantsPrettyLogs(env: NodeJS.ProcessEnv = process.env, isTTY = Boolean(process.stdout.isTTY)): boolean {
  if (env.LOG_FORMAT === "json") return false;
  if (env.LOG_FORMAT === "pretty") return true;
  return isTTY;
}

export function logLevelFrom(env: NodeJS.ProcessEnv = process.env): string {
  const level = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!(level in pino.levels.values) && level !== "silent") {
    throw new Error(`LOG_LEVEL must be one of ${Object.keys(pino.levels.values).join(", ")}, silent; got "${env.LOG_LEVEL}"`);
  }
  return level;
}

export function createLogger(spec: LoggerSpec): Logger {
  const env = spec.env ?? process.env;
  const options: LoggerOptions = {
    level: spec.level ?? logLevelFrom(env),
    base: { lab: spec.lab, role: spec.role, pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (spec.destination) return pino(options, spec.destination);
  const fd = spec.stream === "stderr" ? 2 : 1;
  const tty = Boolean((fd === 2 ? process.stderr : process.stdout).isTTY);
  if (spec.pretty ?? wantsPrettyLogs(env, tty)) {
    const colorize = !env.NO_COLOR && (tty || Boolean(env.FORCE_COLOR));
    // A synchronous pretty stream in this thread, not a transport worker, so nothing is lost at exit.
    const stream = pretty({
      sync: true,
      colorize,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname,lab,role",
      singleLine: true,
      destination: fd,
    });
    return pino(options, stream);
  }
  return pino(options, pino.destination({ fd, sync: true }));
}
