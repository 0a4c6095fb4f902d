/**
 * Lab 15 wire protocol. The master binds two sockets; workers connect to both.
 *
 * work: the master's ROUTER (ventilator and control); every worker has one DEALER to it.
 *   worker → master   ["READY", hello]                 hello = {v, kind: "map"|"reduce", name}; sent on connect
 *                                                      and again every heartbeat interval (it is the heartbeat)
 *   master → mapper   ["MAP", task]                    task = {v, job, kind, task, attempt, file, start, end, reducers}
 *   master → reducer  ["REDUCE", assign]               assign = {v, job, kind, partition, attempt, maps}
 *   master → reducer  ["BATCH", header, records]       a mapper's output for the reducer's partition, forwarded as is
 *   master → reducer  ["END", end]                     a mapper's end marker for (task, attempt, partition), forwarded
 *   master → worker   ["KILL", {v, job}]               the job is over (done or given up): drop its state
 *
 * sink: the master's PULL (the sink of the pipeline); every worker has one PUSH to it.
 *   mapper → master   ["BATCH", header, records]       header = {v, job, task, attempt, partition, end?}; the last
 *                                                      batch of an attempt's partition carries end = pairs sent in
 *                                                      all, and is its end marker too (one message, not two)
 *   mapper → master   ["END", end]                     end = {v, job, task, attempt, partition, records}: the
 *                                                      attempt's output for that partition is complete (records = pairs
 *                                                      sent); a mapper sends it inside its last BATCH instead
 *   reducer → master  ["RESULT", rheader, records]     rheader = {v, job, partition, attempt}
 *   reducer → master  ["DONE", done]                   done = {v, job, partition, attempt, records}: the result is complete
 *
 * records: one MessagePack array [key, value, key, value, ...] of at most MAX_BATCH_RECORDS pairs;
 * keys are text up to MAX_KEY_CHARS, values whole numbers 0..2^53-1. Every map is MessagePack,
 * decoded only through the kit's codec; every socket takes messages up to the kit's 1 MiB.
 */
import { type Checked, decode, decodeMap, encode, isInt, isText, ok, refuse } from "@zlabs/kit";
import { isJobKind, type JobKind, MAX_KEY_CHARS } from "./jobs.ts";

export const PROTOCOL_VERSION = 1;
/** Pairs in one BATCH or RESULT frame: 4,096 keys of 200 characters stay under 1 MiB. */
export const MAX_BATCH_RECORDS = 4096;
/** Reducers per job (partitions), map tasks per job, attempts per task: the bounds the decoders check. */
export const MAX_REDUCERS = 64;
export const MAX_TASKS = 100_000;
export const MAX_ATTEMPTS = 1000;
export const MAX_NAME_CHARS = 64;
export const MAX_PATH_CHARS = 4096;
const MAX_U32 = 0xffff_ffff;

export const READY = "READY";
export const MAP = "MAP";
export const REDUCE = "REDUCE";
export const BATCH = "BATCH";
export const END = "END";
export const KILL = "KILL";
export const RESULT = "RESULT";
export const DONE = "DONE";
const frame = (s: string) => Buffer.from(s);
export const F = {
  READY: frame(READY),
  MAP: frame(MAP),
  REDUCE: frame(REDUCE),
  BATCH: frame(BATCH),
  END: frame(END),
  KILL: frame(KILL),
  RESULT: frame(RESULT),
  DONE: frame(DONE),
} as const;

export type WorkerKind = "map" | "reduce";
export interface Hello {
  kind: WorkerKind;
  name: string;
}
export interface MapTask {
  job: number;
  kind: JobKind;
  task: number;
  attempt: number;
  file: string;
  start: number;
  end: number;
  reducers: number;
}
export interface ReduceAssign {
  job: number;
  kind: JobKind;
  partition: number;
  attempt: number;
  maps: number;
}
/** Whose map output a frame is: a task attempt's output for one partition. */
export interface OutputKey {
  job: number;
  task: number;
  attempt: number;
  partition: number;
}
export interface BatchHeader extends OutputKey {
  /** On the last batch of the attempt's partition only: the pairs sent in all, as an END marker would say. */
  end?: number;
}
export interface EndMarker extends OutputKey {
  records: number;
}
export interface ResultHeader {
  job: number;
  partition: number;
  attempt: number;
}
export interface DoneMarker extends ResultHeader {
  records: number;
}
export type Records = [string, number][];

const v = { v: PROTOCOL_VERSION };
export const encodeHello = (h: Hello) => encode({ ...v, ...h });
export const encodeMapTask = (t: MapTask) => encode({ ...v, ...t });
export const encodeAssign = (a: ReduceAssign) => encode({ ...v, ...a });
/** A batch header; `end` goes on the wire only when given (the last batch of a partition). */
export const encodeHeader = (h: BatchHeader) =>
  encode(h.end === undefined ? { ...v, job: h.job, task: h.task, attempt: h.attempt, partition: h.partition } : { ...v, ...h });
