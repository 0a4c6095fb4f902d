import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { type Logger, syncDirectory } from "@zlabs/kit";

/**
 * An append-only journal file: the one place a Titanic (or a patient client) keeps what must
 * survive a crash. Not one file per message (the Guide's "most brutal" design): records are
 * appended to one file, an fsync makes them durable, and every append waiting while an fsync runs
 * is written and made durable by the next single fsync (group commit).
 *
 * File layout: an 8-byte magic, then records. A record is
 *   u32 BE payload length | u32 BE CRC-32 of the payload | payload
 * and a payload is
 *   u8 type | 16-byte key | u16 BE frame count | (u32 BE frame length | frame bytes) * count.
 * A crash in the middle of an append leaves a torn last record: its length runs past the end of the
 * file or its checksum does not match. Opening the journal detects it, cuts it off and goes on.
 */
export const JOURNAL_MAGIC = Buffer.from("ZLTJ0001", "latin1");
export const RECORD_HEADER_BYTES = 8;
export const KEY_BYTES = 16;
/** The largest payload a record may have: a longer length field can only be a torn or foreign file. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
export const MAX_FRAMES = 1024;
/** Bytes read at a time while the journal is scanned at start. */
const SCAN_CHUNK_BYTES = 1024 * 1024;

export interface JournalRecord {
  type: number;
  /** 16 bytes. */
  key: Buffer;
  frames: Buffer[];
}

/** Where a record sits in the current file (changes when the journal is compacted). */
export interface Location {
  pos: number;
  len: number;
}

export interface JournalStats {
  /** fsync calls on the journal file (appends and compactions). */
  fsyncs: number;
  /** Records appended since open. */
  appended: number;
  /** Write batches: with group commit, one batch holds every append that waited for the previous fsync. */
  batches: number;
  compactions: number;
  /** Bytes of a torn tail cut off at open. */
  tornBytes: number;
  /** Size of the file now. */
  bytes: number;
}

export interface JournalOptions {
  /** true: one fsync covers every append waiting (group commit); false: one write + fsync per append. */
  groupCommit: boolean;
  log: Logger;
}

/** A write or fsync failed: nothing in that batch is durable (the file was cut back to before it). */
export class JournalWriteError extends Error {
  override name = "JournalWriteError";
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export function encodeRecord(record: JournalRecord): Buffer {
  if (record.key.length !== KEY_BYTES) throw new Error(`a journal key has ${KEY_BYTES} bytes`);
  if (record.frames.length > MAX_FRAMES) throw new Error(`at most ${MAX_FRAMES} frames in a record`);
  const size = 1 + KEY_BYTES + 2 + record.frames.reduce((n, f) => n + 4 + f.length, 0);
  if (size > MAX_RECORD_BYTES) throw new Error(`a journal record holds at most ${MAX_RECORD_BYTES} bytes`);
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + size);
  let at = RECORD_HEADER_BYTES;
  out[at++] = record.type;
  record.key.copy(out, at);
  at += KEY_BYTES;
  out.writeUInt16BE(record.frames.length, at);
  at += 2;
  for (const frame of record.frames) {
    out.writeUInt32BE(frame.length, at);
    at += 4;
    frame.copy(out, at);
    at += frame.length;
  }
  out.writeUInt32BE(size, 0);
  out.writeUInt32BE(crc32(out.subarray(RECORD_HEADER_BYTES)), 4);
  return out;
}

/** The payload of a record (after its header), or undefined if it does not parse: a corrupt record. */
export function decodePayload(payload: Buffer): JournalRecord | undefined {
  if (payload.length < 1 + KEY_BYTES + 2) return undefined;
  let at = 0;
  const type = payload[at++] as number;
  const key = Buffer.from(payload.subarray(at, at + KEY_BYTES));
  at += KEY_BYTES;
  const count = payload.readUInt16BE(at);
  at += 2;
  if (count > MAX_FRAMES) return undefined;
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > payload.length) return undefined;
    const len = payload.readUInt32BE(at);
    at += 4;
    if (at + len > payload.length) return undefined;
    frames.push(Buffer.from(payload.subarray(at, at + len)));
    at += len;
  }
  return at === payload.length ? { type, key, frames } : undefined;
}

