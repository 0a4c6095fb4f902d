// lab10's own frames (each reused lab keeps its wire: lab12's MDP between enricher, broker and
// detectors; lab16's topic-first frames to the dashboard). Events, verdicts and scored events are in
// codec.ts (protobuf or MessagePack); here the done notice and the threat-intel indicator.

import { isIP } from "node:net";
import { type Checked, decodeMap, encode, isInt, isNumber, isSafeName, isText, ok, refuse } from "@zlabs/kit";
import { SEVERITIES, type SeverityName } from "./codec.ts";

/** Per frame, on every socket that takes events (an event is ~1 KiB; 64 KiB is ample). */
export const MAX_EVENT_BYTES = 64 * 1024;
/** Done notices and indicators are small. */
export const MAX_NOTICE_BYTES = 4096;

/** Sink -> gateway, on the sink's PUB: [gateway instance, msgpack {id, score, alerts: [rule...]}]. */
export interface Done {
  id: string;
  score: number;
  alerts: string[];
}

export function encodeDone(gateway: string, done: Done): Buffer[] {
  return [Buffer.from(gateway), encode(done)];
}

export function decodeDone(frames: Buffer[]): Checked<Done> {
  if (frames.length !== 2) return refuse(`${frames.length} frames (2 expected)`);
  const m = decodeMap(frames[1], "done");
  if (!m.ok) return m;
  const { id, score, alerts } = m.value;
  if (!isText(id, 64, 1)) return refuse("done.id: text expected");
  if (!isNumber(score, 0, 100)) return refuse("done.score: 0-100 expected");
  if (!Array.isArray(alerts) || alerts.length > 16 || !alerts.every((a) => isText(a, 32, 1)))
    return refuse("done.alerts: up to 16 rule names expected");
  return ok({ id, score, alerts: alerts as string[] });
}

/** Threat intel, on the feed's PUB: ["intel.<kind>", msgpack {value, severity, reason, ttlMs}]. */
export const INTEL_KINDS = ["ip", "domain", "hash"] as const;
export type IntelKind = (typeof INTEL_KINDS)[number];
export const TOPIC_INTEL = "intel.";

export interface Indicator {
  kind: IntelKind;
  value: string;
  severity: SeverityName;
  reason: string;
  ttlMs: number;
}

export function encodeIndicator(i: Indicator): Buffer[] {
  return [Buffer.from(`${TOPIC_INTEL}${i.kind}`), encode({ value: i.value, severity: i.severity, reason: i.reason, ttlMs: i.ttlMs })];
}

export function decodeIndicator(frames: Buffer[]): Checked<Indicator> {
  if (frames.length !== 2) return refuse(`${frames.length} frames (2 expected)`);
  const topic = (frames[0] as Buffer).toString("latin1");
  const kind = topic.startsWith(TOPIC_INTEL) ? topic.slice(TOPIC_INTEL.length) : "";
  if (!INTEL_KINDS.includes(kind as IntelKind)) return refuse("topic intel.ip|intel.domain|intel.hash expected");
  const m = decodeMap(frames[1], "indicator");
  if (!m.ok) return m;
  const { value, severity, reason, ttlMs } = m.value;
  if (!isText(value, 253, 1)) return refuse("indicator.value: text expected");
  if (kind === "ip" && isIP(value) === 0) return refuse("indicator.value: an address expected");
  if (kind === "hash" && !/^[0-9a-f]{64}$/.test(value)) return refuse("indicator.value: a SHA-256 in hex expected");
  if (kind === "domain" && !/^[a-z0-9.-]+$/.test(value)) return refuse("indicator.value: a domain expected");
  if (!SEVERITIES.includes(severity as SeverityName)) return refuse("indicator.severity: low|medium|high|critical expected");
  if (!isText(reason, 200)) return refuse("indicator.reason: text expected");
  if (!isInt(ttlMs, 1, 86_400_000)) return refuse("indicator.ttlMs: 1 ms to 1 day expected");
  return ok({ kind: kind as IntelKind, value, severity: severity as SeverityName, reason, ttlMs });
}

export { isSafeName };