export const encodeEnd = (e: EndMarker) => encode({ ...v, ...e });
export const encodeResultHeader = (h: ResultHeader) => encode({ ...v, ...h });
export const encodeDone = (d: DoneMarker) => encode({ ...v, ...d });
export const encodeKill = (job: number) => encode({ ...v, job });

/** A batch of pairs as one flat array. */
export function encodeRecords(records: readonly (readonly [string, number])[]): Buffer {
  const flat: (string | number)[] = new Array(records.length * 2);
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as readonly [string, number];
    flat[2 * i] = r[0];
    flat[2 * i + 1] = r[1];
  }
  return encode(flat);
}

export function decodeRecords(frame: Buffer | undefined): Checked<Records> {
  const d = decode(frame);
  if (!d.ok) return d;
  const flat = d.value;
  if (!Array.isArray(flat) || flat.length % 2 !== 0) return refuse("records are not a flat array of pairs");
  if (flat.length > 2 * MAX_BATCH_RECORDS) return refuse(`over ${MAX_BATCH_RECORDS} records in a batch`);
  const out: Records = new Array(flat.length / 2);
  for (let i = 0; i < flat.length; i += 2) {
    const key = flat[i];
    const value = flat[i + 1];
    if (!isText(key, MAX_KEY_CHARS)) return refuse(`record ${i / 2}: key is not text up to ${MAX_KEY_CHARS} characters`);
    if (!isInt(value, 0)) return refuse(`record ${i / 2}: value is not a whole number >= 0`);
    out[i / 2] = [key, value];
  }
  return ok(out);
}

function version(m: Record<string, unknown>): string | undefined {
  return isInt(m.v, PROTOCOL_VERSION, PROTOCOL_VERSION) ? undefined : `unsupported version ${String(m.v)}`;
}

const isJob = (x: unknown): x is number => isInt(x, 1, MAX_U32);

function header(m: Record<string, unknown>): OutputKey | undefined {
  if (!isJob(m.job) || !isInt(m.task, 0, MAX_TASKS - 1) || !isInt(m.attempt, 1, MAX_ATTEMPTS) || !isInt(m.partition, 0, MAX_REDUCERS - 1))
    return undefined;
  return { job: m.job, task: m.task, attempt: m.attempt, partition: m.partition };
}

function batchHeader(m: Record<string, unknown>): BatchHeader | undefined {
  const h = header(m);
  if (!h || m.end === undefined) return h;
  return isInt(m.end, 0) ? { ...h, end: m.end } : undefined;
}

/** The end marker a last batch carries, if it is one. */
export function endOf(h: BatchHeader): EndMarker | undefined {
  return h.end === undefined ? undefined : { job: h.job, task: h.task, attempt: h.attempt, partition: h.partition, records: h.end };
}

function resultHeader(m: Record<string, unknown>): ResultHeader | undefined {
  if (!isJob(m.job) || !isInt(m.partition, 0, MAX_REDUCERS - 1) || !isInt(m.attempt, 1, MAX_ATTEMPTS)) return undefined;
  return { job: m.job, partition: m.partition, attempt: m.attempt };
}

function map(frame: Buffer | undefined, what: string): Checked<Record<string, unknown>> {
  const d = decodeMap(frame, what);
  if (!d.ok) return d;
  const bad = version(d.value);
  return bad ? refuse(bad) : d;
}

/** [word, header, records]: the header map checked by `check`, the records decoded and bounded. */
function headed<H>(
  frames: readonly Buffer[],
  what: string,
  check: (m: Record<string, unknown>) => H | undefined,
): Checked<{ header: H; records: Records }> {
  const m = map(frames[1], what);
  if (!m.ok) return m;
  const h = check(m.value);
  if (!h) return refuse(`bad ${what}`);
  const r = decodeRecords(frames[2]);
  return r.ok ? ok({ header: h, records: r.value }) : r;
}

const invalid = (reason: string) => ({ kind: "invalid", reason }) as const;
const word = (f: Buffer | undefined) => (f && f.length <= 8 ? f.toString("latin1") : "");

/** What the master's work ROUTER takes from a worker (after the routing identity). */
export type FromWorker = { kind: "ready"; hello: Hello } | { kind: "invalid"; reason: string };

export function fromWorker(frames: readonly Buffer[]): FromWorker {
  if (frames.length !== 2 || word(frames[0]) !== READY) return invalid(`not READY (${frames.length} frames)`);
  const m = map(frames[1], "hello");
  if (!m.ok) return invalid(m.reason);
  const { kind, name } = m.value;
  if ((kind !== "map" && kind !== "reduce") || !isText(name, MAX_NAME_CHARS, 1)) return invalid("bad hello kind or name");
  return { kind: "ready", hello: { kind, name } };
}

