// A cluster of real processes for the end-to-end tests: a master, mappers, reducers, on free ports,
// with generated inputs in a temporary folder; and the oracle: the single-process result.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoints, type LogEntry, type ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { inputFiles } from "../internal/inputs.ts";
import { formatResult, type JobKind, runSingle } from "../internal/jobs.ts";

export const labDir = fileURLToPath(new URL("..", import.meta.url));
/** Node and tsx start in several seconds on a loaded 2-core machine. */
export const WAIT_MS = 60_000;
export const HEARTBEAT = 200;

export interface ClusterOptions {
  mappers: number;
  reduceWorkers: number;
  reducers: number;
  masterArgs?: string[];
  mapArgs?: string[];
  /** Args for m1 instead of mapArgs (a slower victim). */
  firstMapArgs?: string[];
  lines?: number;
}

export interface Cluster {
  master: RoleProcess;
  mappers: RoleProcess[];
  reducers: RoleProcess[];
  work: string;
  sink: string;
  dir: string;
  startMapper(name: string, args?: string[]): RoleProcess;
  startReducer(name: string): RoleProcess;
  cleanup(): void;
}

export async function startCluster(procs: ProcessPool, o: ClusterOptions): Promise<Cluster> {
  const [work, sink] = (await freeTcpEndpoints(2)) as [string, string];
  const dir = mkdtempSync(join(tmpdir(), "lab15-"));
  const common = ["--work", work, "--sink", sink, "--heartbeat", String(HEARTBEAT)];
  const master = procs.start({
    labDir,
    cmd: "cmd/mr-master.ts",
    name: "master",
    args: [
      ...common,
      "--mappers",
      String(o.mappers),
      "--reducers",
      String(o.reducers),
      "--input",
      join(dir, "in"),
      "--out",
      join(dir, "out"),
      "--generate",
      String(o.lines ?? 4000),
      "--files",
      "3",
      "--split-bytes",
      "32768",
      ...(o.masterArgs ?? []),
    ],
  });
  const startMapper = (name: string, args: string[] = o.mapArgs ?? []) =>
    procs.start({ labDir, cmd: "cmd/map-worker.ts", name, args: [...common, "--name", name, ...args] });
  const startReducer = (name: string) => procs.start({ labDir, cmd: "cmd/reduce-worker.ts", name, args: [...common, "--name", name] });
  const mappers = Array.from({ length: o.mappers }, (_, i) => startMapper(`m${i + 1}`, i === 0 ? o.firstMapArgs : undefined));
  const reducers = Array.from({ length: o.reduceWorkers }, (_, i) => startReducer(`r${i + 1}`));
  return {
    master,
    mappers,
    reducers,
    work,
    sink,
    dir,
    startMapper,
    startReducer,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The single-process result of a job kind over the cluster's inputs: the oracle. */
export function expected(dir: string, kind: JobKind): string {
  return formatResult(runSingle(kind, inputFiles(join(dir, "in"), kind)).table);
}

/** A finished job's result file, as written by the master. */
export function resultOf(done: LogEntry): string {
  return readFileSync(done.file as string, "utf8");
}
