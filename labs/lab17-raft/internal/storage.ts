// A node's durable state (currentTerm, votedFor, the log) as an append-only file of records, each
// fsynced before the node sends anything that depends on it. A record says: term and vote now,
// and the log from index `from` on (what followed is gone). Replaying the records gives the state;
// a record torn by a crash mid-write fails its length or decode and ends the replay there.
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { decodeMap, encode, isInt, syncDirectory, syncDirectorySync } from "@zlabs/kit";
import { decodeEntriesFromDisk } from "./protocol.ts";
import { type DurableState, EMPTY_STATE, type PersistRecord } from "./raft.ts";

export const LOG_FILE = "raft.log";
/** Past this size the file is rewritten as one record (the log itself is kept whole: no snapshots). */
export const COMPACT_BYTES = 8 * 1024 * 1024;

function frame(record: PersistRecord): Buffer {
  const body = encode(record);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

export interface Loaded {
  state: DurableState;
  records: number;
  /** Bytes of a torn last record, cut off. */
  tornBytes: number;
}

/** Reads the state back; a missing file is a new node. */
export function loadState(dir: string): Loaded {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOG_FILE);
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { state: structuredClone(EMPTY_STATE), records: 0, tornBytes: 0 };
    throw err;
  }
  const state: DurableState = structuredClone(EMPTY_STATE);
  let offset = 0;
  let records = 0;
  while (offset + 4 <= data.length) {
    const length = data.readUInt32BE(offset);
    if (offset + 4 + length > data.length) break;
    const decoded = decodeMap(data.subarray(offset + 4, offset + 4 + length), "record");
    if (!decoded.ok) break;
    const r = decoded.value;
    const entries = decodeEntriesFromDisk(r.entries);
    if (!isInt(r.term) || !isInt(r.from, 1) || !entries || r.from > state.log.length + 1) break;
    state.term = r.term;
    state.votedFor = typeof r.votedFor === "string" ? r.votedFor : null;
    state.log.length = r.from - 1;
    state.log.push(...entries);
    offset += 4 + length;
    records += 1;
  }
  const tornBytes = data.length - offset;
  if (tornBytes > 0) {
    // Cut the torn tail, so the next record is not appended after garbage.
    const fd = openSync(path, "r+");
    try {
      ftruncateSync(fd, offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  return { state, records, tornBytes };
}

export class RaftStorage {
  private handle: FileHandle | undefined;
  private size = 0;

  constructor(private readonly dir: string) {}

  private get path(): string {
    return join(this.dir, LOG_FILE);
  }

  async open(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.handle = await open(this.path, "a");
    this.size = (await this.handle.stat()).size;
    await syncDirectory(this.dir);
  }

  /** Appends the record and fsyncs it; resolves once it is on disk. */
  async write(record: PersistRecord, whole: () => DurableState): Promise<void> {
    if (!this.handle) throw new Error("storage not open");
    if (this.size > COMPACT_BYTES) return this.compact(whole());
    const buf = frame(record);
    await this.handle.write(buf);
    await this.handle.datasync();
    this.size += buf.length;
  }

  /** Writes the whole state as one record to a new file, fsyncs it and renames it into place. */
  private async compact(state: DurableState): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const buf = frame({ term: state.term, votedFor: state.votedFor, from: 1, entries: state.log });
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, buf);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await this.handle?.close();
    renameSync(tmp, this.path);
    syncDirectorySync(this.dir);
    this.handle = await open(this.path, "a");
    this.size = buf.length;
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}
