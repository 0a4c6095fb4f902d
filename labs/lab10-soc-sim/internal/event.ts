// The NetworkSecurityEvent in TypeScript: its shape, the checks every decoded event passes (whatever
// the codec: protobuf, MessagePack or the HTTP JSON), and the JSON schema of the HTTP ingest.
import { isIP } from "node:net";
import { type Checked, isInt, isMap, isNumber, isSafeName, isText, ok, refuse } from "@zlabs/kit";
import { FEATURE_NAMES } from "./features.ts";

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMP = 1;
export const PROTOCOLS: Record<string, number> = { tcp: PROTO_TCP, udp: PROTO_UDP, icmp: PROTO_ICMP };
export const PROTOCOL_NAMES: Record<number, string> = { 6: "tcp", 17: "udp", 1: "icmp", 0: "?" };

/** Bounds on what a peer may put in an event. */
export const MAX_ID_CHARS = 64;
export const MAX_TEXT_CHARS = 256;
export const MAX_COUNT = Number.MAX_SAFE_INTEGER;

export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;
export const TCP_ACK = 16;

/** camelCase, as protobufjs names the .proto's snake_case fields. */
export function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
export const FEATURE_KEYS: readonly string[] = FEATURE_NAMES.map(camel);

export interface Geo {
  country: string;
  city: string;
  latitude: number;
  longitude: number;
  asn: number;
  org: string;
}

export interface CaptureNode {
  id: string;
  hostname: string;
  site: string;
  interface: string;
}

export interface SecurityEvent {
  id: string;
  timestampMs: number;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
  tcpFlags: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  durationUs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  features: Record<string, number>;
  srcGeo?: Geo;
  dstGeo?: Geo;
  node?: CaptureNode;
  domain: string;
  fileSha256: string;
  traceId: string;
  gateway: string;
  receivedMs: number;
  attempt: number;
  enrichedMs: number;
}

const COUNTS = [
  "timestampMs",
  "packetsIn",
  "packetsOut",
  "bytesIn",
  "bytesOut",
  "durationUs",
  "firstSeenMs",
  "lastSeenMs",
  "receivedMs",
  "enrichedMs",
] as const;
const TEXTS = ["domain", "fileSha256", "traceId"] as const;

function num(v: unknown): unknown {
  // Long-like values (protobufjs without Number conversion) or bigint from MessagePack int64.
  return typeof v === "bigint" ? Number(v) : v;
}

function checkGeo(v: unknown, what: string): Checked<Geo | undefined> {
  if (v === undefined || v === null) return ok(undefined);
  if (!isMap(v)) return refuse(`${what}: a map expected`);
  const g = {
    country: v.country ?? "",
    city: v.city ?? "",
    latitude: num(v.latitude) ?? 0,
    longitude: num(v.longitude) ?? 0,
    asn: num(v.asn) ?? 0,
    org: v.org ?? "",
  };
  if (!isText(g.country, 2) || !isText(g.city, MAX_TEXT_CHARS) || !isText(g.org, MAX_TEXT_CHARS)) return refuse(`${what}: bad text`);
  if (!isNumber(g.latitude, -90, 90) || !isNumber(g.longitude, -180, 180)) return refuse(`${what}: latitude/longitude out of range`);
  if (!isInt(g.asn, 0, 0xffffffff)) return refuse(`${what}: asn out of range`);
  return ok(g as Geo);
}

function checkNode(v: unknown): Checked<CaptureNode | undefined> {
  if (v === undefined || v === null) return ok(undefined);
  if (!isMap(v)) return refuse("node: a map expected");
  const n = { id: v.id ?? "", hostname: v.hostname ?? "", site: v.site ?? "", interface: v.interface ?? "" };
  if (!(n.id === "" || isSafeName(n.id))) return refuse("node.id: a safe name expected");
  if (!isText(n.hostname, MAX_TEXT_CHARS) || !isText(n.site, MAX_TEXT_CHARS) || !isText(n.interface, 64)) return refuse("node: bad text");
  return ok(n as CaptureNode);
}

