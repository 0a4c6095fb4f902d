import yargs, { type InferredOptionTypes, type Options } from "yargs";
import { hideBin } from "yargs/helpers";

import { logLevelFrom } from "./log.ts";

/** Exit code for a bad flag, environment value or input the user gave. */
export const EXIT_BAD_CONFIG = 2;

/**
 * Something the user gave is wrong (a flag, a file, an endpoint): runMain prints the message as one
 * line and exits 2, with no stack trace. Throw it from anywhere in a role.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A bad flag or environment value. */
export class ConfigError extends UsageError {
  override name = "ConfigError";
}

/** The kit's constraints on top of yargs' options: checked with a message naming flag and env. */
export interface Constraints {
  /** A whole number. */
  integer?: boolean;
  min?: number;
  max?: number;
  /** A ZeroMQ endpoint: transport://address. */
  endpoint?: boolean;
}

export type LabOption = Options & Constraints;

/** A whole-number flag: counts, intervals in ms, sizes. */
export function intOption(defaultValue: number, describe: string, range: { min?: number; max?: number } = {}) {
  return { type: "number", default: defaultValue, describe, integer: true, ...range } as const;
}

/** A number flag that may be fractional: rates, chances, seconds. */
export function numberOption(defaultValue: number, describe: string, range: { min?: number; max?: number } = {}) {
  return { type: "number", default: defaultValue, describe, ...range } as const;
}

/** A ZeroMQ endpoint flag (tcp://127.0.0.1:5060, ipc://..., inproc://...). */
export function endpointOption(defaultValue: string, describe: string) {
  return { type: "string", default: defaultValue, describe, endpoint: true } as const;
}

const ENDPOINT = /^(tcp|ipc|inproc|ws|wss|pgm|epgm|udp|tipc|vmci):\/\/\S+$/;

export interface CommandSpec<O extends Record<string, LabOption>> {
  /** Package name of the lab, e.g. "lab06"; the env prefix is its upper case ("LAB06_"). */
  lab: string;
  /** The executable's name, e.g. "scanner-broker". */
  role: string;
  describe: string;
  options: O;
  /**
   * Words after the flags, for a command-line tool (`admin-cli ps --json`): their usage text,
   * e.g. "<command> [args...]". They arrive in `_`; without this, any positional word is an error.
   */
  positionals?: string;
  /** Cross-field validation: return a reason to reject the configuration. */
  check?: (args: ConfigOf<O>) => string | undefined;
}

/** The parsed flags, and in `_` the positional words (as strings) of a command that takes them. */
export type ConfigOf<O extends Record<string, LabOption>> = InferredOptionTypes<O> & { _: string[] };

export function envPrefix(lab: string): string {
  return lab.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function envName(prefix: string, key: string): string {
  return `${prefix}_${flagName(key).replace(/-/g, "_").toUpperCase()}`;
}

function violation(opt: LabOption, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (opt.type === "number") {
    if (typeof value !== "number" || !Number.isFinite(value)) return "must be a number";
    if (opt.integer && !Number.isInteger(value)) return "must be a whole number";
    if (opt.min !== undefined && value < opt.min) return `must be at least ${opt.min}`;
    if (opt.max !== undefined && value > opt.max) return `must be at most ${opt.max}`;
  }
  if (opt.endpoint && (typeof value !== "string" || !ENDPOINT.test(value)))
    return `must be a ZeroMQ endpoint such as tcp://127.0.0.1:5555 (got "${String(value)}")`;
  return undefined;
}

function checkConstraints(options: Record<string, LabOption>, args: Record<string, unknown>, prefix: string): string | undefined {
  for (const [key, opt] of Object.entries(options)) {
    const value = args[key];
    for (const v of Array.isArray(value) ? value : [value]) {
      const reason = violation(opt, v);
      if (reason) return `--${flagName(key)} (or ${envName(prefix, key)}) ${reason}`;
    }
  }
  return undefined;
}

/** A LABNN_ variable that names no setting of this command is a typo, said as one. */
function checkEnvNames(options: Record<string, LabOption>, env: NodeJS.ProcessEnv, prefix: string, role: string): string | undefined {
  const known = Object.keys(options).map((key) => envName(prefix, key));
  const unknown = Object.keys(env).find((name) => name.startsWith(`${prefix}_`) && !known.includes(name));
  return unknown ? `${unknown} is not a setting of ${role} (its settings: ${known.join(", ")})` : undefined;
}

/** The environment variables the kit itself reads, checked with the flags so a typo is one line, not a stack trace. */
function checkKitEnv(env: NodeJS.ProcessEnv): string | undefined {
  try {
    logLevelFrom(env);
  } catch (err) {
    return (err as Error).message;
  }
  const format = env.LOG_FORMAT;
  return format && format !== "json" && format !== "pretty" ? `LOG_FORMAT must be json or pretty; got "${format}"` : undefined;
}

/** yargs options under their kebab-case names (as --help shows them); values still arrive camelCase. */
function forYargs(options: Record<string, LabOption>): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const [key, { integer, min, max, endpoint, ...opt }] of Object.entries(options)) {
    const range = min !== undefined || max !== undefined ? ` [${min ?? ""}..${max ?? ""}]` : "";
    out[flagName(key)] = {
      ...opt,
      describe: `${opt.describe ?? ""}${integer ? " (whole number)" : ""}${range}`.trim(),
      requiresArg: opt.type !== "boolean",
    };
  }
  return out;
}

