/**
 * What the agent can tell about its host: real figures from the operating system, read-only.
 * Each query validates its own arguments and throws BadArgs for a bad one.
 */
import { execFile } from "node:child_process";
import { statfs } from "node:fs/promises";
import os from "node:os";
import { promisify } from "node:util";
import { isInt, isText } from "@zlabs/kit";

const run = promisify(execFile);

/** How long the cpu query watches the cores to measure how busy they are. */
export const CPU_SAMPLE_MS = 200;
export const DEFAULT_PS_LIMIT = 20;
export const MAX_PS_LIMIT = 1000;
/** A path to report on is a real path, not a peer's essay. */
export const MAX_PATH_LENGTH = 1024;
/** The process lister is an external program: it gets this long before the query fails. */
const PS_TIMEOUT_MS = 5000;

export class BadArgs extends Error {
  override name = "BadArgs";
}

export interface ProcessInfo {
  pid: number;
  name: string;
  /** Percent of one core, averaged over the process's life (as ps reports it); null where the OS does not say. */
  cpu: number | null;
  rssBytes: number;
}

export interface PsResult {
  total: number;
  sortedBy: "cpu" | "mem";
  processes: ProcessInfo[];
}

function intArg(args: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number {
  const value = args[key] ?? fallback;
  if (!isInt(value, min, max)) throw new BadArgs(`${key} must be a whole number from ${min} to ${max}`);
  return value;
}

/** ps -A on Unix: pid, %cpu, rss in KiB, then the command name (which may hold spaces). */
export function parsePsOutput(text: string): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*(\d+)\s+([\d.]+)\s+(\d+)\s+(.+?)\s*$/.exec(line);
    if (m) out.push({ pid: Number(m[1]), cpu: Number(m[2]), rssBytes: Number(m[3]) * 1024, name: m[4] as string });
  }
  return out;
}

/** tasklist /fo csv /nh on Windows: "name","pid","session","#","12,345 K". No CPU figure. */
export function parseTasklistOutput(text: string): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const line of text.split(/\r?\n/)) {
    const cells = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string);
    if (cells.length < 5) continue;
    const kib = Number((cells[4] as string).replace(/[^\d]/g, ""));
    out.push({ name: cells[0] as string, pid: Number(cells[1]), cpu: null, rssBytes: kib * 1024 });
  }
  return out;
}

async function listProcesses(): Promise<ProcessInfo[]> {
  if (process.platform === "win32") {
    const { stdout } = await run("tasklist", ["/fo", "csv", "/nh"], { timeout: PS_TIMEOUT_MS, maxBuffer: 16 << 20 });
    return parseTasklistOutput(stdout);
  }
  const { stdout } = await run("ps", ["-A", "-o", "pid=,pcpu=,rss=,comm="], { timeout: PS_TIMEOUT_MS, maxBuffer: 16 << 20 });
  return parsePsOutput(stdout);
}

export async function ps(args: Record<string, unknown>): Promise<PsResult> {
  const limit = intArg(args, "limit", DEFAULT_PS_LIMIT, 1, MAX_PS_LIMIT);
  const sortedBy = args.sort ?? "cpu";
  if (sortedBy !== "cpu" && sortedBy !== "mem") throw new BadArgs('sort must be "cpu" or "mem"');
  const all = await listProcesses();
  const key = (p: ProcessInfo) => (sortedBy === "cpu" ? (p.cpu ?? 0) : p.rssBytes);
  all.sort((a, b) => key(b) - key(a) || a.pid - b.pid);
  return { total: all.length, sortedBy, processes: all.slice(0, limit) };
}

export function mem() {
  const totalBytes = os.totalmem();
  const freeBytes = os.freemem();
  return { totalBytes, freeBytes, usedBytes: totalBytes - freeBytes, usedShare: (totalBytes - freeBytes) / totalBytes };
}

function coreTimes(): { busy: number; total: number }[] {
  return os.cpus().map(({ times }) => {
    const total = times.user + times.nice + times.sys + times.idle + times.irq;
    return { busy: total - times.idle, total };
  });
}

/** How busy each core is right now, measured over CPU_SAMPLE_MS. */
export async function cpu(sampleMs = CPU_SAMPLE_MS) {
  const before = coreTimes();
  await new Promise((r) => setTimeout(r, sampleMs));
  const after = coreTimes();
  const perCore = after.map((a, i) => {
    const b = before[i] ?? a;
    const total = a.total - b.total;
    return total > 0 ? (a.busy - b.busy) / total : 0;
  });
  const first = os.cpus()[0];
  return {
    model: first?.model ?? "unknown",
    cores: perCore.length,
    speedMHz: first?.speed ?? 0,
    busyShare: perCore.reduce((s, v) => s + v, 0) / Math.max(1, perCore.length),
    perCore,
    sampledMs: sampleMs,
  };
}

export function load() {
  const [load1 = 0, load5 = 0, load15 = 0] = os.loadavg();
  return { load1, load5, load15, cores: os.availableParallelism() };
}

export function uptime() {
  return { hostSec: os.uptime(), agentSec: process.uptime() };
}

export async function disk(args: Record<string, unknown>) {
  const path = args.path ?? (process.platform === "win32" ? "C:\\" : "/");
  if (!isText(path, MAX_PATH_LENGTH, 1)) throw new BadArgs("path must be a file system path");
  try {
    const s = await statfs(path);
    return { path, totalBytes: s.blocks * s.bsize, freeBytes: s.bfree * s.bsize, availableBytes: s.bavail * s.bsize };
  } catch (err) {
    throw new BadArgs(`cannot stat ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function info(agentId: string, commands: readonly string[]) {
  return {
    agent: agentId,
    hostname: os.hostname(),
    platform: process.platform,
    release: os.release(),
    arch: process.arch,
    node: process.version,
    pid: process.pid,
    commands: [...commands],
  };
}
