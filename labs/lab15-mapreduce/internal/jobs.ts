/**
 * The jobs, as pure code: word count and access-log aggregation. Each has a map function (a line
 * in, keys out with a count) and a reduce function (the values of one key in, one value out); the
 * map worker also uses the reduce function as its combiner. The same functions run the single-
 * process baseline, so the distributed result can be compared to it byte for byte.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";

export const JOB_KINDS = ["wordcount", "logs"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const isJobKind = (v: unknown): v is JobKind => v === "wordcount" || v === "logs";

/** The longest key a job emits (longer words are cut): a bound the decoders check too. */
export const MAX_KEY_CHARS = 200;

export type Emit = (key: string, value: number) => void;

export interface Job {
  kind: JobKind;
  /** One input line: emit (key, value) pairs. */
  map(line: string, emit: Emit): void;
  /** All the values of one key, as partial results: one value. Associative and commutative (a combiner). */
  reduce(a: number, b: number): number;
}

const WORD = /[a-z0-9]+(?:'[a-z]+)?/g;

export const wordCount: Job = {
  kind: "wordcount",
  map(line, emit) {
    for (const m of line.toLowerCase().matchAll(WORD)) emit(m[0].slice(0, MAX_KEY_CHARS), 1);
  },
  reduce: (a, b) => a + b,
};

/** Common Log Format: host ident authuser [date] "request" status bytes */
const CLF = /^(\S+) \S+ \S+ \[[^\]]*\] "[^"]*" (\d{3}) (\d+|-)/;

/**
 * Access-log aggregation: requests and bytes per client IP (top talkers) and requests per status.
 * Keys: "ip:<address>", "bytes:<address>", "status:<code>"; a line that is not CLF counts as "invalid".
 */
export const logAggregation: Job = {
  kind: "logs",
  map(line, emit) {
    if (line.length === 0) return;
    const m = CLF.exec(line);
    if (!m) {
      emit("invalid", 1);
      return;
    }
    const ip = (m[1] as string).slice(0, MAX_KEY_CHARS - 6);
    emit(`ip:${ip}`, 1);
    emit(`status:${m[2]}`, 1);
    if (m[3] !== "-") emit(`bytes:${ip}`, Number(m[3]));
  },
  reduce: (a, b) => a + b,
};

export function jobOf(kind: JobKind): Job {
  return kind === "wordcount" ? wordCount : logAggregation;
}

/**
 * Deterministic partition of a key among R reducers: FNV-1a 32 over the key's UTF-16 code units,
 * mod R. The same key goes to the same reducer in every run and every process.
 */
export function partitionOf(key: string, reducers: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % reducers;
}

/** A map task's input: bytes [start, end) of a file, on line boundaries as Hadoop reads them. */
export interface Split {
  file: string;
  start: number;
  end: number;
}

/** Cuts files into splits of about `splitBytes` each (empty files give none). */
export function splitFiles(files: readonly string[], splitBytes: number): Split[] {
  const splits: Split[] = [];
  for (const file of files) {
    const size = statSync(file).size;
    for (let start = 0; start < size; start += splitBytes) splits.push({ file, start, end: Math.min(size, start + splitBytes) });
  }
  return splits;
}

const READ_CHUNK = 1 << 20;
/** Past the split's end only its last line is left to read: lines are short, so small reads. */
const TAIL_CHUNK = 4096;
/**
 * One read buffer for the process: every read is decoded to a string before anything is yielded,
 * so interleaved generators cannot see each other's bytes (and no 1 MiB buffer per split to collect).
 */
const readBuffer = Buffer.allocUnsafe(READ_CHUNK);

/**
 * The lines of a split. A split that starts inside a line skips it (the split before reads it);
 * a split reads past its end to finish its last line, a few KiB at a time. So every line is read
 * exactly once, and a split reads little more than its own bytes.
 */
export function* splitLines(split: Split): Generator<string> {
  const fd = openSync(split.file, "r");
  try {
    let pos = split.start;
    let carry = "";
    // Skip a partial first line: start one byte early and drop everything to the first newline.
    let skipping = split.start > 0;
    if (skipping) pos = split.start - 1;
    const buf = readBuffer;
    for (;;) {
      const want = pos < split.end ? Math.min(READ_CHUNK, split.end - pos) : TAIL_CHUNK;
      const n = readSync(fd, buf, 0, want, pos);
      if (n === 0) {
        if (carry.length > 0 && !skipping) yield carry;
        return;
      }
      let text = carry + buf.toString("latin1", 0, n);
      const chunkStart = pos - carry.length;
      pos += n;
      let from = 0;
      if (skipping) {
        const nl = text.indexOf("\n");
        if (nl < 0) {
          carry = "";
          continue;
        }
        from = nl + 1;
        skipping = false;
      }
      for (;;) {
        const nl = text.indexOf("\n", from);
        if (nl < 0) break;
        // A line that starts at or after the split's end belongs to the next split.
        if (chunkStart + from >= split.end) return;
        yield text.slice(from, nl);
        from = nl + 1;
      }
      text = text.slice(from);
      if (chunkStart + from >= split.end) return;
      carry = text;
    }
  } finally {
    closeSync(fd);
  }
}

/** Maps lines into a combiner table (the map side's partial reduce). Returns the lines read. */
export function mapSplit(job: Job, split: Split, table: Map<string, number>): number {
  let lines = 0;
  const emit: Emit = (key, value) => {
    const had = table.get(key);
    table.set(key, had === undefined ? value : job.reduce(had, value));
  };
  for (const line of splitLines(split)) {
    lines += 1;
    job.map(line, emit);
  }
  return lines;
}

/** Splits a combiner table by partition: one array of [key, value] per reducer. */
export function partitionTable(table: Map<string, number>, reducers: number): [string, number][][] {
  const parts: [string, number][][] = Array.from({ length: reducers }, () => []);
  for (const [key, value] of table) (parts[partitionOf(key, reducers)] as [string, number][]).push([key, value]);
  return parts;
}

/** The single-process baseline: the same job over the same files in one loop. */
export function runSingle(kind: JobKind, files: readonly string[]): { table: Map<string, number>; lines: number } {
  const job = jobOf(kind);
  const table = new Map<string, number>();
  let lines = 0;
  for (const file of files) lines += mapSplit(job, { file, start: 0, end: statSync(file).size }, table);
  return { table, lines };
}

/** A result as the result file holds it: "key\tvalue" lines sorted by key (code units), newline-ended. */
export function formatResult(entries: Iterable<[string, number]>): string {
  const lines = [...entries].map(([k, v]) => `${k}\t${v}`);
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

/** The top N keys with a prefix by value (ties by key): top talkers from "ip:" keys. */
export function topKeys(entries: Iterable<[string, number]>, prefix: string, n: number): [string, number][] {
  const picked: [string, number][] = [];
  for (const [k, v] of entries) if (k.startsWith(prefix)) picked.push([k.slice(prefix.length), v]);
  picked.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return picked.slice(0, n);
}
