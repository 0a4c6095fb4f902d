import { join } from "node:path";
import type { Logger } from "@zlabs/kit";
import { Journal, type JournalRecord, type JournalStats, type Location } from "./journal.ts";
import { newUuid, uuidBytes, uuidFromBytes } from "./protocol.ts";

/** Record types in Titanic's journal. */
export const REC_REQUEST = 1; // frames: [service, body...]
export const REC_REPLY = 2; // frames: the service's reply body
export const REC_CLOSE = 3; // no frames

export const JOURNAL_FILE = "titanic.journal";
/** Compact when closed records take more than this many bytes and more than the live ones. */
export const COMPACT_MIN_BYTES = 1024 * 1024;

interface Entry {
  service: string;
  req: Location;
  rep?: Location;
}

/** The storage is down (unwritable, full, not there): TSP answers 500 and the client retries later. */
export class StorageUnavailable extends Error {
  override name = "StorageUnavailable";
}

export interface StoreOptions {
  dir: string;
  groupCommit: boolean;
  compactMinBytes: number;
  log: Logger;
}

export type ReplyState = { kind: "unknown" } | { kind: "pending" } | { kind: "done"; frames: Buffer[] };

/**
 * Titanic's requests and replies: the journal on disk, and an in-memory index (uuid -> where its
 * request and reply are) rebuilt from the journal at start. Pending requests are the ones with no
 * reply yet, in the order they were stored.
 */
export class TitanicStore {
  private journal: Journal | undefined;
  private readonly entries = new Map<string, Entry>();
  /** Insertion-ordered: the dispatcher takes them oldest first. */
  readonly pending = new Set<string>();
  private deadBytes = 0;
  private compacting = false;
  private lastError: string | undefined;
  /** Called when a request becomes pending (new, or found at open). */
  onPending: () => void = () => {};

  constructor(private readonly options: StoreOptions) {}

  get path(): string {
    return join(this.options.dir, JOURNAL_FILE);
  }

  get available(): boolean {
    return this.journal !== undefined && !this.journal.failed;
  }

  get unavailableReason(): string | undefined {
    return this.available ? undefined : (this.journal?.failed?.message ?? this.lastError ?? "not opened");
  }

  get stats(): JournalStats | undefined {
    return this.journal?.stats;
  }

  get size(): { entries: number; pending: number; done: number; deadBytes: number; bytes: number } {
    return {
      entries: this.entries.size,
      pending: this.pending.size,
      done: this.entries.size - this.pending.size,
      deadBytes: this.deadBytes,
      bytes: this.journal?.bytes ?? 0,
    };
  }

  /** Opens the journal and rebuilds the index; false (logged, reason kept) when the storage is not usable. */
  async open(): Promise<boolean> {
    if (this.journal && !this.journal.failed) return true;
    if (this.journal) {
      await this.journal.close();
      this.journal = undefined;
    }
    this.entries.clear();
    this.pending.clear();
    this.deadBytes = 0;
    try {
      this.journal = await Journal.open(this.path, { groupCommit: this.options.groupCommit, log: this.options.log }, (rec, loc) =>
        this.replay(rec, loc),
      );
    } catch (err) {
      const reason = (err as Error).message;
      if (reason !== this.lastError)
        this.options.log.error({ err, path: this.path }, "storage unavailable: requests get 500 until it is back");
      this.lastError = reason;
      this.entries.clear();
      this.pending.clear();
      return false;
    }
    this.lastError = undefined;
    this.options.log.info(
      { path: this.path, requests: this.entries.size, pending: this.pending.size, bytes: this.journal.bytes },
      "journal opened: index rebuilt, pending requests will be dispatched again",
    );
    if (this.pending.size > 0) this.onPending();
    return true;
  }

  private replay(rec: JournalRecord, loc: Location): void {
    const uuid = uuidFromBytes(rec.key);
    switch (rec.type) {
      case REC_REQUEST: {
        const service = rec.frames[0]?.toString("latin1") ?? "";
        this.entries.set(uuid, { service, req: loc });
        this.pending.add(uuid);
        return;
      }
      case REC_REPLY: {
        const entry = this.entries.get(uuid);
        if (!entry || entry.rep) {
          this.deadBytes += loc.len;
          return;
        }
        entry.rep = loc;
        this.pending.delete(uuid);
        return;
      }
      case REC_CLOSE: {
        const entry = this.entries.get(uuid);
        this.deadBytes += loc.len + (entry ? entry.req.len + (entry.rep?.len ?? 0) : 0);
        this.entries.delete(uuid);
        this.pending.delete(uuid);
        return;
      }
      default:
        this.deadBytes += loc.len;
        this.options.log.warn({ type: rec.type, pos: loc.pos }, "journal record of an unknown type skipped");
    }
  }

