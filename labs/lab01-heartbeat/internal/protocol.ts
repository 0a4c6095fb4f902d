/**
 * Lab 01 wire protocol: one-way heartbeats over PUB-SUB.
 *
 * Every heartbeat is a two-frame message [topic, body] (the Guide's pub-sub envelope):
 *   frame 0  topic  "hb.<level>.<rack>.<agent>."  (ASCII; every segment ends with ".")
 *   frame 1  body   MessagePack map, see Heartbeat
 * Subscriptions filter on byte prefixes of frame 0 only. The trailing "." after each segment is
 * what keeps a "hb.ok.rack1." subscription from matching rack10's traffic.
 */
import { pack, unpack } from "msgpackr";

export const TOPIC_ROOT = "hb.";
export const PROTOCOL_VERSION = 1;

/** Alert levels, least to most severe. Level comes first in the topic: an alert wall subscribes per level. */
export const LEVELS = ["ok", "warn", "crit"] as const;
export type Level = (typeof LEVELS)[number];

/** Rack and agent names: one topic segment each, so no "." and nothing a prefix match could confuse. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface HostMetrics {
  /** CPU busy share over the last interval, 0..1. */
  cpu: number;
  memUsedBytes: number;
  memTotalBytes: number;
  load1: number;
  load5: number;
  load15: number;
  uptimeSec: number;
}

export interface Heartbeat {
  v: number;
  agent: string;
  rack: string;
  /** Random id drawn at every start: a new one means the agent restarted. */
  incarnation: string;
  /** 1, 2, 3... per incarnation: a gap means heartbeats were dropped on the way. */
  seq: number;
  /** Wall clock of the sender, ms since the epoch (display only: liveness uses the receiver's clock). */
  sentAt: number;
  /** The sender's heartbeat interval: the receiver judges each agent by its own rate. */
  intervalMs: number;
  level: Level;
  /** Why the level is not ok ("cpu 93%", "simulated critical"). */
  reason?: string;
  metrics: HostMetrics;
}

export function isLevel(value: unknown): value is Level {
  return typeof value === "string" && (LEVELS as readonly string[]).includes(value);
}

export function topicFor(level: Level, rack: string, agent: string): string {
  return `${TOPIC_ROOT}${level}.${rack}.${agent}.`;
}

export interface TopicParts {
  level: Level;
  rack: string;
  agent: string;
}

export function parseTopic(topic: string): TopicParts | undefined {
  if (!topic.startsWith(TOPIC_ROOT) || !topic.endsWith(".")) return undefined;
  const parts = topic.slice(TOPIC_ROOT.length, -1).split(".");
  if (parts.length !== 3) return undefined;
  const [level, rack, agent] = parts as [string, string, string];
  if (!isLevel(level) || !NAME_PATTERN.test(rack) || !NAME_PATTERN.test(agent)) return undefined;
  return { level, rack, agent };
}

/**
 * The SUB prefixes for a view of some racks and some levels (empty = all). Prefixes can only
 * filter on the leading segments, so a rack filter is expanded across the levels it wants.
 */
export function subscriptionsFor(racks: readonly string[], levels: readonly Level[]): string[] {
  const wantedLevels = levels.length > 0 ? levels : LEVELS;
  if (racks.length === 0) {
    return levels.length === 0 ? [TOPIC_ROOT] : wantedLevels.map((l) => `${TOPIC_ROOT}${l}.`);
  }
  return wantedLevels.flatMap((l) => racks.map((r) => `${TOPIC_ROOT}${l}.${r}.`));
}

export function encodeHeartbeat(hb: Heartbeat): [string, Buffer] {
  return [topicFor(hb.level, hb.rack, hb.agent), pack(hb)];
}

export type Decoded = { ok: true; heartbeat: Heartbeat } | { ok: false; reason: string };

const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const METRIC_KEYS = ["cpu", "memUsedBytes", "memTotalBytes", "load1", "load5", "load15", "uptimeSec"] as const;

function checkBody(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "body is not a map";
  const b = body as Record<string, unknown>;
  if (b.v !== PROTOCOL_VERSION) return `unsupported version ${String(b.v)}`;
  for (const key of ["agent", "rack", "incarnation"] as const) {
    if (typeof b[key] !== "string" || (b[key] as string).length === 0) return `missing ${key}`;
  }
  if (!NAME_PATTERN.test(b.agent as string) || !NAME_PATTERN.test(b.rack as string)) return "bad agent or rack name";
  if (!Number.isSafeInteger(b.seq) || (b.seq as number) < 1) return "missing seq";
  if (!isFiniteNumber(b.sentAt)) return "missing sentAt";
  if (!isFiniteNumber(b.intervalMs) || (b.intervalMs as number) <= 0) return "missing intervalMs";
  if (!isLevel(b.level)) return "missing level";
  if (b.reason !== undefined && typeof b.reason !== "string") return "bad reason";
  const m = b.metrics as Record<string, unknown> | undefined;
  if (typeof m !== "object" || m === null) return "missing metrics";
  for (const key of METRIC_KEYS) if (!isFiniteNumber(m[key])) return `missing metrics.${key}`;
  return undefined;
}

/** Validates a received message completely; anything off is a reason, never an exception. */
export function decodeHeartbeat(frames: readonly Buffer[]): Decoded {
  if (frames.length !== 2) return { ok: false, reason: `expected 2 frames, got ${frames.length}` };
  const [topicFrame, bodyFrame] = frames as [Buffer, Buffer];
  const topic = parseTopic(topicFrame.toString("latin1"));
  if (!topic) return { ok: false, reason: "bad topic" };
  let body: unknown;
  try {
    body = unpack(bodyFrame);
  } catch {
    return { ok: false, reason: "body is not MessagePack" };
  }
  const problem = checkBody(body);
  if (problem) return { ok: false, reason: problem };
  const heartbeat = body as Heartbeat;
  if (heartbeat.agent !== topic.agent || heartbeat.rack !== topic.rack) return { ok: false, reason: "topic does not match body" };
  return { ok: true, heartbeat };
}
