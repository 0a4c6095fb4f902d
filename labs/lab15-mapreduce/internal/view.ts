// What the master and the workers show on the demo screen: pure functions of a snapshot.
import { formatCount, formatSeconds, type View, type ViewCell } from "@zlabs/kit";
import type { JobKind } from "./jobs.ts";

export const VIEW_MS = 500;

export interface JobProgress {
  id: number;
  kind: JobKind;
  ms: number;
  tasks: number;
  done: number;
  running: number;
  reruns: number;
  backups: number;
  duplicates: number;
  partitions: number;
  reduced: number;
}

export interface MasterSnapshot {
  job: JobProgress | undefined;
  /** Set until every expected worker has been counted in. */
  waiting: { mappers: number; reducers: number } | undefined;
  workers: { name: string; kind: "map" | "reduce"; doing: string | undefined; done: number; silentMs: number }[];
  jobsDone: number;
  last:
    | { id: number; kind: JobKind; ms: number; keys: number; top: [string, number][]; reruns: number; backups: number; duplicates: number }
    | undefined;
  dropped: number;
}

const bar = (done: number, total: number, width = 20) => {
  const full = total > 0 ? Math.round((width * done) / total) : 0;
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
};

export function masterView(s: MasterSnapshot): View {
  const j = s.job;
  const title = s.waiting
    ? `waiting for workers: ${s.workers.filter((w) => w.kind === "map").length}/${s.waiting.mappers} mappers, ${s.workers.filter((w) => w.kind === "reduce").length}/${s.waiting.reducers} reducers (no task before all are in)`
    : j
      ? `job ${j.id} ${j.kind} ${bar(j.done, j.tasks)} map ${j.done}/${j.tasks} · reduce ${j.reduced}/${j.partitions} · ${formatSeconds(j.ms)}`
      : `between jobs · ${formatCount(s.jobsDone)} done`;
  const rows = s.workers.map((w): ViewCell[] => [
    w.name,
    w.kind,
    w.doing ? { text: w.doing, tone: "warn" } : { text: "idle", tone: "good" },
    formatCount(w.done),
    w.silentMs > 1500 ? { text: formatSeconds(w.silentMs), tone: "bad" } : { text: "ok", tone: "dim" },
  ]);
  const summary: string[] = [];
  if (j)
    summary.push(
      `tasks done ${j.done} · running ${j.running} · run again ${j.reruns} · backup (speculative) ${j.backups} · duplicates ignored ${j.duplicates}`,
    );
  const l = s.last;
  if (l)
    summary.push(
      `last: job ${l.id} ${l.kind} in ${formatSeconds(l.ms)}, ${formatCount(l.keys)} keys · re-run ${l.reruns}, backups ${l.backups}, duplicates ${l.duplicates}`,
      `  ${l.kind === "logs" ? "top talkers" : "top words"}: ${l.top.map(([k, v]) => `${k} ${formatCount(v)}`).join(", ")}`,
    );
  summary.push(`jobs done ${formatCount(s.jobsDone)} · dropped ${formatCount(s.dropped)}`);
  return { title, columns: ["WORKER", "KIND", "DOING", "DONE", "SILENT"], rows, summary };
}

export interface WorkerSnapshot {
  name: string;
  kind: "map" | "reduce";
  doing: string | undefined;
  /** Map tasks or partitions done. */
  done: number;
  /** Input lines mapped, or pairs reduced. */
  records: number;
  perSecond: number;
  dropped: number;
}

export function workerView(s: WorkerSnapshot): View {
  const unit = s.kind === "map" ? "lines" : "pairs";
  return {
    title: s.doing ?? "idle",
    summary: `${s.kind === "map" ? "tasks" : "partitions"} ${formatCount(s.done)} · ${unit} ${formatCount(s.records)} · ${formatCount(Math.round(s.perSecond))} ${unit}/s · dropped ${formatCount(s.dropped)}`,
  };
}
