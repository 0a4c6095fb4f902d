import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SampleLogs } from "../internal/generate-logs.ts";

export const KEY = "test-key-0123456789";

/** A scratch folder per test file, removed at the end. */
export function scratch(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "lab02-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sampleFile(dir: string, lines: number, seed = 1): string {
  const path = join(dir, `sample-${lines}-${seed}.log`);
  writeFileSync(path, new SampleLogs(seed).lines(lines));
  return path;
}

/** Every stored event's seq, from all NDJSON files in the folder, in file order. */
export function storedSeqs(outDir: string): number[] {
  const seqs: number[] = [];
  for (const f of readdirSync(outDir).sort()) {
    for (const line of readFileSync(join(outDir, f), "utf8").split("\n")) if (line) seqs.push((JSON.parse(line) as { seq: number }).seq);
  }
  return seqs;
}

/** The seqs are exactly 0..n-1, each once. */
export function exactlyOnce(seqs: number[], n: number): { missing: number; duplicates: number } {
  const seen = new Uint8Array(n);
  let duplicates = 0;
  for (const s of seqs) {
    if (seen[s]) duplicates += 1;
    seen[s] = 1;
  }
  return { missing: seen.filter((v) => v === 0).length, duplicates };
}
