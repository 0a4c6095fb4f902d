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

/** Printable ASCII shows as text (a worker id "edge-7"); anything else as hex. Long ones are cut. */
export function bytesForLog(bytes: Uint8Array, max = 64): string {
  const shown = bytes.subarray(0, max);
  const printable = shown.length > 0 && shown.every((b) => b >= 0x20 && b < 0x7f);
  const text = printable ? Buffer.from(shown).toString("latin1") : Buffer.from(shown).toString("hex");
  return bytes.length > max ? `${text}…(${bytes.length} bytes)` : text;
}

/**
 * A peer's values can reach a log line (an id, a field of a refused message): bytes become readable
 * text, BigInt a string, and deep or huge structures are cut, so logging never throws or floods.
 */
export function loggable(value: unknown, depth = 0): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return bytesForLog(value);
  if (typeof value === "string") return value.length > 512 ? `${value.slice(0, 512)}…(${value.length} chars)` : value;
  if (typeof value !== "object" || value === null || value instanceof Error || value instanceof Date) return value;
  if (depth >= 4) return "[deep]";
  if (Array.isArray(value)) {
    const shown = value.slice(0, 32).map((v) => loggable(v, depth + 1));
    return value.length > 32 ? [...shown, `…(${value.length} items)`] : shown;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value).slice(0, 64)) out[k] = loggable(v, depth + 1);
  return out;
}

export function createLogger(spec: LoggerSpec): Logger {
  const env = spec.env ?? process.env;
  const options: LoggerOptions = {
    level: spec.level ?? logLevelFrom(env),
    base: { lab: spec.lab, role: spec.role, pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: (record) => loggable(record) as Record<string, unknown> },
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
