import { setTimeout as sleep } from "node:timers/promises";
import type { Logger, View } from "@zlabs/kit";
import { jobOf, mapSplit, partitionTable } from "./jobs.ts";
import { encodeHeader, encodeRecords, F, fromMaster, MAX_BATCH_RECORDS, type MapTask } from "./protocol.ts";
import type { WorkerSnapshot } from "./view.ts";
import { WorkerBase, type WorkerConfig } from "./worker-common.ts";

export interface MapWorkerConfig extends WorkerConfig {
  /** Extra ms per task: a slower worker (the demo's pace, a straggler). */
  taskMs: number;
  batchRecords: number;
}

/**
 * A map worker: takes one map task at a time from the master, reads its split of the input file,
 * maps every line and combines the pairs per key (the job's reduce as combiner), partitions the
 * keys by hash among the reducers and pushes them to the master's sink in batches, the last one of
 * each partition carrying its end marker: the reducers count those, never a quiet period.
 */
export class MapWorker extends WorkerBase {
  private current?: MapTask;
  tasks = 0;
  lines = 0;

  constructor(
    private readonly config: MapWorkerConfig,
    log: Logger,
    options: { publish?: (view: View) => void } = {},
  ) {
    super(config, "map", log, options.publish);
  }

  snapshot(): WorkerSnapshot {
    const c = this.current;
    return {
      name: this.config.name,
      kind: "map",
      doing: c ? `job ${c.job} ${c.kind}: task ${c.task}${c.attempt > 1 ? ` (attempt ${c.attempt})` : ""}` : undefined,
      done: this.tasks,
      records: this.lines,
      perSecond: this.rate.perSecond(performance.now()),
      dropped: this.dropped,
    };
  }

  protected async onMaster(frames: Buffer[], signal: AbortSignal): Promise<void> {
    const msg = fromMaster(frames);
    switch (msg.kind) {
      case "map":
        return this.mapTask(msg.task, signal);
      case "kill":
        return;
      default:
        this.drop(
          { reason: msg.kind === "invalid" ? msg.reason : `${msg.kind} is not for a mapper` },
          "invalid message from the master dropped",
        );
    }
  }

  private async mapTask(t: MapTask, signal: AbortSignal): Promise<void> {
    this.current = t;
    const started = performance.now();
    const table = new Map<string, number>();
    let lines: number;
    try {
      lines = mapSplit(jobOf(t.kind), { file: t.file, start: t.start, end: t.end }, table);
    } catch (err) {
      // A file the master names but this worker cannot read: no output; the master's deadline re-runs it elsewhere.
      this.log.error({ err, file: t.file, task: t.task }, "map task failed: cannot read its split");
      this.current = undefined;
      return;
    }
    if (this.config.taskMs > 0) await sleep(this.config.taskMs, undefined, { signal }).catch(() => {});
    const parts = partitionTable(table, t.reducers);
    const { sink } = this.sockets;
    const batch = this.config.batchRecords;
    for (let p = 0; p < parts.length; p++) {
      const records = parts[p] as [string, number][];
      const key = { job: t.job, task: t.task, attempt: t.attempt, partition: p };
      // Every batch but the last, then the last one carrying the end marker (the pairs sent in all): one
      // message less per partition than a separate END; a partition with no pairs sends one empty last batch.
      const header = encodeHeader(key);
      const last = Math.max(0, Math.ceil(records.length / batch) - 1) * batch;
      for (let i = 0; i < last; i += batch) await sink.send([F.BATCH, header, encodeRecords(records.slice(i, i + batch))]);
      await sink.send([F.BATCH, encodeHeader({ ...key, end: records.length }), encodeRecords(records.slice(last))]);
    }
    this.tasks += 1;
    this.lines += lines;
    this.rate.add(performance.now(), lines);
    this.current = undefined;
    // debug: the master logs each task done already (one line per event on the demo screen).
    this.log.debug(
      { job: t.job, task: t.task, attempt: t.attempt, lines, keys: table.size, ms: Math.round(performance.now() - started) },
      "map task done",
    );
  }
}

export const BATCH_RECORDS = Math.min(1000, MAX_BATCH_RECORDS);
