import type { Heartbeat, HostMetrics, Level } from "./protocol.ts";

/** The Guide's liveness: an agent silent for LIVENESS heartbeat intervals is dead. */
export const DEFAULT_LIVENESS = 3;
/** Silent for one interval and a half (one beat missed, with jitter to spare): suspect. */
export const SUSPECT_AFTER_INTERVALS = 1.5;

/**
 * Agents the dashboard keeps at most: each new agent name a peer sends costs a record, so a peer
 * inventing names could otherwise grow it without end. Heartbeats of agents past it are refused.
 */
export const MAX_AGENTS = 1000;

export type AgentState = "alive" | "suspect" | "dead";

export interface AgentRecord {
  agent: string;
  rack: string;
  incarnation: string;
  state: AgentState;
  level: Level;
  reason: string | undefined;
  metrics: HostMetrics;
  intervalMs: number;
  lastSeq: number;
  /** Receiver's monotonic clock at the last heartbeat. */
  lastSeenMs: number;
  received: number;
  /** Heartbeats missing from sequence gaps, over every incarnation. */
  dropped: number;
  restarts: number;
}

export type LivenessEvent =
  | { kind: "joined"; agent: AgentRecord }
  | { kind: "restarted"; agent: AgentRecord; previousIncarnation: string }
  | { kind: "dropped"; agent: AgentRecord; missed: number }
  | { kind: "stale"; agent: AgentRecord; seq: number }
  | { kind: "state"; agent: AgentRecord; from: AgentState; to: AgentState; silentMs: number }
  | { kind: "level"; agent: AgentRecord; from: Level; to: Level }
  | { kind: "left-view"; agent: AgentRecord }
  | { kind: "refused"; agent: AgentRecord };

export interface LivenessOptions {
  liveness: number;
  /** MAX_AGENTS by default. */
  maxAgents?: number;
  /** The levels this view shows; a heartbeat at another level means the agent left the view. */
  levels?: readonly Level[];
}

/**
 * Liveness of every agent heard from, as a plain state machine on an injected clock:
 * heartbeat() on every message, tick() periodically. Both return what changed.
 */
export class LivenessTracker {
  private readonly records = new Map<string, AgentRecord>();
  /** Heartbeats of new agents refused because the table was full. */
  refused = 0;

  constructor(private readonly options: LivenessOptions) {}

  heartbeat(hb: Heartbeat, nowMs: number): LivenessEvent[] {
    const levels = this.options.levels;
    const known = this.records.get(hb.agent);
    if (levels && levels.length > 0 && !levels.includes(hb.level)) {
      if (!known) return [];
      this.records.delete(hb.agent);
      return [{ kind: "left-view", agent: { ...known, level: hb.level } }];
    }
    if (!known) {
      const record: AgentRecord = {
        agent: hb.agent,
        rack: hb.rack,
        incarnation: hb.incarnation,
        state: "alive",
        level: hb.level,
        reason: hb.reason,
        metrics: hb.metrics,
        intervalMs: hb.intervalMs,
        lastSeq: hb.seq,
        lastSeenMs: nowMs,
        received: 1,
        dropped: 0,
        restarts: 0,
      };
      if (this.records.size >= (this.options.maxAgents ?? MAX_AGENTS)) {
        this.refused += 1;
        return [{ kind: "refused", agent: record }];
      }
      this.records.set(hb.agent, record);
      return [{ kind: "joined", agent: record }];
    }
    const events: LivenessEvent[] = [];
    if (hb.incarnation !== known.incarnation) {
      const previousIncarnation = known.incarnation;
      known.incarnation = hb.incarnation;
      known.restarts += 1;
      known.lastSeq = hb.seq;
      events.push({ kind: "restarted", agent: known, previousIncarnation });
    } else if (hb.seq <= known.lastSeq) {
      // A duplicate or reordered beat (e.g. the level-change copy): proof of life, nothing else.
      known.lastSeenMs = nowMs;
      this.revive(known, nowMs, events);
      return [...events, { kind: "stale", agent: known, seq: hb.seq }];
    } else {
      const missed = hb.seq - known.lastSeq - 1;
      known.lastSeq = hb.seq;
      if (missed > 0) {
        known.dropped += missed;
        events.push({ kind: "dropped", agent: known, missed });
      }
    }
    if (hb.level !== known.level) events.push({ kind: "level", agent: known, from: known.level, to: hb.level });
    known.level = hb.level;
    known.reason = hb.reason;
    known.metrics = hb.metrics;
    known.intervalMs = hb.intervalMs;
    known.rack = hb.rack;
    known.received += 1;
    this.revive(known, nowMs, events);
    known.lastSeenMs = nowMs;
    return events;
  }

  private revive(record: AgentRecord, nowMs: number, events: LivenessEvent[]): void {
    if (record.state === "alive") return;
    events.push({ kind: "state", agent: record, from: record.state, to: "alive", silentMs: nowMs - record.lastSeenMs });
    record.state = "alive";
  }

  /** Re-judges every agent against its own interval. */
  tick(nowMs: number): LivenessEvent[] {
    const events: LivenessEvent[] = [];
    for (const record of this.records.values()) {
      const silentMs = nowMs - record.lastSeenMs;
      const next: AgentState =
        silentMs >= record.intervalMs * this.options.liveness
          ? "dead"
          : silentMs >= record.intervalMs * SUSPECT_AFTER_INTERVALS
            ? "suspect"
            : "alive";
      // Silence only grows between heartbeats, so this only ever moves towards dead.
      if (next !== record.state) {
        events.push({ kind: "state", agent: record, from: record.state, to: next, silentMs });
        record.state = next;
      }
    }
    return events;
  }

  agents(): AgentRecord[] {
    return [...this.records.values()].sort((a, b) => a.rack.localeCompare(b.rack) || a.agent.localeCompare(b.agent));
  }

  counts(): Record<AgentState, number> {
    const counts = { alive: 0, suspect: 0, dead: 0 };
    for (const r of this.records.values()) counts[r.state] += 1;
    return counts;
  }
}
