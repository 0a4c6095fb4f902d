import type { Logger, View } from "@zlabs/kit";
import { type Job, jobOf } from "./jobs.ts";
import {
  type EndMarker,
  encodeDone,
  encodeRecords,
  encodeResultHeader,
  F,
  fromMaster,
  type OutputKey,
  type Records,
  type ReduceAssign,
} from "./protocol.ts";
import type { WorkerSnapshot } from "./view.ts";
import { WorkerBase, type WorkerConfig } from "./worker-common.ts";

export interface ReduceWorkerConfig extends WorkerConfig {
  batchRecords: number;
}

interface Assignment extends ReduceAssign {
  job_: Job;
  /** Output of attempts whose end marker has not come yet, by "task/attempt". */
  staged: Map<string, { records: Records[]; count: number }>;
  /** Tasks whose output is in the aggregate: the first attempt to end wins, later ones are duplicates. */
  committed: Set<number>;
  aggregate: Map<string, number>;
  finished: boolean;
}

/**
 * A reduce worker: the master assigns it a partition of a job (and how many map tasks the job
 * has); it stages each map attempt's batches until that attempt's end marker, then folds them into
 * its aggregate unless another attempt of the task got there first. When it holds the end marker
 * of every map task, and only then, it pushes its result to the sink in batches and a DONE marker.
 */
export class ReduceWorker extends WorkerBase {
  private a?: Assignment;
  partitions = 0;
  records = 0;
  duplicates = 0;

  constructor(
    private readonly config: ReduceWorkerConfig,
    log: Logger,
    options: { publish?: (view: View) => void } = {},
  ) {
    super(config, "reduce", log, options.publish);
  }

  snapshot(): WorkerSnapshot {
    const a = this.a;
    return {
      name: this.config.name,
      kind: "reduce",
      doing: a && !a.finished ? `job ${a.job} ${a.kind}: partition ${a.partition}, ${a.committed.size}/${a.maps} map tasks in` : undefined,
      done: this.partitions,
      records: this.records,
      perSecond: this.rate.perSecond(performance.now()),
      dropped: this.dropped + this.duplicates,
    };
  }

  protected onMaster(frames: Buffer[]): Promise<void> | undefined {
    const msg = fromMaster(frames);
    switch (msg.kind) {
      case "reduce":
        this.assign(msg.assign);
        return;
      case "batch":
        // The last batch of a partition carries its end marker: staged, then committed as an END would.
        this.batch(msg.header, msg.records);
        return msg.end ? this.end(msg.end) : undefined;
      case "end":
        return this.end(msg.end);
      case "kill":
        if (this.a?.job === msg.job) this.a = undefined;
        return;
      default:
        this.drop(
          { reason: msg.kind === "invalid" ? msg.reason : "a map task is not for a reducer" },
          "invalid message from the master dropped",
        );
    }
  }

  private assign(r: ReduceAssign): void {
    this.a = { ...r, job_: jobOf(r.kind), staged: new Map(), committed: new Set(), aggregate: new Map(), finished: false };
    this.log.info({ job: r.job, kind: r.kind, partition: r.partition, attempt: r.attempt, maps: r.maps }, "partition assigned");
  }

  private mine(h: OutputKey): Assignment | undefined {
    const a = this.a;
    if (!a || a.job !== h.job || a.partition !== h.partition || h.task >= a.maps) {
      this.drop({ job: h.job, partition: h.partition, task: h.task }, "map output for another job or partition dropped");
      return undefined;
    }
    return a;
  }

  private batch(h: OutputKey, records: Records): void {
    const a = this.mine(h);
    if (!a || a.committed.has(h.task)) return;
    const key = `${h.task}/${h.attempt}`;
    let s = a.staged.get(key);
    if (!s) {
      s = { records: [], count: 0 };
      a.staged.set(key, s);
    }
    s.records.push(records);
    s.count += records.length;
  }

  private async end(e: EndMarker): Promise<void> {
    const a = this.mine(e);
    if (!a) return;
    const key = `${e.task}/${e.attempt}`;
    const s = a.staged.get(key) ?? { records: [], count: 0 };
    a.staged.delete(key);
    if (a.committed.has(e.task)) {
      this.duplicates += 1;
      this.log.info({ job: e.job, task: e.task, attempt: e.attempt, partition: e.partition }, "duplicate map output ignored");
      return;
    }
    if (s.count !== e.records) {
      this.drop({ task: e.task, attempt: e.attempt, got: s.count, said: e.records }, "incomplete map output dropped");
      return;
    }
    const reduce = a.job_.reduce;
    for (const batch of s.records)
      for (const [k, v] of batch) {
        const had = a.aggregate.get(k);
        a.aggregate.set(k, had === undefined ? v : reduce(had, v));
      }
    a.committed.add(e.task);
    this.records += s.count;
    this.rate.add(performance.now(), s.count);
    if (a.committed.size < a.maps || a.finished) return;
    // The end marker of every map task is in: the partition is complete.
    a.finished = true;
    const entries = [...a.aggregate];
    const header = encodeResultHeader({ job: a.job, partition: a.partition, attempt: a.attempt });
    for (let i = 0; i < entries.length; i += this.config.batchRecords)
      await this.sockets.sink.send([F.RESULT, header, encodeRecords(entries.slice(i, i + this.config.batchRecords))]);
    await this.sockets.sink.send([F.DONE, encodeDone({ job: a.job, partition: a.partition, attempt: a.attempt, records: entries.length })]);
    this.partitions += 1;
    this.log.info({ job: a.job, partition: a.partition, attempt: a.attempt, keys: entries.length, maps: a.maps }, "partition reduced");
  }
}
