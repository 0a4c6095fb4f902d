// A feed of lab01 heartbeats for one agent, encoded by lab01's own package (lab01/protocol): its PUB connects to
// the bridge's bound SUB (the bridge is the stable end). Kill it and the page sees the agent die.
import { randomBytes } from "node:crypto";
import { cpus, freemem, loadavg, totalmem, uptime } from "node:os";
import { closeSockets, encode, type Logger, pause, peerLimits } from "@zlabs/kit";
import { Publisher } from "zeromq";
import { encodeHeartbeat, type Heartbeat, type HeartbeatMetrics, type Level, MAX_SUBSCRIPTION_BYTES, topicFor } from "./protocol.ts";

/** lab01's beat interval (the Guide's HEARTBEAT_INTERVAL). */
export const HEARTBEAT_INTERVAL_MS = 1000;
/** lab01's hold: a new level from the figures is sent once it has held for this many beats in a row. */
export const LEVEL_HOLD_BEATS = 5;

export interface AgentFeedConfig {
  agent: string;
  rack: string;
  bridge: string;
  intervalMs: number;
  /** Forces the level (a demo of a critical agent), or undefined: from the host's figures. */
  level: Level | undefined;
}

/** lab01's thresholds: memory >= 95 % is crit; memory >= 85 % or CPU >= 90 % is warn. */
export function levelOf(m: HeartbeatMetrics): { level: Level; reason?: string } {
  const mem = m.memTotalBytes ? m.memUsedBytes / m.memTotalBytes : 0;
  if (mem >= 0.95) return { level: "crit", reason: `memory ${Math.round(mem * 100)}%` };
  if (mem >= 0.85) return { level: "warn", reason: `memory ${Math.round(mem * 100)}%` };
  if (m.cpu >= 0.9) return { level: "warn", reason: `cpu ${Math.round(m.cpu * 100)}%` };
  return { level: "ok" };
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq;
    busy += t;
    total += t + c.times.idle;
  }
  return { busy, total };
}

export class AgentFeed {
  readonly incarnation = randomBytes(8).toString("hex");
  private readonly pub = new Publisher({ linger: 0, ...peerLimits(MAX_SUBSCRIPTION_BYTES) });
  private seq = 0;
  private level: Level | undefined;
  private reason: string | undefined;
  private pending: { level: Level; beats: number } | undefined;
  private lastCpu = cpuTimes();

  constructor(
    private readonly config: AgentFeedConfig,
    private readonly log: Logger,
  ) {}

  private metrics(): HeartbeatMetrics {
    const now = cpuTimes();
    const total = now.total - this.lastCpu.total;
    const cpu = total > 0 ? Math.min(1, Math.max(0, (now.busy - this.lastCpu.busy) / total)) : 0;
    this.lastCpu = now;
    const [load1, load5, load15] = loadavg() as [number, number, number];
    return { cpu, memUsedBytes: totalmem() - freemem(), memTotalBytes: totalmem(), load1, load5, load15, uptimeSec: uptime() };
  }

  async run(signal: AbortSignal): Promise<void> {
    this.pub.connect(this.config.bridge);
    this.log.info(
      { agent: this.config.agent, rack: this.config.rack, bridge: this.config.bridge, incarnation: this.incarnation },
      "agent feed started",
    );
    try {
      while (!signal.aborted) {
        await this.beat();
        await pause(this.config.intervalMs, signal);
      }
    } finally {
      closeSockets(this.pub);
    }
  }

  /** The level to send: the first as measured, later ones once held for LEVEL_HOLD_BEATS beats. */
  private steady(now: { level: Level; reason?: string }): { level: Level; reason?: string } {
    if (this.level === undefined || now.level === this.level) {
      this.pending = undefined;
      return now;
    }
    this.pending = this.pending?.level === now.level ? { level: now.level, beats: this.pending.beats + 1 } : { level: now.level, beats: 1 };
    if (this.pending.beats >= LEVEL_HOLD_BEATS) return now;
    return { level: this.level, ...(this.reason ? { reason: this.reason } : {}) };
  }

  async beat(): Promise<Heartbeat> {
    const metrics = this.metrics();
    const judged = this.config.level
      ? { level: this.config.level, reason: this.config.level === "ok" ? undefined : "simulated" }
      : this.steady(levelOf(metrics));
    this.seq += 1;
    const hb: Heartbeat = {
      v: 1,
      agent: this.config.agent,
      rack: this.config.rack,
      incarnation: this.incarnation,
      seq: this.seq,
      sentAt: Date.now(),
      intervalMs: this.config.intervalMs,
      level: judged.level,
      ...(judged.reason ? { reason: judged.reason } : {}),
      metrics,
    };
    // lab01: a beat that changes the level goes twice, on the old level's topic and on the new one.
    if (this.level && this.level !== hb.level) await this.pub.send([topicFor(this.level, hb.rack, hb.agent), encode(hb)]);
    if (this.level !== hb.level) this.log.info({ agent: hb.agent, from: this.level ?? null, to: hb.level }, "level");
    this.level = hb.level;
    this.reason = hb.reason;
    await this.pub.send(encodeHeartbeat(hb));
    return hb;
  }
}
