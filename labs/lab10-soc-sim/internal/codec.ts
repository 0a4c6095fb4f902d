// The codec of events between roles: protobuf (the .proto in proto/soc.proto, loaded at run time by
// protobufjs, so every producer generated from the same file speaks it) by default, MessagePack (the
// kit's codec) by flag. On the wire a message is [codec tag, body]; a single frame is a bare protobuf
// NetworkSecurityEvent (what a foreign producer sends to the gateway's PULL).
import { readFileSync } from "node:fs";
import { type Checked, decodeMap, encode, isMap, isNumber, isText, ok, refuse } from "@zlabs/kit";
import protobuf from "protobufjs";
import { checkEvent, type SecurityEvent } from "./event.ts";

export type CodecName = "protobuf" | "msgpack";
export const CODECS: readonly CodecName[] = ["protobuf", "msgpack"];
export const TAG_PROTOBUF = "pb";
export const TAG_MSGPACK = "mp";

export const PROTO_FILE = new URL("../proto/soc.proto", import.meta.url);
export const protoText = (): string => readFileSync(PROTO_FILE, "utf8");
export const protoRoot: protobuf.Root = protobuf.parse(protoText()).root;
const EventType = protoRoot.lookupType("lab10.soc.NetworkSecurityEvent");
const VerdictType = protoRoot.lookupType("lab10.soc.Verdict");
const ScoredType = protoRoot.lookupType("lab10.soc.ScoredEvent");
const TO_OBJECT = { longs: Number, enums: Number, defaults: false } as const;

export const SEVERITIES = ["low", "medium", "high", "critical"] as const;
export type SeverityName = (typeof SEVERITIES)[number];

export interface RuleHit {
  rule: string;
  severity: SeverityName;
  subject: string;
  summary: string;
}

export interface Verdict {
  eventId: string;
  score: number;
  hits: RuleHit[];
  detector: string;
}

export interface Scored {
  event: SecurityEvent;
  verdict: Verdict;
}

const tagOf = (codec: CodecName) => Buffer.from(codec === "protobuf" ? TAG_PROTOBUF : TAG_MSGPACK);

function pbDecode(type: protobuf.Type, body: Buffer): Checked<Record<string, unknown>> {
  try {
    return ok(type.toObject(type.decode(body), TO_OBJECT));
  } catch (err) {
    return refuse(`not a ${type.name}: ${(err as Error).message.slice(0, 80)}`);
  }
}

/** [tag, body] -> the codec's map; a single frame is protobuf. */
function bodyOf(frames: Buffer[], type: protobuf.Type): Checked<Record<string, unknown>> {
  if (frames.length === 1) return pbDecode(type, frames[0] as Buffer);
  if (frames.length !== 2) return refuse(`${frames.length} frames (1 or 2 expected)`);
  const tag = (frames[0] as Buffer).toString("latin1");
  if (tag === TAG_PROTOBUF) return pbDecode(type, frames[1] as Buffer);
  if (tag === TAG_MSGPACK) return decodeMap(frames[1], type.name);
  return refuse('codec tag "pb" or "mp" expected');
}

function encodeAs(type: protobuf.Type, value: object, codec: CodecName): Buffer[] {
  if (codec === "msgpack") return [tagOf(codec), encode(value)];
  return [tagOf(codec), Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish())];
}

export function encodeEvent(event: SecurityEvent, codec: CodecName): Buffer[] {
  return encodeAs(EventType, event, codec);
}

/** Bare protobuf bytes of one event (what a foreign producer sends as a single frame). */
export function eventBytes(event: SecurityEvent): Buffer {
  return Buffer.from(EventType.encode(EventType.fromObject(event as unknown as Record<string, unknown>)).finish());
}

export function decodeEvent(frames: Buffer[]): Checked<SecurityEvent> {
  const body = bodyOf(frames, EventType);
  return body.ok ? checkEvent(body.value) : body;
}

function checkVerdict(raw: unknown): Checked<Verdict> {
  if (!isMap(raw)) return refuse("verdict: a map expected");
  const v = { eventId: raw.eventId ?? "", score: raw.score ?? 0, hits: raw.hits ?? [], detector: raw.detector ?? "" };
  if (!isText(v.eventId, 64, 1) || !isNumber(v.score, 0, 100) || !isText(v.detector, 64))
    return refuse("verdict: bad eventId, score or detector");
  if (!Array.isArray(v.hits) || v.hits.length > 16) return refuse("verdict: at most 16 hits");
  const hits: RuleHit[] = [];
  for (const h of v.hits) {
    if (!isMap(h)) return refuse("hit: a map expected");
    const hit = { rule: h.rule ?? "", severity: h.severity ?? "", subject: h.subject ?? "", summary: h.summary ?? "" };
    if (!/^[a-z0-9-]{1,32}$/.test(String(hit.rule))) return refuse("hit.rule: [a-z0-9-]{1,32} expected");
    if (!SEVERITIES.includes(hit.severity as SeverityName)) return refuse("hit.severity: low|medium|high|critical expected");
    if (!isText(hit.subject, 64, 1) || !/^[A-Za-z0-9_.:-]+$/.test(hit.subject) || !isText(hit.summary, 256))
      return refuse("hit: bad subject or summary");
    hits.push(hit as RuleHit);
  }
  return ok({ ...(v as Verdict), hits });
}

export function encodeVerdict(verdict: Verdict, codec: CodecName): Buffer[] {
  return encodeAs(VerdictType, verdict, codec);
}

export function decodeVerdict(frames: Buffer[]): Checked<Verdict> {
  const body = bodyOf(frames, VerdictType);
  return body.ok ? checkVerdict(body.value) : body;
}

export function encodeScored(scored: Scored, codec: CodecName): Buffer[] {
  return encodeAs(ScoredType, scored, codec);
}

export function decodeScored(frames: Buffer[]): Checked<Scored> {
  const body = bodyOf(frames, ScoredType);
  if (!body.ok) return body;
  const event = checkEvent(body.value.event);
  if (!event.ok) return refuse(`event: ${event.reason}`);
  const verdict = checkVerdict(body.value.verdict);
  if (!verdict.ok) return verdict;
  if (verdict.value.eventId !== event.value.id) return refuse("verdict for another event");
  return ok({ event: event.value, verdict: verdict.value });
}
