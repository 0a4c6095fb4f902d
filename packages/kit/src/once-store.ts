import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { syncDirectorySync } from "./durable.ts";

/** Group and key names: safe as file names on every platform. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * A durable store where each item is written at most once: <dir>/<group>/<key>.json. An item is
 * written to a temporary file, fsynced, then hard-linked into place; link() fails atomically with
 * EEXIST when the key exists already, even with several processes writing into the same folder.
 * That makes a retried write harmless, which is what at-least-once delivery needs to become
 * exactly-once storage. Used by labs whose pattern ends in "store it once".
 */
export class OnceStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** "stored" the first time, "duplicate" ever after; once "stored" returns, the item is on disk. */
  put(group: string, key: string, content: string): "stored" | "duplicate" {
    if (!NAME.test(group) || !NAME.test(key)) throw new Error(`bad store name ${JSON.stringify(`${group}/${key}`)}`);
    const groupDir = join(this.dir, group);
    mkdirSync(groupDir, { recursive: true });
    const tmp = join(groupDir, `.${key}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, join(groupDir, `${key}.json`));
      syncDirectorySync(groupDir);
      return "stored";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return "duplicate";
      throw err;
    } finally {
      unlinkSync(tmp);
    }
  }

  /** The keys stored in a group. */
  keys(group: string): string[] {
    try {
      return readdirSync(join(this.dir, group))
        .filter((n) => n.endsWith(".json") && !n.startsWith("."))
        .map((n) => n.slice(0, -".json".length));
    } catch {
      return [];
    }
  }
}
