import { join, resolve } from "node:path";
import { type ConfigOf, endpointOption, intOption, listOption, userCwd } from "@zlabs/kit";
import { isJobKind, JOB_KINDS, type JobKind } from "./jobs.ts";
import { BATCH_RECORDS, type MapWorkerConfig } from "./map-worker.ts";
import { HEARTBEAT_MS, LIVENESS, type MasterConfig, PAUSE_MS, SPECULATE_MS, SPLIT_BYTES, TASK_TIMEOUT_MS } from "./mr-master.ts";
import { MAX_BATCH_RECORDS, MAX_REDUCERS } from "./protocol.ts";
import type { ReduceWorkerConfig } from "./reduce-worker.ts";

export const LAB = "lab15";
export const WORK = "tcp://127.0.0.1:5150";
export const SINK = "tcp://127.0.0.1:5151";
const STORE = join(import.meta.dirname, "..", ".store");

const heartbeat = { heartbeat: intOption(HEARTBEAT_MS, "heartbeat (READY) interval, ms", { min: 10 }) } as const;

export const masterOptions = {
  work: endpointOption(WORK, "ROUTER endpoint: tasks to workers, READY from them"),
  sink: endpointOption(SINK, "PULL endpoint: map outputs and results from workers"),
  mappers: intOption(2, "map workers counted in before the first task is sent", { min: 1 }),
  reducers: intOption(2, "partitions (reducers per job), and reduce workers counted in first", { min: 1, max: MAX_REDUCERS }),
  jobs: {
    type: "string",
    array: true,
    default: ["wordcount", "logs"],
    describe: `job kinds run in a row, cycled (${JOB_KINDS.join(", ")})`,
  },
  count: intOption(0, "jobs to run, then exit (0: until stopped)", { min: 0 }),
  input: { type: "string", default: join(STORE, "input"), describe: "input folder: corpus-* files (wordcount), access-* files (logs)" },
  out: { type: "string", default: join(STORE, "results"), describe: "result files go here, job-<id>-<kind>.tsv" },
  generate: intOption(0, "write this many lines into each generated input file first (0: use the files there)", { min: 0 }),
  files: intOption(4, "generated files per job kind", { min: 1, max: 1000 }),
  seed: intOption(15, "the generator's seed", { min: 0 }),
  splitBytes: intOption(SPLIT_BYTES, "input bytes per map task", { min: 1 }),
  liveness: intOption(LIVENESS, "silent heartbeat intervals before a worker is dead (its work runs again)", { min: 1 }),
  taskTimeout: intOption(TASK_TIMEOUT_MS, "ms after which a map task attempt is run again elsewhere", { min: 1 }),
  speculate: intOption(SPECULATE_MS, "ms (and 3x the median task) after which a straggler gets a backup task", { min: 1 }),
  pause: intOption(PAUSE_MS, "ms between two jobs", { min: 0 }),
  ...heartbeat,
} as const;

export function checkMaster(a: { jobs?: readonly (string | number)[] }): string | undefined {
  const bad = listOption(a.jobs).find((j) => !isJobKind(j));
  return bad !== undefined ? `--jobs: unknown job "${bad}" (${JOB_KINDS.join(", ")})` : undefined;
}

export function masterConfig(a: ConfigOf<typeof masterOptions>): MasterConfig {
  return {
    work: a.work,
    sink: a.sink,
    mappers: a.mappers,
    reducers: a.reducers,
    jobs: listOption(a.jobs) as JobKind[],
    count: a.count,
    // Paths the user typed resolve against the folder they ran the command in.
    input: resolve(userCwd(), a.input),
    out: resolve(userCwd(), a.out),
    generateLines: a.generate,
    generateFiles: a.files,
    seed: a.seed,
    splitBytes: a.splitBytes,
    heartbeatMs: a.heartbeat,
    liveness: a.liveness,
    taskTimeoutMs: a.taskTimeout,
    speculateMs: a.speculate,
    pauseMs: a.pause,
  };
}

const workerOptions = {
  name: { type: "string", default: `worker-${process.pid}`, describe: "the worker's name in logs and views" },
  work: endpointOption(WORK, "the master's work endpoint"),
  sink: endpointOption(SINK, "the master's sink endpoint"),
  batch: intOption(BATCH_RECORDS, "pairs per frame", { min: 1, max: MAX_BATCH_RECORDS }),
  ...heartbeat,
} as const;

export const mapOptions = { ...workerOptions, taskMs: intOption(0, "extra ms per map task: a slower worker", { min: 0 }) } as const;
export const reduceOptions = workerOptions;

export function mapConfig(a: ConfigOf<typeof mapOptions>): MapWorkerConfig {
  return { name: a.name, work: a.work, sink: a.sink, heartbeatMs: a.heartbeat, batchRecords: a.batch, taskMs: a.taskMs };
}

export function reduceConfig(a: ConfigOf<typeof reduceOptions>): ReduceWorkerConfig {
  return { name: a.name, work: a.work, sink: a.sink, heartbeatMs: a.heartbeat, batchRecords: a.batch };
}