/** Checks one record at the start of `buf`: "short" when more bytes are needed to tell. */
export function checkRecord(
  buf: Buffer,
): { kind: "ok"; record: JournalRecord; len: number } | { kind: "short"; need: number } | { kind: "bad"; reason: string } {
  if (buf.length < RECORD_HEADER_BYTES) return { kind: "short", need: RECORD_HEADER_BYTES };
  const size = buf.readUInt32BE(0);
  if (size > MAX_RECORD_BYTES || size < 1 + KEY_BYTES + 2) return { kind: "bad", reason: `record length ${size} out of bounds` };
  const len = RECORD_HEADER_BYTES + size;
  if (buf.length < len) return { kind: "short", need: len };
  const payload = buf.subarray(RECORD_HEADER_BYTES, len);
  if (crc32(payload) !== buf.readUInt32BE(4)) return { kind: "bad", reason: "checksum mismatch" };
  const record = decodePayload(payload);
  return record ? { kind: "ok", record, len } : { kind: "bad", reason: "payload does not parse" };
}

interface Pending {
  buf: Buffer;
  records: number;
  apply: ((locs: Location[]) => void) | undefined;
  sizes: number[];
  resolve: (locs: Location[]) => void;
  reject: (err: Error) => void;
}

/** A file handle and the readers using it, so compaction closes the old file only when they are done. */
interface OpenFile {
  fh: FileHandle;
  readers: number;
  retired: boolean;
}