/** A repeated single-value flag: the last one wins (yargs would make a list of them). */
function lastValueWins(options: Record<string, LabOption>, args: Record<string, unknown>): void {
  for (const [key, opt] of Object.entries(options)) {
    const value = args[key];
    if (opt.array || !Array.isArray(value)) continue;
    args[key] = value[value.length - 1];
    args[flagName(key)] = args[key];
  }
}

/**
 * Parses flags and environment (LABNN_SOME_FLAG for --some-flag; a flag wins over the env).
 * Throws ConfigError with a one-line reason; --help and --version print and exit 0.
 */
export function tryParseConfig<O extends Record<string, LabOption>>(
  spec: CommandSpec<O>,
  argv: string[] = hideBin(process.argv),
  env: NodeJS.ProcessEnv = process.env,
): ConfigOf<O> {
  const prefix = envPrefix(spec.lab);
  const envReason = checkKitEnv(env) ?? checkEnvNames(spec.options, env, prefix, spec.role);
  if (envReason) throw new ConfigError(envReason);
  return withEnvironment(env, () => {
    const parser = yargs(argv)
      .scriptName(spec.role)
      .usage(
        `$0${spec.positionals ? ` ${spec.positionals}` : ""} — ${spec.describe}\n\nEvery flag can also be set as ${prefix}_<FLAG> in the environment.`,
      )
      .options(forYargs(spec.options))
      .env(prefix)
      [spec.positionals ? "strictOptions" : "strict"]()
      .help()
      .alias("h", "help")
      .version(false)
      .wrap(Math.min(110, process.stdout.columns ?? 100))
      .fail((msg, err) => {
        // yargs spreads some reasons over lines ("Invalid values:\n  Argument: ..."): one line here.
        throw new ConfigError((msg ?? err?.message ?? "invalid configuration").replace(/\s*\n\s*/g, " "));
      });
    const args = parser.parseSync() as unknown as ConfigOf<O> & Record<string, unknown>;
    lastValueWins(spec.options, args);
    args._ = (args._ ?? []).map(String);
    const reason = checkConstraints(spec.options, args, prefix) ?? spec.check?.(args);
    if (reason) throw new ConfigError(reason);
    return args;
  });
}

/**
 * Runs fn with process.env holding exactly `env`. yargs-parser keeps a reference to the
 * process.env object taken at import, so the object is changed in place, not replaced.
 */
function withEnvironment<T>(env: NodeJS.ProcessEnv, fn: () => T): T {
  if (env === process.env) return fn();
  const saved = { ...process.env };
  const replaceWith = (next: NodeJS.ProcessEnv) => {
    for (const key of Object.keys(process.env)) if (!(key in next)) delete process.env[key];
    Object.assign(process.env, next);
  };
  replaceWith(env);
  try {
    return fn();
  } finally {
    replaceWith(saved);
  }
}

/** tryParseConfig for a cmd/ entrypoint: a bad value prints one line and exits with code 2. */
export function parseConfig<O extends Record<string, LabOption>>(spec: CommandSpec<O>, argv?: string[]): ConfigOf<O> {
  try {
    return tryParseConfig(spec, argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${spec.role}: ${err.message} (see --help)\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw err;
  }
}

/** Splits "a,b c" and repeated flags into one list: endpoints and topics are given either way. */
export function listOption(values: readonly (string | number)[] | undefined): string[] {
  return (values ?? []).flatMap((v) => String(v).split(/[\s,]+/)).filter((v) => v.length > 0);
}