/** Checks a decoded event (any codec) field by field; missing fields take the proto3 defaults. */
export function checkEvent(raw: unknown): Checked<SecurityEvent> {
  if (!isMap(raw)) return refuse("event: a map expected");
  const id = raw.id ?? "";
  if (!isText(id, MAX_ID_CHARS, 1) || !/^[A-Za-z0-9_.:-]+$/.test(id)) return refuse("id: 1-64 characters of [A-Za-z0-9_.:-] expected");
  for (const k of ["srcIp", "dstIp"] as const) {
    const ip = raw[k];
    if (typeof ip !== "string" || ip.length > 45 || isIP(ip) === 0) return refuse(`${k}: an IPv4 or IPv6 address expected`);
  }
  const ports = { srcPort: num(raw.srcPort) ?? 0, dstPort: num(raw.dstPort) ?? 0 };
  if (!isInt(ports.srcPort, 0, 65535) || !isInt(ports.dstPort, 0, 65535)) return refuse("port: 0-65535 expected");
  const protocol = num(raw.protocol) ?? 0;
  if (!isInt(protocol, 0, 255)) return refuse("protocol: 0-255 expected");
  const tcpFlags = num(raw.tcpFlags) ?? 0;
  if (!isInt(tcpFlags, 0, 255)) return refuse("tcpFlags: 0-255 expected");
  const counts: Record<string, number> = {};
  for (const k of COUNTS) {
    const v = num(raw[k]) ?? 0;
    if (!isInt(v, 0, MAX_COUNT)) return refuse(`${k}: a whole number >= 0 expected`);
    counts[k] = v;
  }
  const texts: Record<string, string> = {};
  for (const k of TEXTS) {
    const v = raw[k] ?? "";
    if (!isText(v, MAX_TEXT_CHARS)) return refuse(`${k}: text of at most ${MAX_TEXT_CHARS} characters expected`);
    texts[k] = v;
  }
  const gateway = raw.gateway ?? "";
  if (!(gateway === "" || isSafeName(gateway))) return refuse("gateway: a safe name expected");
  const attempt = num(raw.attempt) ?? 0;
  if (!isInt(attempt, 0, 1_000_000)) return refuse("attempt out of range");
  const features: Record<string, number> = {};
  const f = raw.features ?? {};
  if (!isMap(f)) return refuse("features: a map expected");
  for (const k of FEATURE_KEYS) {
    const v = num(f[k]) ?? 0;
    if (!isNumber(v)) return refuse(`features.${k}: a finite number expected`);
    features[k] = v;
  }
  const srcGeo = checkGeo(raw.srcGeo, "srcGeo");
  if (!srcGeo.ok) return srcGeo;
  const dstGeo = checkGeo(raw.dstGeo, "dstGeo");
  if (!dstGeo.ok) return dstGeo;
  const node = checkNode(raw.node);
  if (!node.ok) return node;
  const event = {
    id,
    srcIp: raw.srcIp as string,
    dstIp: raw.dstIp as string,
    ...ports,
    protocol,
    tcpFlags,
    ...counts,
    ...texts,
    gateway,
    attempt,
    features,
  } as SecurityEvent;
  if (srcGeo.value) event.srcGeo = srcGeo.value;
  if (dstGeo.value) event.dstGeo = dstGeo.value;
  if (node.value) event.node = node.value;
  return ok(event);
}

/** The HTTP body: JSON, one event, protocol by name; checked with ajv before checkEvent. */
const geoSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    country: { type: "string", maxLength: 2 },
    city: { type: "string", maxLength: MAX_TEXT_CHARS },
    latitude: { type: "number", minimum: -90, maximum: 90 },
    longitude: { type: "number", minimum: -180, maximum: 180 },
    asn: { type: "integer", minimum: 0, maximum: 0xffffffff },
    org: { type: "string", maxLength: MAX_TEXT_CHARS },
  },
} as const;
const count = { type: "integer", minimum: 0, maximum: MAX_COUNT } as const;

export const EVENT_JSON_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["srcIp", "dstIp", "protocol"],
  properties: {
    id: { type: "string", minLength: 1, maxLength: MAX_ID_CHARS, pattern: "^[A-Za-z0-9_.:-]+$" },
    timestampMs: count,
    srcIp: { type: "string", minLength: 2, maxLength: 45 },
    dstIp: { type: "string", minLength: 2, maxLength: 45 },
    srcPort: { type: "integer", minimum: 0, maximum: 65535 },
    dstPort: { type: "integer", minimum: 0, maximum: 65535 },
    protocol: { enum: ["tcp", "udp", "icmp"] },
    tcpFlags: { type: "integer", minimum: 0, maximum: 255 },
    packetsIn: count,
    packetsOut: count,
    bytesIn: count,
    bytesOut: count,
    durationUs: count,
    firstSeenMs: count,
    lastSeenMs: count,
    features: {
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries(FEATURE_KEYS.map((k) => [k, { type: "number" }])),
    },
    srcGeo: geoSchema,
    dstGeo: geoSchema,
    node: {
      type: "object",
      additionalProperties: false,
      properties: {
        id: { type: "string", maxLength: 64, pattern: "^[A-Za-z0-9_.-]*$" },
        hostname: { type: "string", maxLength: MAX_TEXT_CHARS },
        site: { type: "string", maxLength: MAX_TEXT_CHARS },
        interface: { type: "string", maxLength: 64 },
      },
    },
    domain: { type: "string", maxLength: MAX_TEXT_CHARS },
    fileSha256: { type: "string", maxLength: 64, pattern: "^[0-9a-fA-F]*$" },
    traceId: { type: "string", maxLength: MAX_TEXT_CHARS },
  },
} as const;

/** A new event id: short, unique enough for the dedup window. */
let counter = 0;
export function newEventId(prefix: string): string {
  counter = (counter + 1) % 0x100000000;
  return `${prefix}-${Date.now().toString(36)}-${counter.toString(36)}-${Math.floor(Math.random() * 0x100000).toString(36)}`;
}
