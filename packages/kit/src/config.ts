import yargs, { type InferredOptionTypes, type Options } from "yargs";
import { hideBin } from "yargs/helpers";

/** Exit code for a bad flag or environment value. */
export const EXIT_BAD_CONFIG = 2;

export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface CommandSpec<O extends Record<string, Options>> {
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
export type ConfigOf<O extends Record<string, Options>> = InferredOptionTypes<O> & { _: string[] };

export function envPrefix(lab: string): string {
  return lab.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function checkNumbers(options: Record<string, Options>, args: Record<string, unknown>, prefix: string): string | undefined {
  for (const [key, opt] of Object.entries(options)) {
    if (opt.type !== "number") continue;
    const value = args[key];
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => v !== undefined && (typeof v !== "number" || !Number.isFinite(v)))) {
      const env = `${prefix}_${flagName(key).replace(/-/g, "_").toUpperCase()}`;
      return `--${flagName(key)} (or ${env}) must be a number`;
    }
  }
  return undefined;
}

/** A repeated single-value flag: the last one wins (yargs would make a list of them). */
function lastValueWins(options: Record<string, Options>, args: Record<string, unknown>): void {
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
export function tryParseConfig<O extends Record<string, Options>>(
  spec: CommandSpec<O>,
  argv: string[] = hideBin(process.argv),
  env: NodeJS.ProcessEnv = process.env,
): ConfigOf<O> {
  const prefix = envPrefix(spec.lab);
  return withEnvironment(env, () => {
    const parser = yargs(argv)
      .scriptName(spec.role)
      .usage(
        `$0${spec.positionals ? ` ${spec.positionals}` : ""} — ${spec.describe}\n\nEvery flag can also be set as ${prefix}_<FLAG> in the environment.`,
      )
      .options(spec.options)
      .env(prefix)
      [spec.positionals ? "strictOptions" : "strict"]()
      .help()
      .alias("h", "help")
      .version(false)
      .wrap(Math.min(110, process.stdout.columns ?? 100))
      .fail((msg, err) => {
        throw new ConfigError(msg ?? err?.message ?? "invalid configuration");
      });
    const args = parser.parseSync() as unknown as ConfigOf<O> & Record<string, unknown>;
    lastValueWins(spec.options, args);
    args._ = (args._ ?? []).map(String);
    const reason = checkNumbers(spec.options, args, prefix) ?? spec.check?.(args);
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
export function parseConfig<O extends Record<string, Options>>(spec: CommandSpec<O>, argv?: string[]): ConfigOf<O> {
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