/** What the master's sink PULL takes from mappers and reducers. The records stay encoded: the master forwards them. */
export type FromSink =
  | { kind: "batch"; header: BatchHeader; end: EndMarker | undefined; frames: Buffer[] }
  | { kind: "end"; end: EndMarker; frames: Buffer[] }
  | { kind: "result"; header: ResultHeader; records: Records }
  | { kind: "done"; done: DoneMarker }
  | { kind: "invalid"; reason: string };

export function fromSink(frames: Buffer[]): FromSink {
  const w = word(frames[0]);
  if (w === BATCH && frames.length === 3) {
    const m = map(frames[1], "batch header");
    if (!m.ok) return invalid(m.reason);
    const h = batchHeader(m.value);
    // The master forwards the records without opening them; it checks the size bound, the reducer the rest.
    if (!h) return invalid("bad batch header");
    return { kind: "batch", header: h, end: endOf(h), frames };
  }
  if (w === END && frames.length === 2) {
    const m = map(frames[1], "end marker");
    if (!m.ok) return invalid(m.reason);
    const h = header(m.value);
    if (!h || !isInt(m.value.records, 0)) return invalid("bad end marker");
    return { kind: "end", end: { ...h, records: m.value.records }, frames };
  }
  if (w === RESULT && frames.length === 3) {
    const r = headed(frames, "result header", resultHeader);
    return r.ok ? { kind: "result", ...r.value } : invalid(r.reason);
  }
  if (w === DONE && frames.length === 2) {
    const m = map(frames[1], "done marker");
    if (!m.ok) return invalid(m.reason);
    const h = resultHeader(m.value);
    if (!h || !isInt(m.value.records, 0)) return invalid("bad done marker");
    return { kind: "done", done: { ...h, records: m.value.records } };
  }
  return invalid(`not BATCH, END, RESULT or DONE (${frames.length} frames)`);
}

/** What a worker's DEALER takes from the master. */
export type FromMaster =
  | { kind: "map"; task: MapTask }
  | { kind: "reduce"; assign: ReduceAssign }
  | { kind: "batch"; header: BatchHeader; end: EndMarker | undefined; records: Records }
  | { kind: "end"; end: EndMarker }
  | { kind: "kill"; job: number }
  | { kind: "invalid"; reason: string };

export function fromMaster(frames: readonly Buffer[]): FromMaster {
  const w = word(frames[0]);
  if (w === BATCH && frames.length === 3) {
    const r = headed(frames, "batch header", batchHeader);
    return r.ok ? { kind: "batch", ...r.value, end: endOf(r.value.header) } : invalid(r.reason);
  }
  if (frames.length !== 2) return invalid(`${frames.length} frames`);
  const m = map(frames[1], w.toLowerCase());
  if (!m.ok) return invalid(m.reason);
  const x = m.value;
  switch (w) {
    case MAP:
      if (
        !isJob(x.job) ||
        !isJobKind(x.kind) ||
        !isInt(x.task, 0, MAX_TASKS - 1) ||
        !isInt(x.attempt, 1, MAX_ATTEMPTS) ||
        !isText(x.file, MAX_PATH_CHARS, 1) ||
        !isInt(x.start, 0) ||
        !isInt(x.end, 0) ||
        x.end < x.start ||
        !isInt(x.reducers, 1, MAX_REDUCERS)
      )
        return invalid("bad map task");
      return {
        kind: "map",
        task: {
          job: x.job,
          kind: x.kind,
          task: x.task,
          attempt: x.attempt,
          file: x.file,
          start: x.start,
          end: x.end,
          reducers: x.reducers,
        },
      };
    case REDUCE:
      if (
        !isJob(x.job) ||
        !isJobKind(x.kind) ||
        !isInt(x.partition, 0, MAX_REDUCERS - 1) ||
        !isInt(x.attempt, 1, MAX_ATTEMPTS) ||
        !isInt(x.maps, 1, MAX_TASKS)
      )
        return invalid("bad reduce assignment");
      return { kind: "reduce", assign: { job: x.job, kind: x.kind, partition: x.partition, attempt: x.attempt, maps: x.maps } };
    case END: {
      const h = header(x);
      if (!h || !isInt(x.records, 0)) return invalid("bad end marker");
      return { kind: "end", end: { ...h, records: x.records } };
    }
    case KILL:
      if (!isJob(x.job)) return invalid("bad kill");
      return { kind: "kill", job: x.job };
    default:
      return invalid(`unknown command ${JSON.stringify(w)}`);
  }
}
