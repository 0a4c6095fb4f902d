/**
 * The fencing tokens' high-water mark, persisted ahead of use so tokens keep increasing across a
 * crash and a restart. The file holds one number: the highest token this server may hand out.
 * Tokens are taken from a block reserved on disk (the mark written over itself and fsynced) before
 * the first of them is used; a crash loses at most the rest of a block,
 * never reuses a token. The file's existence also tells a restart from a first start: a restarted
 * server keeps the grace period (no grants for the longest TTL), because it forgot who held what.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { syncDirectorySync, UsageError } from "@zlabs/kit";
import type { TokenSource } from "./lock-table.ts";

/** Tokens reserved on disk per write: one fsync per this many grants. */
export const TOKEN_BLOCK = 1000;
export const STATE_FILE = "tokens.json";
/** The record's fixed width: the mark is written over itself, never growing or shrinking. */
const RECORD_BYTES = 64;

export class TokenStore implements TokenSource {
  private nextToken: number;
  private readonly fd: number;
  private reserved: number;
  /** True when a previous server's file was found: this start is a restart. */
  readonly restarted: boolean;

  constructor(
    dir: string,
    private readonly block = TOKEN_BLOCK,
  ) {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, STATE_FILE);
    this.restarted = existsSync(path);
    const before = this.restarted ? readHighWater(path) : 0;
    this.nextToken = before + 1;
    this.reserved = before;
    this.fd = openSync(path, this.restarted ? "r+" : "w");
    // A new file: its name must survive a crash too, so the folder is synced once.
    if (!this.restarted) syncDirectorySync(dir);
    this.reserve();
  }

  close(): void {
    closeSync(this.fd);
  }

  /** The highest token reserved on disk: no token above it has been handed out. */
  get highWater(): number {
    return this.reserved;
  }

  /** The last token handed out (0 before the first). */
  get last(): number {
    return this.nextToken - 1;
  }

  next(): number {
    if (this.nextToken > this.reserved) this.reserve();
    const token = this.nextToken;
    this.nextToken += 1;
    return token;
  }

  /**
   * Writes the new mark over the old one in place, as one fixed-width record of a few bytes (a write
   * within one disk sector is not torn), and fsyncs the file before any token of the block is used.
   * The file was created (and its folder synced) once, on the first start.
   */
  private reserve(): void {
    const reserved = this.nextToken + this.block - 1;
    const record = Buffer.from(`${JSON.stringify({ highWater: reserved }).padEnd(RECORD_BYTES - 1)}\n`);
    writeSync(this.fd, record, 0, record.length, 0);
    fsyncSync(this.fd);
    this.reserved = reserved;
  }
}

function readHighWater(path: string): number {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UsageError(`${path} is not the token file this server writes (${(err as Error).message}); move it away to start afresh`);
  }
  const high = (value as { highWater?: unknown } | null)?.highWater;
  if (typeof high !== "number" || !Number.isSafeInteger(high) || high < 0)
    throw new UsageError(`${path} holds no highWater whole number; move it away to start afresh`);
  return high;
}