  private usable(): Journal {
    const journal = this.journal;
    if (!journal || journal.failed) throw new StorageUnavailable(this.unavailableReason ?? "storage unavailable");
    return journal;
  }

  /** Stores a request durably; resolves with its new uuid only once it is on disk. */
  async submit(service: string, body: Buffer[]): Promise<string> {
    const journal = this.usable();
    const uuid = newUuid();
    await journal.append([{ type: REC_REQUEST, key: uuidBytes(uuid), frames: [Buffer.from(service, "latin1"), ...body] }], ([loc]) => {
      this.entries.set(uuid, { service, req: loc as Location });
      this.pending.add(uuid);
    });
    this.onPending();
    return uuid;
  }

  /** The target service of a stored request (from the index: no disk read). */
  serviceOf(uuid: string): string | undefined {
    return this.entries.get(uuid)?.service;
  }

  /** The stored request, for the dispatcher. */
  async request(uuid: string): Promise<{ service: string; body: Buffer[] } | undefined> {
    const entry = this.entries.get(uuid);
    if (!entry) return undefined;
    const rec = await this.usable().read(entry.req);
    return { service: entry.service, body: rec.frames.slice(1) };
  }

  /** Stores the reply durably (once: a second reply for the same uuid, or one for a closed uuid, is dropped). */
  async storeReply(uuid: string, frames: Buffer[]): Promise<boolean> {
    const journal = this.usable();
    const entry = this.entries.get(uuid);
    if (!entry || entry.rep) return false;
    let stored = false;
    await journal.append([{ type: REC_REPLY, key: uuidBytes(uuid), frames }], ([loc]) => {
      const now = this.entries.get(uuid);
      if (!now || now.rep) {
        this.deadBytes += (loc as Location).len;
        return;
      }
      now.rep = loc as Location;
      this.pending.delete(uuid);
      stored = true;
    });
    return stored;
  }

  async reply(uuid: string): Promise<ReplyState> {
    const journal = this.usable();
    const entry = this.entries.get(uuid);
    if (!entry) return { kind: "unknown" };
    if (!entry.rep) return { kind: "pending" };
    const rec = await journal.read(entry.rep);
    return { kind: "done", frames: rec.frames };
  }

  /** Forgets a request and its reply, durably; an unknown uuid is fine (close is idempotent). */
  async close(uuid: string): Promise<void> {
    const journal = this.usable();
    if (!this.entries.has(uuid)) return;
    await journal.append([{ type: REC_CLOSE, key: uuidBytes(uuid), frames: [] }], ([loc]) => {
      const entry = this.entries.get(uuid);
      this.deadBytes += (loc as Location).len + (entry ? entry.req.len + (entry.rep?.len ?? 0) : 0);
      this.entries.delete(uuid);
      this.pending.delete(uuid);
    });
    void this.maybeCompact();
  }

  private liveBytes(): number {
    return (this.journal?.bytes ?? 0) - this.deadBytes;
  }

  /** Compacts when closed entries take most of the file: only open requests and their replies are kept. */
  async maybeCompact(force = false): Promise<boolean> {
    const journal = this.journal;
    if (!journal || journal.failed || this.compacting) return false;
    if (!force && (this.deadBytes < this.options.compactMinBytes || this.deadBytes < this.liveBytes())) return false;
    this.compacting = true;
    let uuids: string[] = [];
    try {
      const { before, after } = await journal.compact(
        () => {
          uuids = [...this.entries.keys()];
          return uuids.flatMap((u) => {
            const e = this.entries.get(u) as Entry;
            return e.rep ? [e.req, e.rep] : [e.req];
          });
        },
        (locs) => {
          let i = 0;
          for (const u of uuids) {
            const e = this.entries.get(u) as Entry;
            e.req = locs[i++] as Location;
            if (e.rep) e.rep = locs[i++] as Location;
          }
          this.deadBytes = 0;
        },
      );
      this.options.log.info({ before, after, entries: this.entries.size }, "journal compacted: closed requests dropped");
      return true;
    } catch (err) {
      this.options.log.warn({ err }, "journal compaction failed: the old journal stays as it was");
      return false;
    } finally {
      this.compacting = false;
    }
  }

  async shutdown(): Promise<void> {
    await this.journal?.close();
    this.journal = undefined;
  }
}
