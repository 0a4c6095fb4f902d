// The one place that knows how a cmd/ file is run: plain node, with tsx loading the TypeScript.
// The orchestrator, the CLI, the VS Code generator and the test helpers all start roles from here.
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

/** node flags that run a .ts file directly (tsx as an ESM loader). */
export const TSX_NODE_ARGS: readonly string[] = ["--import", "tsx"];

/** The arguments of `node` that run `file` with `args`: ["--import", "tsx", file, ...args]. */
export function roleNodeArgs(file: string, args: readonly string[] = [], nodeArgs: readonly string[] = TSX_NODE_ARGS): string[] {
  return [...nodeArgs, file, ...args];
}

export interface SpawnRoleOptions extends SpawnOptions {
  /** node flags; TSX_NODE_ARGS by default (tests run plain .mjs fixtures with []). */
  nodeArgs?: readonly string[];
  /** A network namespace to run it in (partition tests): `ip netns exec NS node ...`; ip execs node, so the pid is node's. */
  netns?: string;
}

/** Starts a cmd/ file as a child process of this node (process.execPath, so the same Node runs it). */
export function spawnRole(file: string, args: readonly string[], options: SpawnRoleOptions): ChildProcess {
  const { nodeArgs, netns, ...spawnOptions } = options;
  const argv = roleNodeArgs(file, args, nodeArgs);
  if (netns !== undefined) return spawn("ip", ["netns", "exec", netns, process.execPath, ...argv], spawnOptions);
  return spawn(process.execPath, argv, spawnOptions);
}
