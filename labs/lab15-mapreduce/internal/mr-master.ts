import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  bindAll,
  type Logger,
  type LoopStats,
  peerLimits,
  receiveLoop,
  runLoops,
  SendQueue,
  UsageError,
  userPath,
  type View,
} from "@zlabs/kit";
import { Pull, Router } from "zeromq";
import { inputFiles, inputPrefix, writeInputs } from "./inputs.ts";
import { formatResult, type JobKind, type Split, splitFiles, topKeys } from "./jobs.ts";
import {
  type DoneMarker,
  type EndMarker,
  encodeAssign,
  encodeKill,
  encodeMapTask,
  F,
  type FromSink,
  type FromWorker,
  fromSink,
  fromWorker,
  MAX_ATTEMPTS,
  MAX_TASKS,
  type OutputKey,
  type Records,
  type ResultHeader,
  type WorkerKind,
} from "./protocol.ts";
import { type MasterSnapshot, masterView, VIEW_MS } from "./view.ts";

/** Workers send READY (their heartbeat) this often; silent for LIVENESS intervals, they are dead. */
export const HEARTBEAT_MS = 1000;
export const LIVENESS = 3;
/** A map task attempt running longer than this is given up on and run again elsewhere. */
export const TASK_TIMEOUT_MS = 30_000;
/** A task running this long (and SPECULATE_FACTOR times the median task) gets a backup attempt. */
export const SPECULATE_MS = 2000;
export const SPECULATE_FACTOR = 3;
/** Bytes of input per map task. */
export const SPLIT_BYTES = 256 * 1024;
/** The pause between two jobs. */
export const PAUSE_MS = 0;
/** How often deadlines and heartbeats are checked. */
const SWEEP_MS = 100;

export interface MasterConfig {
  work: string;
  sink: string;
  /** Map workers counted in before the first task is sent. */
  mappers: number;
  /** Partitions, and reduce workers counted in before the first job starts. */
  reducers: number;
  /** Job kinds run in a row, as a cycle. */
  jobs: JobKind[];
  /** Jobs to run; 0: until stopped. */
  count: number;
  /** Input folder: files corpus-* (wordcount) and access-* (logs). */
  input: string;
  /** When > 0, write this many lines a file (generate files per kind) into input first. */
  generateLines: number;
  generateFiles: number;
  seed: number;
  /** Result files go here, one per job. */
  out: string;
  splitBytes: number;
  heartbeatMs: number;
  liveness: number;
  taskTimeoutMs: number;
  speculateMs: number;
  pauseMs: number;
}

interface Worker {
  identity: Buffer;
  key: string;
  name: string;
  kind: WorkerKind;
  lastHeard: number;
  /** A mapper's current attempt, or a reducer's partition, in the current job. */
  task?: { task: number; attempt: number };
  partition?: number;
  done: number;
}

interface Attempt {
  worker: string;
  startedAt: number;
  /** The partitions whose end marker has come in. */
  ended: Set<number>;
  records: number;
  /** Given up (worker dead, deadline passed): its output is still accepted if it comes first. */
  lost: boolean;
}

interface Task {
  index: number;
  split: Split;
  state: "pending" | "running" | "done";
  attempts: Map<number, Attempt>;
  lastAttempt: number;
  backup: boolean;
  winner?: number;
  doneMs?: number;
}

interface Partition {
  index: number;
  reducer?: string;
  attempt: number;
  /** Every map output forwarded for this partition: replayed to a reducer that takes it over. */
  forwarded: Buffer[][];
  results: Map<number, Records[]>;
  result?: Records[];
}

interface RunningJob {
  id: number;
  kind: JobKind;
  files: string[];
  tasks: Task[];
  partitions: Partition[];
  startedAt: number;
  reruns: number;
  backups: number;
  duplicates: number;
  bytes: number;
}

export interface JobSummary {
  id: number;
  kind: JobKind;
  ms: number;
  keys: number;
  file: string;
  top: [string, number][];
  reruns: number;
  backups: number;
  duplicates: number;
}

export interface MasterOptions {
  publish?: (view: View) => void;
  now?: () => number;
  /** The first job id (tests pin it; by default a random 31-bit base, so a restarted master never reuses ids). */
  firstJob?: number;
}

const median = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/**
 * The MapReduce master: ventilator and sink. It counts workers in (READY) before the first task,
 * cuts the job's files into map tasks and hands one task at a time to each idle mapper, assigns
 * each partition to a reducer, forwards the map outputs (batches and end markers) to the
 * partition's reducer, and collects the reducers' results into the job's result file. It re-runs
 * a task whose worker dies or whose deadline passes, launches a backup for a straggler when the
 * other tasks are done, and keeps the first complete output of each task: the rest are duplicates.
 */
