/**
 * The fencing tokens' high-water mark, persisted ahead of use so tokens keep increasing across a
 * crash and a restart. The file holds one number: the highest token this server may hand out.
 * Tokens are taken from a block reserved on disk (written to a temporary file, fsynced, renamed,
 * the folder fsynced) before the first of them is used; a crash loses at most the rest of a block,
 * never reuses a token. The file's existence also tells a restart from a first start: a restarted
 * server keeps the grace period (no grants for the longest TTL), because it forgot who held what.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { TokenSource } from "./lock-table.ts";

/** Tokens reserved on disk per write: one fsync per this many grants. */
export const TOKEN_BLOCK = 1000;
export const STATE_FILE = "tokens.json";

export class TokenStore implements TokenSource {
  private nextToken: number;
  private reserved: number;
  /** True when a previous server's file was found: this start is a restart. */
  readonly restarted: boolean;

  constructor(
    private readonly dir: string,
    private readonly block = TOKEN_BLOCK,
  ) {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, STATE_FILE);
    this.restarted = existsSync(path);
    const before = this.restarted ? readHighWater(path) : 0;
    this.nextToken = before + 1;
    this.reserved = before;
    this.reserve();
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

  private reserve(): void {
    const reserved = this.nextToken + this.block - 1;
    const path = join(this.dir, STATE_FILE);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, `${JSON.stringify({ highWater: reserved })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    syncDirectory(this.dir);
    this.reserved = reserved;
  }
}

function readHighWater(path: string): number {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`${path} is not the token file this server writes (${(err as Error).message}); move it away to start afresh`);
  }
  const high = (value as { highWater?: unknown } | null)?.highWater;
  if (typeof high !== "number" || !Number.isSafeInteger(high) || high < 0)
    throw new Error(`${path} holds no highWater whole number; move it away to start afresh`);
  return high;
}

function syncDirectory(dir: string): void {
  if (process.platform === "win32") return;
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
