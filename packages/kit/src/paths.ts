import { isAbsolute, resolve } from "node:path";

/**
 * The directory the user typed the command in. run.sh, run.ps1 and the CLI set it before they
 * change to a lab's folder, so a role can resolve the paths the user gave against it.
 */
export const USER_CWD_ENV = "ZLABS_USER_CWD";

/** pnpm scripts that are not a role run by hand: their processes keep their own folder. */
const NOT_A_ROLE_SCRIPT = new Set(["test", "start", "bench", "typecheck", "lint"]);

/**
 * Where the user ran the command: ZLABS_USER_CWD when a launcher set it; for a role started by its
 * pnpm script (`pnpm --filter lab06 upload-service -- --files ./x`), where pnpm was run (INIT_CWD:
 * pnpm runs scripts in the lab's folder); else this process's cwd.
 */
export function userCwd(env: NodeJS.ProcessEnv = process.env): string {
  const set = env[USER_CWD_ENV];
  if (set) return set;
  const script = env.npm_lifecycle_event;
  if (env.INIT_CWD && script && !NOT_A_ROLE_SCRIPT.has(script)) return env.INIT_CWD;
  return process.cwd();
}

/**
 * A path the user gave on the command line (a flag, an env var), absolute: relative paths resolve
 * against the directory the user ran the command in, not the lab's folder the role runs in.
 * `./run.sh lab06 upload-service --files ./x.bin` from the repository root finds ./x.bin there.
 * Defaults a lab chooses itself are not user paths: resolve those against the lab (import.meta.url).
 */
export function userPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  return isAbsolute(path) ? path : resolve(userCwd(env), path);
}
