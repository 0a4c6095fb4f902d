import { closeSync, existsSync, fdatasyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { bindAll, type Logger, type LoopStats, peerLimits, receiveLoop, runLoops, SendQueue, type View } from "@zlabs/kit";
import { Dealer, Router } from "zeromq";
import {
  decodeReply,
  decodeWrite,
  encodeRequest,
  encodeWriteReply,
  fromPeer,
  type LockReply,
  oneFrame,
  type WriteReply,
  type WriteRequest,
} from "./protocol.ts";
import { type LedgerSnapshot, ledgerView, VIEW_MS } from "./view.ts";

/** Entries per file: the ledger keeps the current file and the one before (at most twice this). */
export const MAX_ENTRIES = 10_000;
/** Locks the ledger keeps a last token for. */
export const MAX_LEDGER_LOCKS = 10_000;
/** How long the ledger waits for the lock server to confirm a token. */
export const CHECK_TIMEOUT_MS = 1000;
export const LEDGER_FILE = "ledger.jsonl";
export const OLD_LEDGER_FILE = "ledger.1.jsonl";

export interface LedgerConfig {
  endpoint: string;
  /** The lock server, asked whether a token is current. */
  server: string;
  /** The ledger's client id at the lock server. */
  id: string;
  dataDir: string;
  maxEntries: number;
  checkTimeoutMs: number;
}

export interface LedgerEntry {
  seq: number;
  lock: string;
  token: number;
  client: string;
  text: string;
}

interface LockRecord {
  entries: number;
  lastToken: number;
  lastClient: string;
}

export interface LedgerOptions {
  publish?: (view: View) => void;
  /** Called for every entry accepted (tests check the tokens). */
  onAccept?: (entry: LedgerEntry) => void;
}

/**
 * The protected resource: an append-only ledger on disk that takes a write only under the current
 * fencing token of its lock. Two checks, in order:
 *  1. the token is not below the highest it has accepted for that lock (a late writer whose lease
 *     has passed on to someone who wrote already), kept across restarts (read back from the files);
 *  2. the lock server confirms that the token is the live lease of that lock right now (CHECK),
 *     which also refuses a late writer whose successor has not written yet.
 * Writes are handled one at a time, in arrival order; each accepted entry is appended to a JSON-lines
 * file and fdatasynced before ACCEPTED is sent. The files are bounded: at maxEntries the file becomes
 * ledger.1.jsonl (replacing the one before) and a new one starts.
 */
export class Ledger {
  private readonly router = new Router({ linger: 0, mandatory: true, sendTimeout: 0, ...peerLimits() });
  private readonly replies = new SendQueue(this.router);
  private readonly server = new Dealer({ linger: 0, ...peerLimits() });
  private readonly toServer = new SendQueue(this.server);
  private readonly checks = new Map<number, (r: LockReply | undefined) => void>();
  private nextReq = 1;
  private fd = -1;
  private inFile = 0;
  readonly locks = new Map<string, LockRecord>();
  readonly endpoints = { endpoint: "" };
  readonly loop: LoopStats = { received: 0, failed: 0 };
  seq = 0;
  accepted = 0;
  staleRefused = 0;
  unavailableRefused = 0;
  dropped = 0;

  constructor(
    private readonly config: LedgerConfig,
    private readonly log: Logger,
    private readonly options: LedgerOptions = {},
  ) {
    mkdirSync(config.dataDir, { recursive: true });
    for (const file of [OLD_LEDGER_FILE, LEDGER_FILE]) this.readBack(join(config.dataDir, file), file === LEDGER_FILE);
    this.fd = openSync(join(config.dataDir, LEDGER_FILE), "a");
    if (this.seq > 0) log.info({ entries: this.seq, locks: this.locks.size }, "ledger read back");
  }

  async bind(): Promise<void> {
    Object.assign(this.endpoints, await bindAll(this.log, { endpoint: [this.router, this.config.endpoint] }));
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoints.endpoint) await this.bind();
    this.server.connect(this.config.server);
    const publish = this.options.publish;
    try {
      await runLoops(
        signal,
        {
          sockets: [this.router, this.server],
          every: publish ? [{ ms: VIEW_MS, run: () => publish(ledgerView(this.snapshot())) }] : [],
          log: this.log,
        },
        () => receiveLoop(this.router, signal, (frames) => this.onWrite(frames), { log: this.log, name: "writers", stats: this.loop }),
        () => receiveLoop(this.server, signal, (frames) => this.onCheck(frames), { log: this.log, name: "server" }),
      );
    } finally {
      for (const resolve of this.checks.values()) resolve(undefined);
      closeSync(this.fd);
    }
  }

  private async onWrite(frames: Buffer[]): Promise<void> {
    const msg = fromPeer(frames);
    if (msg.kind === "invalid") return this.drop(msg.reason);
    const decoded = decodeWrite(msg.body);
    if (!decoded.ok) return this.drop(decoded.reason);
    const reply = await this.decide(decoded.value);
    try {
      await this.replies.send([msg.peer, encodeWriteReply(reply)]);
    } catch (err) {
      this.log.debug({ err }, "reply to a vanished writer dropped");
    }
  }

  private async decide(w: WriteRequest): Promise<WriteReply> {
    const record = this.locks.get(w.lock);
    if (record && w.token < record.lastToken) return this.stale(w, `token ${w.token} is below ${record.lastToken}, already written under`);
    if (!record && this.locks.size >= MAX_LEDGER_LOCKS) return this.refuse(w, "too many locks in the ledger");
    const check = await this.check(w.lock, w.token);
    if (!check) {
      this.unavailableRefused += 1;
      return this.refuse(w, "the lock server did not confirm the token in time");
    }
    if (check.status !== "VALID") return this.stale(w, `token ${w.token} is not the current lease (current: ${check.token ?? "none"})`);
    // Confirmed, and nothing newer was accepted meanwhile (writes are handled one at a time).
    this.append({ seq: this.seq + 1, lock: w.lock, token: w.token, client: w.client, text: w.text });
    return { req: w.req, status: "ACCEPTED", seq: this.seq };
  }

  private stale(w: WriteRequest, reason: string): WriteReply {
    this.staleRefused += 1;
    this.log.warn({ client: w.client, lock: w.lock, token: w.token, reason }, "stale write refused");
    return { req: w.req, status: "REFUSED", reason };
  }

  private refuse(w: WriteRequest, reason: string): WriteReply {
    this.log.warn({ client: w.client, lock: w.lock, token: w.token, reason }, "write refused");
    return { req: w.req, status: "REFUSED", reason };
  }

  /** CHECK at the lock server; undefined when it does not answer in time. */
  private check(lock: string, token: number): Promise<LockReply | undefined> {
    const req = this.nextReq++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), this.config.checkTimeoutMs);
      const finish = (r: LockReply | undefined) => {
        clearTimeout(timer);
        this.checks.delete(req);
        resolve(r);
      };
      this.checks.set(req, finish);
      this.toServer.send(encodeRequest({ op: "CHECK", req, client: this.config.id, lock, token })).catch(() => finish(undefined));
    });
  }

  private onCheck(frames: Buffer[]): void {
    const decoded = decodeReply(oneFrame(frames));
    if (!decoded.ok) {
      this.drop(`from the lock server: ${decoded.reason}`);
      return;
    }
    this.checks.get(decoded.value.req)?.(decoded.value);
  }

  private append(entry: LedgerEntry): void {
    if (this.inFile >= this.config.maxEntries) this.rotate();
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fdatasyncSync(this.fd);
    this.inFile += 1;
    this.record(entry);
    this.accepted += 1;
    this.log.info({ seq: entry.seq, client: entry.client, lock: entry.lock, token: entry.token }, "entry appended");
    this.options.onAccept?.(entry);
  }

  private record(entry: LedgerEntry): void {
    const r = this.locks.get(entry.lock) ?? { entries: 0, lastToken: 0, lastClient: "" };
    r.entries += 1;
    r.lastToken = Math.max(r.lastToken, entry.token);
    r.lastClient = entry.client;
    this.locks.set(entry.lock, r);
    this.seq = Math.max(this.seq, entry.seq);
  }

  private rotate(): void {
    closeSync(this.fd);
    renameSync(join(this.config.dataDir, LEDGER_FILE), join(this.config.dataDir, OLD_LEDGER_FILE));
    this.fd = openSync(join(this.config.dataDir, LEDGER_FILE), "a");
    this.inFile = 0;
  }

  /** Entries of a file, checked line by line; a torn last line (a crash mid-write) is skipped. */
  private readBack(path: string, current: boolean): void {
    if (!existsSync(path)) return;
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (!line) continue;
      const entry = parseEntry(line);
      if (!entry) {
        this.log.warn({ path, line: line.slice(0, 80) }, "unreadable ledger line skipped");
        continue;
      }
      this.record(entry);
      if (current) this.inFile += 1;
    }
  }

  private drop(reason: string): void {
    this.dropped += 1;
    this.log.warn({ reason, total: this.dropped }, "malformed message dropped");
  }

  snapshot(): LedgerSnapshot {
    return {
      entries: this.accepted,
      seq: this.seq,
      locks: [...this.locks.entries()].map(([name, r]) => ({ name, ...r })),
      staleRefused: this.staleRefused,
      unavailableRefused: this.unavailableRefused,
      dropped: this.dropped,
      file: join(this.config.dataDir, LEDGER_FILE),
    };
  }
}

function parseEntry(line: string): LedgerEntry | undefined {
  try {
    const e = JSON.parse(line) as Partial<LedgerEntry>;
    const whole = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
    if (whole(e.seq) && whole(e.token) && typeof e.lock === "string" && typeof e.client === "string" && typeof e.text === "string")
      return e as LedgerEntry;
  } catch {
    // fall through
  }
  return undefined;
}