export class MrMaster {
  private readonly work = new Router({ linger: 0, mandatory: true, sendHighWaterMark: 0, sendTimeout: 5000, ...peerLimits() });
  private readonly sink = new Pull({ linger: 0, receiveHighWaterMark: 10_000, ...peerLimits() });
  private readonly out = new SendQueue(this.work);
  private readonly workers = new Map<string, Worker>();
  private job?: RunningJob;
  private nextJob: number;
  private jobsRun = 0;
  private pausedUntil = 0;
  /** Every worker expected has been counted in once: tasks may go out. */
  private countedIn = false;
  private allDone = false;
  private readonly now: () => number;
  readonly endpoints = { work: "", sink: "" };
  readonly loops: Record<"work" | "sink", LoopStats> = { work: { received: 0, failed: 0 }, sink: { received: 0, failed: 0 } };
  readonly summaries: JobSummary[] = [];
  dropped = 0;
  private finished?: () => void;

  constructor(
    private readonly config: MasterConfig,
    private readonly log: Logger,
    private readonly options: MasterOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.nextJob = options.firstJob ?? 1 + Math.floor(Math.random() * 0x7fff_0000);
  }

  async bind(): Promise<void> {
    Object.assign(this.endpoints, await bindAll(this.log, { work: [this.work, this.config.work], sink: [this.sink, this.config.sink] }));
  }

  prepareInputs(): void {
    const c = this.config;
    if (c.generateLines <= 0) return;
    for (const kind of new Set(c.jobs)) writeInputs(c.input, kind, c.generateFiles, c.generateLines, c.seed);
    this.log.info({ dir: c.input, files: c.generateFiles, lines: c.generateLines, seed: c.seed }, "inputs generated");
  }

  async run(signal: AbortSignal): Promise<void> {
    this.prepareInputs();
    for (const kind of new Set(this.config.jobs)) {
      const files = existsSync(this.config.input) ? inputFiles(this.config.input, kind) : [];
      if (files.length === 0)
        throw new UsageError(
          `no ${inputPrefix(kind)}* files in --input ${userPath(this.config.input)} for the ${kind} job (give --generate N to write some)`,
        );
    }
    if (!this.endpoints.work) await this.bind();
    const publish = this.options.publish;
    const log = this.log;
    const done = new Promise<void>((resolve) => {
      this.finished = resolve;
    });
    const stop = new AbortController();
    signal.addEventListener("abort", () => stop.abort(), { once: true });
    done.then(() => stop.abort());
    await runLoops(
      stop.signal,
      {
        sockets: [this.work, this.sink],
        every: [
          { ms: SWEEP_MS, run: () => this.sweep() },
          ...(publish ? [{ ms: VIEW_MS, run: () => publish(masterView(this.snapshot())) }] : []),
        ],
        log,
      },
      () => receiveLoop(this.work, stop.signal, (frames) => this.onWork(frames), { log, name: "work", stats: this.loops.work }),
      () => receiveLoop(this.sink, stop.signal, (frames) => this.onSink(fromSink(frames)), { log, name: "sink", stats: this.loops.sink }),
    );
  }

  private send(w: Worker, frames: Buffer[]): Promise<void> {
    return this.out.send([w.identity, ...frames]).catch((err: unknown) => {
      this.log.warn({ worker: w.name, err }, "send to a worker failed: taken as dead");
      this.forget(w, "unreachable");
    });
  }

  private onWork(frames: Buffer[]): void {
    const identity = frames[0];
    if (!identity || identity.length === 0) return;
    const msg: FromWorker = fromWorker(frames.slice(1));
    if (msg.kind === "invalid") {
      this.drop({ reason: msg.reason }, "invalid message from a worker dropped");
      return;
    }
    const key = identity.toString("latin1");
    const known = this.workers.get(key);
    const now = this.now();
    if (known && known.kind === msg.hello.kind) {
      known.lastHeard = now;
      return;
    }
    if (known) this.forget(known, "changed kind");
    const w: Worker = { identity, key, name: msg.hello.name, kind: msg.hello.kind, lastHeard: now, done: 0 };
    this.workers.set(key, w);
    this.log.info({ worker: w.name, kind: w.kind, mappers: this.count("map"), reducers: this.count("reduce") }, "worker in");
    this.dispatch();
  }

