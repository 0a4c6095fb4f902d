/**
 * Lab 01 wire protocol: one-way heartbeats over PUB-SUB.
 *
 * Every heartbeat is a two-frame message [topic, body] (the Guide's pub-sub envelope):
 *   frame 0  topic  "hb.<level>.<rack>.<agent>."  (ASCII; every segment ends with ".")
 *   frame 1  body   MessagePack map, see Heartbeat
 * Subscriptions filter on byte prefixes of frame 0 only. The trailing "." after each segment is
 * what keeps a "hb.ok.rack1." subscription from matching rack10's traffic.
 */
import { decodeMap, encode, isInt, isMap, isNumber, isText } from "@zlabs/kit";

export const TOPIC_ROOT = "hb.";
/**
 * The largest message the agent's PUB takes from a subscriber. Subscriptions are topic prefixes
 * (at most about 140 bytes here), and libzmq keeps each one in a trie at about 65 bytes per byte,
 * so the kit's 1 MiB default would still let one message cost 65 MB. A subscriber that sends more
 * is disconnected by libzmq.
 */
export const MAX_SUBSCRIPTION_BYTES = 1024;
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
  return [topicFor(hb.level, hb.rack, hb.agent), encode(hb)];
}

/** What the dashboard's SUB socket can receive: a heartbeat, or a reason to drop the message. */
export type HeartbeatMessage = { kind: "heartbeat"; heartbeat: Heartbeat } | { kind: "invalid"; reason: string };

/** Bounds on a peer's values: ids and reasons are short text; an interval over an hour is a mistake. */
export const MAX_INCARNATION_LENGTH = 64;
export const MAX_REASON_LENGTH = 200;
export const MAX_INTERVAL_MS = 3_600_000;

const METRIC_RANGES = {
  cpu: [0, 1],
  memUsedBytes: [0, Number.MAX_SAFE_INTEGER],
  memTotalBytes: [0, Number.MAX_SAFE_INTEGER],
  load1: [0, Number.MAX_VALUE],
  load5: [0, Number.MAX_VALUE],
  load15: [0, Number.MAX_VALUE],
  uptimeSec: [0, Number.MAX_SAFE_INTEGER],
} as const satisfies Record<keyof HostMetrics, readonly [number, number]>;

function invalid(reason: string): HeartbeatMessage {
  return { kind: "invalid", reason };
}

function checkMetrics(value: unknown): HostMetrics | string {
  if (!isMap(value)) return "missing metrics";
  const metrics: Record<string, number> = {};
  for (const [key, [min, max]] of Object.entries(METRIC_RANGES)) {
    const v = value[key];
    if (!isNumber(v, min, max)) return `missing metrics.${key}`;
    metrics[key] = v;
  }
  return metrics as unknown as HostMetrics;
}

/** The body's fields, each checked; numbers may come as any MessagePack int (uint64 too) or float. */
function checkBody(b: Record<string, unknown>): Heartbeat | string {
  if (b.v !== PROTOCOL_VERSION) return isInt(b.v, 0, 999) ? `unsupported version ${b.v}` : "unsupported version";
  if (!isText(b.agent, 64, 1) || !isText(b.rack, 64, 1)) return "missing agent or rack";
  if (!NAME_PATTERN.test(b.agent) || !NAME_PATTERN.test(b.rack)) return "bad agent or rack name";
  if (!isText(b.incarnation, MAX_INCARNATION_LENGTH, 1)) return "missing incarnation";
  if (!isInt(b.seq, 1)) return "missing seq";
  if (!isNumber(b.sentAt, 0)) return "missing sentAt";
  if (!isInt(b.intervalMs, 1, MAX_INTERVAL_MS)) return "missing intervalMs";
  if (!isLevel(b.level)) return "missing level";
  if (b.reason !== undefined && !isText(b.reason, MAX_REASON_LENGTH)) return "bad reason";
  const metrics = checkMetrics(b.metrics);
  if (typeof metrics === "string") return metrics;
  // Only the known fields, so nothing else a peer adds is kept.
  const { agent, rack, incarnation, seq, sentAt, intervalMs, level, reason } = b as Omit<Heartbeat, "v" | "metrics">;
  const heartbeat = { v: PROTOCOL_VERSION, agent, rack, incarnation, seq, sentAt, intervalMs, level };
  return { ...heartbeat, ...(reason === undefined ? {} : { reason }), metrics };
}

/** Validates a received message completely; anything off is a reason, never an exception. */
export function decodeHeartbeat(frames: readonly Buffer[]): HeartbeatMessage {
  if (frames.length !== 2) return invalid(`expected 2 frames, got ${frames.length}`);
  const [topicFrame, bodyFrame] = frames as [Buffer, Buffer];
  const topic = parseTopic(topicFrame.toString("latin1"));
  if (!topic) return invalid("bad topic");
  const body = decodeMap(bodyFrame, "body");
  if (!body.ok) return invalid(body.reason);
  const heartbeat = checkBody(body.value);
  if (typeof heartbeat === "string") return invalid(heartbeat);
  if (heartbeat.agent !== topic.agent || heartbeat.rack !== topic.rack) return invalid("topic does not match body");
  return { kind: "heartbeat", heartbeat };
}
