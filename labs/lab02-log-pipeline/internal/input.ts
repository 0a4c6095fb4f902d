import { once } from "node:events";
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { type Logger, UsageError, userCwd, userPath } from "@zlabs/kit";
import { glob, isDynamicPattern } from "tinyglobby";
import { writeSampleLogs } from "./generate-logs.ts";

export interface InputConfig {
  /** Paths, globs, or "-" for stdin. */
  inputs: readonly string[];
  /** Where stdin and sample lines are spooled. */
  spoolDir: string;
  /** Generated sample lines to ingest as well. */
  sampleLines: number;
}

/**
 * The batch's input as files: paths and globs as given, sample logs generated on request, and
 * stdin ("-") spooled to disk first, because the writer must know how many lines a batch holds
 * before any of them flows, and a stream cannot say until it ends.
 */
export async function inputFiles(
  { inputs, spoolDir, sampleLines }: InputConfig,
  log: Logger,
): Promise<{ files: string[]; spooled: string[] }> {
  const files: string[] = [];
  const spooled: string[] = [];
  if (sampleLines > 0 || inputs.includes("-")) removeStaleSpools(spoolDir, log);
  const spoolTo = async (name: string, fill: (out: NodeJS.WritableStream) => Promise<unknown>) => {
    const path = await spool(spoolDir, name, fill, log);
    spooled.push(path);
    files.push(path);
  };
  if (sampleLines > 0) await spoolTo("sample", (out) => writeSampleLogs(out, sampleLines, 1));
  for (const input of inputs) {
    if (input === "-") await spoolTo("stdin", (out) => pipeline(process.stdin, out, { end: false }));
    else if (isDynamicPattern(input)) {
      // The user typed the glob: it is matched where the user ran the command.
      const matched = (await glob(input, { cwd: userCwd(), absolute: true, onlyFiles: true })).sort();
      if (matched.length === 0) throw new UsageError(`no file matches ${input}`);
      files.push(...matched);
    } else {
      const path = userPath(input);
      if (!existsSync(path)) throw new UsageError(`no such file: ${input}`);
      if (!statSync(path).isFile()) throw new UsageError(`not a file: ${input}`);
      files.push(path);
    }
  }
  if (files.length === 0) throw new UsageError("nothing to ingest: give --input (a path, a glob or -) or --sample N");
  return { files, spooled };
}

/** Deletes the spooled copies a collector made (it does so when it ends). */
export function removeSpooled(paths: readonly string[]): void {
  for (const path of paths) rmSync(path, { force: true });
}

const SPOOL_FILE = /^(?:sample|stdin)-(\d+)\.log$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}

/** Spooled copies left by collectors that were killed before they could delete theirs. */
export function removeStaleSpools(dir: string, log: Logger): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const pid = Number(SPOOL_FILE.exec(name)?.[1] ?? 0);
    if (!pid || pid === process.pid || alive(pid)) continue;
    rmSync(join(dir, name), { force: true });
    log.debug({ file: name }, "stale spool removed");
  }
}

async function spool(dir: string, name: string, fill: (out: NodeJS.WritableStream) => Promise<unknown>, log: Logger): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const path = resolve(join(dir, `${name}-${process.pid}.log`));
  const out = createWriteStream(path);
  await once(out, "open");
  await fill(out);
  await new Promise<void>((done) => out.end(() => done()));
  log.info({ path, bytes: statSync(path).size }, `${name} spooled`);
  return path;
}
