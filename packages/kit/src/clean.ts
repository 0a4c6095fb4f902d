import { existsSync, lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { LabManifest } from "./manifest.ts";

export interface Removed {
  /** Absolute path that was deleted. */
  path: string;
  bytes: number;
}

/** Bytes under a path (files only; links are not followed). */
function sizeOf(path: string): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, f) => sum + sizeOf(join(path, f)), 0);
}

/**
 * Deletes the demo data each lab's manifest lists under "data" (folders like ".store", always
 * inside the lab folder: the manifest check refuses anything else). Returns what it removed.
 */
export function cleanLabData(labs: readonly LabManifest[]): Removed[] {
  const removed: Removed[] = [];
  for (const lab of labs) {
    for (const entry of lab.data) {
      const path = join(lab.dir, entry);
      if (!existsSync(path)) continue;
      const bytes = sizeOf(path);
      rmSync(path, { recursive: true, force: true });
      removed.push({ path, bytes });
    }
  }
  return removed;
}

/** "314.2 MB" */
export function humanBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB"];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
