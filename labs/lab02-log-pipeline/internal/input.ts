import { once } from "node:events";
import { createWriteStream, existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { type Logger, UsageError } from "@zlabs/kit";
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
export async function inputFiles({ inputs, spoolDir, sampleLines }: InputConfig, log: Logger): Promise<string[]> {
  const files: string[] = [];
  if (sampleLines > 0) files.push(await spool(spoolDir, "sample", (out) => writeSampleLogs(out, sampleLines, 1), log));
  for (const input of inputs) {
    if (input === "-") files.push(await spool(spoolDir, "stdin", (out) => pipeline(process.stdin, out, { end: false }), log));
    else if (isDynamicPattern(input)) {
      const matched = (await glob(input, { absolute: true, onlyFiles: true })).sort();
      if (matched.length === 0) throw new UsageError(`no file matches ${input}`);
      files.push(...matched);
    } else {
      const path = resolve(input);
      if (!existsSync(path)) throw new UsageError(`no such file: ${input}`);
      if (!statSync(path).isFile()) throw new UsageError(`not a file: ${input}`);
      files.push(path);
    }
  }
  if (files.length === 0) throw new UsageError("nothing to ingest: give --input (a path, a glob or -) or --sample N");
  return files;
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