export class Journal {
  readonly stats: JournalStats = { fsyncs: 0, appended: 0, batches: 0, compactions: 0, tornBytes: 0, bytes: 0 };
  private file: OpenFile;
  private size: number;
  private queue: Pending[] = [];
  private flushing = false;
  /** Compaction and flushes never overlap: a compaction waits here for the flush to end, and the other way round. */
  private lock: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    readonly path: string,
    fh: FileHandle,
    size: number,
    private readonly options: JournalOptions,
  ) {
    this.file = { fh, readers: 0, retired: false };
    this.size = size;
    this.stats.bytes = size;
  }

  /**
   * Opens (creating it and its folder if needed) and scans the journal: `onRecord` sees every
   * intact record in order with its location. A torn tail is cut off (logged, counted), never fatal.
   * Throws if the folder or file cannot be created or read, or the file is not a journal.
   */
  static async open(path: string, options: JournalOptions, onRecord: (record: JournalRecord, loc: Location) => void): Promise<Journal> {
    const dir = dirname(path);
    const made = await mkdir(dir, { recursive: true });
    if (made) await syncDirectory(dirname(made));
    // A compaction cut short by a crash leaves its unfinished copy: the journal itself is whole.
    for (const name of await readdir(dir))
      if (name.startsWith(".compact-") && name.endsWith(".tmp")) await unlink(join(dir, name)).catch(() => {});
    let fh: FileHandle;
    try {
      fh = await open(path, "r+");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      fh = await open(path, "wx+");
      await syncDirectory(dir);
    }
    try {
      const { size, torn } = await scan(fh, path, onRecord);
      const journal = new Journal(path, fh, size, options);
      if (torn > 0) {
        journal.stats.tornBytes = torn;
        options.log.warn({ path, at: size, bytes: torn }, "torn journal tail cut off (a crash during an append)");
      }
      return journal;
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** The error that makes the journal unusable until reopened (the file could not be cut back after a failed write). */
  get failed(): Error | undefined {
    return this.failure;
  }

  get bytes(): number {
    return this.size;
  }

  /**
   * Appends records; resolves with their locations once they are durable (written and fsynced).
   * `apply` runs as soon as they are durable, before any compaction can move them: update an index there.
   * Rejects with JournalWriteError when the write or fsync fails; then none of them is in the file.
   */
  append(records: JournalRecord[], apply?: (locs: Location[]) => void): Promise<Location[]> {
    if (this.closed) return Promise.reject(new JournalWriteError("journal closed", "ECLOSED"));
    if (this.failure) return Promise.reject(new JournalWriteError(`journal unusable: ${this.failure.message}`, "EFAILED"));
    const bufs = records.map(encodeRecord);
    return new Promise((resolve, reject) => {
      this.queue.push({
        buf: bufs.length === 1 ? (bufs[0] as Buffer) : Buffer.concat(bufs),
        records: records.length,
        sizes: bufs.map((b) => b.length),
        apply,
        resolve,
        reject,
      });
      void this.flush();
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.options.groupCommit ? this.queue.splice(0) : this.queue.splice(0, 1);
        await this.exclusive(() => this.writeBatch(batch));
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    if (this.failure || this.closed) {
      const err = new JournalWriteError(`journal unusable: ${this.failure?.message ?? "closed"}`, "EFAILED");
      for (const p of batch) p.reject(err);
      return;
    }
    const start = this.size;
    const buffers = batch.map((p) => p.buf);
    const total = buffers.reduce((n, b) => n + b.length, 0);
    try {
      await writeAll(this.file.fh, buffers, start);
      await this.file.fh.sync();
      this.stats.fsyncs += 1;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      await this.cutBack(start);
      const failure = new JournalWriteError(`journal append failed: ${e.message}`, e.code);
      for (const p of batch) p.reject(failure);
      return;
    }
    this.size = start + total;
    this.stats.bytes = this.size;
    this.stats.batches += 1;
    let at = start;
    for (const p of batch) {
      const locs = p.sizes.map((len) => {
        const loc = { pos: at, len };
        at += len;
        return loc;
      });
      this.stats.appended += p.records;
      try {
        p.apply?.(locs);
      } catch (err) {
        // The records are durable whatever an index update does: every append of the batch resolves.
        this.options.log.error({ err }, "index update after a journal append failed");
      }
      p.resolve(locs);
    }
  }

  /** After a failed write the file may hold part of the batch: cut it back so later records are not stuck behind garbage. */
  private async cutBack(size: number): Promise<void> {
    try {
      await this.file.fh.truncate(size);
      await this.file.fh.sync();
    } catch (err) {
      this.failure = err as Error;
      this.options.log.error({ err, path: this.path }, "journal could not be cut back after a failed write: unusable until reopened");
    }
  }

  /** Reads a record back (a stored request or reply). The location must come from this journal's index. */
  async read(loc: Location): Promise<JournalRecord> {
    const file = this.file;
    file.readers += 1;
    try {
      const buf = Buffer.allocUnsafe(loc.len);
      const { bytesRead } = await file.fh.read(buf, 0, loc.len, loc.pos);
      const checked = checkRecord(buf.subarray(0, bytesRead));
      if (checked.kind !== "ok")
        throw new Error(`journal record at ${loc.pos} unreadable: ${checked.kind === "bad" ? checked.reason : "short"}`);
      return checked.record;
    } finally {
      file.readers -= 1;
      if (file.retired && file.readers === 0) await file.fh.close().catch(() => {});
    }
  }

  /**
   * Rewrites the journal with only the records `collect` names (in that order), then renames it over
   * the old one: write, fsync the new file, rename, fsync the folder. `apply` gets their new
   * locations while no append can run, so the index never points into the wrong file. A crash at any
   * point leaves either the old journal or the new one, whole.
   */
  compact(collect: () => Location[], apply: (locs: Location[]) => void): Promise<{ before: number; after: number }> {
    return this.exclusive(async () => {
      if (this.failure || this.closed) throw new Error("journal unusable");
      const keep = collect();
      const before = this.size;
      const tmpPath = join(dirname(this.path), `.compact-${process.pid}.tmp`);
      await unlink(tmpPath).catch(() => {});
      const out = await open(tmpPath, "wx+");
      const locs: Location[] = [];
      let size = JOURNAL_MAGIC.length;
      try {
        await writeAll(out, [JOURNAL_MAGIC], 0);
        // Copy in slices so a large journal never sits in memory at once.
        let slice: Buffer[] = [];
        let sliceBytes = 0;
        let sliceAt = size;
        for (const loc of keep) {
          const buf = Buffer.allocUnsafe(loc.len);
          const { bytesRead } = await this.file.fh.read(buf, 0, loc.len, loc.pos);
          if (bytesRead !== loc.len) throw new Error(`journal record at ${loc.pos} is short`);
          locs.push({ pos: size, len: loc.len });
          size += loc.len;
          slice.push(buf);
          sliceBytes += loc.len;
          if (sliceBytes >= SCAN_CHUNK_BYTES) {
            await writeAll(out, slice, sliceAt);
            sliceAt += sliceBytes;
            slice = [];
            sliceBytes = 0;
          }
        }
        if (slice.length > 0) await writeAll(out, slice, sliceAt);
        await out.sync();
        this.stats.fsyncs += 1;
      } catch (err) {
        await out.close().catch(() => {});
        await unlink(tmpPath).catch(() => {});
        throw err;
      }
      await rename(tmpPath, this.path);
      await syncDirectory(dirname(this.path));
      // The new file, its size and the index's new locations change together, with no await between:
      // a read takes a location and the file at the same moment, so it never mixes old and new.
      const old = this.file;
      this.file = { fh: out, readers: 0, retired: false };
      this.size = size;
      this.stats.bytes = size;
      this.stats.compactions += 1;
      apply(locs);
      old.retired = true;
      if (old.readers === 0) await old.fh.close().catch(() => {});
      return { before, after: size };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => {
      this.closed = true;
      await this.file.fh.close().catch(() => {});
    });
    for (const p of this.queue.splice(0)) p.reject(new JournalWriteError("journal closed", "ECLOSED"));
  }
}

async function writeAll(fh: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let bufs = buffers;
  let at = position;
  while (bufs.length > 0) {
    const { bytesWritten } = await fh.writev(bufs, at);
    at += bytesWritten;
    let left = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of bufs) {
      if (left >= b.length) {
        left -= b.length;
        continue;
      }
      rest.push(left > 0 ? b.subarray(left) : b);
      left = 0;
    }
    if (bytesWritten === 0 && rest.length > 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
    bufs = rest;
  }
}

/** Reads every intact record; returns the size up to the last one and how many bytes after it were torn. */
async function scan(
  fh: FileHandle,
  path: string,
  onRecord: (record: JournalRecord, loc: Location) => void,
): Promise<{ size: number; torn: number }> {
  const fileSize = (await fh.stat()).size;
  if (fileSize < JOURNAL_MAGIC.length) {
    // New, or torn before its magic was whole: start it (again).
    await fh.truncate(0);
    await writeAll(fh, [JOURNAL_MAGIC], 0);
    await fh.sync();
    return { size: JOURNAL_MAGIC.length, torn: fileSize };
  }
  const magic = Buffer.alloc(JOURNAL_MAGIC.length);
  await fh.read(magic, 0, magic.length, 0);
  if (!magic.equals(JOURNAL_MAGIC)) throw new Error(`${path} is not a Titanic journal (bad magic)`);
  let pos = JOURNAL_MAGIC.length;
  let buf = Buffer.alloc(0);
  let bufAt = pos;
  let eof = false;
  const fill = async (need: number) => {
    while (buf.length < need && !eof) {
      const chunk = Buffer.allocUnsafe(Math.max(SCAN_CHUNK_BYTES, need - buf.length));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, bufAt + buf.length);
      if (bytesRead === 0) eof = true;
      buf = Buffer.concat([buf, chunk.subarray(0, bytesRead)]);
    }
  };
  for (;;) {
    await fill(RECORD_HEADER_BYTES);
    if (buf.length === 0) break;
    let checked = checkRecord(buf);
    if (checked.kind === "short") {
      await fill(checked.need);
      checked = checkRecord(buf);
    }
    if (checked.kind !== "ok") break;
    onRecord(checked.record, { pos, len: checked.len });
    pos += checked.len;
    buf = buf.subarray(checked.len);
    bufAt = pos;
  }
  const torn = fileSize - pos;
  if (torn > 0) {
    await fh.truncate(pos);
    await fh.sync();
  }
  return { size: pos, torn };
}

/** For tests and the bench: the journal's size on disk. */
export async function fileBytes(path: string): Promise<number> {
  return (await stat(path)).size;
}