  private count(kind: WorkerKind): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.kind === kind) n++;
    return n;
  }

  private onSink(msg: FromSink): Promise<void> | undefined {
    switch (msg.kind) {
      case "batch":
        return this.onMapOutput(msg.header, msg.frames, msg.end);
      case "end":
        return this.onMapOutput(msg.end, msg.frames, msg.end);
      case "result":
        this.onResult(msg.header, msg.records);
        return;
      case "done":
        this.onDone(msg.done);
        return;
      case "invalid":
        this.drop({ reason: msg.reason }, "invalid message at the sink dropped");
        return;
    }
  }

  /**
   * A batch or an end marker from a mapper (the last batch of a partition is its end marker too): forwarded
   * to the partition's reducer as it came, unless the task is done already.
   */
  private async onMapOutput(h: OutputKey, frames: Buffer[], end: EndMarker | undefined): Promise<void> {
    const job = this.job;
    if (!job || h.job !== job.id) {
      this.drop({ job: h.job }, "map output of another job dropped");
      return;
    }
    const task = job.tasks[h.task];
    const attempt = task?.attempts.get(h.attempt);
    if (!task || !attempt || h.partition >= job.partitions.length) {
      this.drop({ task: h.task, attempt: h.attempt }, "map output of an unknown task dropped");
      return;
    }
    if (task.state === "done" && task.winner !== h.attempt) {
      // A late copy: the task's first complete output won.
      if (end) {
        job.duplicates += 1;
        this.log.info({ job: job.id, task: h.task, attempt: h.attempt, partition: h.partition }, "duplicate map output ignored");
        this.attemptEnded(job, task, h.attempt, attempt, end);
      }
      return;
    }
    const partition = job.partitions[h.partition] as Partition;
    partition.forwarded.push(frames);
    const reducer = partition.reducer !== undefined ? this.workers.get(partition.reducer) : undefined;
    if (reducer) await this.send(reducer, frames);
    if (end) this.attemptEnded(job, task, h.attempt, attempt, end);
  }

  private attemptEnded(job: RunningJob, task: Task, n: number, attempt: Attempt, end: EndMarker): void {
    attempt.ended.add(end.partition);
    attempt.records += end.records;
    if (attempt.ended.size < job.partitions.length) return;
    const w = this.workers.get(attempt.worker);
    if (w?.task?.task === task.index && w.task.attempt === n) {
      w.task = undefined;
      w.done += 1;
    }
    if (task.state !== "done") {
      task.state = "done";
      task.winner = n;
      task.doneMs = this.now() - attempt.startedAt;
      const left = job.tasks.filter((t) => t.state !== "done").length;
      this.log.info({ job: job.id, task: task.index, attempt: n, worker: w?.name, records: attempt.records, left }, "map task done");
    }
    this.dispatch();
  }

  private onResult(h: ResultHeader, records: Records): void {
    const p = this.partitionOf(h);
    if (!p || p.result) return;
    let got = p.results.get(h.attempt);
    if (!got) {
      got = [];
      p.results.set(h.attempt, got);
    }
    got.push(records);
  }

  private onDone(d: DoneMarker): void {
    const job = this.job;
    const p = this.partitionOf(d);
    if (!job || !p) return;
    const got = p.results.get(d.attempt) ?? [];
    const count = got.reduce((n, r) => n + r.length, 0);
    if (p.result) {
      job.duplicates += 1;
      this.log.info({ job: job.id, partition: d.partition, attempt: d.attempt }, "duplicate reduce result ignored");
      return;
    }
    if (count !== d.records) {
      this.drop({ partition: d.partition, attempt: d.attempt, got: count, said: d.records }, "incomplete reduce result dropped");
      p.results.delete(d.attempt);
      return;
    }
    p.result = got;
    p.results.clear();
    p.forwarded = [];
    const w = p.reducer !== undefined ? this.workers.get(p.reducer) : undefined;
    if (w && w.partition === p.index) {
      w.partition = undefined;
      w.done += 1;
    }
    const left = job.partitions.filter((x) => !x.result).length;
    this.log.info({ job: job.id, partition: p.index, attempt: d.attempt, keys: count, reducer: w?.name, left }, "partition reduced");
    if (left === 0) this.finishJob(job);
    else this.dispatch();
  }

  private partitionOf(h: ResultHeader): Partition | undefined {
    const job = this.job;
    if (!job || h.job !== job.id || h.partition >= job.partitions.length) {
      this.drop({ job: h.job, partition: h.partition }, "result of another job dropped");
      return undefined;
    }
    const p = job.partitions[h.partition] as Partition;
    if (h.attempt > p.attempt) {
      this.drop({ partition: h.partition, attempt: h.attempt }, "result of an unknown attempt dropped");
      return undefined;
    }
    return p;
  }

  private finishJob(job: RunningJob): void {
    const entries = job.partitions.flatMap((p) => (p.result ?? []).flat());
    mkdirSync(this.config.out, { recursive: true });
    const file = join(this.config.out, `job-${job.id}-${job.kind}.tsv`);
    writeFileSync(file, formatResult(entries));
    const top = job.kind === "logs" ? topKeys(entries, "ip:", 5) : topKeys(entries, "", 5);
    const summary: JobSummary = {
      id: job.id,
      kind: job.kind,
      ms: Math.round(this.now() - job.startedAt),
      keys: entries.length,
      file,
      top,
      reruns: job.reruns,
      backups: job.backups,
      duplicates: job.duplicates,
    };
    this.summaries.push(summary);
    if (this.summaries.length > 20) this.summaries.shift();
    this.log.info(summary, "job done");
    this.job = undefined;
    this.jobsRun += 1;
    this.pausedUntil = this.now() + this.config.pauseMs;
    for (const w of this.workers.values()) {
      w.task = undefined;
      w.partition = undefined;
      void this.send(w, [F.KILL, encodeKill(job.id)]);
    }
    if (this.config.count > 0 && this.jobsRun >= this.config.count) {
      this.log.info({ jobs: this.jobsRun }, "all jobs done");
      this.allDone = true;
      // Let the KILLs go out before the sockets close.
      setTimeout(() => this.finished?.(), 100);
      return;
    }
    this.dispatch();
  }

  private startJob(): RunningJob | undefined {
    const c = this.config;
    const kind = c.jobs[this.jobsRun % c.jobs.length] as JobKind;
    const files = inputFiles(c.input, kind);
    const splits = splitFiles(files, c.splitBytes).slice(0, MAX_TASKS);
    if (splits.length === 0) {
      this.log.error({ dir: c.input, kind }, "no input for the job: nothing to do");
      this.finished?.();
      return undefined;
    }
    const id = this.nextJob++;
    const job: RunningJob = {
      id,
      kind,
      files,
      tasks: splits.map((split, index) => ({ index, split, state: "pending", attempts: new Map(), lastAttempt: 0, backup: false })),
      partitions: Array.from({ length: c.reducers }, (_, index) => ({ index, attempt: 0, forwarded: [], results: new Map() })),
      startedAt: this.now(),
      reruns: 0,
      backups: 0,
      duplicates: 0,
      bytes: splits.reduce((n, s) => n + s.end - s.start, 0),
    };
    this.log.info({ job: id, kind, files: files.length, tasks: job.tasks.length, reducers: c.reducers }, "job started");
    return job;
  }

  /** Hands out whatever can go: the job start, reduce partitions to idle reducers, tasks to idle mappers. */
  private dispatch(): void {
    const c = this.config;
    if (!this.countedIn) {
      if (this.count("map") < c.mappers || this.count("reduce") < c.reducers) return;
      this.countedIn = true;
      this.log.info({ mappers: this.count("map"), reducers: this.count("reduce") }, "every worker counted in: tasks may go");
    }
    if (!this.job) {
      if (this.allDone || this.now() < this.pausedUntil || this.count("map") === 0 || this.count("reduce") === 0) return;
      this.job = this.startJob();
      if (!this.job) return;
    }
    const job = this.job;
    const now = this.now();
    for (const p of job.partitions) {
      if (p.result || p.reducer !== undefined) continue;
      const w = this.idle("reduce");
      if (!w) break;
      p.reducer = w.key;
      p.attempt += 1;
      w.partition = p.index;
      if (p.attempt > 1)
        this.log.warn(
          { job: job.id, partition: p.index, attempt: p.attempt, reducer: w.name, replay: p.forwarded.length },
          "partition reassigned",
        );
      void this.send(w, [
        F.REDUCE,
        encodeAssign({ job: job.id, kind: job.kind, partition: p.index, attempt: p.attempt, maps: job.tasks.length }),
      ]);
      for (const frames of p.forwarded) void this.send(w, frames);
    }
    for (const task of job.tasks) {
      if (task.state !== "pending") continue;
      const w = this.idle("map");
      if (!w) return;
      this.launch(job, task, w, now);
    }
    // Speculative execution: nothing pending, a mapper idle, a task running far longer than the rest.
    const doneMs = job.tasks.filter((t) => t.doneMs !== undefined).map((t) => t.doneMs as number);
    const slowAfter = Math.max(c.speculateMs, SPECULATE_FACTOR * median(doneMs));
    for (const task of job.tasks) {
      if (task.state !== "running" || task.backup || task.lastAttempt >= MAX_ATTEMPTS) continue;
      const running = [...task.attempts.values()].filter((a) => !a.lost);
      if (running.length !== 1 || now - (running[0] as Attempt).startedAt < slowAfter) continue;
      const w = this.idle("map");
      if (!w) return;
      task.backup = true;
      job.backups += 1;
      this.log.warn(
        { job: job.id, task: task.index, straggler: this.workers.get((running[0] as Attempt).worker)?.name, backup: w.name },
        "backup task for a straggler",
      );
      this.launch(job, task, w, now);
    }
  }

  private launch(job: RunningJob, task: Task, w: Worker, now: number): void {
    task.lastAttempt += 1;
    task.state = "running";
    const attempt = task.lastAttempt;
    task.attempts.set(attempt, { worker: w.key, startedAt: now, ended: new Set(), records: 0, lost: false });
    w.task = { task: task.index, attempt };
    const { file, start, end } = task.split;
    void this.send(w, [
      F.MAP,
      encodeMapTask({ job: job.id, kind: job.kind, task: task.index, attempt, file, start, end, reducers: job.partitions.length }),
    ]);
  }

  private idle(kind: WorkerKind): Worker | undefined {
    let best: Worker | undefined;
    for (const w of this.workers.values())
      if (w.kind === kind && w.task === undefined && w.partition === undefined && (!best || w.done < best.done)) best = w;
    return best;
  }

  /** Heartbeats and deadlines: dead workers forgotten (their work re-run), tasks past their deadline re-run. */
  private sweep(): void {
    const now = this.now();
    const deadAfter = this.config.heartbeatMs * this.config.liveness;
    for (const w of [...this.workers.values()]) if (now - w.lastHeard > deadAfter) this.forget(w, "silent");
    const job = this.job;
    if (job)
      for (const task of job.tasks) {
        if (task.state !== "running") continue;
        for (const [n, a] of task.attempts)
          if (!a.lost && now - a.startedAt > this.config.taskTimeoutMs) {
            a.lost = true;
            this.requeue(job, task, n, "deadline passed");
          }
      }
    this.dispatch();
  }

  /** A task attempt given up: the task goes back to pending when no other attempt still runs. */
  private requeue(job: RunningJob, task: Task, attempt: number, why: string): void {
    if (task.state !== "running") return;
    const stillRunning = [...task.attempts.values()].some((a) => !a.lost);
    if (stillRunning || task.lastAttempt >= MAX_ATTEMPTS) return;
    task.state = "pending";
    job.reruns += 1;
    this.log.warn({ job: job.id, task: task.index, attempt, why }, "map task to run again");
  }

  private forget(w: Worker, why: string): void {
    if (this.workers.get(w.key) !== w) return;
    this.workers.delete(w.key);
    this.log.warn({ worker: w.name, kind: w.kind, why, task: w.task?.task, partition: w.partition }, "worker lost");
    const job = this.job;
    if (!job) return;
    if (w.task) {
      const task = job.tasks[w.task.task];
      const a = task?.attempts.get(w.task.attempt);
      if (task && a) {
        a.lost = true;
        this.requeue(job, task, w.task.attempt, `worker ${why}`);
      }
    }
    if (w.partition !== undefined) {
      const p = job.partitions[w.partition];
      if (p && !p.result) p.reducer = undefined;
    }
  }

  private drop(fields: Record<string, unknown>, msg: string): void {
    this.dropped += 1;
    this.log.warn({ ...fields, total: this.dropped }, msg);
  }

  snapshot(): MasterSnapshot {
    const job = this.job;
    const now = this.now();
    const tasks = job?.tasks ?? [];
    return {
      job: job
        ? {
            id: job.id,
            kind: job.kind,
            ms: now - job.startedAt,
            tasks: tasks.length,
            done: tasks.filter((t) => t.state === "done").length,
            running: tasks.filter((t) => t.state === "running").length,
            reruns: job.reruns,
            backups: job.backups,
            duplicates: job.duplicates,
            partitions: job.partitions.length,
            reduced: job.partitions.filter((p) => p.result).length,
          }
        : undefined,
      waiting: !this.countedIn ? { mappers: this.config.mappers, reducers: this.config.reducers } : undefined,
      workers: [...this.workers.values()].map((w) => ({
        name: w.name,
        kind: w.kind,
        doing: w.task
          ? `task ${w.task.task}${w.task.attempt > 1 ? ` (attempt ${w.task.attempt})` : ""}`
          : w.partition !== undefined
            ? `partition ${w.partition}`
            : undefined,
        done: w.done,
        silentMs: now - w.lastHeard,
      })),
      jobsDone: this.jobsRun,
      last: this.summaries.at(-1),
      dropped: this.dropped,
    };
  }
}
