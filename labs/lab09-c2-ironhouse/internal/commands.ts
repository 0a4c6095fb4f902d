/**
 * The only things an agent will do, whoever signed the command: a fixed, harmless set, each a
 * function of this file. No shell, no path outside the agent's sandbox folder, no argument that
 * becomes anything but a checked name.
 *
 *   status       the agent's name, uptime and counts
 *   list         the entries of the sandbox folder, or of one folder directly inside it (at most 50)
 *   rotate-log   the sandbox's agent.log becomes agent.log.1 (.1 -> .2, up to .3), a new one starts
 */
import { appendFile, mkdir, readdir, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Checked, isSafeName, ok, pathInside, refuse } from "@zlabs/kit";

export const COMMAND_NAMES = ["status", "list", "rotate-log"] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];
export const AUDIT_LOG = "agent.log";
export const KEPT_LOGS = 3;
export const MAX_LISTED = 50;

/** The arguments each command takes, checked (a signed command with bad arguments is still refused). */
export function checkArgs(command: CommandName, args: Record<string, unknown>): Checked<Record<string, string>> {
  const keys = Object.keys(args);
  if (command !== "list") return keys.length === 0 ? ok({}) : refuse(`${command} takes no arguments`);
  if (keys.some((k) => k !== "dir")) return refuse("list takes only dir");
  if (args.dir === undefined || args.dir === "") return ok({});
  return isSafeName(args.dir) ? ok({ dir: args.dir }) : refuse("list: dir must be one folder name inside the sandbox");
}

export interface AgentFacts {
  name: string;
  startedAt: number;
  run: number;
  refused: number;
}

export type Output = Record<string, string | number | string[]>;

/** Runs a checked command in `sandbox`. Throws only on a file system error (reported as "failed"). */
export async function runCommand(command: CommandName, args: Record<string, string>, sandbox: string, facts: AgentFacts): Promise<Output> {
  switch (command) {
    case "status":
      return { name: facts.name, uptimeS: Math.round((Date.now() - facts.startedAt) / 1000), run: facts.run, refused: facts.refused };
    case "list": {
      const dir = args.dir ? pathInside(sandbox, args.dir) : sandbox;
      if (!dir) throw new Error("dir outside the sandbox");
      const names = (await readdir(dir)).sort();
      return { dir: args.dir ?? ".", count: names.length, entries: names.slice(0, MAX_LISTED) };
    }
    case "rotate-log": {
      const log = join(sandbox, AUDIT_LOG);
      for (let i = KEPT_LOGS - 1; i >= 1; i--) await rename(`${log}.${i}`, `${log}.${i + 1}`).catch(() => undefined);
      const size = await stat(log).then(
        (s) => s.size,
        () => 0,
      );
      await rename(log, `${log}.1`).catch(() => undefined);
      await writeFile(log, "");
      return { rotated: AUDIT_LOG, bytes: size, kept: KEPT_LOGS };
    }
  }
}

/** The sandbox exists with its audit log; an agent writes one line there per command run. */
export async function prepareSandbox(sandbox: string): Promise<void> {
  await mkdir(join(sandbox, "reports"), { recursive: true });
  await appendFile(join(sandbox, AUDIT_LOG), "");
}

export async function audit(sandbox: string, line: string): Promise<void> {
  await appendFile(join(sandbox, AUDIT_LOG), `${new Date().toISOString()} ${line}\n`);
}
