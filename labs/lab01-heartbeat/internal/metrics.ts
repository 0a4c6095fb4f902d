import os from "node:os";
import type { HostMetrics, Level } from "./protocol.ts";

/** Thresholds that raise the alert level from real metrics. A busy CPU is a warning; running out of memory is critical. */
export const WARN_CPU = 0.9;
export const WARN_MEMORY = 0.85;
export const CRIT_MEMORY = 0.95;
/** A flapping agent spends this many beats in each state: ok, then critical, then ok... */
export const FLAP_PERIOD_BEATS = 8;

export const SIMULATIONS = ["none", "critical", "flapping"] as const;
export type Simulation = (typeof SIMULATIONS)[number];

type CpuTimes = { busy: number; total: number };

function cpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}

/** Reads the host's real metrics; CPU is the busy share since the previous sample (since boot, the first time). */
export class HostSampler {
  private last: CpuTimes = { busy: 0, total: 0 };

  sample(): HostMetrics {
    const now = cpuTimes();
    const total = now.total - this.last.total;
    const cpu = total > 0 ? (now.busy - this.last.busy) / total : 0;
    this.last = now;
    const [load1 = 0, load5 = 0, load15 = 0] = os.loadavg();
    const memTotalBytes = os.totalmem();
    return {
      cpu: Math.min(1, Math.max(0, cpu)),
      memUsedBytes: memTotalBytes - os.freemem(),
      memTotalBytes,
      load1,
      load5,
      load15,
      uptimeSec: os.uptime(),
    };
  }
}

export interface Assessment {
  level: Level;
  reason?: string;
}

/** The alert level the metrics call for, before any simulation. */
export function assess(m: HostMetrics): Assessment {
  const mem = m.memTotalBytes > 0 ? m.memUsedBytes / m.memTotalBytes : 0;
  if (mem >= CRIT_MEMORY) return { level: "crit", reason: `memory ${Math.round(mem * 100)}%` };
  if (mem >= WARN_MEMORY) return { level: "warn", reason: `memory ${Math.round(mem * 100)}%` };
  if (m.cpu >= WARN_CPU) return { level: "warn", reason: `cpu ${Math.round(m.cpu * 100)}%` };
  return { level: "ok" };
}

/**
 * A level the host's figures call for must hold this many beats in a row before the agent reports
 * it: a CPU hovering at the threshold would otherwise flip the level (and log it) at every beat.
 */
export const LEVEL_HOLD_BEATS = 5;

/** The reported level: the first assessment at once, then a new level only once it held LEVEL_HOLD_BEATS beats. */
export class SteadyLevel {
  private current: Assessment | undefined;
  private candidate: Level | undefined;
  private streak = 0;

  constructor(private readonly holdBeats = LEVEL_HOLD_BEATS) {}

  next(measured: Assessment): Assessment {
    if (!this.current || measured.level === this.current.level) {
      // The same level (its reason may have moved on, "memory 86%" to "87%").
      this.current = measured;
      this.candidate = undefined;
      this.streak = 0;
      return measured;
    }
    this.streak = this.candidate === measured.level ? this.streak + 1 : 1;
    this.candidate = measured.level;
    if (this.streak >= this.holdBeats) {
      this.current = measured;
      this.candidate = undefined;
      this.streak = 0;
    }
    return this.current;
  }
}

/** Applies --simulate on top of the real assessment; beat counts from 1. */
export function simulate(real: Assessment, simulation: Simulation, beat: number): Assessment {
  if (simulation === "critical") return { level: "crit", reason: "simulated critical" };
  if (simulation === "flapping" && Math.floor((beat - 1) / FLAP_PERIOD_BEATS) % 2 === 1) {
    return { level: "crit", reason: "simulated flapping" };
  }
  return real;
}
